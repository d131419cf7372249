//go:build !linux

package storehost

import "os/exec"

// setProcAttr is Linux-only (process group, parent-death signal); elsewhere
// Cleanup on every exit path is what stops plugins.
func setProcAttr(*exec.Cmd) {}
