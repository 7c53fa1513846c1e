// Package optimize rewrites a model's graph as ONNX Runtime's basic optimization
// level does: constant folding, redundant node elimination and fusions.
//
// Passes run in an ordered table (passes.go); one of them applies the rewrite
// rules (rules.go) node by node. Each pass is in its own pass_*.go file and
// each rule in its own rule_*.go, with a doc comment saying what it rewrites
// and why that is safe (TestLayout checks); adding a rule is that file, its
// row in rules.go and its golden cases in testdata/<name>/. The table is
// repeated until nothing changes, at most maxSteps times, as ONNX Runtime's
// transformer manager does. After every pass the graph's invariants are
// checked (check.go). The main graph and its subgraphs (bodies of If, Loop,
// Scan) are rewritten, each in its own scope, innermost first; values that a
// subgraph reads from an enclosing graph are never removed or renamed, and
// are constants inside it only for constant folding (as in ONNX Runtime).
package optimize

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/quantprep/quantprep/pipeline/model"
)

// Config selects passes.
type Config struct {
	// Disabled names passes or rules not to run (see Names and CheckDisabled).
	Disabled []string
	// MaxFoldBytes bounds what constant folding may allocate for one node
	// (eval.Budget); a node over it stays unfolded, with a warning naming
	// it. 0 means eval.DefaultMaxBytes.
	MaxFoldBytes int64
	// MaxFoldTotalBytes bounds the bytes constant folding may add to the
	// model over a run. 0 means DefaultMaxFoldTotalBytes.
	MaxFoldTotalBytes int64
}

// Result is what a run did.
type Result struct {
	// Rewrites counts the rewrites of each pass or rule, by name.
	Rewrites map[string]int64
	// Durations is the time each pass took, summed over steps and subgraphs,
	// by pass name; the rules run inside "Level1_RuleBasedTransformer".
	Durations map[string]time.Duration
	Warnings  []string
}

// maxSteps bounds the repetitions of the pass table; ONNX Runtime's default
// for max_num_graph_transformation_steps is the same.
const maxSteps = 10

// Names lists the passes and rules in the order they run; these are the values
// Config.Disabled accepts and the keys of Result.Rewrites.
func Names() []string {
	var names []string
	for _, p := range passes {
		if p.name == rulePassName {
			for _, r := range rules {
				names = append(names, r.name)
			}
			continue
		}
		names = append(names, p.name)
	}
	return names
}

// CheckDisabled says why name may not be in Config.Disabled: it names no
// pass or rule (the error lists those it may name), or a pass the others
// rely on.
func CheckDisabled(name string) error {
	for _, p := range passes {
		if p.name == name && p.required {
			return fmt.Errorf("%s cannot be disabled: the other passes rely on it", name)
		}
	}
	names := Names()
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	sort.Strings(names)
	return fmt.Errorf("unknown pass or rule %q (known: %s)", name, strings.Join(names, ", "))
}

// run is the state of one optimization run that passes report to.
type run struct {
	ctx      context.Context
	cfg      Config
	disabled map[string]bool
	// foldGrown is what constant folding added so far (chargeFold).
	foldGrown int64
	res       *Result
	warned    map[string]bool
	// pass is the name of the pass running now, set by runPass: the key
	// under which rewrote counts, so that a pass never spells its own name.
	pass string
}

// count records n rewrites under name (a rule's name; passes use rewrote).
func (r *run) count(name string, n int64) {
	if n != 0 {
		r.res.Rewrites[name] += n
	}
}

// rewrote records n rewrites of the pass running now, under its name in the
// pass table.
func (r *run) rewrote(n int64) { r.count(r.pass, n) }

// warn records a warning once, however many steps repeat it.
func (r *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !r.warned[msg] {
		r.warned[msg] = true
		r.res.Warnings = append(r.res.Warnings, msg)
	}
}

