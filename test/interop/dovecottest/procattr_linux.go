package dovecottest

import (
	"os/exec"
	"syscall"
)

// setProcAttr starts Dovecot in a process group of its own, so a stray
// child dies with it in Stop, and has the kernel SIGTERM it when the test
// process dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
