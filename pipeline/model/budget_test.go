package model

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// countingBudget grants up to limit bytes and records what was asked.
type countingBudget struct {
	limit, used int64
	asks        []int64
}

var errOver = errors.New("over the test budget")

func (b *countingBudget) Reserve(n int64) error {
	b.asks = append(b.asks, n)
	if b.used+n > b.limit {
		return errOver
	}
	b.used += n
	return nil
}

// TestDiskBudget checks that Spill and Save claim their bytes before writing
// them, and that a refusal writes nothing and comes back wrapped.
func TestDiskBudget(t *testing.T) {
	m, w := spillModel(t, 300) // 1200 bytes
	root := t.TempDir()
	m.EnableSpill(root)
	m.SetDiskBudget(&countingBudget{limit: 1000})
	if ok, err := m.Spill(w); ok || !errors.Is(err, errOver) {
		t.Errorf("Spill over the budget = %v, %v; want false and the budget's error", ok, err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("a refused spill wrote %v", entries)
	}
	if w.RawData == nil {
		t.Error("a refused spill moved the data")
	}

	b := &countingBudget{limit: 1 << 20}
	m.SetDiskBudget(b)
	if ok, err := m.Spill(w); !ok || err != nil {
		t.Fatalf("Spill within the budget = %v, %v", ok, err)
	}
	defer m.Close()
	out := t.TempDir()
	files, err := m.Save(filepath.Join(out, "m.onnx"), SaveOptions{ExternalData: true, SizeThreshold: 16})
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		written += st.Size()
	}
	if b.used < 1200+written {
		t.Errorf("claimed %d bytes (asks %v), but spilled 1200 and saved %d", b.used, b.asks, written)
	}

	m.SetDiskBudget(&countingBudget{limit: 100})
	out2 := t.TempDir()
	if _, err := m.Save(filepath.Join(out2, "m.onnx"), SaveOptions{ExternalData: true, SizeThreshold: 16}); !errors.Is(err, errOver) {
		t.Errorf("Save over the budget: %v, want the budget's error", err)
	}
	if entries, _ := os.ReadDir(out2); len(entries) != 0 {
		t.Errorf("a refused save wrote %v", entries)
	}
	if DiskBudgetFrom(WithDiskBudget(context.Background(), b)) != b || DiskBudgetFrom(context.Background()) != nil {
		t.Error("the context does not carry the budget")
	}
}

// TestSaveSync checks that a save with SaveOptions.Sync flushes each file it
// writes to disk, and that one without flushes none.
func TestSaveSync(t *testing.T) {
	calls := 0
	defer func(f func(*os.File) error) { syncFile = f }(syncFile)
	syncFile = func(f *os.File) error { calls++; return f.Sync() }
	for _, c := range []struct {
		name    string
		sync    bool
		minSync int
	}{
		{"sync", true, 2},
		{"no sync", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls = 0
			m, _ := spillModel(t, 300)
			defer m.Close()
			files, err := m.SaveContext(context.Background(), filepath.Join(t.TempDir(), "m.onnx"), SaveOptions{ExternalData: true, AllTensorsToOneFile: true, SizeThreshold: 16, Sync: c.sync})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 2 {
				t.Fatalf("files = %v, want the model and its data", files)
			}
			if c.minSync == 0 && calls != 0 || calls < c.minSync {
				t.Errorf("%d files flushed, want %d", calls, c.minSync)
			}
		})
	}
}
