package infer

import "testing"

func TestLookup(t *testing.T) {
	tests := []struct {
		domain, name string
		opset        int64
		want         int64 // Since of the entry found; 0 for none
	}{
		{"", "Squeeze", 11, 1},
		{"", "Squeeze", 13, 13},
		{"", "Squeeze", 17, 13},
		{"", "Slice", 9, 1},
		{"", "Slice", 10, 10},
		{"", "Split", 12, 1},
		{"", "Split", 17, 13},
		{"", "Split", 18, 18},
		{"", "ReduceSum", 12, 1},
		{"", "ReduceSum", 13, 13},
		{"", "ReduceMean", 17, 1},
		{"", "ReduceMean", 18, 18},
		{"", "Range", 10, 0}, // Range exists from opset 11
		{"", "NoSuchOp", 17, 0},
		{ms, "FusedMatMul", 1, 1},
		{ms, "FusedMatMul", 0, 1}, // domain not imported: newest entry
		{"", "Squeeze", 0, 13},    // not imported: read at the newest opset, as ORT does
	}
	for _, tt := range tests {
		op, ok := registry.Lookup(tt.domain, tt.name, tt.opset)
		got := int64(0)
		if ok {
			got = op.Since
		}
		if got != tt.want {
			t.Errorf("lookup(%q, %q, %d) = since %d, want %d", tt.domain, tt.name, tt.opset, got, tt.want)
		}
	}
}
