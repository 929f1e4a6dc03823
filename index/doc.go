// Package index implements the sparse offset and time index files that sit
// beside every segment, in Kafka's on-disk format.
//
// Offset index (NNNNNNNNNNNNNNNNNNNN.index), 8-byte entries, big-endian:
//
//	+-----------------------+-------------------+
//	| relative offset (u32) | file position u32 |
//	+-----------------------+-------------------+
//
// The relative offset is an offset minus the segment's base offset; the
// position is the byte position in the segment's .log file of a batch whose
// last offset is that offset (Kafka's convention: an entry points at a batch
// and names the batch's last offset).
//
// Time index (NNNNNNNNNNNNNNNNNNNN.timeindex), 12-byte entries, big-endian:
//
//	+-----------------+-----------------------+
//	| timestamp (i64) | relative offset (u32) |
//	+-----------------+-----------------------+
//
// A time index entry says: up to and including the batch whose last offset is
// that offset, the largest timestamp seen is that timestamp. Timestamps in
// the file are strictly increasing.
//
// Both files are sparse (one entry every index.interval.bytes of log),
// preallocated to their maximum size while the segment is active, mmap'd,
// searched by binary search, and trimmed to their entries on close. They carry
// no checksum: after an unclean shutdown they are rebuilt from the segment,
// as Kafka does. The formats are frozen.
//
// Concurrency: one writer (Append, TruncateTo, Reset, Sync, Close) and any
// number of concurrent readers (Lookup, Entry, Len, Last). Appends publish the
// entry count atomically after writing the entry, so readers never see a
// half-written entry. Readers must not run concurrently with Close; callers
// (the log) guarantee this with reference counts. An entry read concurrently
// with TruncateTo may be stale; callers bound their scans by the segment's
// published size.
package index
