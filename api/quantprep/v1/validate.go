package quantprepv1

import (
	"fmt"
	"path"
	"strings"
)

// Validate checks the fields of a request message that can be judged alone; the
// validator interceptor calls it on every message the server receives. Its
// errors name the field at fault. The order of messages is the handler's job.
func (r *PreprocessRequest) Validate() error {
	switch p := r.GetPayload().(type) {
	case *PreprocessRequest_Options:
		if p.Options == nil {
			return fmt.Errorf("options: missing")
		}
		return p.Options.Validate()
	case *PreprocessRequest_ModelChunk:
		return nil
	case *PreprocessRequest_ExternalDataChunk:
		return p.ExternalDataChunk.Validate()
	case nil:
		return fmt.Errorf("payload: empty request message")
	}
	return fmt.Errorf("payload: unknown kind %T", r.GetPayload())
}

// Validate checks the options against the reference tool's rules.
func (o *Options) Validate() error {
	if err := checkBaseName("model_name", o.GetModelName()); err != nil {
		return err
	}
	if err := checkBaseName("output_name", o.GetOutputName()); err != nil {
		return err
	}
	if o.IntMax != nil && o.GetIntMax() <= 0 {
		return fmt.Errorf("int_max: must be > 0, got %d", o.GetIntMax())
	}
	switch o.GetVerbose() {
	case 0, 1, 3:
	default:
		return fmt.Errorf("verbose: must be 0, 1 or 3, got %d", o.GetVerbose())
	}
	if o.ExternalDataSizeThreshold != nil && o.GetExternalDataSizeThreshold() < 0 {
		return fmt.Errorf("external_data_size_threshold: must be >= 0, got %d", o.GetExternalDataSizeThreshold())
	}
	for _, b := range []struct {
		field string
		v     int64
	}{
		{"max_fold_bytes", o.GetMaxFoldBytes()}, {"max_fold_total_bytes", o.GetMaxFoldTotalBytes()},
		{"max_node_visits", o.GetMaxNodeVisits()}, {"max_nodes", o.GetMaxNodes()}, {"max_dense_bytes", o.GetMaxDenseBytes()},
	} {
		if b.v < 0 {
			return fmt.Errorf("%s: must be >= 0 (0 is the server's value), got %d", b.field, b.v)
		}
	}
	if loc := o.GetExternalDataLocation(); loc != "" {
		if !o.GetSaveAsExternalData() {
			return fmt.Errorf("external_data_location: set without save_as_external_data")
		}
		if err := CheckLocation(loc); err != nil {
			return fmt.Errorf("external_data_location: %w", err)
		}
	}
	return nil
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
