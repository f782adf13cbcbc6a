package main

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
)

// addrHint is the form every address flag and argument takes.
const addrHint = "want HOST:PORT, such as " + DefaultAddr + ", 127.0.0.1:7420, " +
	"[::1]:7420 or :7420"

// checkAddr validates a client command's ADDR before anything dials it, so
// that a typo is reported as bad input (exit 2) instead of as a server that
// cannot be reached. ADDR is HOST:PORT: HOST is empty (this machine), an IP
// address (IPv6 in brackets) or a host name; PORT is a number 1-65535.
func checkAddr(addr string) error {
	return validateAddr(addr, false)
}

// checkListenAddr validates serve's --addr: as checkAddr, but port 0 (pick
// a free port) is allowed.
func checkListenAddr(addr string) error {
	return validateAddr(addr, true)
}

func validateAddr(addr string, port0 bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// net's message repeats the address: keep only what is wrong
		why := err.Error()
		if ae := (*net.AddrError)(nil); errors.As(err, &ae) {
			why = ae.Err
		}
		return badInput("bad address %q: %s; %s", addr, why, addrHint)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	switch {
	case port == "":
		return badInput("bad address %q: missing port; %s", addr, addrHint)
	case err != nil:
		return badInput("bad address %q: port %q is not a number 1-65535; %s",
			addr, port, addrHint)
	case n == 0 && !port0:
		return badInput("bad address %q: port 0 cannot be connected to; %s",
			addr, addrHint)
	}
	if host == "" || validHostName(host) {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	return badInput("bad address %q: %q is neither an IP address nor a host "+
		"name; %s", addr, host, addrHint)
}

// validHostName reports whether s is a DNS host name: dot-separated labels
// of letters, digits, '-' and '_' (used by some local names), 1-63 bytes
// each, 253 bytes at most, a label neither starting nor ending with '-'.
func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 || s[i-1] == '-' {
				return false
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return false
			}
		case c == '_', '0' <= c && c <= '9', 'a' <= c && c <= 'z',
			'A' <= c && c <= 'Z':
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	// a trailing dot (a fully qualified name) is fine; an empty name is not
	return s != "" && s[len(s)-1] != '-'
}
