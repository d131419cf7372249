package storehost

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/izyware/izypop3/core/storehost/internal/teststore"
	"github.com/izyware/izypop3/sdk"
	"github.com/izyware/izypop3/sdk/pluginhost"
)

// benchSize is the message the throughput benchmarks stream.
const benchSize = 50 << 20

// benchStores returns the same store reached three ways: through the real
// plugin process, over gRPC inside this process, and directly.
func benchStores(b *testing.B) (map[string]sdk.Store, *Host) {
	b.Helper()
	h, err := Open(context.Background(), Options{Name: "test", Path: pluginTest})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	r, stop, err := pluginhost.ServeInProcess(teststore.New(), pluginhost.Info{Name: "test"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stop() })
	return map[string]sdk.Store{"plugin": h.Store(), "grpc-inprocess": r, "direct": teststore.New()}, h
}

var benchModes = []string{"plugin", "grpc-inprocess", "direct"}

func fetchAll(b *testing.B, s sdk.Store, uid string, want int64) {
	rc, err := s.Fetch(context.Background(), "INBOX", uid)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != want {
		b.Fatalf("fetched %d octets, %v", n, err)
	}
}

// BenchmarkFetch50MiB measures the throughput of streaming a 50 MiB message
// (the MiB/s metric; go test's MB/s is 10^6-based). On a shared machine
// wall-clock throughput varies with the load, so it also reports the CPU
// time host and plugin spent per message, which does not.
func BenchmarkFetch50MiB(b *testing.B) {
	stores, host := benchStores(b)
	uid := fmt.Sprintf("%s%d", teststore.GenPrefix, benchSize)
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			s := stores[mode]
			pid := "self"
			if mode == "plugin" {
				pid = strconv.Itoa(host.PID())
			}
			cpu0 := cpuTime("self")
			plug0 := cpuTime(pid)
			b.SetBytes(benchSize)
			for b.Loop() {
				fetchAll(b, s, uid, benchSize)
			}
			cpu := cpuTime("self") - cpu0
			if pid != "self" {
				cpu += cpuTime(pid) - plug0
			}
			b.ReportMetric(float64(benchSize)*float64(b.N)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
			b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the user+system CPU time of process pid ("self" for this one),
// from /proc/PID/stat (clock ticks of 10 ms).
func cpuTime(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest) // f[0] is field 3 (state); utime, stime are fields 14, 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkPut50MiB measures the throughput of storing a 50 MiB message
// (the store reads and hashes it, then drops it).
func BenchmarkPut50MiB(b *testing.B) {
	stores, host := benchStores(b)
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			s := stores[mode]
			pid := "self"
			if mode == "plugin" {
				pid = strconv.Itoa(host.PID())
			}
			cpu0, plug0 := cpuTime("self"), cpuTime(pid)
			b.SetBytes(benchSize)
			for b.Loop() {
				res, err := s.Put(context.Background(), teststore.DiscardMailbox, sdk.PutOptions{}, teststore.Generated(benchSize))
				if err != nil || res.Size != benchSize {
					b.Fatalf("Put: %+v %v", res, err)
				}
			}
			cpu := cpuTime("self") - cpu0
			if pid != "self" {
				cpu += cpuTime(pid) - plug0
			}
			b.ReportMetric(float64(benchSize)*float64(b.N)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
			b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkStat measures the latency of one small call.
func BenchmarkStat(b *testing.B) {
	stores, _ := benchStores(b)
	for _, mode := range benchModes {
		b.Run(mode, func(b *testing.B) {
			s := stores[mode]
			ctx := context.Background()
			for b.Loop() {
				if _, err := s.Stat(ctx, "INBOX"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// procStatus reads a "Vm...: N kB" field of /proc/PID/status in KiB.
func procStatus(pid, field string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkFetchRSS streams 50 MiB messages through the plugin while
// sampling the resident memory of the host and the plugin process; it
// reports the peak of their sum, and the plugin's VmHWM.
func BenchmarkFetchRSS(b *testing.B) {
	h, err := Open(context.Background(), Options{Name: "test", Path: pluginTest})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	pid := strconv.Itoa(h.PID())
	uid := fmt.Sprintf("%s%d", teststore.GenPrefix, benchSize)
	idlePlugin := procStatus(pid, "VmRSS")
	idle := procStatus("self", "VmRSS") + idlePlugin

	var (
		mu       sync.Mutex
		peakSum  int64
		peakHost int64
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			host, plug := procStatus("self", "VmRSS"), procStatus(pid, "VmRSS")
			mu.Lock()
			peakSum = max(peakSum, host+plug)
			peakHost = max(peakHost, host)
			mu.Unlock()
		}
	}()
	b.SetBytes(benchSize)
	for b.Loop() {
		fetchAll(b, h.Store(), uid, benchSize)
	}
	close(stop)
	<-done
	b.ReportMetric(float64(idle)/1024, "idle-host+plugin-RSS-MiB")
	b.ReportMetric(float64(idlePlugin)/1024, "idle-plugin-RSS-MiB")
	b.ReportMetric(float64(peakSum)/1024, "peak-host+plugin-RSS-MiB")
	b.ReportMetric(float64(peakHost)/1024, "peak-host-RSS-MiB")
	b.ReportMetric(float64(procStatus(pid, "VmHWM"))/1024, "plugin-VmHWM-MiB")
}
