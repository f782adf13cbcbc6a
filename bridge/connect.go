package bridge

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"
)

// connectDoor serves Connect (JSON and binary, unary and server streaming)
// and gRPC-Web to browsers and HTTP tools, for every service registered on
// the gRPC server: vanguard transcodes each call to gRPC and runs it through
// the gRPC server's own handler, so there is one implementation of each
// service and every interceptor, stats handler and limit applies as for
// native gRPC. Native gRPC that reaches the HTTP side (an h2c connection
// opened by another protocol) passes through unchanged.
type connectDoor struct {
	h http.Handler
	// prefixes are the "/package.Service/" paths the door answers.
	prefixes []string
}

// newConnectDoor builds the door for the services registered on gs so far.
// maxMsg limits one message in either direction, as MaxRecvMsgSize does for
// native gRPC.
func newConnectDoor(gs *grpc.Server, maxMsg int) (*connectDoor, error) {
	h, err := vanguardgrpc.NewTranscoder(gs, vanguard.WithDefaultServiceOptions(
		vanguard.WithMaxMessageBufferBytes(uint32(min(maxMsg, math.MaxUint32)))))
	if err != nil {
		return nil, fmt.Errorf("connect and gRPC-Web: %w", err)
	}
	d := &connectDoor{h: h}
	for name := range gs.GetServiceInfo() {
		d.prefixes = append(d.prefixes, "/"+name+"/")
	}
	sort.Strings(d.prefixes)
	return d, nil
}

// connectVersionHeader is the header that marks a Connect unary request.
const connectVersionHeader = "Connect-Protocol-Version"

// ServeHTTP serves one call. A unary POST without Connect-Protocol-Version
// (the header is optional in the Connect protocol, and curl users leave it
// out) is taken as Connect: the door has no REST mappings, which is what
// vanguard would otherwise take it for.
func (d *connectDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && r.Header.Get(connectVersionHeader) == "" &&
		strings.HasPrefix(ct, "application/") &&
		!strings.HasPrefix(ct, "application/connect+") &&
		!strings.HasPrefix(ct, "application/grpc") {
		r.Header.Set(connectVersionHeader, "1")
	}
	d.h.ServeHTTP(w, r)
}

// serves reports whether r calls a method of a registered service.
func (d *connectDoor) serves(r *http.Request) bool {
	for _, p := range d.prefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}
