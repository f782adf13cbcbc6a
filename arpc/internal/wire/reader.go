package wire

import (
	"encoding/binary"
	"fmt"
)

// reader reads the fields of a hand-encoded message (a header, a
// Hello); after the first error every read returns zero and the error stays.
type reader struct {
	b   []byte
	err error
	// max bounds what a compressed field decompresses to
	max int
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %w: %s", ErrRpc, errBadHeader,
			fmt.Sprintf(format, args...))
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail("short")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a copy of the next length-prefixed bytes; nil when empty.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length %d past the end", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, r.b)
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) mut() *wireMut {
	flags := r.byte()
	m := &wireMut{Type: r.byte(), NoId: flags&bNoId != 0}
	if n := r.count(); n > 0 {
		m.States = make([]int, n)
		for i := range m.States {
			idx := r.uvarint()
			if idx > maxStateIndex {
				r.fail("state index %d", idx)
				return nil
			}
			m.States[i] = int(idx)
		}
	}
	if !m.NoId {
		m.IdGap = r.uvarint()
	}
	if flags&bEvent != 0 {
		m.Event = r.string()
	}
	if flags&bErrMsg != 0 {
		m.ErrMsg = r.string()
	}
	if flags&bHeaders != 0 {
		// the flag means at least one header; keys come sorted, once each
		// (as appendHeaders writes them), so every header section has one
		// encoding
		n := r.uvarint()
		if n == 0 || n > MaxHeaders {
			r.fail("%d mutation headers (1 to %d)", n, MaxHeaders)
			return nil
		}
		m.Headers = make(map[string]string, n)
		prev := ""
		for i := range n {
			k := r.string()
			if i > 0 && k <= prev {
				r.fail("mutation header %q out of order or repeated", k)
				return nil
			}
			m.Headers[k], prev = r.string(), k
		}
	}
	m.Vals = r.bytes()
	return m
}

// maxStateIndex bounds a state index on the wire (the server then checks it
// against the worker's states).
const maxStateIndex = 1 << 31

func (r *reader) reply() (*Error, *wireClock, uint64) {
	flags := r.byte()
	var err *Error
	var clock *wireClock
	var seq uint64
	if flags&bErr != 0 {
		err = &Error{Code: r.byte()}
		err.Msg = r.string()
	}
	if flags&bClock != 0 {
		clock = r.clock()
	}
	if flags&bSeq != 0 {
		seq = r.uvarint()
	}
	return err, clock, seq
}

func (r *reader) clock() *wireClock {
	flags := r.byte()
	c := &wireClock{Full: flags&bFull != 0}
	if flags&bZip != 0 {
		c.Zip = Compression(r.byte())
		if c.Zip == CompressNone || c.Zip >= numCompress {
			r.fail("compression codec %d", c.Zip)
		}
	}
	c.Back = r.uvarint()
	c.Span = r.uvarint()
	c.SumGap = r.uvarint()
	c.QTGap = r.uvarint()
	c.Diff = r.bytes()
	if flags&bTicks != 0 {
		c.Ticks = r.bytes()
	}
	return c
}

// count reads a count of items that take at least a byte each: one past
// the remaining bytes fails.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("count %d past the end", n)
		return 0
	}
	return int(n)
}

// strings reads appendStrings' list; nil when empty.
func (r *reader) strings() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.string()
	}
	return out
}

// end fails on trailing bytes and returns the first error.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
