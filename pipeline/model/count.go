package model

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// DefaultMaxNodes bounds the nodes of a model (in every graph, subgraph and
// function) that LoadBytes parses. A node costs some 200 bytes parsed and
// more in every step's indexes, but can take 2 bytes in the file: 5 million
// empty nodes are a 10 MB file that would take gigabytes. The largest real
// models have a few hundred thousand nodes.
const DefaultMaxNodes = 1 << 21

// Field numbers of onnx.proto that CountNodes follows.
const (
	modelGraph     = 7
	modelFunctions = 25
	graphNode      = 1
	nodeAttribute  = 5
	attrG          = 6
	attrGraphs     = 11
	functionNode   = 7
	// maxNesting is protobuf's own recursion limit for unmarshalling.
	maxNesting = 10000
)

// CountNodes counts the nodes of a serialized ModelProto, in every graph,
// subgraph and function, from the wire format alone: nothing is allocated
// per node, so a model can be refused before it is parsed. It stops counting
// past limit. Bytes that are not a model give an error wrapping ErrInvalid.
func CountNodes(b []byte, limit int64) (int64, error) {
	c := nodeCounter{limit: limit}
	err := c.message(b, 0, msgModel)
	return c.n, err
}

type nodeCounter struct{ n, limit int64 }

// Message types that CountNodes walks.
const (
	msgModel = iota
	msgGraph
	msgFunction
	msgNode
	msgAttribute
)

// child is the type of field num of a message of type kind that CountNodes
// walks into, or -1.
func child(kind int, num protowire.Number) int {
	switch {
	case kind == msgModel && num == modelGraph:
		return msgGraph
	case kind == msgModel && num == modelFunctions:
		return msgFunction
	case kind == msgGraph && num == graphNode, kind == msgFunction && num == functionNode:
		return msgNode
	case kind == msgNode && num == nodeAttribute:
		return msgAttribute
	case kind == msgAttribute && (num == attrG || num == attrGraphs):
		return msgGraph
	}
	return -1
}

// message walks the fields of one message of the given type.
func (c *nodeCounter) message(b []byte, depth, kind int) error {
	if depth > maxNesting {
		return fmt.Errorf("%w: not an ONNX model: nested more than %d levels", ErrInvalid, maxNesting)
	}
	if kind == msgNode {
		c.n++
	}
	for len(b) > 0 && c.n <= c.limit {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: not an ONNX model: %v", ErrInvalid, protowire.ParseError(n))
		}
		b = b[n:]
		if k := child(kind, num); k >= 0 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("%w: not an ONNX model: %v", ErrInvalid, protowire.ParseError(m))
			}
			if err := c.message(v, depth+1, k); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("%w: not an ONNX model: %v", ErrInvalid, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// checkNodeCount refuses, before parsing, a model of more than
// DefaultMaxNodes nodes. Bytes CountNodes cannot walk are left to the
// parser, whose error is the better one.
func checkNodeCount(b []byte) error {
	if n, err := CountNodes(b, DefaultMaxNodes); err == nil && n > DefaultMaxNodes {
		return fmt.Errorf("%w: the model has more than %d nodes", ErrOverBudget, int64(DefaultMaxNodes))
	}
	return nil
}
