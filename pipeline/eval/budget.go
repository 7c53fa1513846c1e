package eval

import (
	"errors"
	"fmt"
	"math"

	"github.com/quantprep/quantprep/pipeline/tensor"
)

// ErrOverBudget marks a fold that would allocate more than its budget. The
// check comes before the allocation, so a model that asks for a tensor of
// 80 GB costs nothing: the node is simply left unfolded.
var ErrOverBudget = errors.New("over the constant-folding budget")

// DefaultMaxBytes is the default of Budget.MaxBytes: far below a container's
// few GiB, far above any shape or index constant worth folding.
const DefaultMaxBytes = 64 << 20

// maxWork bounds the multiply-adds (or window taps) a fold may spend on one
// node, so that a fold also ends in about a second.
const maxWork = 1 << 26

// Budget bounds what one kernel call may allocate.
type Budget struct {
	// MaxBytes bounds the bytes of a node's outputs and the index tables that
	// make them. A node may always allocate four times the bytes its inputs hold
	// in memory (a Transpose of a large weight is not an amplification).
	// 0 means DefaultMaxBytes.
	MaxBytes int64
}

// limit is the number of bytes the call may allocate.
func (c *Ctx) limit() int64 {
	lim := c.Budget.MaxBytes
	if lim <= 0 {
		lim = DefaultMaxBytes
	}
	// Each tensor counts once: Concat(c, c) reads c's bytes once.
	var in int64
	seen := map[*tensor.Tensor]bool{}
	for _, t := range c.In {
		if t != nil && !seen[t] {
			seen[t] = true
			in = satAdd(in, MemBytes(t))
		}
	}
	return max(lim, satMul(in, 4))
}

// room checks, before a kernel allocates, that n elements costing perElem
// bytes each (the value and the index tables that make it) fit the budget.
// A negative n (dims that overflow) never fits.
func (c *Ctx) room(what string, n, perElem int64) error {
	lim := c.limit()
	for _, t := range c.In {
		if t != nil && t.DType == tensor.String {
			perElem += 16 // a string header is 24 bytes, not 8
			break
		}
	}
	if n < 0 || satMul(n, perElem) > lim {
		shown := fmt.Sprint(n)
		if n < 0 {
			shown = "more than 2^63"
		}
		return fmt.Errorf("%w: %s of %s elements would take more than %d bytes", ErrOverBudget, what, shown, lim)
	}
	return nil
}

// roomDims is room for a tensor of the given dims.
func (c *Ctx) roomDims(what string, dims []int64, perElem int64) error {
	return c.room(what, tensor.NumElements(dims), perElem)
}

// work checks that a computation of the given number of steps (a negative
// count means an overflow) is cheap enough to fold.
func work(what string, steps int64) error {
	if steps < 0 || steps > maxWork {
		return fmt.Errorf("%w: %s needs more than %d steps", ErrOverBudget, what, int64(maxWork))
	}
	return nil
}

// checkInputs refuses inputs whose dims, zeros left out, multiply past
// maxWork: an empty tensor of dims [0, 2^40] holds nothing, but kernels
// that loop over its other axes would run for hours.
func checkInputs(in []*tensor.Tensor) error {
	for i, t := range in {
		if t == nil {
			continue
		}
		p := int64(1)
		for _, d := range t.Dims {
			if d > 0 {
				if p = satMul(p, d); p > maxWork {
					return fmt.Errorf("%w: input %d has dims %v", ErrOverBudget, i, t.Dims)
				}
			}
		}
	}
	return nil
}

// MemBytes is the memory a decoded tensor's values take.
func MemBytes(t *tensor.Tensor) int64 {
	switch {
	case t.F32 != nil:
		return 4 * int64(len(t.F32))
	case t.F64 != nil:
		return 8 * int64(len(t.F64))
	case t.I64 != nil:
		return 8 * int64(len(t.I64))
	case t.Str != nil:
		n := int64(0)
		for _, s := range t.Str {
			n += 24 + int64(len(s))
		}
		return n
	}
	return 0
}

// satMul multiplies non-negative numbers, saturating at math.MaxInt64; a
// negative operand gives -1.
func satMul(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}

// satAdd adds non-negative numbers, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// mulAll multiplies non-negative numbers; -1 if the product overflows or one
// is negative.
func mulAll(vs ...int64) int64 {
	p := int64(1)
	for _, v := range vs {
		if v < 0 {
			return -1
		}
		if p = satMul(p, v); p == math.MaxInt64 {
			for _, z := range vs {
				if z == 0 {
					return 0
				}
			}
			return -1
		}
	}
	return p
}
