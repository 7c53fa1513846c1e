//go:build !linux

package server

import (
	"errors"
	"os"
)

// linkOpenFile fails where linking an open file is not portable; the caller
// copies instead.
func linkOpenFile(*os.File, string) error { return errors.ErrUnsupported }

// linkInto fails likewise; the caller copies through the os.Root.
func linkInto(string, *os.File, string) error { return errors.ErrUnsupported }
