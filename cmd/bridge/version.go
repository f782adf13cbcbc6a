package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/bridge"
	"github.com/arpcbridge/arpcbridge/internal/buildinfo"
)

// versionOut is bridge version --json.
type versionOut struct {
	buildinfo.Info
	// Protocols are the wire protocol versions this binary speaks.
	Protocols map[string]int `json:"protocols"`
}

func readVersion() versionOut {
	return versionOut{Info: buildinfo.Read(), Protocols: map[string]int{
		"arpc": arpc.ProtocolVersion, "arpc.bridge.v1": bridge.ProtocolVersion,
	}}
}

// text is the version as "bridge version" prints it.
func (v versionOut) text() string {
	var b strings.Builder
	commit := v.Commit
	if commit == "" {
		commit = "unknown (not built from a VCS checkout)"
	}
	if v.Modified {
		commit += " (modified)"
	}
	if v.CommitTime != "" {
		commit += " " + v.CommitTime
	}
	fmt.Fprintf(&b, "bridge %s\n", v.Version)
	fmt.Fprintf(&b, "  module     %s\n", v.Module)
	fmt.Fprintf(&b, "  commit     %s\n", commit)
	fmt.Fprintf(&b, "  protocols  aRPC %d, gRPC arpc.bridge.v1 %d\n",
		v.Protocols["arpc"], v.Protocols["arpc.bridge.v1"])
	fmt.Fprintf(&b, "  go         %s %s\n", v.GoVersion, v.Platform)
	return b.String()
}

func newVersionCmd(g *globalOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, protocol versions and Go version",
		Long: `version prints what this binary is: the module's version ("(devel)" when
built from a checkout), the VCS commit it was built from (recorded by "go
build" in a git checkout; unknown for "go run"), the wire protocol versions
it speaks (aRPC, and arpc.bridge.v1 of the gRPC door), and the Go version
and platform. "bridge --version" prints the same.`,
		Example: `  bridge version
  bridge version --json | jq -r .commit`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			v := readVersion()
			if asJSON {
				return printJSON(g.stdout, v)
			}
			_, err := fmt.Fprint(g.stdout, v.text())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
