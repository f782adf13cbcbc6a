package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
)

func init() { register(60, tcpTransport{}) }

// tcpTransport is raw TCP ping-pong over a plain Go worker: a 9-byte request
// (command, uint64 argument) and the shortest possible reply. The physical
// floor of every scenario with a round trip.
type tcpTransport struct{}

func (tcpTransport) Name() string { return "tcp" }
func (tcpTransport) Desc() string {
	return "raw TCP ping-pong, 9-byte requests, plain Go worker (physical floor where there is a round trip)"
}

// tcp commands
const (
	tcpGet  byte = 'g' // reply: 1 byte value
	tcpOp   byte = 'o' // arg: op; reply: 1 byte new value (the event)
	tcpPing byte = 'p' // reply: 1 byte
	tcpData byte = 'd' // arg: size; reply: size bytes
)

// tcpSession is one server and one client connection.
type tcpSession struct {
	w       *plainWorker
	ln      net.Listener
	conn    net.Conn
	req     [9]byte
	reply   [1]byte
	value   int
	calls   int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	srvConn map[net.Conn]struct{}
	once    sync.Once
}

func newTCPSession(ctx context.Context, env *Env) (*tcpSession, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &tcpSession{w: newPlainWorker(), ln: ln, srvConn: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	addr, err := env.Expose(ln.Addr().String())
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	var d net.Dialer
	if s.conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.call(tcpGet, 0); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.value = int(s.reply[0])
	s.calls = 0

	return s, nil
}

func (s *tcpSession) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.srvConn[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

// serve answers one connection until it closes.
func (s *tcpSession) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	var req [9]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return
		}
		arg := binary.BigEndian.Uint64(req[1:])
		var err error
		switch req[0] {
		case tcpGet:
			_, err = c.Write([]byte{byte(s.w.Value())})
		case tcpOp:
			_, v := s.w.CallOp(int(arg))
			_, err = c.Write([]byte{byte(v)})
		case tcpPing:
			s.w.Change()
			_, err = c.Write([]byte{1})
		case tcpData:
			payload = payloadOf(payload, int(arg))
			_, err = c.Write(payload)
		default:
			return
		}
		if err != nil {
			return
		}
	}
}

// call sends one request and reads a 1-byte reply (not for tcpData).
func (s *tcpSession) call(cmd byte, arg uint64) error {
	s.calls++
	s.req[0] = cmd
	binary.BigEndian.PutUint64(s.req[1:], arg)
	if _, err := s.conn.Write(s.req[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(s.conn, s.reply[:])

	return err
}

func (s *tcpSession) Calls() int64 { return s.calls }

func (s *tcpSession) Close() error {
	s.once.Do(func() {
		if s.conn != nil {
			_ = s.conn.Close()
		}
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.srvConn {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})

	return nil
}

// withDeadline applies ctx's deadline to the client connection.
func (s *tcpSession) withDeadline(ctx context.Context) {
	if d, ok := ctx.Deadline(); ok {
		_ = s.conn.SetDeadline(d)
	}
}

// SGP

func (tcpTransport) SetupSGP(ctx context.Context, env *Env) (SGPSession, error) {
	return newTCPSession(ctx, env)
}

// Run: the reply to the op is the event and carries the new value.
func (s *tcpSession) Run(ctx context.Context, n int) error {
	s.withDeadline(ctx)
	for range n {
		if err := s.call(tcpOp, uint64(s.value)); err != nil {
			return fmt.Errorf("tcp: %w", err)
		}
		s.value = int(s.reply[0])
	}

	return nil
}

func (s *tcpSession) Errors() int64 { return s.w.errs.Load() }

// round trip

func (tcpTransport) SetupRoundTrip(ctx context.Context, env *Env) (RoundTripSession, error) {
	return newTCPSession(ctx, env)
}

func (s *tcpSession) RoundTrip(ctx context.Context) error {
	s.withDeadline(ctx)
	return s.call(tcpPing, 0)
}

// payload

func (tcpTransport) SetupPayload(ctx context.Context, env *Env) (PayloadSession, error) {
	return newTCPSession(ctx, env)
}

func (s *tcpSession) Fetch(ctx context.Context, size int) error {
	s.withDeadline(ctx)
	s.calls++
	s.req[0] = tcpData
	binary.BigEndian.PutUint64(s.req[1:], uint64(size))
	if _, err := s.conn.Write(s.req[:]); err != nil {
		return err
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(s.conn, buf); err != nil {
		return err
	}

	return checkPayload(buf, size)
}
