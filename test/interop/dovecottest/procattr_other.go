//go:build !linux

package dovecottest

import (
	"os/exec"
	"syscall"
)

// setProcAttr starts Dovecot in a process group of its own, so a stray
// child dies with it in Stop (the parent-death signal is Linux-only).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
