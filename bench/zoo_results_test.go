package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestZooResults keeps the committed results of the zoo gate (zoo.sh) readable
// by the gate and consistent with themselves: the columns the gate writes,
// one row per model, variant and flag set, every check pass, fail or "-", and
// a node check that passes only where the counts say so. The gate compares
// its runs with this file to catch regressions.
func TestZooResults(t *testing.T) {
	f, err := os.Open("zoo_results.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := "model variant flags run checker ort_a ort_b truth_a truth_b dyn nodes ours_nodes ort_nodes note"
	checks := strings.Fields("run checker ort_a ort_b truth_a truth_b dyn nodes")
	var head []string
	seen := map[string]bool{}
	rows := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.TrimSpace(text) == "" {
			continue
		}
		cells := strings.Split(text, "\t")
		if head == nil {
			head = cells
			if got := strings.Join(head, " "); got != want {
				t.Fatalf("header %q, want %q", got, want)
			}
			continue
		}
		if len(cells) != len(head) {
			t.Errorf("line %d: %d cells, want %d", line, len(cells), len(head))
			continue
		}
		r := map[string]string{}
		for i, h := range head {
			r[h] = cells[i]
		}
		key := r["model"] + " " + r["variant"] + " " + r["flags"]
		if seen[key] {
			t.Errorf("line %d: %s appears twice", line, key)
		}
		seen[key] = true
		rows++
		for _, c := range checks {
			if v := r[c]; v != "pass" && v != "fail" && v != "-" {
				t.Errorf("line %d (%s): %s = %q, want pass, fail or -", line, key, c, v)
			}
		}
		if r["nodes"] == "pass" {
			ours, err1 := strconv.Atoi(r["ours_nodes"])
			ort, err2 := strconv.Atoi(r["ort_nodes"])
			if err1 != nil || err2 != nil || ours > ort {
				t.Errorf("line %d (%s): nodes pass with %s nodes against ONNX Runtime's %s", line, key, r["ours_nodes"], r["ort_nodes"])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows == 0 {
		t.Error("no results")
	}
}
