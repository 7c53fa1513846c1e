package onnxtext

import (
	onnxpb "github.com/quantprep/quantprep/api/onnx"
)

// elemTypeNames maps TensorProto.DataType values to their names in the syntax.
var elemTypeNames = map[onnxpb.TensorProto_DataType]string{
	onnxpb.TensorProto_FLOAT:          "float",
	onnxpb.TensorProto_UINT8:          "uint8",
	onnxpb.TensorProto_INT8:           "int8",
	onnxpb.TensorProto_UINT16:         "uint16",
	onnxpb.TensorProto_INT16:          "int16",
	onnxpb.TensorProto_INT32:          "int32",
	onnxpb.TensorProto_INT64:          "int64",
	onnxpb.TensorProto_STRING:         "string",
	onnxpb.TensorProto_BOOL:           "bool",
	onnxpb.TensorProto_FLOAT16:        "float16",
	onnxpb.TensorProto_DOUBLE:         "double",
	onnxpb.TensorProto_UINT32:         "uint32",
	onnxpb.TensorProto_UINT64:         "uint64",
	onnxpb.TensorProto_COMPLEX64:      "complex64",
	onnxpb.TensorProto_COMPLEX128:     "complex128",
	onnxpb.TensorProto_BFLOAT16:       "bfloat16",
	onnxpb.TensorProto_FLOAT8E4M3FN:   "float8e4m3fn",
	onnxpb.TensorProto_FLOAT8E4M3FNUZ: "float8e4m3fnuz",
	onnxpb.TensorProto_FLOAT8E5M2:     "float8e5m2",
	onnxpb.TensorProto_FLOAT8E5M2FNUZ: "float8e5m2fnuz",
	onnxpb.TensorProto_UINT4:          "uint4",
	onnxpb.TensorProto_INT4:           "int4",
}

// elemTypeByName is the inverse of elemTypeNames.
var elemTypeByName = invert(elemTypeNames)

// invert returns the inverse of a one-to-one map.
func invert[K, V comparable](m map[K]V) map[V]K {
	inv := make(map[V]K, len(m))
	for k, v := range m {
		inv[v] = k
	}
	return inv
}

// attrTypeNames maps attribute types to the names used in `name: type = value`.
var attrTypeNames = map[onnxpb.AttributeProto_AttributeType]string{
	onnxpb.AttributeProto_FLOAT:          "float",
	onnxpb.AttributeProto_INT:            "int",
	onnxpb.AttributeProto_STRING:         "string",
	onnxpb.AttributeProto_TENSOR:         "tensor",
	onnxpb.AttributeProto_GRAPH:          "graph",
	onnxpb.AttributeProto_SPARSE_TENSOR:  "sparse_tensor",
	onnxpb.AttributeProto_TYPE_PROTO:     "type_proto",
	onnxpb.AttributeProto_FLOATS:         "floats",
	onnxpb.AttributeProto_INTS:           "ints",
	onnxpb.AttributeProto_STRINGS:        "strings",
	onnxpb.AttributeProto_TENSORS:        "tensors",
	onnxpb.AttributeProto_GRAPHS:         "graphs",
	onnxpb.AttributeProto_SPARSE_TENSORS: "sparse_tensors",
	onnxpb.AttributeProto_TYPE_PROTOS:    "type_protos",
}

// attrTypeByName is the inverse of attrTypeNames.
var attrTypeByName = invert(attrTypeNames)

// pluralOf maps each single-value attribute type to its list type.
var pluralOf = map[onnxpb.AttributeProto_AttributeType]onnxpb.AttributeProto_AttributeType{
	onnxpb.AttributeProto_FLOAT:         onnxpb.AttributeProto_FLOATS,
	onnxpb.AttributeProto_INT:           onnxpb.AttributeProto_INTS,
	onnxpb.AttributeProto_STRING:        onnxpb.AttributeProto_STRINGS,
	onnxpb.AttributeProto_TENSOR:        onnxpb.AttributeProto_TENSORS,
	onnxpb.AttributeProto_GRAPH:         onnxpb.AttributeProto_GRAPHS,
	onnxpb.AttributeProto_SPARSE_TENSOR: onnxpb.AttributeProto_SPARSE_TENSORS,
	onnxpb.AttributeProto_TYPE_PROTO:    onnxpb.AttributeProto_TYPE_PROTOS,
}

// singularOf is pluralOf inverted.
var singularOf = func() map[onnxpb.AttributeProto_AttributeType]onnxpb.AttributeProto_AttributeType {
	m := make(map[onnxpb.AttributeProto_AttributeType]onnxpb.AttributeProto_AttributeType, len(pluralOf))
	for one, list := range pluralOf {
		m[list] = one
	}
	return m
}()

// singular returns the element type of a list attribute type, or t itself.
func singular(t onnxpb.AttributeProto_AttributeType) onnxpb.AttributeProto_AttributeType {
	if s, ok := singularOf[t]; ok {
		return s
	}
	return t
}

// plural returns the list type whose elements have type t, or t itself.
func plural(t onnxpb.AttributeProto_AttributeType) onnxpb.AttributeProto_AttributeType {
	if l, ok := pluralOf[t]; ok {
		return l
	}
	return t
}

// isTypeKeyword reports whether an identifier starts a type.
func isTypeKeyword(id string) bool {
	if _, ok := elemTypeByName[id]; ok {
		return true
	}
	switch id {
	case "seq", "map", "optional", "sparse_tensor", "opaque":
		return true
	}
	return false
}
