// ml.go: ai.onnx.ml operators (classic machine learning).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/opset"
	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

const mlDomain = "ai.onnx.ml"

var mlOps = concatOps(
	[]Op{
		{Domain: mlDomain, Name: "Binarizer", Since: 1, Rule: inferUnary},
		{Domain: mlDomain, Name: "Imputer", Since: 1, Rule: inferUnary},
		{Domain: mlDomain, Name: "Scaler", Since: 1, Rule: inferMLFloat},
		{Domain: mlDomain, Name: "Normalizer", Since: 1, Rule: inferMLFloat},
		{Domain: mlDomain, Name: "LabelEncoder", Since: 1, Rule: inferLabelEncoder},
		{Domain: mlDomain, Name: "LabelEncoder", Since: 2, Rule: inferLabelEncoder},
		{Domain: mlDomain, Name: "CategoryMapper", Since: 1, Rule: inferCategoryMapper},
		{Domain: mlDomain, Name: "ArrayFeatureExtractor", Since: 1, Rule: inferArrayFeatureExtractor},
		{Domain: mlDomain, Name: "FeatureVectorizer", Since: 1, Rule: inferFeatureVectorizer},
		{Domain: mlDomain, Name: "OneHotEncoder", Since: 1, Rule: inferOneHotEncoder},
		{Domain: mlDomain, Name: "LinearRegressor", Since: 1, Rule: inferRegressor("targets")},
		{Domain: mlDomain, Name: "SVMRegressor", Since: 1, Rule: inferRegressor("")},
		{Domain: mlDomain, Name: "TreeEnsembleRegressor", Since: 1, Rule: inferRegressor("n_targets")},
		{Domain: mlDomain, Name: "LinearClassifier", Since: 1, Rule: inferClassifier},
		{Domain: mlDomain, Name: "SVMClassifier", Since: 1, Rule: inferClassifier},
		{Domain: mlDomain, Name: "TreeEnsembleClassifier", Since: 1, Rule: inferClassifier},
		{Domain: mlDomain, Name: "TreeEnsemble", Since: 5, Rule: inferTreeEnsemble},
		{Domain: mlDomain, Name: "ZipMap", Since: 1, Rule: inferZipMap},
		{Domain: mlDomain, Name: "CastMap", Since: 1, Rule: inferCastMap},
		{Domain: mlDomain, Name: "DictVectorizer", Since: 1, Rule: inferDictVectorizer},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	opset.Same[Rule]("ai.onnx.ml", "LabelEncoder", "keys_tensor and values_tensor: the rule reads values_tensor first at every version", 4),
	opset.Same[Rule]("ai.onnx.ml", "TreeEnsembleClassifier", "the *_as_tensor attributes change values, not the shape", 3),
	opset.Same[Rule]("ai.onnx.ml", "TreeEnsembleClassifier", whyLater, 5),
	opset.Same[Rule]("ai.onnx.ml", "TreeEnsembleRegressor", "the *_as_tensor attributes change values, not the shape", 3),
	opset.Same[Rule]("ai.onnx.ml", "TreeEnsembleRegressor", whyLater, 5),
)

// inferZipMap: one map per row, from the class labels (strings or int64s)
// to the row's float scores.
func inferZipMap(c *Context) error {
	key := tensor.Int64
	if c.Attrs().Has("classlabels_strings") {
		key = tensor.String
	}
	m := &onnxpb.TypeProto{Value: &onnxpb.TypeProto_MapType{MapType: &onnxpb.TypeProto_Map{
		KeyType:   proto.Int32(int32(key)),
		ValueType: tensorTypeProto(tensor.Float),
	}}}
	c.SetType(0, seqOf(Type{Kind: KindOther, Other: m}))
	return nil
}

func tensorTypeProto(e tensor.DType) *onnxpb.TypeProto {
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(e))}}}
}

// inferCastMap: the map's values in key order as a tensor of cast_to's
// type; its length depends on the map (DENSE) or on max_map (SPARSE), so
// only the element type is stated, as ONNX does.
func inferCastMap(c *Context) error {
	switch to := c.Attrs().String("cast_to", "TO_FLOAT"); to {
	case "TO_FLOAT":
		c.SetElem(0, tensor.Float)
	case "TO_STRING":
		c.SetElem(0, tensor.String)
	case "TO_INT64":
		c.SetElem(0, tensor.Int64)
	default:
		return c.Failf("CastMap cast_to %q", to)
	}
	return nil
}

// inferDictVectorizer: the map's values laid out by the vocabulary, of the
// map's value type; as in ONNX only the element type is stated.
func inferDictVectorizer(c *Context) error {
	t := c.Type(0)
	if t.Kind != KindOther || t.Other.GetMapType() == nil {
		return nil
	}
	if e := t.Other.GetMapType().GetValueType().GetTensorType().GetElemType(); e != 0 {
		c.SetElem(0, tensor.DType(e))
	}
	return nil
}

// batchOf is the number of rows of an ML input: [N, C] or [C] (one row).
func batchOf(c *Context) (sym.Dim, bool) {
	sh, ok := c.Shape(0)
	switch {
	case !ok:
		return sym.Dim{}, false
	case len(sh) == 2:
		return sh[0], true
	case len(sh) == 1:
		return sym.Int(1), true
	}
	return sym.Dim{}, false
}

