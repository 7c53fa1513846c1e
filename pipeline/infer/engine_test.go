package infer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

// TestRunErrors: invalid graphs fail with ErrInvalid naming the culprit; a
// cancelled context stops the run.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
		ctx             func() context.Context
		wantErr         error
	}{
		{
			name: "undefined input",
			src: `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (y) { y = Add (x, nowhere) }`,
			want: `node "y" (Add): input "nowhere" is not defined`, wantErr: model.ErrInvalid,
		},
		{
			name: "cycle",
			src: `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (y) { [n1] a = Add (x, b) [n2] b = Relu (a) y = Relu (b) }`,
			want: `the graph has a cycle: node "n1" (Add) -> node "n2" (Relu) -> node "n1" (Add)`, wantErr: model.ErrInvalid,
		},
		{
			name: "undefined graph output",
			src: `<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x) => (z) { y = Relu (x) }`,
			want: `output "z" is not defined`, wantErr: model.ErrInvalid,
		},
		{
			name: "cancelled",
			src:  genText(300),
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			want: "context canceled", wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, err := onnxtext.ParseModel(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			_, err = Run(ctx, &model.Model{Proto: mp}, Config{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %q (%v)", err, tt.want, tt.wantErr)
			}
		})
	}
}

// genText is a chain of n Relu nodes in ONNX text syntax.
func genText(n int) string {
	var b strings.Builder
	b.WriteString("<ir_version: 8, opset_import: [\"\" : 17]>\ng (float[2] x0) => (y) {\n")
	prev := "x0"
	for i := 0; i < n; i++ {
		cur := "x" + strconv.Itoa(i+1)
		b.WriteString("  " + cur + " = Relu (" + prev + ")\n")
		prev = cur
	}
	b.WriteString("  y = Identity (" + prev + ")\n}\n")
	return b.String()
}

// TestVerboseTrace: Verbose 3 records every node output's type.
func TestVerboseTrace(t *testing.T) {
	mp, err := onnxtext.ParseModel(genText(3))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), &model.Model{Proto: mp}, Config{Verbose: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trace) != 4 || !strings.Contains(res.Trace[0], `x1: float[2]`) {
		t.Errorf("trace %q", res.Trace)
	}
}
