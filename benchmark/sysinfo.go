package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

// SysInfo describes the machine a run happened on.
type SysInfo struct {
	CPU       string
	Cores     int
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
