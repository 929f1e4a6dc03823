// Package storagebench measures Weir's storage engine (package log) on a
// disk of the caller's choosing, outside go test, and compares every figure
// with a reference that does the same I/O with plain system calls on the
// same file system in the same run. It is what `weir bench storage` runs,
// for embedders who want to know what the engine alone costs on their
// hardware, and scripts/bench-storage.sh runs it. The log package's own
// benchmarks (log/*_timing_test.go) measure only what this package cannot:
// allocations per Append and Read, and opening logs in states that need
// the package's internals (unclean shutdown, 10,000 segments).
//
//	res, err := storagebench.Run(ctx, storagebench.Options{Dir: "/data"})
//	if err != nil { ... }
//	fmt.Print(res.Markdown())
//
// # Benchmarks
//
//   - append: Log.Append (and Log.AppendValidated) of batches of each of
//     Options.Sizes, never fsyncing, against pwrite(2) of the same bytes to
//     a preallocated file. MB/s.
//   - group-commit: 16 KiB appends each waiting until durable (FlushGroup,
//     FlushMaxDelay 1 ms, private flusher), with each of
//     Options.GroupAppenders goroutines, against pwrite(2) plus a syncer
//     that fdatasyncs on the same 1 ms cadence and releases every writer
//     it covers. Acknowledged MB/s, fsyncs/s.
//   - many-logs: each of Options.Logs logs sharing one Flusher, a fixed
//     pool of Options.ManyLogsAppenders goroutines appending 16 KiB batches
//     round-robin, each waiting until durable. Acknowledged MB/s and
//     fsyncs/s (a syncfs(2) group commit counts as one fsync); the
//     reference is the smallest log count of the same round.
//   - read: Read + View.Batches over a cached log of Options.ReadBytes in
//     1 MiB views, touching every byte, against the same loop over an
//     in-memory copy of the same bytes. GB/s.
//   - open: Open of that log after a clean Close, against the system-call
//     floor of opening it (ReadDir, open/fstat/close of each file, reading
//     the checkpoint). ms.
//
// # Method
//
// Each benchmark runs Options.Rounds rounds. In a round every subject (the
// engine, its variants and the reference) is sampled once, back to back,
// forwards in even rounds and backwards in odd ones, so that a slow spell
// of a busy machine hits both sides. A row reports the median of the
// engine's samples, the median of the reference's, and the median of the
// per-round ratios.
//
// Timed writes land in page cache that was touched before: on virtual
// machines the first touch of new page-cache memory is slow and would
// dominate. The append benchmark writes its region once untimed and, after
// every timed pass, truncates the log back in place (TruncateTo, which
// zeroes and fsyncs) and fdatasyncs the reference file, with the clock
// stopped. The read benchmark reads the log once untimed before timing.
//
// Rates are in MB/s (1e6 bytes) and GB/s (1e9 bytes), as go test reports
// them. Durable benchmarks count acknowledged bytes only; each durable
// sample lasts Options.Duration or until 1 GiB was acknowledged.
//
// # Cost
//
// The run writes into a temporary directory under Options.Dir and removes
// it at the end, on error too. With the defaults it needs about 17 GiB of
// free space (many-logs at 1,000 logs preallocates a 16 MiB segment per
// log) and about 2.5 GB of memory (read keeps the log in the page cache and
// a copy in memory); a log count that does not fit the free space or the
// file descriptor limit is skipped with a note. Every phase (one sample, or
// building a fixture) is bounded by Options.Timeout, and Run stops between
// and within phases when its context is done, returning the rows measured
// so far with the error.
//
// The package owns no mutable globals; it runs on Linux only, as the log
// package does.
package storagebench
