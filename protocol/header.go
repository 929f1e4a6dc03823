package protocol

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// APIVersionsKey is the ApiVersions API key, whose response header is never
// flexible.
const APIVersionsKey = 18

// MaxKey is the largest API key kmsg knows.
const MaxKey = kmsg.MaxKey

// flexible[key] is the lowest flexible version of key, or -1 if none.
var flexible [MaxKey + 1]int16

func init() {
	for key := int16(0); key <= MaxKey; key++ {
		flexible[key] = -1
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		for v := int16(0); v <= r.MaxVersion(); v++ {
			r.SetVersion(v)
			if r.IsFlexible() {
				flexible[key] = v
				break
			}
		}
	}
}

// IsFlexible reports whether version of API key uses flexible encoding
// (compact strings and arrays, tagged fields, header v2).
func IsFlexible(key, version int16) bool {
	if key < 0 || key > MaxKey {
		return false
	}
	f := flexible[key]
	return f >= 0 && version >= f
}

// RequestHeader is a decoded request header. ClientID aliases the frame.
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      []byte // nil when null
}

// ParseRequestHeader decodes the header at the start of a request frame and
// returns the body after it. For an API key kmsg does not know, the header
// is parsed as v1 (the body is not interpreted anyway). It does not allocate.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 10 {
		return h, nil, fmt.Errorf("%w: request header of %d bytes", ErrShort, len(frame))
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	n := int16(binary.BigEndian.Uint16(frame[8:]))
	b := frame[10:]
	if n >= 0 {
		if int(n) > len(b) {
			return h, nil, fmt.Errorf("%w: client id of %d bytes", ErrShort, n)
		}
		h.ClientID = b[:n:n]
		b = b[n:]
	}
	if IsFlexible(h.APIKey, h.APIVersion) {
		var err error
		if b, err = skipTags(b); err != nil {
			return h, nil, fmt.Errorf("request header tags: %w", err)
		}
	}
	return h, b, nil
}

// AppendResponseHeader appends a response's size placeholder and header:
// 4 bytes for the frame size (fill with SetFrameSize once the response is
// complete), the correlation id, and an empty tag section when the response
// is flexible (never for ApiVersions).
func AppendResponseHeader(dst []byte, key, version int16, correlationID int32) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = AppendInt32(dst, correlationID)
	if key != APIVersionsKey && IsFlexible(key, version) {
		dst = AppendEmptyTags(dst)
	}
	return dst
}

// SetFrameSize writes the frame size into the first 4 bytes of frame, given
// the total bytes of the response that follow the size field.
func SetFrameSize(frame []byte, size int) {
	binary.BigEndian.PutUint32(frame, uint32(size))
}
