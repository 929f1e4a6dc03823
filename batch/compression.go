package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a record batch compression codec (attribute bits 0-2).
type Compression int8

// Codecs, as numbered by Kafka.
const (
	None   Compression = 0
	Gzip   Compression = 1
	Snappy Compression = 2
	LZ4    Compression = 3
	Zstd   Compression = 4
)

// String returns the codec's name as Kafka's compression.type spells it, or
// "unknown".
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return "unknown"
}

// known reports whether c is one of the five codecs Kafka defines.
func (c Compression) known() bool { return c >= None && c <= Zstd }

// DefaultMaxDecompressed is the default bound, in bytes, on the decompressed
// size of one batch's records section (see Iter.MaxDecompressed). Kafka's
// default max.message.bytes is 1 MiB; this leaves room for highly
// compressible batches while stopping decompression bombs.
const DefaultMaxDecompressed = 64 << 20

// Codec encoders and decoders are pooled: each is expensive to build (tables,
// windows) and cheap to reset. Every pooled object owns whatever it reads
// from or writes to, so a pooled object never keeps a caller's buffer or
// Builder alive.
var (
	gzipReaders sync.Pool // *gzipReader
	gzipWriters sync.Pool // *gzipWriter
	lz4Readers  sync.Pool // *lz4Reader
	lz4Writers  sync.Pool // *lz4Writer
	zstdReaders sync.Pool // *zstdReader
	zstdWriters sync.Pool // *zstd.Encoder
)

// decompress appends the decompressed form of src, compressed with c, to
// dst[:0] and returns it. It fails with ErrDecompressedTooLarge once more
// than limit bytes come out, and with an error wrapping ErrDecompress if src is
// not valid for c. The returned slice is the (possibly grown) buffer even on
// error, so that the caller can keep reusing it.
func decompress(dst []byte, c Compression, src []byte, limit int) ([]byte, error) {
	var err error
	switch c {
	case Gzip:
		dst, err = gunzip(dst[:0], src, limit)
	case Snappy:
		dst, err = unsnappy(dst[:0], src, limit)
	case LZ4:
		dst, err = unlz4(dst[:0], src, limit)
	case Zstd:
		dst, err = unzstd(dst[:0], src, limit)
	default:
		return dst, fmt.Errorf("%w: %d", ErrCompression, c)
	}
	if err != nil && err != ErrDecompressedTooLarge {
		err = fmt.Errorf("%w: %s: %w", ErrDecompress, c, err)
	}
	return dst, err
}

// readLimited reads r to EOF, appending to dst, and fails with
// ErrDecompressedTooLarge once len(dst) would exceed limit.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return dst, ErrDecompressedTooLarge
			}
			// Double, but never past limit+1: one byte over is
			// enough to detect an oversized stream.
			dst = slices.Grow(dst, min(max(len(dst), 4<<10), limit+1-len(dst)))
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit+1)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, ErrDecompressedTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// appendWriter is an io.Writer that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// compress appends the compressed form of src to dst. c must be a known codec
// other than None. Writing to memory cannot fail, so codec errors are broken
// invariants and panic.
func compress(dst []byte, c Compression, src []byte) []byte {
	switch c {
	case Gzip:
		return gzipAppend(dst, src)
	case Snappy:
		// Raw block format, as franz-go and librdkafka send it; the Java
		// client's xerial reader falls back to it when there is no
		// xerial header.
		dst = slices.Grow(dst, s2.MaxEncodedLen(len(src)))
		enc := s2.EncodeSnappy(dst[len(dst):], src)
		return dst[:len(dst)+len(enc)]
	case LZ4:
		return lz4Append(dst, src)
	case Zstd:
		enc, _ := zstdWriters.Get().(*zstd.Encoder)
		if enc == nil {
			var err error
			enc, err = zstd.NewWriter(nil,
				zstd.WithEncoderConcurrency(1),
				zstd.WithEncoderLevel(zstd.SpeedDefault))
			if err != nil {
				panic("batch: zstd encoder: " + err.Error())
			}
		}
		dst = enc.EncodeAll(src, dst)
		zstdWriters.Put(enc)
		return dst
	}
	panic(fmt.Sprintf("batch: compress with codec %d", c))
}

// gzip

type gzipReader struct {
	src bytes.Reader
	zr  gzip.Reader
}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	d, _ := gzipReaders.Get().(*gzipReader)
	if d == nil {
		d = new(gzipReader)
	}
	defer func() {
		d.src.Reset(nil)
		gzipReaders.Put(d)
	}()
	d.src.Reset(src)
	if err := d.zr.Reset(&d.src); err != nil {
		return dst, err
	}
	return readLimited(dst, &d.zr, limit)
}

