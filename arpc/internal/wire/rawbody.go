package wire

import (
	"encoding/binary"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
)

// The handshake messages and a few small ones encode themselves (rawBody),
// like the header: gob would otherwise build and keep decoding machinery for
// their types on every connection. Layouts are in docs/protocol.md.

// RespHello flags
const (
	rhErr byte = 1 << iota
	rhNames
	rhSchema
	rhClock
	rhResumed
	rhGroups
	// rhNeg: the negotiated encoding and compression follow the flags (an
	// accepted v4 Hello; never in a refusal, which older clients decode)
	rhNeg
)

// State flags in a schema
const (
	stAuto byte = 1 << iota
	stMulti
)

func (a *ArgsHello) appendRaw(b []byte, _ zipper) []byte {
	b = binary.AppendVarint(b, int64(a.Version))
	b = appendString(b, a.ClientId)
	b = appendString(b, a.SchemaHash)
	// count + 1, so that 0 stands for no time (a first connection)
	if a.KnownTime == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(a.KnownTime))+1)
		for _, t := range a.KnownTime {
			b = binary.AppendUvarint(b, t)
		}
	}
	b = binary.AppendUvarint(b, a.KnownSeq)
	b = binary.AppendUvarint(b, a.IdScope)
	b = binary.AppendVarint(b, a.Heartbeat)
	// the rest is one length-prefixed block where version 3 had its optional
	// token, so that a version 3 server decodes the Hello and refuses it by
	// its version (see docs/protocol.md)
	ext := appendString(nil, a.Token)
	ext = append(ext, byte(a.Encoding), byte(a.Compression))
	if a.PushAllTicks {
		// options, only when set (ticks.go)
		ext = append(ext, helloTicks)
	}
	b = binary.AppendUvarint(b, uint64(len(ext)))
	return append(b, ext...)
}

func (a *ArgsHello) decodeRaw(r *reader) {
	*a = ArgsHello{}
	a.Version = int(r.varint())
	if a.Version != ProtocolVersion {
		// another version's layout: the server refuses it by its version
		r.b = nil
		return
	}
	a.ClientId = r.string()
	a.SchemaHash = r.string()
	if n := r.count(); n > 0 {
		a.KnownTime = make(am.Time, n-1)
		for i := range a.KnownTime {
			a.KnownTime[i] = r.uvarint()
		}
	}
	a.KnownSeq = r.uvarint()
	a.IdScope = r.uvarint()
	a.Heartbeat = r.varint()
	ext := reader{b: r.bytes()}
	a.Token = ext.string()
	a.Encoding = Encoding(ext.byte())
	a.Compression = Compression(ext.byte())
	if len(ext.b) > 0 {
		a.PushAllTicks = ext.byte()&helloTicks != 0
	}
	if err := ext.end(); err != nil {
		r.fail("hello extension: %v", err)
	}
	if a.Encoding >= numEncode || a.Compression >= numCompress {
		r.fail("hello: encoding %d, compression %d", a.Encoding, a.Compression)
	}
}

func (h *RespHello) appendRaw(b []byte, z zipper) []byte {
	flags := byte(0)
	if h.Err != nil {
		flags |= rhErr
	}
	if h.Names != nil {
		flags |= rhNames
	}
	if h.Schema != nil {
		flags |= rhSchema
	}
	if h.Clock != nil {
		flags |= rhClock
	}
	if h.Resumed {
		flags |= rhResumed
	}
	if len(h.GroupsOrder) > 0 {
		flags |= rhGroups
	}
	if h.Negotiated {
		flags |= rhNeg
	}
	b = append(b, flags)
	if h.Negotiated {
		b = append(b, byte(h.Encoding), byte(h.Compression))
	}
	if h.Err != nil {
		b = appendString(append(b, h.Err.Code), h.Err.Msg)
	}
	b = appendString(b, h.WorkerId)
	b = appendString(b, h.ServerId)
	if h.Names != nil {
		b = appendStrings(b, h.Names)
	}
	if h.Schema != nil {
		b = binary.AppendUvarint(b, uint64(len(h.Schema)))
		for name, s := range h.Schema {
			st := byte(0)
			if s.Auto {
				st |= stAuto
			}
			if s.Multi {
				st |= stMulti
			}
			b = append(appendString(b, name), st)
			for _, rel := range [][]string{s.Require, s.Add, s.Remove, s.After,
				s.Tags} {
				b = appendStrings(b, rel)
			}
		}
	}
	b = binary.AppendUvarint(b, h.Epoch)
	if u := h.Clock; u != nil {
		full := byte(0)
		if u.Full {
			full = 1
		}
		diff, zip := u.Diff, CompressNone
		if u.Full {
			diff, zip = z.snapshot(u.Diff)
		}
		if zip != CompressNone {
			// bit 1: the diff is compressed, its codec follows
			b = append(b, full|2, byte(zip))
		} else {
			b = append(b, full)
		}
		for _, v := range []uint64{u.From, u.Span, u.Sum, u.QT} {
			b = binary.AppendUvarint(b, v)
		}
		b = binary.AppendUvarint(b, uint64(len(diff)))
		b = append(b, diff...)
	}
	b = binary.AppendUvarint(b, uint64(h.MachineTick))
	if len(h.GroupsOrder) > 0 {
		// in order: name, then its state indexes
		b = binary.AppendUvarint(b, uint64(len(h.GroupsOrder)))
		for _, name := range h.GroupsOrder {
			b = appendString(b, name)
			idxs := h.Groups[name]
			b = binary.AppendUvarint(b, uint64(len(idxs)))
			for _, i := range idxs {
				b = binary.AppendUvarint(b, uint64(i))
			}
		}
	}
	return b
}

