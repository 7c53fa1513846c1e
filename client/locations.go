package client

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto (api/onnx) on the paths that lead to tensors.
// ExternalLocations walks the wire format along them instead of unmarshalling
// the model, so that a large inline model's weights are not copied again: the
// client then holds the file's bytes once.
const (
	modelGraph        = 7
	modelTrainingInfo = 20
	modelFunctions    = 25
	trainingInit      = 1
	trainingAlgorithm = 2
	graphNode         = 1
	graphInitializer  = 5
	graphSparseInit   = 15
	nodeAttribute     = 5
	functionNode      = 7
	functionAttrProto = 11
	attrT             = 5
	attrG             = 6
	attrTensors       = 10
	attrGraphs        = 11
	attrSparseTensor  = 22
	attrSparseTensors = 23
	sparseValues      = 1
	sparseIndices     = 2
	tensorExternal    = 13
	tensorLocation    = 14
	entryKey          = 1
	entryValue        = 2
	locationExternal  = 1 // TensorProto.DataLocation EXTERNAL
)

// ExternalLocations lists, sorted and cleaned, the external-data files that a
// serialized model's tensors point to, in every graph, subgraph, attribute,
// sparse tensor, function and training graph.
func ExternalLocations(modelBytes []byte) ([]string, error) {
	seen := map[string]bool{}
	var graph, node, attribute, sparse func([]byte) error
	tensor := func(b []byte) error {
		external, loc := false, ""
		err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			switch {
			case num == tensorLocation && typ == protowire.VarintType:
				external = x == locationExternal
			case num == tensorExternal && typ == protowire.BytesType:
				var key, value string
				if err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
					if typ == protowire.BytesType && num == entryKey {
						key = string(v)
					} else if typ == protowire.BytesType && num == entryValue {
						value = string(v)
					}
					return nil
				}); err != nil {
					return err
				}
				if key == "location" {
					loc = value
				}
			}
			return nil
		})
		if err == nil && external && loc != "" {
			seen[path.Clean(loc)] = true
		}
		return err
	}
	// sub walks a message's fields: each occurrence of a repeated field on its
	// own, and every occurrence of a singular one as one message, because
	// protobuf merges the occurrences of a singular message field (their
	// concatenation is that merge).
	sub := func(repeated, singular map[protowire.Number]func([]byte) error) func([]byte) error {
		return func(b []byte) error {
			merged := map[protowire.Number][]byte{}
			err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				if f := repeated[num]; f != nil {
					return f(v)
				}
				if singular[num] != nil {
					merged[num] = append(merged[num], v...)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, num := range slices.Sorted(maps.Keys(merged)) {
				if err := singular[num](merged[num]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	type fields = map[protowire.Number]func([]byte) error
	sparse = func(b []byte) error {
		return sub(nil, fields{sparseValues: tensor, sparseIndices: tensor})(b)
	}
	attribute = func(b []byte) error {
		return sub(fields{attrTensors: tensor, attrGraphs: graph, attrSparseTensors: sparse},
			fields{attrT: tensor, attrG: graph, attrSparseTensor: sparse})(b)
	}
	node = sub(fields{nodeAttribute: attribute}, nil)
	graph = func(b []byte) error {
		return sub(fields{graphNode: node, graphInitializer: tensor, graphSparseInit: sparse}, nil)(b)
	}
	model := sub(fields{
		modelFunctions:    sub(fields{functionNode: node, functionAttrProto: attribute}, nil),
		modelTrainingInfo: sub(nil, fields{trainingInit: graph, trainingAlgorithm: graph}),
	}, fields{modelGraph: graph})
	if err := model(modelBytes); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// walk calls fn for each field of the message b: with the bytes of a
// length-delimited field, or the value of a varint.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType || typ == protowire.VarintType {
			if err := fn(num, typ, v, x); err != nil {
				return err
			}
		}
	}
	return nil
}
