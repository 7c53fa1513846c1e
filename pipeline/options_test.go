package pipeline

import (
	"errors"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	mod := func(f func(*Options)) Options { o := DefaultOptions(); f(&o); return o }
	tests := []struct {
		name string
		opts Options
		flag string // empty: valid
	}{
		{"defaults", DefaultOptions(), ""},
		{"verbose 1", mod(func(o *Options) { o.Verbose = 1 }), ""},
		{"verbose 3", mod(func(o *Options) { o.Verbose = 3 }), ""},
		{"verbose 2", mod(func(o *Options) { o.Verbose = 2 }), "verbose"},
		{"int_max zero", mod(func(o *Options) { o.IntMax = 0 }), "int_max"},
		{"negative threshold", mod(func(o *Options) { o.ExternalDataSizeThreshold = -1 }), "external_data_size_threshold"},
		{"location without external data", mod(func(o *Options) { o.ExternalDataLocation = "w.bin" }), "external_data_location"},
		{"location", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "w.bin" }), ""},
		{"location in subdir", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "data/w.bin" }), ""},
		{"location absolute", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "/tmp/w.bin" }), "external_data_location"},
		{"location escapes", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "../w.bin" }), "external_data_location"},
		{"location escapes after clean", mod(func(o *Options) { o.SaveAsExternalData = true; o.ExternalDataLocation = "a/../../w.bin" }), "external_data_location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.flag == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.flag) {
				t.Fatalf("Validate() = %v, want ErrInvalidOptions naming %s", err, tt.flag)
			}
		})
	}
}

func TestDefaultOptionsMatchReference(t *testing.T) {
	o := DefaultOptions()
	want := Options{IntMax: 2147483647, ExternalDataSizeThreshold: 1024}
	if o != want {
		t.Fatalf("DefaultOptions() = %+v, want %+v", o, want)
	}
}
