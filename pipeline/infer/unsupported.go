package infer

// unsupported lists operators of ONNX's schemas (testdata/onnx_schemas.tsv)
// that have no registry entry, each with the reason. Their nodes get a
// warning, and with guess_output_rank the rank of input 0. The coverage test
// checks that every schema is either registered or listed here.
var unsupported = map[string]string{
	"ai.onnx.ml:CastMap":        "map inputs are not modelled",
	"ai.onnx.ml:DictVectorizer": "map inputs are not modelled",
	"ai.onnx.ml:ZipMap":         "sequence-of-map outputs are not modelled",
}
