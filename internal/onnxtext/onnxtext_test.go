package onnxtext

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	onnxpb "github.com/quantprep/quantprep/api/onnx"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// corpus returns the text of every testdata/*.onnxtxt file by base name.
func corpus(t testing.TB) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.onnxtxt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus under testdata: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// equalNormalized fails t unless want and got are equal after Normalize.
func equalNormalized(t *testing.T, want, got proto.Message) {
	t.Helper()
	want, got = proto.Clone(want), proto.Clone(got)
	Normalize(want)
	Normalize(got)
	if !proto.Equal(want, got) {
		opts := prototext.MarshalOptions{Multiline: true}
		t.Errorf("protos differ\nwant:\n%s\ngot:\n%s", opts.Format(want), opts.Format(got))
	}
}

// TestRoundTrip checks Parse -> Print -> Parse -> Print for every corpus
// model: the second parse equals the first and printing is a fixed point.
func TestRoundTrip(t *testing.T) {
	files := corpus(t)
	for _, name := range sortedKeys(files) {
		t.Run(name, func(t *testing.T) {
			m1, err := ParseModel(files[name])
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			text := Printer{MaxElements: -1}.Model(m1)
			m2, err := ParseModel(text)
			if err != nil {
				t.Fatalf("reparse: %v\nprinted:\n%s", err, text)
			}
			equalNormalized(t, m1, m2)
			if again := (Printer{MaxElements: -1}).Model(m2); again != text {
				t.Errorf("printing is not a fixed point:\nfirst:\n%s\nsecond:\n%s", text, again)
			}
			// The graph alone must round-trip through ParseGraph too.
			gtext := Printer{MaxElements: -1}.Graph(m1.GetGraph())
			g2, err := ParseGraph(gtext)
			if err != nil {
				t.Fatalf("ParseGraph: %v\nprinted:\n%s", err, gtext)
			}
			equalNormalized(t, m1.GetGraph(), g2)
		})
	}
}

// oracleScript parses each file named on the command line with ONNX's C++
// parser and prints {"file": {"model": base64} | {"error": text}} as JSON.
const oracleScript = `
import base64, json, sys
import onnx.parser
out = {}
for path in sys.argv[1:]:
    try:
        m = onnx.parser.parse_model(open(path).read())
        out[path] = {"model": base64.b64encode(m.SerializeToString()).decode()}
    except Exception as e:
        out[path] = {"error": str(e)}
print(json.dumps(out))
`

// oracle runs ONNX's own parser over paths, or skips (fails when
// QUANTPREP_REQUIRE_ORACLES=1) when /usr/bin/python3 lacks onnx.
func oracle(t *testing.T, paths []string) map[string]map[string]string {
	t.Helper()
	const python = "/usr/bin/python3"
	missing := func(reason string) {
		if os.Getenv("QUANTPREP_REQUIRE_ORACLES") == "1" {
			t.Fatalf("oracle required but unavailable: %s", reason)
		}
		t.Skipf("oracle unavailable (%s); set QUANTPREP_REQUIRE_ORACLES=1 to make this fatal", reason)
	}
	if err := exec.Command(python, "-c", "import onnx.parser").Run(); err != nil {
		missing(python + " cannot import onnx.parser: " + err.Error())
	}
	out, err := exec.Command(python, append([]string{"-c", oracleScript}, paths...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("oracle script failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("oracle script failed: %v", err)
	}
	var res map[string]map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("oracle output: %v", err)
	}
	return res
}

// TestOracle compares our parse of each corpus model with ONNX's C++ parser
// (Debian's onnx 1.12). Files whose first line starts with
// "# oracle: skip" use syntax that version lacks and are left out.
func TestOracle(t *testing.T) {
	files := corpus(t)
	var paths []string
	for _, name := range sortedKeys(files) {
		if !strings.HasPrefix(files[name], "# oracle: skip") {
			paths = append(paths, filepath.Join("testdata", name))
		}
	}
	res := oracle(t, paths)
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			r := res[path]
			if r == nil {
				t.Fatalf("no oracle result")
			}
			if r["error"] != "" {
				t.Fatalf("ONNX's parser rejects the corpus file: %s", r["error"])
			}
			want := oracleModel(t, r)
			got, err := ParseModel(files[name])
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			equalNormalized(t, want, got)
		})
	}
}

// TestOracleReadsPrinted feeds our printer's output for the oracle-compatible
// corpus to ONNX's parser: the printer must write standard syntax, not just
// text this package reads back.
func TestOracleReadsPrinted(t *testing.T) {
	files := corpus(t)
	dir := t.TempDir()
	var paths []string
	models := map[string]*onnxpb.ModelProto{}
	for _, name := range sortedKeys(files) {
		if strings.HasPrefix(files[name], "# oracle: skip") {
			continue
		}
		m, err := ParseModel(files[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(Printer{MaxElements: -1}.Model(m)), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		models[p] = m
	}
	res := oracle(t, paths)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r := res[path]
			if r["error"] != "" {
				b, _ := os.ReadFile(path)
				t.Fatalf("ONNX's parser rejects our printed text: %s\n%s", r["error"], b)
			}
			want := oracleModel(t, r)
			equalNormalized(t, want, models[path])
		})
	}
}

// oracleModel decodes the model an oracle result carries (base64 protobuf).
func oracleModel(t *testing.T, r map[string]string) *onnxpb.ModelProto {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(r["model"])
	if err != nil {
		t.Fatal(err)
	}
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(raw, m); err != nil {
		t.Fatal(err)
	}
	return m
}
