package quantprepv1

import (
	"fmt"
	"path"
	"strings"
)

// Validate checks the fields of a request message that can be judged alone; the
// validator interceptor calls it on every message the server receives. Its
// errors name the field at fault. The order of messages is the handler's job,
// and so are the options' values: the server checks them against the
// pipeline's option table (one rule set, shared with the CLI), which this
// module, below the pipeline, cannot see. Here only the file names are
// checked.
func (r *PreprocessRequest) Validate() error {
	switch p := r.GetPayload().(type) {
	case *PreprocessRequest_Options:
		if p.Options == nil {
			return fmt.Errorf("options: missing")
		}
		if err := checkBaseName("model_name", p.Options.GetModelName()); err != nil {
			return err
		}
		return checkBaseName("output_name", p.Options.GetOutputName())
	case *PreprocessRequest_ModelChunk:
		return nil
	case *PreprocessRequest_ExternalDataChunk:
		return p.ExternalDataChunk.Validate()
	case *PreprocessRequest_SharedModel:
		return p.SharedModel.Validate()
	case nil:
		return fmt.Errorf("payload: empty request message")
	}
	return fmt.Errorf("payload: unknown kind %T", r.GetPayload())
}

// Validate checks the chunk's location.
func (c *ExternalDataChunk) Validate() error {
	if c == nil {
		return fmt.Errorf("external_data_chunk: missing")
	}
	if err := CheckLocation(c.GetLocation()); err != nil {
		return fmt.Errorf("external_data_chunk.location: %w", err)
	}
	return nil
}

// Validate checks that both paths are plain relative paths inside the shared
// directory; whether they lead out of it through a symbolic link only the server
// can tell.
func (m *SharedModel) Validate() error {
	if m == nil {
		return fmt.Errorf("shared_model: missing")
	}
	if err := CheckLocation(m.GetPath()); err != nil {
		return fmt.Errorf("shared_model.path: %w", err)
	}
	if err := CheckLocation(m.GetOutputDir()); err != nil {
		return fmt.Errorf("shared_model.output_dir: %w", err)
	}
	return nil
}

// CheckLocation reports whether loc is an acceptable external data location: a
// non-empty relative path, with forward or back slashes, that stays inside the
// model's directory (no "..", no absolute path, no drive letter).
func CheckLocation(loc string) error {
	if loc == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.ContainsRune(loc, 0) {
		return fmt.Errorf("%q contains a NUL byte", loc)
	}
	s := strings.ReplaceAll(loc, `\`, "/")
	if strings.HasPrefix(s, "/") || (len(s) >= 2 && s[1] == ':') {
		return fmt.Errorf("%q is absolute; it must be relative to the model", loc)
	}
	for _, part := range strings.Split(s, "/") {
		if part == ".." {
			return fmt.Errorf("%q climbs out of the model's directory with \"..\"", loc)
		}
	}
	if c := path.Clean(s); c == "." {
		return fmt.Errorf("%q names no file", loc)
	}
	return nil
}

// checkBaseName accepts an empty name or a plain file name without directories.
func checkBaseName(field, name string) error {
	if name == "" {
		return nil
	}
	if strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." {
		return fmt.Errorf("%s: must be a file name without directories, got %q", field, name)
	}
	return nil
}
