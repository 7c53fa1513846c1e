package archtest

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestStaticBinary builds the product with scripts/build.sh, the Dockerfile's
// build step, and checks that the result runs on distroless/static: an ELF with
// no interpreter and no shared libraries, built with CGO_ENABLED=0, -trimpath
// and a stripped symbol table.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; the ELF checks need a linux build")
	}
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, Binary)); errors.Is(err, os.ErrNotExist) {
		// The command is written on another branch; until it is merged
		// there is nothing to build.
		t.Skipf("%s is not in the module yet", Binary)
	}
	bin := filepath.Join(t.TempDir(), "quantprep")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "build.sh"), bin)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, out)
	}
	for _, p := range checkStaticELF(t, bin) {
		t.Error(p)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// -ldflags is not in the build info of a -trimpath build (it may hold
	// paths); checkStaticELF sees its effect instead.
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true"} {
		if got := settings[key]; got != want {
			t.Errorf("build setting %s = %q, want %q", key, got, want)
		}
	}
	if info.Path != module+"/"+Binary {
		t.Errorf("binary's main package is %s", info.Path)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Errorf("quantprep --help: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "serve") {
		t.Errorf("quantprep --help does not mention serve:\n%s", out)
	}
}

// checkStaticELF lists why the file at path is not a static ELF without symbols
// and debug information.
func checkStaticELF(t *testing.T, path string) []string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	defer f.Close()
	var problems []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			problems = append(problems, "has an ELF interpreter (dynamically linked)")
		}
		if p.Type == elf.PT_DYNAMIC {
			problems = append(problems, "has a dynamic section")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil {
		t.Fatalf("read imported libraries: %v", err)
	} else if len(libs) > 0 {
		problems = append(problems, "needs shared libraries "+strings.Join(libs, ", "))
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		problems = append(problems, "has a symbol table (not built with -ldflags=-s)")
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			problems = append(problems, "has DWARF section "+s.Name+" (not built with -ldflags=-w)")
			break
		}
	}
	return problems
}

// TestCheckStaticELFFindsDynamic makes sure the ELF check can fail: a C
// program of the system is dynamically linked.
func TestCheckStaticELFFindsDynamic(t *testing.T) {
	var dynamic string
	for _, p := range []string{"/bin/sh", "/usr/bin/env", "/bin/ls"} {
		if f, err := elf.Open(p); err == nil {
			for _, prog := range f.Progs {
				if prog.Type == elf.PT_INTERP {
					dynamic = p
				}
			}
			f.Close()
		}
		if dynamic != "" {
			break
		}
	}
	if dynamic == "" {
		t.Skip("no dynamically linked system program to test against")
	}
	if problems := checkStaticELF(t, dynamic); len(problems) == 0 {
		t.Errorf("%s passes the static check", dynamic)
	} else {
		t.Logf("%s: %v", dynamic, problems)
	}
}
