// Package log is Weir's partition log, the storage engine's public
// embedding API: a Go program can append record batches, read them back
// without copying, and rely on crash recovery, retention and durability,
// with no broker and no network. (The package is named log after what it
// is; inside Weir, logging uses log/slog.)
//
// A log is a directory of segments in Kafka's on-disk format:
//
//	00000000000000000000.log        record batches (magic v2), exactly as on the wire
//	00000000000000000000.index      sparse offset index, 8-byte entries
//	00000000000000000000.timeindex  sparse time index, 12-byte entries
//	weir-log.checkpoint             clean-shutdown flag, recovery point, log start offset
//
// Segments are named by their base offset. The last segment is active:
// appends go to it, and it rolls when it reaches SegmentBytes or SegmentMs.
//
// # Writing
//
// Append takes one or more whole v2 batches (build them with
// batch.Builder), validates each (length, magic, CRC-32C, size limit),
// assigns offsets by patching baseOffset in place — the CRC does not cover
// it, so no re-checksum — and writes them with one write system call.
//
// Durability follows Options.FlushPolicy. With FlushGroup (the default), a
// shared Flusher fsyncs a log's unsynced segments once the oldest unsynced
// append has waited FlushMaxDelay (1 ms), releasing every waiter that fsync
// covers; DurableOffset, WaitDurable and OnDurable expose it. The log never
// reports an offset durable before an fsync covering it (and the directory
// entry of its segment) returned. After a failed write or fsync the log
// refuses further appends (ErrFailed).
//
// # Reading
//
// Read returns a View of one segment's bytes starting at the batch that
// holds the requested offset: Bytes gives a slice of the segment's
// read-only mmap (no copy), and File/Position/Len give the region for
// sendfile. Batches trims the view to whole batches and returns the next
// offset to read. Release the view when done.
//
// # Concurrency
//
// A Log is safe for concurrent use. Writers (Append, Roll, TruncateTo,
// DeleteRecordsBefore, ApplyRetention, Close) serialize on an internal
// mutex, held across the append's write call but never across fsync.
// Readers (Read, OffsetForTimestamp, StartOffset, EndOffset,
// DurableOffset) take no lock: the writer publishes the log end offset
// atomically after each append and the segment list as an immutable
// snapshot, and a View holds a reference count on its segment so that
// retention never closes or unmaps a file a reader is using.
//
// # Slice lifetime
//
// Bytes returned by a View point into a read-only mmap and stay valid until
// the View is released. They must not be written. Bytes that TruncateTo
// removes are zeroed in place, so a reader that still holds them after a
// truncation sees zeros, never a fault.
//
// # Recovery
//
// Open after a clean Close trusts the files and scans nothing. After a
// crash it validates every segment written since the last recovery point,
// cuts at the first invalid batch (a torn write, a CRC mismatch, a
// zero-filled preallocated tail), deletes anything after it, rebuilds the
// indexes, and logs what it cut. Batches reported durable are never cut
// unless the storage itself corrupted them.
package log
