package s3test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// flakyWeed writes a script standing in for weed: its first fail runs
// print a fatal line and exit 255, as weed does when a port it was given
// is taken; later runs exec real (or exit 255 too when real is empty).
// It returns the script and the file counting its runs.
func flakyWeed(t *testing.T, fail int, real string) (script, count string) {
	dir := t.TempDir()
	script, count = filepath.Join(dir, "weed"), filepath.Join(dir, "runs")
	then := "exit 255"
	if real != "" {
		then = fmt.Sprintf("exec %q \"$@\"", real)
	}
	body := fmt.Sprintf(`#!/bin/sh
echo x >> %[1]q
n=$(wc -l < %[1]q)
if [ "$n" -le %[2]d ] || [ -z %[3]q ]; then
	echo "I1203 13:26:00.000000 master.go:1] starting"
	echo "F1203 13:26:00.000001 server.go:1] listen tcp 127.0.0.1:4242: bind: address already in use"
	exit 255
fi
%[4]s
`, count, fail, real, then)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, count
}

func runs(t *testing.T, count string) int {
	b, err := os.ReadFile(count)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestLaunchSeaweedGivesUp(t *testing.T) {
	script, count := flakyWeed(t, seaweedAttempts, "")
	sw, err := LaunchSeaweed(script)
	if sw != nil {
		sw.Close()
	}
	if err == nil {
		t.Fatal("LaunchSeaweed of a weed that always exits: no error")
	}
	for _, want := range []string{"exited during start-up", fmt.Sprintf("after %d attempts", seaweedAttempts), "bind: address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := runs(t, count); n != seaweedAttempts {
		t.Errorf("weed ran %d times, want %d", n, seaweedAttempts)
	}
}

func TestLaunchSeaweedStartsAgain(t *testing.T) {
	real := NeedWeed(t)
	script, count := flakyWeed(t, 1, real)
	sw, err := LaunchSeaweed(script)
	if sw != nil {
		defer sw.Close()
	}
	if err != nil {
		t.Fatalf("LaunchSeaweed after one failed start: %v", err)
	}
	if n := runs(t, count); n != 2 {
		t.Errorf("weed ran %d times, want 2", n)
	}
	if len(sw.Retried) != 1 || !strings.Contains(sw.Retried[0], "bind: address already in use") {
		t.Errorf("Retried = %q, want the first attempt's fatal line", sw.Retried)
	}
	c := sw.Client()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(sw.Bucket), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("PutObject on the second start: %v", err)
	}
}
