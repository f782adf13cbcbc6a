package buildinfo_test

import (
	"runtime"
	"testing"

	"go.uber.org/goleak"

	"github.com/arpcbridge/arpcbridge/internal/buildinfo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRead(t *testing.T) {
	bi := buildinfo.Read()
	if bi.GoVersion != runtime.Version() || bi.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("toolchain: %+v", bi)
	}
	// a test binary's main module is this package's
	if bi.Module != buildinfo.Module || bi.Version == "" {
		t.Errorf("module: %+v", bi)
	}
}
