package protocol

import (
	"io"
	"slices"
)

// Chunk is a piece of an encoded response: bytes (Buf) or, when Buf is nil
// and Len > 0, Len bytes of file descriptor Fd at offset Off, to be sent
// with sendfile(2).
type Chunk struct {
	Buf []byte
	Fd  int
	Off int64
	Len int64
}

// FetchPartition is a partition's fixed fields in a Fetch response.
type FetchPartition struct {
	Index                int32
	ErrorCode            int16
	HighWatermark        int64
	LastStableOffset     int64
	LogStartOffset       int64
	PreferredReadReplica int32 // -1 for none
	// AbortedTransactions for read_committed fetches; nil encodes null.
	AbortedTransactions []AbortedTransaction
	// CurrentLeader, when LeaderID >= 0, is sent as the tagged field of
	// v12+ (NOT_LEADER hints, KIP-951).
	CurrentLeaderID    int32
	CurrentLeaderEpoch int32
}

// AbortedTransaction is an aborted transaction overlapping the records.
type AbortedTransaction struct {
	ProducerID  int64
	FirstOffset int64
}

// FetchWriter encodes a Fetch response (versions 4 to 18) whose record
// bytes stay in files: fixed fields go into one buffer, and each
// partition's records become a file-region chunk. It is reusable and
// allocates nothing in steady state.
//
// Call order: Reset, then for each topic Topic, its partitions with
// Partition or PartitionBytes, and EndTopic; then Finish.
type FetchWriter struct {
	version int16
	flex    bool
	buf     []byte
	marks   []mark
	chunks  []Chunk
	size    int64 // bytes in regions and external buffers
}

// mark records where, in buf, a region or external buffer is spliced in.
type mark struct {
	at  int // buf offset
	ext Chunk
}

// Reset starts a response.
func (w *FetchWriter) Reset(version int16, correlationID, throttleMs int32, errorCode int16, sessionID int32, numTopics int) {
	w.version = version
	w.flex = version >= 12
	w.buf = AppendResponseHeader(w.buf[:0], 1, version, correlationID)
	w.marks = w.marks[:0]
	w.chunks = w.chunks[:0]
	w.size = 0
	w.buf = AppendInt32(w.buf, throttleMs)
	if version >= 7 {
		w.buf = AppendInt16(w.buf, errorCode)
		w.buf = AppendInt32(w.buf, sessionID)
	}
	w.buf = AppendArrayLen(w.buf, numTopics, w.flex)
}

// Topic starts a topic: by name below v13, by id from v13.
func (w *FetchWriter) Topic(name string, id [16]byte, numPartitions int) {
	if w.version >= 13 {
		w.buf = append(w.buf, id[:]...)
	} else {
		w.buf = AppendString(w.buf, name, w.flex)
	}
	w.buf = AppendArrayLen(w.buf, numPartitions, w.flex)
}

// EndTopic ends a topic.
func (w *FetchWriter) EndTopic() {
	if w.flex {
		w.buf = AppendEmptyTags(w.buf)
	}
}

func (w *FetchWriter) partitionHead(p *FetchPartition, recordsLen int64) {
	b := w.buf
	b = AppendInt32(b, p.Index)
	b = AppendInt16(b, p.ErrorCode)
	b = AppendInt64(b, p.HighWatermark)
	b = AppendInt64(b, p.LastStableOffset)
	if w.version >= 5 {
		b = AppendInt64(b, p.LogStartOffset)
	}
	if p.AbortedTransactions == nil {
		b = AppendArrayLen(b, -1, w.flex)
	} else {
		b = AppendArrayLen(b, len(p.AbortedTransactions), w.flex)
		for _, a := range p.AbortedTransactions {
			b = AppendInt64(b, a.ProducerID)
			b = AppendInt64(b, a.FirstOffset)
			if w.flex {
				b = AppendEmptyTags(b)
			}
		}
	}
	if w.version >= 11 {
		b = AppendInt32(b, p.PreferredReadReplica)
	}
	b = AppendBytesLen(b, int(recordsLen), w.flex)
	w.buf = b
}

func (w *FetchWriter) partitionTail(p *FetchPartition) {
	if !w.flex {
		return
	}
	if p.CurrentLeaderID < 0 || w.version < 12 {
		w.buf = AppendEmptyTags(w.buf)
		return
	}
	// One tagged field: 1 = CurrentLeader {leader_id int32, leader_epoch int32, tags}.
	w.buf = AppendUvarint(w.buf, 1)
	w.buf = AppendUvarint(w.buf, 1)
	w.buf = AppendUvarint(w.buf, 9)
	w.buf = AppendInt32(w.buf, p.CurrentLeaderID)
	w.buf = AppendInt32(w.buf, p.CurrentLeaderEpoch)
	w.buf = AppendEmptyTags(w.buf)
}

// Partition adds a partition whose records are n bytes of file fd at off
// (n may be 0: no records).
func (w *FetchWriter) Partition(p *FetchPartition, fd int, off, n int64) {
	w.partitionHead(p, n)
	if n > 0 {
		w.marks = append(w.marks, mark{at: len(w.buf), ext: Chunk{Fd: fd, Off: off, Len: n}})
		w.size += n
	}
	w.partitionTail(p)
}

// PartitionReadAt adds a partition whose n bytes of records are read from
// r at off into the response's own buffer: for small regions, so that one
// writev carries many partitions instead of a sendfile and a writev each.
// If the read fails, nothing is added and the error is returned.
func (w *FetchWriter) PartitionReadAt(p *FetchPartition, r io.ReaderAt, off int64, n int) error {
	start := len(w.buf)
	w.partitionHead(p, int64(n))
	at := len(w.buf)
	w.buf = slices.Grow(w.buf, n)[:at+n]
	if _, err := r.ReadAt(w.buf[at:], off); err != nil {
		w.buf = w.buf[:start]
		return err
	}
	w.partitionTail(p)
	return nil
}

// PartitionBytes adds a partition whose records are in memory (nil encodes
// null records). records must stay valid until the response is written.
func (w *FetchWriter) PartitionBytes(p *FetchPartition, records []byte) {
	if records == nil {
		w.partitionHead(p, -1)
	} else {
		w.partitionHead(p, int64(len(records)))
	}
	if len(records) > 0 {
		w.marks = append(w.marks, mark{at: len(w.buf), ext: Chunk{Buf: records, Len: int64(len(records))}})
		w.size += int64(len(records))
	}
	w.partitionTail(p)
}

// Finish ends the response, fills in its size, and returns its chunks in
// order. The chunks alias the writer's buffer: valid until the next Reset.
func (w *FetchWriter) Finish() []Chunk {
	if w.flex {
		w.buf = AppendEmptyTags(w.buf)
	}
	SetFrameSize(w.buf, len(w.buf)-4+int(w.size))
	prev := 0
	for _, m := range w.marks {
		if m.at > prev {
			w.chunks = append(w.chunks, Chunk{Buf: w.buf[prev:m.at], Len: int64(m.at - prev)})
		}
		w.chunks = append(w.chunks, m.ext)
		prev = m.at
	}
	if prev < len(w.buf) {
		w.chunks = append(w.chunks, Chunk{Buf: w.buf[prev:], Len: int64(len(w.buf) - prev)})
	}
	return w.chunks
}

// Size returns the total response size including the 4-byte size field,
// valid after Finish.
func (w *FetchWriter) Size() int64 { return int64(len(w.buf)) + w.size }
