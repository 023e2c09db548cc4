//go:build !(linux && amd64)

package seccomp

// taggedAddrErrno is the errno the filter refuses ARCH_ENABLE_TAGGED_ADDR
// with (see lam_linux_amd64.go): where it cannot be asked, the answer of
// a kernel with LAM support on a CPU without it.
func taggedAddrErrno() uint16 { return ENODEV }
