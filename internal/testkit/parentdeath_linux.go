package testkit

import (
	"os/exec"
	"syscall"
)

// DieWithParent has the kernel send sig to cmd's process when this one
// dies (the parent-death signal), so that a killed test or benchmark leaves
// no server behind on its port. It keeps cmd's other SysProcAttr settings.
// Elsewhere than on Linux it does nothing: the caller's cleanup is what
// stops the process there.
func DieWithParent(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
}
