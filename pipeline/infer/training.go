// training.go: ai.onnx.preview.training optimizers and text operators
// (StringNormalizer, TfIdfVectorizer) that the backend tests score.

package infer

import (
	"github.com/quantprep/quantprep/pipeline/sym"
	"github.com/quantprep/quantprep/pipeline/tensor"
)

const training = "ai.onnx.preview.training"

var trainingOps = []Op{
	{Domain: training, Name: "Adagrad", Since: 1, Rule: inferOptimizer(3, []int{0, 2})},
	{Domain: training, Name: "Momentum", Since: 1, Rule: inferOptimizer(3, []int{0, 2})},
	{Domain: training, Name: "Adam", Since: 1, Rule: inferOptimizer(4, []int{0, 2, 3})},
	{Domain: training, Name: "Gradient", Since: 1, Rule: inferGradient},
	{Name: "StringNormalizer", Since: 10, Rule: inferStringNormalizer},
	{Name: "TfIdfVectorizer", Since: 9, Rule: inferTfIdf},
	{Name: "StringSplit", Since: 20, Rule: inferStringSplit},
}

// inferGradient: input i holds the value of xs[i] (inputs for zs follow),
// and output i, the gradient of y with respect to it, has its type.
func inferGradient(c *Context) error {
	xs := c.Attrs().Get("xs").GetStrings()
	if len(xs) != c.NumOutputs() || c.NumInputs() < len(xs) {
		return c.Failf("Gradient has %d outputs and %d inputs for %d xs", c.NumOutputs(), c.NumInputs(), len(xs))
	}
	for i := range xs {
		c.SetType(i, c.Type(i))
	}
	return nil
}

// inferStringSplit: Y has one more axis holding the substrings (as many as
// the longest split, data-dependent), Z counts them per element.
func inferStringSplit(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok {
		c.SetElem(0, tensor.String)
		c.SetElem(1, tensor.Int64)
		return nil
	}
	c.SetTensor(0, tensor.String, append(append([]sym.Dim{}, sh...), c.NewDim()))
	c.SetTensor(1, tensor.Int64, sh)
	return nil
}

// inferOptimizer: after R and T come blocks of n inputs each (X, G, V, H);
// the outputs are the updated blocks listed in outBlocks, each shaped like
// its input.
func inferOptimizer(blocks int, outBlocks []int) func(*Context) error {
	return func(c *Context) error {
		n := (c.NumInputs() - 2) / blocks
		if n <= 0 || (c.NumInputs()-2)%blocks != 0 {
			return c.Failf("%d inputs do not form %d blocks", c.NumInputs(), blocks)
		}
		for j, b := range outBlocks {
			for i := 0; i < n; i++ {
				c.SetType(j*n+i, c.Type(2+b*n+i))
			}
		}
		return nil
	}
}

func inferStringNormalizer(c *Context) error {
	sh, ok := c.Shape(0)
	if !ok || len(sh) == 0 {
		c.SetElem(0, tensor.String)
		return nil
	}
	if _, has := c.Attrs().Ints("stopwords"); has || c.Attrs().Get("stopwords") != nil {
		sh[len(sh)-1] = c.NewDim()
	}
	c.SetTensor(0, tensor.String, sh)
	return nil
}

func inferTfIdf(c *Context) error {
	sh, ok := c.Shape(0)
	idx, has := c.Attrs().Ints("ngram_indexes")
	if !ok || !has || len(sh) == 0 || len(sh) > 2 {
		c.SetElem(0, tensor.Float)
		return nil
	}
	m := int64(-1)
	for _, x := range idx {
		m = max(m, x)
	}
	out := []sym.Dim{sym.Int(m + 1)}
	if len(sh) == 2 {
		out = []sym.Dim{sh[0], sym.Int(m + 1)}
	}
	c.SetTensor(0, tensor.Float, out)
	return nil
}
