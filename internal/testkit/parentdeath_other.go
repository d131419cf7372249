//go:build !linux

package testkit

import (
	"os/exec"
	"syscall"
)

// DieWithParent: the parent-death signal is Linux-only (see
// parentdeath_linux.go); here the caller's cleanup stops the process.
func DieWithParent(*exec.Cmd, syscall.Signal) {}
