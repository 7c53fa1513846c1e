// Package tensor holds ONNX's element types and a decoded, dense tensor value with
// its encoding to and from TensorProto.
package tensor

import (
	"fmt"
	"math"
)

// DType is an ONNX element type; its values are TensorProto.DataType's.
type DType int32

// The ONNX element types.
const (
	Undefined      DType = 0
	Float          DType = 1
	Uint8          DType = 2
	Int8           DType = 3
	Uint16         DType = 4
	Int16          DType = 5
	Int32          DType = 6
	Int64          DType = 7
	String         DType = 8
	Bool           DType = 9
	Float16        DType = 10
	Double         DType = 11
	Uint32         DType = 12
	Uint64         DType = 13
	Complex64      DType = 14
	Complex128     DType = 15
	BFloat16       DType = 16
	Float8E4M3FN   DType = 17
	Float8E4M3FNUZ DType = 18
	Float8E5M2     DType = 19
	Float8E5M2FNUZ DType = 20
	Uint4          DType = 21
	Int4           DType = 22
)

// kind says which slice of a Tensor holds a type's values.
type kind int

const (
	kindNone kind = iota
	kindFloat
	kindDouble
	kindInt
	kindString
)

type dtypeInfo struct {
	name string
	// bits per element in raw_data; 0 where raw_data does not apply (string).
	bits int
	kind kind
}

var dtypes = map[DType]dtypeInfo{
	Float:          {"float", 32, kindFloat},
	Uint8:          {"uint8", 8, kindInt},
	Int8:           {"int8", 8, kindInt},
	Uint16:         {"uint16", 16, kindInt},
	Int16:          {"int16", 16, kindInt},
	Int32:          {"int32", 32, kindInt},
	Int64:          {"int64", 64, kindInt},
	String:         {"string", 0, kindString},
	Bool:           {"bool", 8, kindInt},
	Float16:        {"float16", 16, kindFloat},
	Double:         {"double", 64, kindDouble},
	Uint32:         {"uint32", 32, kindInt},
	Uint64:         {"uint64", 64, kindInt},
	Complex64:      {"complex64", 64, kindNone},
	Complex128:     {"complex128", 128, kindNone},
	BFloat16:       {"bfloat16", 16, kindFloat},
	Float8E4M3FN:   {"float8e4m3fn", 8, kindNone},
	Float8E4M3FNUZ: {"float8e4m3fnuz", 8, kindNone},
	Float8E5M2:     {"float8e5m2", 8, kindNone},
	Float8E5M2FNUZ: {"float8e5m2fnuz", 8, kindNone},
	Uint4:          {"uint4", 4, kindNone},
	Int4:           {"int4", 4, kindNone},
}

// Known reports whether d is an ONNX element type.
func (d DType) Known() bool { _, ok := dtypes[d]; return ok }

// String returns ONNX's text-syntax name of the type ("float", "int64", ...).
func (d DType) String() string {
	if i, ok := dtypes[d]; ok {
		return i.name
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Bits is the size of one element in raw_data, in bits; 0 for string.
func (d DType) Bits() int { return dtypes[d].bits }

// IsFloat reports whether values of d are held in a Tensor's F32 or F64.
func (d DType) IsFloat() bool { k := dtypes[d].kind; return k == kindFloat || k == kindDouble }

// IsInt reports whether values of d are held in a Tensor's I64 (integers and bool).
func (d DType) IsInt() bool { return dtypes[d].kind == kindInt }

// Decodable reports whether this package can decode values of d.
func (d DType) Decodable() bool { return dtypes[d].kind != kindNone }

// ByName returns the type with ONNX's text-syntax name.
func ByName(name string) (DType, bool) {
	for d, i := range dtypes {
		if i.name == name {
			return d, true
		}
	}
	return Undefined, false
}

// RawSize is the number of bytes that n elements of d take in raw_data, or -1
// where raw_data does not apply or the size overflows int64.
func (d DType) RawSize(n int64) int64 {
	b := int64(d.Bits())
	if b == 0 || n < 0 || n > (math.MaxInt64-7)/b {
		return -1
	}
	return (n*b + 7) / 8
}
