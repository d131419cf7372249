//go:build !linux

package interop

import "os/exec"

// setProcAttr: the parent-death signal is Linux-only; elsewhere the test's
// cleanup is what stops the server.
func setProcAttr(*exec.Cmd) {}