func (h *RespHello) decodeRaw(r *reader) {
	*h = RespHello{}
	flags := r.byte()
	if flags&rhNeg != 0 {
		h.Negotiated = true
		h.Encoding = Encoding(r.byte())
		h.Compression = Compression(r.byte())
		if h.Encoding >= numEncode || h.Compression >= numCompress {
			r.fail("hello: encoding %d, compression %d", h.Encoding,
				h.Compression)
		}
	}
	if flags&rhErr != 0 {
		h.Err = &Error{Code: r.byte()}
		h.Err.Msg = r.string()
	}
	h.WorkerId = r.string()
	h.ServerId = r.string()
	if flags&rhNames != 0 {
		h.Names = r.strings()
		if h.Names == nil {
			h.Names = am.S{}
		}
	}
	if flags&rhSchema != 0 {
		n := r.count()
		h.Schema = make(am.Schema, n)
		for range n {
			name := r.string()
			st := r.byte()
			h.Schema[name] = am.State{Auto: st&stAuto != 0, Multi: st&stMulti != 0,
				Require: r.strings(), Add: r.strings(), Remove: r.strings(),
				After: r.strings(), Tags: r.strings()}
		}
	}
	h.Epoch = r.uvarint()
	if flags&rhClock != 0 {
		full := r.byte()
		u := &Update{Full: full&1 != 0}
		zip := CompressNone
		if full&2 != 0 {
			zip = Compression(r.byte())
			if zip == CompressNone || zip >= numCompress {
				r.fail("compression codec %d", zip)
			}
		}
		u.From = r.uvarint()
		u.Span = r.uvarint()
		u.Sum = r.uvarint()
		u.QT = r.uvarint()
		u.Diff = r.bytes()
		if zip != CompressNone && r.err == nil {
			d, err := decompress(zip, u.Diff, r.max)
			if err != nil {
				r.err, r.b = err, nil
			}
			u.Diff = d
		}
		h.Clock = u
	}
	tick := r.uvarint()
	if tick > uint64(^uint32(0)) {
		r.fail("machine tick %d", tick)
	}
	h.MachineTick = uint32(tick)
	h.Resumed = flags&rhResumed != 0
	if flags&rhGroups != 0 {
		n := r.count()
		if n == 0 {
			// the flag is set only for some groups
			r.fail("groups flag without groups")
			return
		}
		h.Groups = make(map[string][]int, n)
		h.GroupsOrder = make([]string, 0, n)
		for range n {
			name := r.string()
			if _, dup := h.Groups[name]; dup {
				r.fail("group %q twice", name)
				return
			}
			idxs := make([]int, r.count())
			for i := range idxs {
				idx := r.uvarint()
				if idx > maxStateIndex {
					r.fail("group %q: state index %d", name, idx)
					return
				}
				idxs[i] = int(idx)
			}
			h.Groups[name] = idxs
			h.GroupsOrder = append(h.GroupsOrder, name)
		}
	}
}

func (a *ArgsSync) appendRaw(b []byte, _ zipper) []byte {
	if a.Full {
		return append(b, 1)
	}
	return append(b, 0)
}

func (a *ArgsSync) decodeRaw(r *reader) { *a = ArgsSync{Full: r.byte() == 1} }

func (a *ArgsGet) appendRaw(b []byte, _ zipper) []byte { return appendString(b, a.Name) }

func (a *ArgsGet) decodeRaw(r *reader) { *a = ArgsGet{Name: r.string()} }

func (a *ArgsWhenArgsDone) appendRaw(b []byte, _ zipper) []byte {
	return binary.AppendUvarint(b, a.Id)
}

func (a *ArgsWhenArgsDone) decodeRaw(r *reader) {
	*a = ArgsWhenArgsDone{Id: r.uvarint()}
}

func (e *RespErr) appendRaw(b []byte, _ zipper) []byte {
	if e.Err == nil {
		b = append(b, 0)
	} else {
		b = appendString(append(b, 1, e.Err.Code), e.Err.Msg)
	}
	return appendString(b, e.Msg)
}

func (e *RespErr) decodeRaw(r *reader) {
	*e = RespErr{}
	if r.byte() == 1 {
		e.Err = &Error{Code: r.byte()}
		e.Err.Msg = r.string()
	}
	e.Msg = r.string()
}

// appendStrings appends a count and the strings.
func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}
