package storehost

import (
	"os/exec"
	"syscall"
)

// setProcAttr starts the plugin in a process group of its own, so that a
// signal to izypop3's group (systemd's stop, Ctrl-C in a terminal) reaches
// izypop3 only: it drains its sessions and then stops the plugin itself,
// instead of losing the plugin under them. And it makes the kernel SIGKILL
// the plugin when the host dies, even without a chance to clean up (kill -9
// of izypop3).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
