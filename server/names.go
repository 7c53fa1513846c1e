package server

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/status"
)

// Bounds on the names a client gives the server's files: file systems refuse
// a name component over 255 bytes and a path over 4096, and the server's own
// directories come before the client's part.
const (
	maxNameBytes  = 255
	maxPathBytes  = 1024
	maxPathDepth  = 32
	maxLocationsN = 10000 // distinct external data files in one upload
)

// checkName checks a client-given relative path (slash-separated) against
// the bounds, naming field.
func checkName(field, name string) error {
	if len(name) > maxPathBytes {
		return fmt.Errorf("%w: %s: %d bytes, over the limit of %d", errProtocol, field, len(name), maxPathBytes)
	}
	parts := strings.Split(strings.ReplaceAll(name, `\`, "/"), "/")
	if len(parts) > maxPathDepth {
		return fmt.Errorf("%w: %s: %d directories deep, over the limit of %d", errProtocol, field, len(parts)-1, maxPathDepth-1)
	}
	for _, p := range parts {
		if len(p) > maxNameBytes {
			return fmt.Errorf("%w: %s: a name of %d bytes, over the file system's limit of %d", errProtocol, field, len(p), maxNameBytes)
		}
	}
	return nil
}

// firstPart is a cleaned relative path's first component.
func firstPart(p string) string {
	first, _, _ := strings.Cut(path.Clean(strings.ReplaceAll(p, `\`, "/")), "/")
	return first
}

// underFile reports whether location lies under (or is) the file name: it
// would need file to be a directory.
func underFile(location, file string) bool {
	return strings.EqualFold(firstPart(location), file)
}

// reason is err's text without the path an *fs.PathError or *os.LinkError
// puts in it: server paths never reach a client.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// scrubPaths removes the server's directories from a status error's message,
// the last guard against an error that carries a path (the client's names
// inside them stay). A status is built anew only if something changed.
func scrubPaths(err error, dirs ...string) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	msg := st.Message()
	for _, d := range dirs {
		if d == "" {
			continue
		}
		for _, form := range []string{d + string(filepath.Separator), d} {
			msg = strings.ReplaceAll(msg, form, "")
		}
	}
	if msg == st.Message() {
		return err
	}
	p := st.Proto()
	p.Message = msg
	return status.FromProto(p).Err()
}
