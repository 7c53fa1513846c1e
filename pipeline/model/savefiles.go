package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Where Save's output files go, and their names.

// checkOutputLocation validates an external data location for the output: a
// relative path that stays inside the model's directory and is not the model
// file itself. It returns the cleaned, OS-specific path.
func checkOutputLocation(loc, modelBase string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("external data location %q %s", loc, why)
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) || filepath.VolumeName(loc) != "" {
		return "", bad("is absolute; it must be relative to the output model's directory")
	}
	if strings.ContainsRune(loc, 0) {
		return "", bad("contains a NUL byte")
	}
	if strings.HasSuffix(loc, "/") || strings.HasSuffix(loc, `\`) {
		return "", bad("names a directory, not a file")
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == "." {
		return "", bad("names a directory, not a file")
	}
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", bad("escapes the output model's directory")
	}
	if strings.EqualFold(clean, modelBase) {
		return "", bad("is the model file itself")
	}
	return clean, nil
}

// mkdirFor creates the directories above a data file that do not exist yet
// (recording them, to remove them on failure), and checks that the file's
// directory does not lead out of the model's directory through a symlink.
func (s *saver) mkdirFor(file string) error {
	d := filepath.Dir(file)
	var missing []string
	for p := d; p != s.dir && p != "." && p != string(filepath.Separator); p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil {
			return fmt.Errorf("create directory for external data: %w", err)
		}
		s.createdDir = append(s.createdDir, missing[i])
	}
	realDir, err := filepath.EvalSymlinks(s.dir)
	if err != nil {
		return err
	}
	realD, err := filepath.EvalSymlinks(d)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realDir, realD); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		rl, _ := filepath.Rel(s.dir, file)
		return fmt.Errorf("external data location %q leads out of the output model's directory through a symlink", filepath.ToSlash(rl))
	}
	return nil
}

// maxFileName bounds the names made from tensor names; file systems allow 255 bytes.
const maxFileName = 200

// safeFileName turns a tensor name into a file name that is safe on every
// common file system: ASCII letters, digits, '.', '_' and '-' only, never
// hidden, never empty. (onnx falls back to a random uuid for unsafe names; we
// want reproducible output.)
func safeFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) > maxFileName {
		b = b[:maxFileName]
	}
	if len(b) == 0 {
		return "tensor"
	}
	stem, _, _ := strings.Cut(string(b), ".")
	if windowsReserved[strings.ToUpper(stem)] {
		return "_" + string(b)
	}
	return string(b)
}

// windowsReserved are device names that Windows refuses as file names, with
// any extension: data files may be copied there.
var windowsReserved = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

// uniqueName returns name, or name with the first free suffix "_1", "_2", ...
// when a file of that name (compared case-insensitively, for file systems that
// fold case) is taken; it marks the result taken.
func uniqueName(name string, used map[string]bool) string {
	n := name
	for i := 1; used[strings.ToLower(n)]; i++ {
		n = name + "_" + strconv.Itoa(i)
	}
	used[strings.ToLower(n)] = true
	return n
}

// createTemp creates a temporary file beside final, readable by all like a
// file from os.Create (CreateTemp's files are private).
func createTemp(final string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp*")
	if err == nil {
		if err = f.Chmod(0o644); err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(final), err)
	}
	return f, nil
}
