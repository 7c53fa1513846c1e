package model

import onnxpb "github.com/quantprep/quantprep/api/onnx"

// The metadata entry that marks a pre-processed model, as the reference tool writes it.
const (
	PreProcessKey   = "onnx.quant.pre_process"
	PreProcessValue = "onnxruntime.quant"
)

// Tag records in metadata_props that the model was pre-processed. An existing
// value wins, as in the reference tool. It reports whether it added the entry.
func (m *Model) Tag() bool {
	for _, p := range m.Proto.GetMetadataProps() {
		if p.GetKey() == PreProcessKey {
			return false
		}
	}
	k, v := PreProcessKey, PreProcessValue
	m.Proto.MetadataProps = append(m.Proto.MetadataProps, &onnxpb.StringStringEntryProto{Key: &k, Value: &v})
	return true
}
