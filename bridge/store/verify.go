package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// verifyFile checks the page structure of a bbolt file before bbolt maps it.
// bbolt trusts its pages (only the meta pages carry a checksum): a damaged
// page can make it loop, allocate without bound or read outside the map,
// which a fuzzer finds in seconds. The walk below is bounded by the file:
// every page is read once, every count and offset is checked against the
// page it lies in. A missing or empty file passes (bbolt creates it).
func verifyFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return nil // bbolt reports why it cannot open it
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return nil
	}
	v := &verifier{f: f, size: fi.Size(), seen: map[uint64]bool{}}
	if err := v.run(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return nil
}

// bbolt's on-disk layout (little-endian, as bbolt writes it on the
// platforms it supports)
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeader       = 16 // id u64, flags u16, count u16, overflow u32
	elemSize         = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize         = 64 // the checksum covers the first 56 bytes
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagMeta         = 0x04
	flagFreelist     = 0x10
	leafBucket       = 0x01
	noFreelist       = ^uint64(0)
	maxPageSize      = 1 << 16
	minPageSize      = 512
	maxBucketNesting = 16
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

type verifier struct {
	f        io.ReaderAt
	size     int64
	pageSize int64
	pgid     uint64
	seen     map[uint64]bool
}

func (v *verifier) run() error {
	var head [pageHeader + metaSize]byte
	if _, err := v.f.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("meta page 0: %w", err)
	}
	m0, err0 := parseMeta(head[pageHeader:])
	var m1 *boltMeta
	err1 := errors.New("no page size")
	if err0 == nil {
		var b [metaSize]byte
		if _, err := v.f.ReadAt(b[:], int64(m0.pageSize)+pageHeader); err == nil {
			m1, err1 = parseMeta(b[:])
		} else {
			err1 = err
		}
	}
	// bbolt uses the valid meta of the latest transaction
	m := m0
	switch {
	case err0 != nil && err1 != nil:
		return fmt.Errorf("meta pages: %w", err0)
	case err0 != nil || (err1 == nil && m1.txid > m0.txid):
		m = m1
	}
	if err0 != nil {
		// bbolt then guesses the page size; do not second-guess it
		return nil
	}
	v.pageSize = int64(m.pageSize)
	if m.pgid < 4 || m.pgid > uint64(v.size/v.pageSize) {
		return fmt.Errorf("high water mark %d for a file of %d pages", m.pgid,
			v.size/v.pageSize)
	}
	v.pgid = m.pgid
	for _, id := range []uint64{0, 1} {
		v.seen[id] = true
	}
	if m.freelist != noFreelist {
		if err := v.freelist(m.freelist); err != nil {
			return err
		}
	}
	return v.tree(m.root, 0)
}

func parseMeta(b []byte) (*boltMeta, error) {
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != boltMagic {
		return nil, errors.New("not a bbolt file")
	}
	if le.Uint32(b[4:]) != boltVersion {
		return nil, fmt.Errorf("bbolt version %d", le.Uint32(b[4:]))
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return nil, errors.New("meta checksum")
	}
	m := &boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]),
		txid: le.Uint64(b[48:])}
	ps := m.pageSize
	if ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("page size %d", ps)
	}
	return m, nil
}

