//go:build !linux

package izyserver

import "os/exec"

// setProcAttr: the parent-death signal is Linux-only; elsewhere Stop is
// what ends the server.
func setProcAttr(*exec.Cmd) {}
