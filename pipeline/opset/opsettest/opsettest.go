// Package opsettest checks an operator registry (pipeline/opset) against
// ONNX's schema history, for the tests of the packages that own registries.
// The history is committed data (testdata/onnx_schemas.tsv, written by
// testdata/onnx_schemas.py from ONNX 1.12, and testdata/onnx_schemas_later.tsv
// for later releases), so the tests need no ONNX installation.
package opsettest

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/quantprep/quantprep/pipeline/model"
	"github.com/quantprep/quantprep/pipeline/opset"
)

//go:embed testdata/onnx_schemas.tsv testdata/onnx_schemas_later.tsv
var files embed.FS

// SchemaFiles are the files Schemas reads, in order.
var SchemaFiles = []string{"testdata/onnx_schemas.tsv", "testdata/onnx_schemas_later.tsv"}

// schemaRow is one line of the schema files: an operator's schema since a
// version, and its max_output (0 where the file does not say: the later
// releases' rows, written by hand).
type schemaRow struct {
	key       opset.Key
	since     int64
	maxOutput int64
}

// schemaRows reads every row of SchemaFiles.
func schemaRows() ([]schemaRow, error) {
	var rows []schemaRow
	for _, name := range SchemaFiles {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			p := strings.Split(text, "\t")
			if len(p) != 3 && len(p) != 4 {
				return nil, fmt.Errorf("%s:%d: want domain, op, version and optionally max_output, got %q", name, line, text)
			}
			r := schemaRow{key: opset.Key{Domain: model.NormDomain(p[0]), Name: p[1]}}
			if r.since, err = strconv.ParseInt(p[2], 10, 64); err != nil || r.since < 1 {
				return nil, fmt.Errorf("%s:%d: bad version %q", name, line, p[2])
			}
			if len(p) == 4 {
				if r.maxOutput, err = strconv.ParseInt(p[3], 10, 64); err != nil || r.maxOutput < 1 {
					return nil, fmt.Errorf("%s:%d: bad max_output %q", name, line, p[3])
				}
			}
			rows = append(rows, r)
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// Schemas returns, for every operator of ONNX's schemas, the versions at
// which its schema changed, ascending.
func Schemas() (map[opset.Key][]int64, error) {
	rows, err := schemaRows()
	if err != nil {
		return nil, err
	}
	out := map[opset.Key][]int64{}
	for _, r := range rows {
		out[r.key] = append(out[r.key], r.since)
	}
	for k, vs := range out {
		sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
		for i := 1; i < len(vs); i++ {
			if vs[i] == vs[i-1] {
				return nil, fmt.Errorf("%s version %d is listed twice", k, vs[i])
			}
		}
	}
	return out, nil
}

// MaxOutputs returns, for every operator of ONNX 1.12's schemas, the most
// outputs a node of it may have in any version (2147483647: variadic).
func MaxOutputs() (map[opset.Key]int64, error) {
	rows, err := schemaRows()
	if err != nil {
		return nil, err
	}
	out := map[opset.Key]int64{}
	for _, r := range rows {
		out[r.key] = max(out[r.key], r.maxOutput)
	}
	for k, m := range out {
		if m == 0 {
			delete(out, k) // only in the later releases' file
		}
	}
	return out, nil
}

// Check compares a registry's rows with ONNX's schema history and returns one
// line per problem:
//   - an operator of a standard domain that ONNX does not know (a misspelt row);
//   - a row at a version where ONNX did not change the operator (a row that
//     dispatches nothing new, or a wrong version);
//   - a schema version, from the operator's first row on, without a row: a
//     change of ONNX's that nobody looked at. A rule row or an "unchanged
//     since" marker (opset.Same) with its reason settles it.
//
// With fromFirst, the first row must also be at the operator's first schema
// version, so that every version has a rule (shape inference); without it an
// operator may start later (constant folding skips older nodes).
func Check[F any](r *opset.Registry[F], fromFirst bool) ([]string, error) {
	schemas, err := Schemas()
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, k := range r.Ops() {
		versions, known := schemas[k]
		if !known {
			if standard(k.Domain) && !ortDefaultDomain[k.Name] {
				bad = append(bad, fmt.Sprintf("%s: not an operator of ONNX's schemas", k))
			}
			continue
		}
		rows := map[int64]bool{}
		first := int64(-1)
		for _, row := range r.Rows(k) {
			rows[row.Since] = true
			if first < 0 {
				first = row.Since
			}
			if !contains(versions, row.Since) {
				bad = append(bad, fmt.Sprintf("%s: a row since %d, where ONNX did not change it (versions %v)", k, row.Since, versions))
			}
		}
		if fromFirst && first != versions[0] {
			bad = append(bad, fmt.Sprintf("%s: the first row is since %d, ONNX's first version is %d", k, first, versions[0]))
		}
		for _, v := range versions {
			if v >= first && !rows[v] {
				bad = append(bad, fmt.Sprintf("%s: ONNX changed it at version %d; no row (a rule, or opset.Same with why the rule before holds)", k, v))
			}
		}
	}
	return bad, nil
}

// ortDefaultDomain are operators ONNX Runtime defines in the default domain
// without an ONNX schema (its contrib registry puts them there, version 1).
var ortDefaultDomain = map[string]bool{"SimplifiedLayerNormalization": true}

// standard reports whether ONNX's schemas define domain d.
func standard(d string) bool {
	return d == "" || d == "ai.onnx.ml" || d == "ai.onnx.preview.training"
}

func contains(vs []int64, v int64) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// BackendDir is where Debian's libonnx-testdata installs ONNX's backend tests
// (ONNX 1.12): node/, simple/, pytorch-converted/, pytorch-operator/.
const BackendDir = "/usr/share/libonnx-testdata/data"

// NeedBackend returns the directory of the backend test suite suite ("node",
// ...), or skips t where the test data is not installed; with
// QUANTPREP_REQUIRE_ORACLES=1 (CI, which installs it) it fails t instead, so
// that an external oracle cannot go missing unnoticed.
func NeedBackend(t testing.TB, suite string) string {
	t.Helper()
	dir := filepath.Join(BackendDir, suite)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("QUANTPREP_REQUIRE_ORACLES") == "1" {
			t.Fatalf("no backend tests under %s (install libonnx-testdata): %v", BackendDir, err)
		}
		t.Skipf("no backend tests under %s (install libonnx-testdata)", BackendDir)
	}
	return dir
}
