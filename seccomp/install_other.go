//go:build !linux

package seccomp

import "fmt"

// Install installs p as a seccomp filter. Seccomp exists only on Linux:
// here it returns an error wrapping ErrNotSupported.
func Install(p *Program, flags uint) error {
	return fmt.Errorf("seccomp: install: %w", ErrNotSupported)
}
