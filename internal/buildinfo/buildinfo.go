package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Module is the module path of this project.
const Module = "github.com/arpcbridge/arpcbridge"

// Info is what a binary knows about its own build.
type Info struct {
	// Module is the main module's path (Module for the bridge binary).
	Module string `json:"module"`
	// Version is the module's version: a tag for "go install ...@vX",
	// "(devel)" for a build from a checkout.
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, "" when the
	// build recorded none (go run, go test, a build outside a checkout).
	Commit string `json:"commit,omitempty"`
	// CommitTime is the commit's time (RFC 3339), "" when unknown.
	CommitTime string `json:"commit_time,omitempty"`
	// Modified says the checkout had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary (runtime.Version).
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Read returns the running binary's build information. Without any (a
// binary built without module support) Version is "unknown".
func Read() Info {
	info := Info{Module: Module, Version: "unknown",
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if bi.Main.Path != "" {
		info.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
