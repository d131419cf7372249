package izyserver

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel SIGKILL the server when the benchmark dies,
// so that a killed run leaves no server behind on its port.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
