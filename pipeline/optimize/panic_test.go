package optimize

import (
	"context"
	"errors"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/internal/onnxtext"
	"github.com/quantprep/quantprep/pipeline/model"
)

// panicModel has a named Relu in the main graph and one in a branch of If.
const panicModel = `<ir_version: 8, opset_import: ["" : 17]>
g (bool c, float[2] x) => (float[2] y, float[2] z)
{
  [outer] a = Relu (x)
  y = Neg (a)
  [cond] z = If (c) <then_branch = t () => (float[2] r) { [inner] r = Relu (a) }, else_branch = e () => (float[2] s) { s = Neg (a) }>
}`

// TestPanicPolicy: a rule or pass that panics fails the run with an error
// wrapping model.ErrInternal that names the pass, the rule, the subgraph and
// the node and operator it was at, each once, instead of taking the process
// down; the next run goes on as usual.
func TestPanicPolicy(t *testing.T) {
	boomRule := func(only string) rule {
		return rule{name: "Boom", ops: []string{"Relu"}, apply: func(_ *graph, n *onnxpb.NodeProto) bool {
			if n.GetName() == only {
				panic("rule bug")
			}
			return false
		}}
	}
	boomPass := func(only string) pass {
		return pass{name: "BoomPass", run: func(g *graph, r *run) error {
			for n := range g.walk() {
				if n.GetName() == only {
					var m map[string]int
					m["x"] = 1 // a nil map write: a bug
				}
			}
			return nil
		}}
	}
	for _, c := range []struct {
		name  string
		rule  *rule
		pass  *pass
		wants []string
	}{
		{name: "rule", rule: ptr(boomRule("outer")),
			wants: []string{rulePassName, "rule Boom", `node "outer" (Relu)`, "rule bug"}},
		{name: "rule_in_subgraph", rule: ptr(boomRule("inner")),
			wants: []string{rulePassName, "rule Boom", `subgraph then_branch of node "cond" (If)`, `node "inner" (Relu)`, "rule bug"}},
		{name: "pass", pass: ptr(boomPass("outer")),
			wants: []string{"BoomPass", `at node "outer" (Relu)`, "assignment to entry in nil map"}},
		{name: "pass_in_subgraph", pass: ptr(boomPass("inner")),
			wants: []string{"BoomPass", `subgraph then_branch of node "cond" (If)`, `at node "inner" (Relu)`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			savedRules, savedPasses := rules, passes
			defer func() { rules, passes = savedRules, savedPasses }()
			if c.rule != nil {
				rules = append([]rule{*c.rule}, savedRules...)
			}
			if c.pass != nil {
				passes = append([]pass{savedPasses[0], *c.pass}, savedPasses[1:]...)
			}
			mp, err := onnxtext.ParseModel(panicModel)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), &model.Model{Proto: mp}, Config{})
			if !errors.Is(err, model.ErrInternal) {
				t.Fatalf("err = %v, want one wrapping model.ErrInternal", err)
			}
			msg := err.Error()
			for _, want := range append(c.wants, "(a bug)") {
				if n := strings.Count(msg, want); n != 1 {
					t.Errorf("error %q mentions %q %d times, want once", msg, want, n)
				}
			}
			if strings.Contains(msg, "optimize:") {
				t.Errorf("error %q names the step: that is the pipeline's to add", msg)
			}
		})
	}
	// The process goes on: the same model optimizes once the bug is gone.
	mp, err := onnxtext.ParseModel(panicModel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), &model.Model{Proto: mp}, Config{}); err != nil {
		t.Fatalf("a run after the panics: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
