package model

import (
	"fmt"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// The newest operator set versions ONNX Runtime 1.30 loads; it refuses a
// model that imports a later one, and so does Validate.
const (
	MaxOnnxOpset = 26
	MaxMLOpset   = 5
)

// maxDataType is the largest element type number ONNX defines or has
// reserved; types past tensor's table but below it are passed through
// unchecked (ONNX Runtime may know them), larger ones are refused.
const maxDataType = 30

// Validate checks what every step takes for granted and ONNX Runtime refuses
// too: the operator set imports (at least one; ai.onnx within 1 to
// MaxOnnxOpset, ai.onnx.ml at most MaxMLOpset) and every tensor of the model
// (initializers, sparse initializers, attribute tensors, in every graph and
// function): a known element type, no negative dim, a size that fits in
// int64, and exactly as much data as its dims say. Its errors wrap ErrInvalid
// (ErrUnsupported for an operator set newer than quantprep knows) and name
// the tensor or domain. A model without an ai.onnx import is
// accepted, as ONNX Runtime accepts it.
func Validate(mp *onnxpb.ModelProto) error {
	if len(mp.GetOpsetImport()) == 0 {
		return fmt.Errorf("%w: the model imports no operator set", ErrInvalid)
	}
	for _, o := range mp.GetOpsetImport() {
		v := o.GetVersion()
		switch d := o.GetDomain(); {
		case IsDefaultDomain(d):
			if err := checkOpset("ai.onnx", v, 1, MaxOnnxOpset); err != nil {
				return err
			}
		case d == "ai.onnx.ml":
			if err := checkOpset(d, v, 0, MaxMLOpset); err != nil {
				return err
			}
		}
	}
	var err error
	walkTensors(mp, func(v tensorVisit) {
		if err == nil {
			err = ValidateTensor(v.tp)
		}
	})
	return err
}

// checkOpset checks the version of one operator set import: below lo is not
// a version (ErrInvalid); above hi is a valid model from a newer ONNX than
// quantprep (and ONNX Runtime) knows (ErrUnsupported).
func checkOpset(domain string, v, lo, hi int64) error {
	kind := ErrInvalid
	if v > hi {
		kind = ErrUnsupported
	}
	if v < lo || v > hi {
		return fmt.Errorf("%w: opset import of domain %q: version %d is not between %d and %d", kind, domain, v, lo, hi)
	}
	return nil
}

// ValidateTensor checks one tensor's type, dims and data size.
func ValidateTensor(tp *onnxpb.TensorProto) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: tensor %q: %s", ErrInvalid, tp.GetName(), fmt.Sprintf(format, a...))
	}
	dt := tp.GetDataType()
	if dt <= 0 || dt > maxDataType {
		return bad("unknown data type %d", dt)
	}
	for _, d := range tp.GetDims() {
		if d < 0 {
			return bad("negative dim in %v", tp.GetDims())
		}
	}
	n := tensor.NumElements(tp.GetDims())
	if n < 0 {
		return bad("dims %v overflow: more than 2^63 elements", tp.GetDims())
	}
	d := tensor.DType(dt)
	if IsExternal(tp) {
		ref, err := ParseExternal(tp)
		if err != nil {
			return err
		}
		if d.Known() && d != tensor.String && ref.Length >= 0 {
			if want := d.RawSize(n); want < 0 || ref.Length != want {
				return bad("external data length %d, want %d bytes for %s%v", ref.Length, want, d, tp.GetDims())
			}
		}
		return nil
	}
	if !d.Known() {
		return nil
	}
	if tp.RawData != nil && d != tensor.String {
		if want := d.RawSize(n); want < 0 || int64(len(tp.RawData)) != want {
			return bad("%d bytes of raw_data, want %d for %s%v", len(tp.RawData), want, d, tp.GetDims())
		}
		return nil
	}
	field, got, want := typedCount(tp, d, n)
	if got != want {
		return bad("%d values in %s, want %d for %s%v", got, field, want, d, tp.GetDims())
	}
	return nil
}

// typedCount names the typed field that holds a type's values when there is
// no raw_data, how many it holds, and how many the dims ask for.
func typedCount(tp *onnxpb.TensorProto, d tensor.DType, n int64) (string, int64, int64) {
	switch d {
	case tensor.Float:
		return "float_data", int64(len(tp.GetFloatData())), n
	case tensor.Complex64:
		return "float_data", int64(len(tp.GetFloatData())), 2 * n
	case tensor.Double:
		return "double_data", int64(len(tp.GetDoubleData())), n
	case tensor.Complex128:
		return "double_data", int64(len(tp.GetDoubleData())), 2 * n
	case tensor.Int64:
		return "int64_data", int64(len(tp.GetInt64Data())), n
	case tensor.Uint32, tensor.Uint64:
		return "uint64_data", int64(len(tp.GetUint64Data())), n
	case tensor.String:
		return "string_data", int64(len(tp.GetStringData())), n
	case tensor.Uint4, tensor.Int4:
		// Packing of 4-bit types in int32_data changed across ONNX
		// versions: not checked.
		return "int32_data", 0, 0
	}
	return "int32_data", int64(len(tp.GetInt32Data())), n
}
