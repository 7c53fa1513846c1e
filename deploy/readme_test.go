package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeFlags returns, for the README section whose heading contains heading,
// each flag of its table with its row's cells.
func readmeFlags(t *testing.T, readme, heading string) map[string][]string {
	t.Helper()
	start := strings.Index(readme, heading)
	if start < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	section := readme[start+len(heading):]
	if end := strings.Index(section, "\n#"); end >= 0 {
		section = section[:end]
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		rows[strings.TrimPrefix(cells[0], "--")] = cells
	}
	if len(rows) == 0 {
		t.Fatalf("README section %q has no flag table", heading)
	}
	return rows
}

var (
	helpFlag    = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z_]+)`)
	helpDefault = regexp.MustCompile(`\(default ([^)]*)\)$`)
)

// helpFlags parses a cobra help text: flag name to its default, if it shows one.
func helpFlags(help string) map[string]string {
	flags := map[string]string{}
	for _, line := range strings.Split(help, "\n") {
		m := helpFlag.FindStringSubmatch(line)
		if m == nil || m[1] == "help" {
			continue
		}
		def := ""
		if d := helpDefault.FindStringSubmatch(strings.TrimSpace(line)); d != nil {
			def = strings.Trim(d[1], `"`)
		}
		flags[m[1]] = def
	}
	return flags
}

// TestReadmeMatchesCommands checks the README's flag tables against the
// commands' help: the same flags, the same defaults where the help shows one,
// and for serve the environment variable of each flag.
func TestReadmeMatchesCommands(t *testing.T) {
	bin := quantprepBinary(t)
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, cmd := range []string{"preprocess", "serve"} {
		t.Run(cmd, func(t *testing.T) {
			help, err := exec.Command(bin, cmd, "--help").CombinedOutput()
			if err != nil {
				t.Fatalf("quantprep %s --help: %v\n%s", cmd, err, help)
			}
			flags := helpFlags(string(help))
			rows := readmeFlags(t, readme, "### `quantprep "+cmd+"`")
			for name, def := range flags {
				row, ok := rows[name]
				if !ok {
					t.Errorf("README lacks --%s", name)
					continue
				}
				defCell := row[1]
				if cmd == "serve" {
					if want := "QUANTPREP_" + strings.ToUpper(name); row[1] != want {
						t.Errorf("README: --%s's variable is %q, want %q", name, row[1], want)
					}
					defCell = row[2]
				}
				if def != "" && !strings.HasPrefix(defCell, def) {
					t.Errorf("README: --%s defaults to %q, the command to %q", name, defCell, def)
				}
			}
			for name := range rows {
				if _, ok := flags[name]; !ok {
					t.Errorf("README lists --%s, which quantprep %s does not have", name, cmd)
				}
			}
		})
	}
}

func TestHelpFlags(t *testing.T) {
	help := `Flags:
      --input string                       path of the input model (required)
      --int_max int                        largest integer (default 2147483647)
      --listen string   address to listen on, HOST:PORT [$QUANTPREP_LISTEN] (default "127.0.0.1:50051")
      --workers int     pipeline runs at once (default: the number of CPUs) [$QUANTPREP_WORKERS]
  -h, --help            help for serve
`
	got := helpFlags(help)
	want := map[string]string{"input": "", "int_max": "2147483647", "listen": "127.0.0.1:50051", "workers": ""}
	if len(got) != len(want) {
		t.Errorf("helpFlags = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("helpFlags[%s] = %q, want %q", k, got[k], v)
		}
	}
}
