package wire

import (
	"bytes"
	"encoding/gob"
	"io"
	"net"
	"testing"
)

// testPayload stands for arpc's ArgsPayload: a gob body holding a user
// value.
type testPayload struct {
	Name   string
	Source string
	Data   any
	Token  string
}

// typedArgs stands for arpc's A: a struct travelling inside am.A.
type typedArgs struct {
	Name string
	Err  error
}

func init() { gob.Register(&typedArgs{}) }

// writer writes the frames of an Encoder to w, as a connection does.
type writer struct {
	enc Encoder
	w   io.Writer
}

func (p *writer) write(method string, seq uint64, errMsg string,
	body any,
) error {
	frame, err := p.enc.Encode(method, seq, errMsg, body)
	if err != nil {
		return err
	}
	defer p.enc.Release()
	_, err = p.w.Write(frame)
	return err
}

// codecPair returns a writer and a Decoder over a pipe.
func codecPair(t *testing.T) (*writer, *Decoder) {
	a, b := net.Pipe()
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return &writer{w: a}, NewDecoder(b, 0, nil, nil)
}

// bufWriter returns a writer collecting frames in a buffer.
func bufWriter() (*writer, *bytes.Buffer) {
	var buf bytes.Buffer
	return &writer{w: &buf}, &buf
}