func inferMLFloat(c *Context) error {
	t := c.Type(0)
	t.Elem = tensor.Float
	c.SetType(0, t)
	return nil
}

func inferLabelEncoder(c *Context) error {
	t := c.Type(0)
	switch {
	case c.Attrs().Has("values_tensor"):
		// ai.onnx.ml 4: keys and values as tensors.
		t.Elem = tensor.DType(c.Attrs().Tensor("values_tensor").GetDataType())
	case c.Attrs().Has("values_strings") || c.Attrs().Has("default_string") && !c.Attrs().Has("values_int64s") && !c.Attrs().Has("values_floats") && c.Elem(0) == tensor.Int64:
		t.Elem = tensor.String
	case c.Attrs().Has("values_int64s"):
		t.Elem = tensor.Int64
	case c.Attrs().Has("values_floats"):
		t.Elem = tensor.Float
	case c.Elem(0) == tensor.String:
		t.Elem = tensor.Int64
	default:
		return c.Failf("cannot tell LabelEncoder's output type")
	}
	c.SetType(0, t)
	return nil
}

func inferCategoryMapper(c *Context) error {
	t := c.Type(0)
	if t.Elem == tensor.String {
		t.Elem = tensor.Int64
	} else {
		t.Elem = tensor.String
	}
	c.SetType(0, t)
	return nil
}

func inferArrayFeatureExtractor(c *Context) error {
	sh, ok := c.Shape(0)
	idx, ok2 := c.Shape(1)
	if !ok || !ok2 || len(sh) == 0 {
		c.SetElem(0, c.Elem(0))
		return nil
	}
	sh[len(sh)-1] = prod(idx)
	if len(sh) == 1 {
		sh = []sym.Dim{sym.Int(1), sh[0]}
	}
	c.SetTensor(0, c.Elem(0), sh)
	return nil
}

func inferFeatureVectorizer(c *Context) error {
	dims, ok := c.Attrs().Ints("inputdimensions")
	n, ok2 := batchOf(c)
	if !ok || !ok2 {
		c.SetRank(0, tensor.Float, 2)
		return nil
	}
	total := int64(0)
	for _, d := range dims {
		total += d
	}
	c.SetTensor(0, tensor.Float, []sym.Dim{n, sym.Int(total)})
	return nil
}

func inferOneHotEncoder(c *Context) error {
	sh, ok := c.Shape(0)
	n := 0
	if v, has := c.Attrs().Ints("cats_int64s"); has {
		n = len(v)
	} else if a := c.Attrs().Get("cats_strings"); a != nil {
		n = len(a.GetStrings())
	}
	if !ok || n == 0 {
		c.SetElem(0, tensor.Float)
		return nil
	}
	c.SetTensor(0, tensor.Float, append(sh, sym.Int(int64(n))))
	return nil
}

// inferRegressor: [N, targets], targets from attribute attr (1 if absent).
func inferRegressor(attr string) func(*Context) error {
	return func(c *Context) error {
		n, ok := batchOf(c)
		if !ok {
			c.SetRank(0, tensor.Float, 2)
			return nil
		}
		t := int64(1)
		if attr != "" {
			t = c.Attrs().Int(attr, 1)
		}
		c.SetTensor(0, tensor.Float, []sym.Dim{n, sym.Int(t)})
		return nil
	}
}

// inferTreeEnsemble (ai.onnx.ml 5): Y is [N, n_targets] of X's element type.
func inferTreeEnsemble(c *Context) error {
	e := c.Elem(0)
	n, ok := batchOf(c)
	if !ok {
		c.SetRank(0, e, 2)
		return nil
	}
	t := c.NewDim()
	if c.Attrs().Has("n_targets") {
		t = sym.Int(c.Attrs().Int("n_targets", 1))
	}
	c.SetTensor(0, e, []sym.Dim{n, t})
	return nil
}

// inferClassifier: labels [N] (int64 or string by the class labels given),
// scores [N, classes].
func inferClassifier(c *Context) error {
	label := tensor.Int64
	classes := int64(-1)
	if a := c.Attrs().Get("classlabels_strings"); a != nil {
		label, classes = tensor.String, int64(len(a.GetStrings()))
	} else if v, ok := c.Attrs().Ints("classlabels_ints"); ok {
		classes = int64(len(v))
	}
	n, ok := batchOf(c)
	if !ok {
		c.SetRank(0, label, 1)
		c.SetRank(1, tensor.Float, 2)
		return nil
	}
	c.SetTensor(0, label, []sym.Dim{n})
	if c.OpType() == "LinearClassifier" || classes < 0 {
		// Scores have one column per class, or per coefficient row when the
		// labels do not say; binary classifiers may add a column.
		c.SetRank(1, tensor.Float, 2)
		if cls, ok := c.Shape(0); ok && len(cls) > 0 && classes > 2 {
			c.SetTensor(1, tensor.Float, []sym.Dim{n, sym.Int(classes)})
		}
		return nil
	}
	if classes > 2 {
		c.SetTensor(1, tensor.Float, []sym.Dim{n, sym.Int(classes)})
	} else {
		c.SetTensor(1, tensor.Float, []sym.Dim{n, c.NewDim()})
	}
	return nil
}