type gzipWriter struct {
	dst appendWriter
	zw  *gzip.Writer
}

func gzipAppend(dst, src []byte) []byte {
	w, _ := gzipWriters.Get().(*gzipWriter)
	if w == nil {
		w = new(gzipWriter)
		w.zw, _ = gzip.NewWriterLevel(&w.dst, gzip.DefaultCompression)
	}
	w.dst.b = dst
	w.zw.Reset(&w.dst)
	// MTIME 0 means none (RFC 1952). The zero time.Time would write the
	// low 32 bits of year 1's Unix time instead.
	w.zw.ModTime = time.Unix(0, 0)
	if _, err := w.zw.Write(src); err != nil {
		panic("batch: gzip: " + err.Error())
	}
	if err := w.zw.Close(); err != nil {
		panic("batch: gzip: " + err.Error())
	}
	dst = w.dst.b
	w.dst.b = nil
	gzipWriters.Put(w)
	return dst
}

// snappy

// xerialMagic opens the framing that the Java client (snappy-java's
// SnappyOutputStream) writes: magic (8 bytes), version and compatible version
// (4 bytes each, big-endian), then chunks of a 4-byte big-endian length and a
// raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		// A raw block cannot begin with the magic: 0x82 0x53 would
		// declare 10626 bytes and 'N' is a copy with nothing to copy.
		return snappyBlock(dst, src, limit)
	}
	src = src[xerialHeaderSize:]
	for len(src) > 0 {
		if len(src) < 4 {
			return dst, fmt.Errorf("xerial chunk length cut short")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, fmt.Errorf("xerial chunk of %d bytes, %d left", n, len(src))
		}
		var err error
		if dst, err = snappyBlock(dst, src[:n], limit); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return dst, nil
}

// snappyBlock appends the decoding of the raw snappy block src to dst.
func snappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > limit-len(dst) {
		return dst, ErrDecompressedTooLarge
	}
	dst = slices.Grow(dst, n)
	out, err := s2.Decode(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst, err
	}
	return dst[:len(dst)+len(out)], nil
}

// lz4

type lz4Reader struct {
	src bytes.Reader
	zr  *lz4.Reader
}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	d, _ := lz4Readers.Get().(*lz4Reader)
	if d == nil {
		d = new(lz4Reader)
		d.zr = lz4.NewReader(nil)
	}
	defer func() {
		d.zr.Reset(nil)
		d.src.Reset(nil)
		lz4Readers.Put(d)
	}()
	d.src.Reset(src)
	d.zr.Reset(&d.src)
	return readLimited(dst, d.zr, limit)
}

type lz4Writer struct {
	dst appendWriter
	zw  *lz4.Writer
}

func lz4Append(dst, src []byte) []byte {
	w, _ := lz4Writers.Get().(*lz4Writer)
	if w == nil {
		w = new(lz4Writer)
		w.zw = lz4.NewWriter(&w.dst)
		// What the Java client writes: 64 KiB independent blocks, no
		// checksums (older Java readers reject a content checksum).
		if err := w.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)); err != nil {
			panic("batch: lz4: " + err.Error())
		}
	}
	w.dst.b = dst
	w.zw.Reset(&w.dst)
	if _, err := w.zw.Write(src); err != nil {
		panic("batch: lz4: " + err.Error())
	}
	if err := w.zw.Close(); err != nil {
		panic("batch: lz4: " + err.Error())
	}
	dst = w.dst.b
	w.dst.b = nil
	w.zw.Reset(nil)
	lz4Writers.Put(w)
	return dst
}

// zstd

type zstdReader struct {
	zr    *zstd.Decoder
	limit int // the decoder's WithDecoderMaxMemory
}

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	d, _ := zstdReaders.Get().(*zstdReader)
	if d == nil {
		zr, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return dst, err
		}
		d = &zstdReader{zr: zr, limit: limit}
	} else if d.limit != limit {
		// Options apply to DecodeAll; a nil reader starts no stream.
		if err := d.zr.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(limit))); err != nil {
			return dst, err
		}
		d.limit = limit
	}
	defer zstdReaders.Put(d)
	out, err := d.zr.DecodeAll(src, dst)
	if err == zstd.ErrDecoderSizeExceeded || err == zstd.ErrWindowSizeExceeded || len(out) > limit {
		return out, ErrDecompressedTooLarge
	}
	return out, err
}
