package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// SysInfo describes the machine a run happened on.
type SysInfo struct {
	CPU       string
	Cores     int
	MemGiB    float64 // total RAM, 0 when unknown
	Kernel    string  // kernel release, "" when unknown
	GoVersion string
	OS, Arch  string
	Date      string
}

// ReadSysInfo reads the CPU model from /proc/cpuinfo (empty elsewhere) and
// the rest from the runtime.
func ReadSysInfo() SysInfo {
	return SysInfo{
		CPU:       cpuModel(),
		Cores:     runtime.NumCPU(),
		MemGiB:    memTotalGiB(),
		Kernel:    readTrimmed("/proc/sys/kernel/osrelease"),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Date:      time.Now().UTC().Format("2006-01-02"),
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}

	return "unknown"
}

// memTotalGiB reads MemTotal from /proc/meminfo (0 elsewhere).
func memTotalGiB() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb float64
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %f kB", &kb); n == 1 {
			return kb / (1 << 20)
		}
	}

	return 0
}

// readTrimmed returns a small file's content without surrounding space, ""
// when it cannot be read.
func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// String describes the machine in one line: CPU, cores, RAM, OS and Go.
func (m SysInfo) String() string {
	s := fmt.Sprintf("%s, %d cores", m.CPU, m.Cores)
	if m.MemGiB > 0 {
		s += fmt.Sprintf(", %.0f GiB RAM", m.MemGiB)
	}
	if m.Kernel != "" {
		s += ", " + m.OS + " " + m.Kernel
	}
	return s + fmt.Sprintf(", %s %s/%s", m.GoVersion, m.OS, m.Arch)
}
