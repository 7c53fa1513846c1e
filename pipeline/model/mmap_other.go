//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package model

import (
	"errors"
	"os"
)

// mapFile is not available on this platform: Load reads the file instead.
func mapFile(*os.File, int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("memory mapping is not available on this platform")
}

// mapSection is not available on this platform: callers read instead.
func mapSection(*os.File, int64, int64) ([]byte, func() error, error) {
	return nil, nil, errors.New("memory mapping is not available on this platform")
}