// Run optimizes m in place.
func Run(ctx context.Context, m *model.Model, cfg Config) (*Result, error) {
	if m == nil || m.Graph() == nil {
		return nil, fmt.Errorf("%w: no graph", model.ErrInvalid)
	}
	r := &run{ctx: ctx, cfg: cfg, disabled: map[string]bool{}, res: &Result{Rewrites: map[string]int64{}, Durations: map[string]time.Duration{}}, warned: map[string]bool{}}
	for _, d := range cfg.Disabled {
		if err := CheckDisabled(d); err != nil {
			return nil, err
		}
		r.disabled[d] = true
	}
	// ONNX Runtime sorts a graph when it loads it; so do we, every graph and
	// subgraph, before the invariant check that every pass then keeps.
	if err := model.SortTopologically(m.Graph()); err != nil {
		return nil, err
	}
	g := newGraph(m)
	if err := checkAll(g); err != nil {
		return nil, fmt.Errorf("%w: %v", model.ErrInvalid, err)
	}
	for step := 0; step < maxSteps; step++ {
		changed := false
		for _, p := range passes {
			if p.once && step > 0 || r.disabled[p.name] && !p.required {
				continue
			}
			before := total(r.res)
			if err := r.runPass(p, g); err != nil {
				return nil, err
			}
			changed = changed || total(r.res) != before
		}
		if !changed {
			break
		}
	}
	if err := finish(g); err != nil {
		return nil, fmt.Errorf("after removing unused initializers: %w", err)
	}
	if g.spillErr != nil {
		r.warn("computed weights kept in memory: %v", g.spillErr)
	}
	return r.res, nil
}

// runPass runs p on the subgraphs of g, innermost first, then on g, and
// checks each graph after it.
func (r *run) runPass(p pass, g *graph) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	subs := g.subgraphs()
	for _, sub := range subs {
		if err := r.runPass(p, sub); err != nil {
			return err
		}
	}
	if len(subs) > 0 {
		g.touch() // what the subgraphs read from g may have changed
	}
	start := time.Now()
	r.pass = p.name
	err := safeRun(p, g, r)
	g.refs.forget(g.g)
	r.res.Durations[p.name] += time.Since(start)
	if err != nil {
		return fmt.Errorf("%s%s: %w", g.where(), p.name, err)
	}
	g.compact()
	pruneValueInfo(g)
	if err := check(g); err != nil {
		return fmt.Errorf("%w: %safter %s the graph is broken (a bug): %w", model.ErrInternal, g.where(), p.name, err)
	}
	return nil
}

// safeRun runs a pass, turning a panic (a bug) into an error wrapping
// model.ErrInternal that names the node and operator the pass was at (the
// node its walk over g yielded last, see graph.walk): the graph may be half
// rewritten, so the run stops there, and the process goes on. runPass adds
// the pass's name.
func safeRun(p pass, g *graph, r *run) (err error) {
	g.at = nil
	defer func() {
		if v := recover(); v != nil {
			at := ""
			if g.at != nil {
				at = " at " + nodeDesc(g.at)
			}
			err = fmt.Errorf("%w: panicked%s (a bug): %v", model.ErrInternal, at, v)
		}
	}()
	return p.run(g, r)
}

// checkAll checks g and its subgraphs.
func checkAll(g *graph) error {
	for _, sub := range g.subgraphs() {
		if err := checkAll(sub); err != nil {
			return err
		}
	}
	if err := check(g); err != nil {
		return fmt.Errorf("%s%w", g.where(), err)
	}
	return nil
}

// finish removes unused initializers in g and its subgraphs, then checks
// them all once (checking at every level made nested graphs cubic).
func finish(g *graph) error {
	removeUnusedAll(g)
	return checkAll(g)
}

func removeUnusedAll(g *graph) {
	subs := g.subgraphs()
	for _, sub := range subs {
		removeUnusedAll(sub)
	}
	if len(subs) > 0 {
		g.touch()
	}
	removeUnusedInitializers(g)
	g.refs.forget(g.g)
}

func total(res *Result) int64 {
	var n int64
	for _, v := range res.Rewrites {
		n += v
	}
	return n
}
