package interop

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel SIGKILL the server when the test process dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
