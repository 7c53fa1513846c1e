// rnn.go: recurrent layers (RNN, GRU, LSTM).

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
)

var rnnOps = concatOps(
	[]Op{
		{Name: "RNN", Since: 1, Rule: inferRNN(1)},
		{Name: "GRU", Since: 1, Rule: inferRNN(3)},
		{Name: "LSTM", Since: 1, Rule: inferRNN(4)},
	},
	// Versions where ONNX changed the schema and the row before still holds.
	same("GRU", "linear_before_reset changes values only", 3),
	same("GRU", whyOutputSequence, 7),
	same("GRU", whyLayout, 14),
	same("GRU", whyNewTypes, 22),
	same("LSTM", whyOutputSequence, 7),
	same("LSTM", whyLayout, 14),
	same("LSTM", whyNewTypes, 22),
	same("RNN", whyOutputSequence, 7),
	same("RNN", whyLayout, 14),
	same("RNN", whyNewTypes, 22),
)

// inferRNN: gates is the number of gate blocks stacked in W (LSTM 4, GRU 3).
func inferRNN(gates int64) func(*Context) error {
	return func(c *Context) error {
		e := c.Elem(0)
		x, ok := c.Shape(0)
		if !ok || len(x) != 3 {
			for i := 0; i < c.NumOutputs(); i++ {
				c.SetElem(i, e)
			}
			return nil
		}
		dirs := int64(1)
		if c.Attrs().String("direction", "forward") == "bidirectional" {
			dirs = 2
		}
		hidden := sym.Int(c.Attrs().Int("hidden_size", 0))
		if !c.Attrs().Has("hidden_size") {
			hidden = c.NewDim()
			if w, ok := c.Shape(1); ok && len(w) == 3 {
				hidden = c.orNew(sym.FloorDiv(w[1], sym.Int(gates)))
			}
		}
		seq, batch := x[0], x[1]
		layout := c.Attrs().Int("layout", 0)
		if layout != 0 {
			seq, batch = x[1], x[0]
		}
		nd := sym.Int(dirs)
		if layout == 0 {
			c.SetTensor(0, e, []sym.Dim{seq, nd, batch, hidden})
			c.SetTensor(1, e, []sym.Dim{nd, batch, hidden})
			c.SetTensor(2, e, []sym.Dim{nd, batch, hidden})
		} else {
			c.SetTensor(0, e, []sym.Dim{batch, seq, nd, hidden})
			c.SetTensor(1, e, []sym.Dim{batch, nd, hidden})
			c.SetTensor(2, e, []sym.Dim{batch, nd, hidden})
		}
		return nil
	}
}
