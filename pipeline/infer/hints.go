// hints.go: what the model says already about an intermediate value.
//
// Exporters write value_info for intermediates, and those types are hints,
// not facts: an exporter may give one dim_param to dims that differ (a
// torchvision detection model names two data-dependent dims in two If
// branches alike; ONNX Runtime then plans one buffer for both and fails).
// The main graph's inputs and outputs are the user's contract and are merged
// as facts (mergeTypes); every other existing type is merged here:
//
//   - where inference knows a dim (a value or an expression), it is written,
//     even over an existing symbol: the symbol survives only where inference
//     agrees with it;
//   - where inference knows nothing, the existing dim stays on its tensor,
//     but an existing symbol does not flow on to the nodes that read the
//     tensor (they see a fresh symbol, or an unknown dim in ONNX mode), so
//     that no tensor that did not claim it is given it;
//   - an existing value over an inferred symbol is kept (a value beats a
//     symbol), and two different values are a conflict, reported.
//
// One symbol that existing value_info gives to dims that inference finds to
// differ is reported with both tensors (claim). Dims that If, Loop and Scan
// bodies define cannot leave the body as a shared symbol (localDims in
// control_flow.go).

package infer

import (
	"strconv"
	"strings"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/sym"
)

// mergeHint merges an intermediate's existing type old with the inferred inf.
// written is recorded in the model, flow is what the value's readers see, and
// why describes a conflict (see mergeTypes).
func (e *engine) mergeHint(name string, old, inf Type) (written, flow Type, why string) {
	t, why := mergeTypes(old, inf)
	if t.Kind != KindTensor || !t.Ranked {
		return t, t, why
	}
	shaped := old.Kind == KindTensor && old.Ranked && len(old.Shape) == len(t.Shape)
	if !shaped {
		return t, t, why
	}
	inShape := inf.Kind == KindTensor && inf.Ranked && len(inf.Shape) == len(t.Shape)
	written = t
	written.Shape = make([]sym.Dim, len(t.Shape))
	flow = written
	flow.Shape = make([]sym.Dim, len(t.Shape))
	for i, h := range old.Shape {
		if e.distrust[h.String()] {
			h = sym.Unknown()
		}
		d := sym.Unknown()
		if inShape {
			d = inf.Shape[i]
		}
		w, f := h, h
		switch {
		case d.IsUnknown():
			if h.IsSymbolic() {
				// Unverified: kept on its tensor, not passed on.
				f = sym.Unknown()
				if e.cfg.Mode == Symbolic {
					f = e.newSymbol(name + "_" + strconv.Itoa(i))
				}
			}
		case h.IsUnknown():
			w, f = d, d
		case h.IsKnown():
			// A value stays, even over a different value (mergeTypes
			// reported that conflict).
		default:
			// A symbol gives way to what inference says.
			e.claim(h.String(), name, d)
			w, f = d, d
		}
		written.Shape[i], flow.Shape[i] = w, f
	}
	return written, flow, why
}

// claimContract records the symbols of a main graph input's declared shape:
// they mean themselves, and are never dropped.
func (e *engine) claimContract(name string, t Type) {
	if t.Kind != KindTensor {
		return
	}
	for _, d := range t.Shape {
		if s, ok := d.IsSymbol(); ok {
			e.claim(s, name, d)
			e.claims[s].contract = true
		}
	}
}

// falseHints returns the symbols, not declared by the main graph's inputs or
// outputs, that claim found given to dims that differ, with the warnings
// that say so.
func (e *engine) falseHints() (map[string]bool, []string) {
	drop := map[string]bool{}
	for h, c := range e.claims {
		if c.warned && !c.contract {
			drop[h] = true
		}
	}
	for _, o := range e.m.Graph().GetOutput() {
		for _, d := range o.GetType().GetTensorType().GetShape().GetDim() {
			delete(drop, d.GetDimParam())
		}
	}
	var ws []string
	for _, w := range e.res.Warnings {
		if strings.HasPrefix(w, claimWarning) {
			ws = append(ws, w)
		}
	}
	return drop, ws
}

// dropFalseHints removes, once the graph is inferred, every symbol that
// claim found given to dims that differ from the intermediates where it
// stayed because inference knew nothing there: those tensors get a fresh
// symbol each (unknown dims in ONNX mode). Hints never flow, so nothing
// inferred depends on them. The main graph's declared outputs keep theirs.
func (e *engine) dropFalseHints() {
	drop, _ := e.falseHints()
	if len(drop) == 0 {
		return
	}
	fix := func(vis []*onnxpb.ValueInfoProto) {
		for _, vi := range vis {
			for i, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
				if !drop[d.GetDimParam()] {
					continue
				}
				d.Value = nil
				if e.cfg.Mode == Symbolic {
					p := e.newSymbol(vi.GetName() + "_" + strconv.Itoa(i)).String()
					d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}
				}
			}
		}
	}
	model.WalkGraphs(e.m.Graph(), func(g *onnxpb.GraphProto, top bool) {
		fix(g.GetValueInfo())
		if !top {
			fix(g.GetInput())
			fix(g.GetOutput())
		}
	})
}

// claimWarning starts the warning about a symbol given to dims that differ.
const claimWarning = "existing shapes give dim"

// claim records that existing type information gives symbol h to a dim of
// tensor that inference finds to be d, and reports h once when another tensor
// claims it for a different dim.
func (e *engine) claim(h, tensor string, d sym.Dim) {
	if e.trial > 0 {
		return
	}
	if e.claims == nil {
		e.claims = map[string]*claim{}
	}
	c := e.claims[h]
	ds := d.String()
	if c == nil {
		e.claims[h] = &claim{tensor: tensor, inferred: ds}
		return
	}
	if c.inferred == ds || c.warned {
		return
	}
	c.warned = true
	e.res.Counts["dropped_symbols"]++
	e.warnf(claimWarning+" %q to tensors %q and %q, where inference finds %s and %s; the symbol is dropped from intermediates, which get the inferred dims", h, c.tensor, tensor, c.inferred, ds)
}
