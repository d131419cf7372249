package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// journaledFS makes a fresh ext4 with mkfs.ext4's defaults (a journal
// among them) in a sparse image file under dir, loop-mounts it and returns
// the mount point and what unmounts and removes it. Delivery there pays
// what fsync costs on a stock Linux installation: a journal commit.
func journaledFS(dir string) (string, func(), error) {
	img := filepath.Join(dir, "fs.img")
	mnt := filepath.Join(dir, "mnt")
	f, err := os.Create(img)
	if err != nil {
		return "", nil, err
	}
	// Room for every run of every fetcher (they are kept to the end).
	err = f.Truncate(16 << 30)
	f.Close()
	if err != nil {
		return "", nil, err
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return "", nil, err
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("mount -o loop: %v: %s", err, out)
	}
	return mnt, func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "umount %s: %v: %s\n", mnt, err, out)
			return
		}
		os.Remove(img)
	}, nil
}

// describeFS names the filesystem dir is on, and for ext4 whether it has
// a journal (without one, fsync writes the file and its inode but commits
// nothing, so it is cheap).
func describeFS(dir string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "?"
	}
	defer f.Close()
	abs, _ := filepath.Abs(dir)
	var best, fstype, dev string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		mp := fields[4]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, fstype, dev = mp, fields[sep+1], fields[sep+2]
		}
	}
	if fstype != "ext4" {
		return fstype
	}
	j, err := os.ReadFile(filepath.Join("/sys/fs/ext4", filepath.Base(dev), "journal_task"))
	switch {
	case err != nil:
		return "ext4"
	case strings.TrimSpace(string(j)) == "<none>":
		return "ext4 without a journal"
	default:
		return "ext4 with a journal"
	}
}
