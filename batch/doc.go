// Package batch implements Kafka's record batch format, magic v2, which is
// both the wire format of Produce and Fetch and the on-disk format of Weir's
// segment files. A batch is stored and sent exactly as a producer encoded it;
// the broker only patches the base offset and partition leader epoch, which
// lie outside the CRC.
//
// Layout (big-endian; offsets in bytes from the batch start; frozen: part of
// the wire and disk format):
//
//	+--------+-----+---------------------------+
//	| offset | len | field                     |
//	+--------+-----+---------------------------+
//	|      0 |   8 | baseOffset                |  -- patched on append
//	|      8 |   4 | batchLength (bytes after) |  total size = 12 + batchLength
//	|     12 |   4 | partitionLeaderEpoch      |  -- patched on append
//	|     16 |   1 | magic (= 2)               |
//	|     17 |   4 | crc (CRC-32C, Castagnoli) |  covers bytes 21..end
//	|     21 |   2 | attributes                |  <- CRC coverage starts here
//	|     23 |   4 | lastOffsetDelta           |
//	|     27 |   8 | baseTimestamp             |
//	|     35 |   8 | maxTimestamp              |
//	|     43 |   8 | producerId                |
//	|     51 |   2 | producerEpoch             |
//	|     53 |   4 | baseSequence              |
//	|     57 |   4 | recordCount               |
//	|     61 |   … | records (maybe compressed)|
//	+--------+-----+---------------------------+
//
// Attributes (int16):
//
//	bits 0-2  compression: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
//	bit  3    timestamp type: 0 CreateTime, 1 LogAppendTime
//	bit  4    transactional
//	bit  5    control batch
//	bit  6    has delete horizon (compaction)
//
// Each record inside (after decompression) is:
//
//	length            varint (zigzag) bytes that follow
//	attributes        int8 (unused, 0)
//	timestampDelta    varlong, relative to baseTimestamp
//	offsetDelta       varint, relative to baseOffset
//	keyLength         varint, -1 for a null key
//	key               bytes
//	valueLength       varint, -1 for a null value
//	value             bytes
//	headerCount       varint
//	headers           headerKeyLength varint, headerKey, headerValueLength varint, headerValue
//
// Varints are zigzag-encoded (Protocol Buffers' sint32/sint64): a varint
// has at most 5 bytes and fits in 32 bits, a varlong at most 10. A record's
// header keys are never null; keys, values and header values are null when
// their length is -1. Offset deltas increase strictly within a batch and
// never exceed lastOffsetDelta (compaction may leave gaps).
//
// # Compression
//
// The records section (everything after recordCount) of a compressed batch
// is one stream of the codec: gzip (RFC 1952, members may be concatenated);
// snappy, either a raw block (franz-go, librdkafka) or snappy-java's xerial
// framing (the Java client), both accepted; lz4 frame format; zstd frames.
// Builder writes raw snappy blocks and lz4 frames with 64 KiB independent
// blocks and no checksums, which every Kafka client reads.
//
// # Reading and writing
//
// Validate checks one batch's framing and CRC; Iter walks its records,
// decompressing first if needed, and rejects malformed records; Builder
// encodes records into a batch. All errors about the bytes wrap ErrCorrupt
// (see IsCorrupt) and a specific sentinel; ErrTooLarge and
// ErrDecompressedTooLarge are limits, not corruption.
//
// # Ownership and concurrency
//
// Functions in this package that take a []byte batch never retain it and
// never allocate on the validation and patching paths. Records returned by
// Iter alias the batch (uncompressed) or the Iter's buffer (compressed): they
// are valid until the batch bytes change or the Iter is Reset, as with
// bufio.Reader.Peek, and must be copied to be kept. Iter and Builder are not
// safe for concurrent use; distinct values may be used concurrently, and the
// package-level functions are safe for concurrent use.
package batch
