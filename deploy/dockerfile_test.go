package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerfileInstr is one instruction of a Dockerfile, continuation lines joined.
type dockerfileInstr struct {
	cmd, args string
}

func parseDockerfile(text string) []dockerfileInstr {
	var out []dockerfileInstr
	var cur string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, dockerfileInstr{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur = ""
	}
	return out
}

// TestDockerfile checks the image's shape, since no Docker engine runs here:
// a Go builder stage that runs scripts/build.sh (whose output archtest checks
// is static), and a distroless static runtime stage that runs `quantprep serve`
// as nonroot with the gRPC port exposed.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var final []dockerfileInstr
	buildRuns := false
	for _, in := range parseDockerfile(string(data)) {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
			final = nil
			continue
		}
		final = append(final, in)
		if len(froms) == 1 && in.cmd == "RUN" && strings.Contains(in.args, "scripts/build.sh ") {
			buildRuns = true
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:1.26 ") || froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("stages %q, want golang:1.26 then gcr.io/distroless/static-debian12:nonroot", froms)
	}
	if !buildRuns {
		t.Error("the builder stage does not RUN scripts/build.sh")
	}
	got := map[string]string{}
	for _, in := range final {
		got[in.cmd] = in.args
	}
	if got["USER"] != "nonroot:nonroot" && got["USER"] != "nonroot" && got["USER"] != "65532" {
		t.Errorf("runtime stage USER %q, want nonroot", got["USER"])
	}
	for _, label := range []string{"org.opencontainers.image.version", "org.opencontainers.image.revision", "org.opencontainers.image.source", "org.opencontainers.image.created"} {
		if !strings.Contains(got["LABEL"], label+"=") {
			t.Errorf("runtime stage has no %s label", label)
		}
	}
	if got["EXPOSE"] != "50051" {
		t.Errorf("runtime stage EXPOSE %q, want 50051", got["EXPOSE"])
	}
	var entry []string
	if err := json.Unmarshal([]byte(got["ENTRYPOINT"]), &entry); err != nil {
		t.Errorf("ENTRYPOINT %q is not in exec form: %v", got["ENTRYPOINT"], err)
	} else if len(entry) != 2 || filepath.Base(entry[0]) != "quantprep" || entry[1] != "serve" {
		t.Errorf("ENTRYPOINT %q, want quantprep serve", entry)
	}
	if !strings.Contains(got["COPY"], "--from=") || !strings.Contains(got["COPY"], "/quantprep") {
		t.Errorf("runtime stage COPY %q does not take the binary from the builder", got["COPY"])
	}
	if !strings.Contains(got["ENV"], "QUANTPREP_LISTEN=:50051") {
		t.Errorf("runtime stage ENV %q does not listen on all interfaces on 50051", got["ENV"])
	}
}
