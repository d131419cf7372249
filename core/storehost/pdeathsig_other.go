//go:build !linux

package storehost

import "os/exec"

// setPdeathsig is Linux-only; elsewhere Cleanup on every exit path is what
// stops plugins.
func setPdeathsig(*exec.Cmd) {}
