// Package buildinfo reads what the Go toolchain recorded about the running
// binary (runtime/debug.ReadBuildInfo): the module version, the VCS commit
// and the Go version. bridge version prints it; the metrics export it as a
// build-info gauge.
package buildinfo
