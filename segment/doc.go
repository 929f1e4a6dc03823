// Package segment implements one segment file of a partition log: a file of
// Kafka v2 record batches stored exactly as they arrived on the wire, named by
// the base offset of its first batch (20 digits, zero-padded, ".log").
//
// A Segment supports:
//
//   - Append of one or many whole, already validated batches with a single
//     write system call, into a file optionally preallocated with fallocate.
//   - Zero-copy reads: Bytes returns slices of a read-only shared mmap of the
//     file, and the file descriptor (File().Fd()) with a position and length
//     is what a network layer hands to sendfile(2).
//   - Tail recovery: Scan validates batches from a position (length, magic,
//     CRC-32C, increasing offsets) and reports where the valid data ends and
//     what follows it; Recover additionally cuts the invalid tail.
//
// # Concurrency
//
// One writer: Append, Sync, TruncateTo, Seal, Recover and Close must not run
// concurrently with each other. Any number of readers (Size, Bytes, ReadAt,
// Find, Scan) may run concurrently with the writer: the writer publishes the
// segment's size atomically after each write, and readers only look at bytes
// below the size they loaded. Readers must not run concurrently with Close;
// the log guarantees this with reference counts.
//
// # Slice lifetime
//
// A slice returned by Bytes points into a read-only mmap. It stays valid
// until the Segment is closed; writing to it faults. Bytes below the size
// are immutable except after TruncateTo, which zeroes the bytes it removes:
// a reader that still holds a slice into a truncated range sees zeros.
//
// # Errors
//
// After a failed write or fsync the segment refuses further writes and
// returns the first error (wrapping ErrWriteFailed) from every later Append
// and Sync: the page cache may have dropped the data, so nothing after it
// can be trusted durable.
package segment