// page reads page id with its overflow pages, once: a page reached twice
// (a cycle, or one page used twice) is damage.
func (v *verifier) page(id uint64, want uint16) ([]byte, error) {
	if id < 2 || id >= v.pgid {
		return nil, fmt.Errorf("page %d outside 2..%d", id, v.pgid)
	}
	if v.seen[id] {
		return nil, fmt.Errorf("page %d reached twice", id)
	}
	var h [pageHeader]byte
	if _, err := v.f.ReadAt(h[:], int64(id)*v.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(h[0:]); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	if flags := le.Uint16(h[8:]); flags != want {
		return nil, fmt.Errorf("page %d: flags %#x, want %#x", id, flags, want)
	}
	overflow := uint64(le.Uint32(h[12:]))
	if id+overflow >= v.pgid {
		return nil, fmt.Errorf("page %d: %d overflow pages past the end", id,
			overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if v.seen[i] {
			return nil, fmt.Errorf("page %d reached twice", i)
		}
		v.seen[i] = true
	}
	b := make([]byte, int64(overflow+1)*v.pageSize)
	if _, err := v.f.ReadAt(b, int64(id)*v.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return b, nil
}

func (v *verifier) freelist(id uint64) error {
	b, err := v.page(id, flagFreelist)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	le := binary.LittleEndian
	count, start := uint64(le.Uint16(b[10:])), uint64(pageHeader)
	if count == 0xFFFF {
		if len(b) < pageHeader+8 {
			return errors.New("freelist: short page")
		}
		count, start = le.Uint64(b[pageHeader:]), pageHeader+8
	}
	if count > (uint64(len(b))-start)/8 {
		return fmt.Errorf("freelist: %d ids do not fit its page", count)
	}
	free := map[uint64]bool{}
	for i := range count {
		p := le.Uint64(b[start+8*i:])
		if p < 2 || p >= v.pgid || free[p] {
			return fmt.Errorf("freelist: page %d", p)
		}
		free[p] = true
	}
	// a free page must not be in use: mark them seen, the tree walk then
	// refuses them
	for p := range free {
		v.seen[p] = true
	}
	return nil
}

// tree checks the B+tree of a bucket rooted at page id.
func (v *verifier) tree(id uint64, depth int) error {
	if depth > maxBucketNesting {
		return errors.New("buckets nested too deep")
	}
	var h [pageHeader]byte
	if id < 2 || id >= v.pgid {
		return fmt.Errorf("page %d outside 2..%d", id, v.pgid)
	}
	if _, err := v.f.ReadAt(h[:], int64(id)*v.pageSize); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	flags := binary.LittleEndian.Uint16(h[8:])
	if flags != flagBranch && flags != flagLeaf {
		return fmt.Errorf("page %d: flags %#x in a tree", id, flags)
	}
	b, err := v.page(id, flags)
	if err != nil {
		return err
	}
	if flags == flagLeaf {
		return v.leaf(b, depth)
	}
	return v.branch(b, depth)
}

// elems returns the count of a page's elements after checking they fit.
func elems(b []byte) (int, error) {
	n := int(binary.LittleEndian.Uint16(b[10:]))
	if pageHeader+n*elemSize > len(b) {
		return 0, fmt.Errorf("%d elements do not fit a page of %d bytes", n,
			len(b))
	}
	return n, nil
}

// span checks that an element's data (at offset pos from the element, size
// n) lies in the page.
func span(b []byte, elem, pos, n uint64) ([]byte, error) {
	start := elem + pos
	if pos > uint64(len(b)) || n > uint64(len(b)) || start+n > uint64(len(b)) {
		return nil, fmt.Errorf("element data at %d+%d past the page", start, n)
	}
	return b[start : start+n], nil
}

func (v *verifier) branch(b []byte, depth int) error {
	n, err := elems(b)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	for i := range n {
		e := uint64(pageHeader + i*elemSize)
		if _, err := span(b, e, uint64(le.Uint32(b[e:])),
			uint64(le.Uint32(b[e+4:]))); err != nil {
			return err
		}
		if err := v.tree(le.Uint64(b[e+8:]), depth); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifier) leaf(b []byte, depth int) error {
	n, err := elems(b)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	for i := range n {
		e := uint64(pageHeader + i*elemSize)
		pos, ks, vs := uint64(le.Uint32(b[e+4:])), uint64(le.Uint32(b[e+8:])),
			uint64(le.Uint32(b[e+12:]))
		kv, err := span(b, e, pos, ks+vs)
		if err != nil {
			return err
		}
		if le.Uint32(b[e:])&leafBucket == 0 {
			continue
		}
		val := kv[ks:]
		if len(val) < 16 {
			return errors.New("bucket value too short")
		}
		if root := le.Uint64(val); root != 0 {
			if err := v.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		// an inline bucket: a leaf page inside the value
		inline := val[16:]
		if len(inline) < pageHeader {
			return errors.New("inline bucket too short")
		}
		if f := le.Uint16(inline[8:]); f != flagLeaf {
			return fmt.Errorf("inline bucket: flags %#x", f)
		}
		if depth+1 > maxBucketNesting {
			return errors.New("buckets nested too deep")
		}
		if err := v.leaf(inline, depth+1); err != nil {
			return err
		}
	}
	return nil
}
