package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"time"
)

// probeTimeout bounds probeHTTP1.
const probeTimeout = 2 * time.Second

// probeHTTP1 tells whether a plaintext server at addr, which a client
// could not connect to, is an HTTP/1 server: it sends a plain HTTP/1.1
// request and reads the first bytes of the answer, a status line ("HTTP/1.1
// 404 Not Found"). A gRPC client misreads such an answer as an oversized
// HTTP/2 frame, an aRPC client waits for its Hello's reply. Only asked
// after the connection failed: a bridge, whose HTTP side answers too, would
// have been connected to.
func probeHTTP1(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	req := "HEAD / HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return false
	}
	buf := make([]byte, len("HTTP/1."))
	n, _ := readFull(conn, buf)
	return bytes.Equal(buf[:n], []byte("HTTP/1."))
}

func readFull(conn net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// notBridgeHTTP1 is the error for an HTTP/1 server at addr.
func notBridgeHTTP1(addr string) error {
	return &codeError{exitBadInput, fmt.Errorf(
		"%s is not an aRPC bridge: it answers HTTP/1 only (a web server?); "+
			"a bridge speaks aRPC and gRPC (HTTP/2) on its port", addr)}
}
