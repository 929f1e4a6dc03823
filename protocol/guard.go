package protocol

import (
	"encoding/binary"
	"errors"
)

// ErrMalformed means a request's layout is invalid.
var ErrMalformed = errors.New("protocol: malformed request")

// CheckFlexibleProduceFetch walks the layout of a flexible Produce (v9+) or
// Fetch (v12+) request body and checks that every length and count fits in
// the bytes that remain, before the body is handed to kmsg. kmsg (v1.15.0)
// loops once per declared tagged field even after its input runs out, so a
// short request declaring billions of tags would hold an event loop for
// seconds; this walk costs one pass over the fixed fields. Non-flexible
// versions have no tag sections and need no check.
func CheckFlexibleProduceFetch(key, version int16, body []byte) error {
	w := walker{b: body}
	switch {
	case key == 0 && version >= 9:
		w.compactBytes() // transactional id
		w.skip(2 + 4)    // acks, timeout
		w.array(func() {
			if version >= 13 {
				w.skip(16)
			} else {
				w.compactBytes()
			}
			w.array(func() {
				w.skip(4)
				w.compactBytes() // records
				w.tags()
			})
			w.tags()
		})
		w.tags()
	case key == 1 && version >= 12:
		if version <= 14 {
			w.skip(4) // replica id
		}
		w.skip(4 + 4 + 4 + 1 + 4 + 4) // max wait, min bytes, max bytes, isolation, session id, epoch
		w.array(func() {
			if version >= 13 {
				w.skip(16)
			} else {
				w.compactBytes()
			}
			w.array(func() {
				w.skip(4 + 4 + 8 + 4 + 8 + 4) // partition, current epoch, offset, last fetched epoch, log start, max bytes
				w.tags()
			})
			w.tags()
		})
		w.array(func() { // forgotten topics
			if version >= 13 {
				w.skip(16)
			} else {
				w.compactBytes()
			}
			w.array(func() { w.skip(4) })
			w.tags()
		})
		w.compactBytes() // rack
		w.tags()
	default:
		return nil
	}
	if w.bad {
		return ErrMalformed
	}
	return nil
}

// walker steps over a flexible message, with a sticky failure flag.
type walker struct {
	b   []byte
	bad bool
}

func (w *walker) skip(n int) {
	if w.bad || n < 0 || n > len(w.b) {
		w.bad = true
		return
	}
	w.b = w.b[n:]
}

func (w *walker) uvarint() uint64 {
	if w.bad {
		return 0
	}
	v, n := binary.Uvarint(w.b)
	if n <= 0 {
		w.bad = true
		return 0
	}
	w.b = w.b[n:]
	return v
}

// compactBytes steps over a compact (nullable) string or bytes field.
func (w *walker) compactBytes() {
	n := w.uvarint()
	if n > 0 {
		w.skip(int(min(n-1, uint64(len(w.b))+1)))
	}
}

// array steps over a compact array, calling elem per element; a count
// larger than the bytes left (every element takes at least one) fails.
func (w *walker) array(elem func()) {
	n := w.uvarint()
	if n == 0 {
		return // null
	}
	n--
	if n > uint64(len(w.b)) {
		w.bad = true
		return
	}
	for i := uint64(0); i < n && !w.bad; i++ {
		elem()
	}
}

// tags steps over a tagged-field section.
func (w *walker) tags() {
	n := w.uvarint()
	if n > uint64(len(w.b)) {
		w.bad = true
		return
	}
	for i := uint64(0); i < n && !w.bad; i++ {
		w.uvarint() // tag
		size := w.uvarint()
		w.skip(int(min(size, uint64(len(w.b))+1)))
	}
}
