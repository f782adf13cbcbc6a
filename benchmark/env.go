package main

import (
	"errors"
	"sync"
)

// Env is what a scenario hands to a transport while setting it up: a place
// to expose servers through counting proxies. Bytes are summed over every
// proxy the transport created. Env is safe for concurrent use; Close is
// idempotent and closes every proxy.
type Env struct {
	mu      sync.Mutex
	proxies []*Proxy
}

// Expose starts a counting proxy in front of target and returns the address
// the client must dial instead.
func (e *Env) Expose(target string) (string, error) {
	p, err := NewProxy(target)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.proxies = append(e.proxies, p)
	e.mu.Unlock()

	return p.Addr(), nil
}

// Bytes returns the bytes forwarded by all proxies so far, both directions.
func (e *Env) Bytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, p := range e.proxies {
		n += p.Bytes()
	}

	return n
}

// Close closes every proxy.
func (e *Env) Close() error {
	e.mu.Lock()
	ps := e.proxies
	e.proxies = nil
	e.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close())
	}

	return errors.Join(errs...)
}
