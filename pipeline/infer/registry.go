package infer

import (
	"fmt"
	"sort"
)

// Op is one operator's shape inference for the opset versions from Since up to
// the next entry's Since.
type Op struct {
	Domain string
	Name   string
	Since  int64
	// Infer sets the node's outputs through the Context, including the values
	// of small integer outputs (shape arithmetic) where it can.
	Infer func(*Context) error
}

// families lists every operator family once.
var families = [][]Op{
	elementwiseOps,
	shapeOps,
	reduceOps,
	matmulOps,
	convPoolOps,
	normOps,
	rnnOps,
	controlFlowOps,
	quantizeOps,
	sequenceOps,
	generatorOps,
	imageOps,
	lossOps,
	trainingOps,
	mlOps,
	msOps,
}

// registry maps domain and name to entries sorted by Since, newest first. It
// is built in init because operator entries reach lookup through subgraphs.
var registry map[string][]Op

func init() { registry = buildRegistry(families) }

func buildRegistry(families [][]Op) map[string][]Op {
	r := map[string][]Op{}
	seen := map[string]bool{}
	for _, fam := range families {
		for _, op := range fam {
			k := fmt.Sprintf("%s:%s:%d", op.Domain, op.Name, op.Since)
			if seen[k] {
				panic("infer: duplicate registry entry " + k)
			}
			seen[k] = true
			key := op.Domain + ":" + op.Name
			r[key] = append(r[key], op)
		}
	}
	for _, ops := range r {
		sort.Slice(ops, func(i, j int) bool { return ops[i].Since > ops[j].Since })
	}
	return r
}

// lookup returns the entry with the largest Since <= opset, or for a domain the
// model does not import (opset 0), the newest entry.
func lookup(domain, name string, opset int64) *Op {
	ops := registry[domain+":"+name]
	for i := range ops {
		if opset == 0 || ops[i].Since <= opset {
			return &ops[i]
		}
	}
	return nil
}
