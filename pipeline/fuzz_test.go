package pipeline

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/eval"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

// gen draws a small model from the fuzzer's bytes; past their end every draw
// is 0.
type gen struct{ b []byte }

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	v := g.b[0]
	g.b = g.b[1:]
	return v
}

func (g *gen) intn(n int) int { return int(g.byte()) % n }

var genInts = []int64{0, 1, 2, 3, 4, -1, -2, 1 << 20, 1<<31 - 1, 1 << 40, math.MaxInt64, math.MinInt64}

func (g *gen) int64() int64 {
	if v := g.byte(); v < 160 {
		return int64(v%8) - 2
	} else {
		return genInts[int(v)%len(genInts)]
	}
}

// constant is a small initializer: float or int64, rank up to 2, dims up to 3.
func (g *gen) constant(name string) *onnxpb.TensorProto {
	dims := make([]int64, g.intn(3))
	for i := range dims {
		dims[i] = int64(1 + g.intn(3))
	}
	if g.intn(2) == 0 {
		t := tensor.New(tensor.Int64, dims)
		for i := range t.I64 {
			t.I64[i] = g.int64()
		}
		return t.Proto(name)
	}
	t := tensor.New(tensor.Float, dims)
	for i := range t.F32 {
		t.F32[i] = float32(g.int64())
	}
	return t.Proto(name)
}

func (g *gen) attrs() []*onnxpb.AttributeProto {
	ints := []string{"axis", "keepdims", "to", "group", "upper", "num_outputs", "transA", "transB", "allowzero", "noop_with_empty_axes"}
	lists := []string{"perm", "axes", "starts", "ends", "split", "pads", "kernel_shape", "strides"}
	var a []*onnxpb.AttributeProto
	for n := g.intn(3); n > 0; n-- {
		if g.intn(2) == 0 {
			a = append(a, hAttrInt(ints[g.intn(len(ints))], g.int64()))
			continue
		}
		v := make([]int64, g.intn(4))
		for i := range v {
			v[i] = g.int64()
		}
		a = append(a, &onnxpb.AttributeProto{Name: proto.String(lists[g.intn(len(lists))]), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v})
	}
	return a
}

// model builds a graph of up to 12 nodes of ops from the folding registry
// (and a few that only rewrites look at), each reading earlier values, graph
// inputs or small constants, with random attributes.
func (g *gen) model(ops []string) *onnxpb.ModelProto {
	dims := []int64{int64(1 + g.intn(4)), int64(1 + g.intn(4))}
	ins := []*onnxpb.ValueInfoProto{hVI("x", tensor.Float, dims...), hVI("s", tensor.Int64, 2)}
	if g.intn(2) == 0 {
		// A symbolic dim.
		ins[0].Type.GetTensorType().Shape.Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
	}
	values := []string{"x", "s"}
	var inits []*onnxpb.TensorProto
	for i := g.intn(4); i >= 0; i-- {
		name := "c" + strconv.Itoa(len(inits))
		inits = append(inits, g.constant(name))
		values = append(values, name)
	}
	var nodes []*onnxpb.NodeProto
	for i := g.intn(12); i >= 0; i-- {
		op := ops[g.intn(len(ops))]
		in := make([]string, 1+g.intn(3))
		for j := range in {
			// Half the inputs are constants (folded values count as such
			// once folded), so that folding and its rules run often.
			in[j] = values[g.intn(len(values))]
			if g.intn(2) == 0 {
				in[j] = values[2+g.intn(len(inits))]
			}
			if j > 0 && g.intn(8) == 0 {
				in[j] = ""
			}
		}
		out := make([]string, 1+g.intn(2))
		for j := range out {
			out[j] = "v" + strconv.Itoa(len(nodes)) + "_" + strconv.Itoa(j)
		}
		nodes = append(nodes, hNode("n"+strconv.Itoa(len(nodes)), op, in, out, g.attrs()...))
		values = append(values, out...)
	}
	outs := []*onnxpb.ValueInfoProto{{Name: proto.String(values[len(values)-1])}}
	if o := values[2+g.intn(len(values)-2)]; o != outs[0].GetName() {
		outs = append(outs, &onnxpb.ValueInfoProto{Name: proto.String(o)})
	}
	return hModel(nodes, inits, ins, outs)
}

// fuzzOps are the operators the generated graphs use.
func fuzzOps() []string {
	return append(eval.Ops(), "Dropout", "Erf", "Relu", "Clip", "Conv", "BatchNormalization", "Not", "Where", "If")
}

// FuzzPipeline runs the whole pipeline on small generated graphs under small
// budgets. Whatever the graph, the run ends with the output written or an
// error; never with a panic caught at a step's boundary (model.ErrInternal), a
// kernel or rule bug reported as a warning, or an output that does not load
// and validate.
func FuzzPipeline(f *testing.F) {
	for i := 0; i < 8; i++ {
		f.Add([]byte{byte(i), 2, 1, 1, 3, 0, 2, 9, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, byte(i * 7), 1, 0, 1})
	}
	ops := fuzzOps()
	f.Fuzz(func(t *testing.T, b []byte) {
		g := &gen{b: b}
		mp := g.model(ops)
		dir := t.TempDir()
		o := DefaultOptions()
		o.Budgets = Budgets{MaxFoldBytes: 1 << 20, MaxFoldTotalBytes: 4 << 20, MaxNodeVisits: 1 << 16}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out := filepath.Join(dir, "out.onnx")
		rep, err := RunModel(ctx, &model.Model{Proto: mp, Dir: dir}, out, o, nil)
		if err != nil {
			if errors.Is(err, model.ErrInternal) || strings.Contains(err.Error(), "(a bug)") || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v\nmodel: %v", err, mp)
			}
			return
		}
		for _, w := range rep.Warnings {
			if strings.Contains(w, "(a bug)") {
				t.Fatalf("warning: %s\nmodel: %v", w, mp)
			}
		}
		loadValidOutput(t, out, dir)
	})
}
