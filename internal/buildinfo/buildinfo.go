// Package buildinfo says which build of quantprep is running. The release
// build stamps the version with the linker (scripts/build.sh: -X
// .../internal/buildinfo.version=v1.2.3); a binary built otherwise falls back
// to what the Go toolchain recorded: the module version for `go install
// ...@v1.2.3`, else "devel" and the VCS revision.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// version and revision are set by the linker; see scripts/build.sh.
var (
	version  string
	revision string
)

// Version is the build's version, never empty.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if rev := Revision(); rev != "" {
		return "devel+" + shortRev(rev)
	}
	return "devel"
}

// Revision is the VCS revision the build came from, or "".
func Revision() string {
	if revision != "" {
		return revision
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty && !strings.HasSuffix(rev, "-dirty") {
		rev += "-dirty"
	}
	return rev
}

func shortRev(rev string) string {
	if len(rev) > 12 && !strings.HasSuffix(rev, "-dirty") {
		return rev[:12]
	}
	return rev
}
