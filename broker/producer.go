package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirhq/weir/batch"
	"github.com/weirhq/weir/internal/vfs"
)

// Idempotent producer state, per partition, as Kafka keeps it: for each
// producer id its epoch and the metadata of its last five batches, enough
// to answer a retried batch with its original offsets and to reject gaps.
// It is rebuilt at startup from a snapshot (producer.snapshot, written at
// shutdown and periodically) plus the batches appended after it.

const (
	producerSnapshotFile = "producer.snapshot"
	cachedBatches        = 5
)

type batchMeta struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
}

type producerState struct {
	Epoch   int16       `json:"epoch"`
	Batches []batchMeta `json:"batches"` // oldest first, at most cachedBatches
}

type producerStates struct {
	m map[int64]*producerState
}

func newProducerStates() *producerStates {
	return &producerStates{m: make(map[int64]*producerState)}
}

// check validates a batch of an idempotent producer against its state. It
// returns dup=true with the original offsets for a retried batch already
// appended, or a Kafka error.
func (s *producerStates) check(pid int64, epoch int16, firstSeq, lastSeq int32) (dup bool, meta batchMeta, err error) {
	st := s.m[pid]
	if st == nil {
		if firstSeq != 0 {
			return false, meta, fmt.Errorf("%w: producer %d is unknown and its first sequence is %d", kerr.UnknownProducerID, pid, firstSeq)
		}
		return false, meta, nil
	}
	if epoch < st.Epoch {
		return false, meta, fmt.Errorf("%w: producer %d epoch %d is older than %d", kerr.InvalidProducerEpoch, pid, epoch, st.Epoch)
	}
	if epoch > st.Epoch {
		if firstSeq != 0 {
			return false, meta, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d, not 0", kerr.OutOfOrderSequenceNumber, pid, epoch, firstSeq)
		}
		return false, meta, nil
	}
	for _, b := range st.Batches {
		if b.FirstSeq == firstSeq && b.LastSeq == lastSeq {
			return true, b, nil
		}
	}
	if n := len(st.Batches); n > 0 {
		last := st.Batches[n-1].LastSeq
		want := last + 1
		if last == math.MaxInt32 {
			want = 0
		}
		if firstSeq != want {
			return false, meta, fmt.Errorf("%w: producer %d epoch %d sent sequence %d, expected %d", kerr.OutOfOrderSequenceNumber, pid, epoch, firstSeq, want)
		}
	}
	return false, meta, nil
}

// update records an appended batch.
func (s *producerStates) update(pid int64, epoch int16, m batchMeta) {
	st := s.m[pid]
	if st == nil {
		st = &producerState{Epoch: epoch, Batches: make([]batchMeta, 0, cachedBatches)}
		s.m[pid] = st
	}
	if epoch != st.Epoch {
		st.Epoch = epoch
		st.Batches = st.Batches[:0]
	}
	if len(st.Batches) == cachedBatches {
		copy(st.Batches, st.Batches[1:])
		st.Batches = st.Batches[:cachedBatches-1]
	}
	st.Batches = append(st.Batches, m)
}

// applyHeader replays an appended batch into the state (recovery).
func (s *producerStates) applyHeader(h *batch.Header) {
	if h.ProducerID < 0 || h.BaseSequence < 0 || h.IsControl() {
		return
	}
	s.update(h.ProducerID, h.ProducerEpoch, batchMeta{
		FirstSeq: h.BaseSequence, LastSeq: seqAdd(h.BaseSequence, h.LastOffsetDelta),
		FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(),
	})
}

// seqAdd adds to a sequence number with Kafka's wrap at MaxInt32.
func seqAdd(seq, delta int32) int32 {
	v := int64(seq) + int64(delta)
	if v > math.MaxInt32 {
		v -= math.MaxInt32 + 1
	}
	return int32(v)
}

type producerSnapshot struct {
	Offset    int64                    `json:"offset"` // the log end offset the state covers
	Producers map[int64]*producerState `json:"producers"`
}

// saveProducerSnapshot writes the partition's producer state, covering
// the log up to its end offset.
func (p *partition) saveProducerSnapshot() error {
	p.mu.Lock()
	snap := producerSnapshot{Offset: p.log.EndOffset(), Producers: p.producers.m}
	data, err := json.Marshal(snap)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(vfs.OS, filepath.Join(p.dir, producerSnapshotFile), data)
}

// loadProducerState restores the producer state: the snapshot, then the
// batches appended after it.
func (p *partition) loadProducerState() error {
	p.producers = newProducerStates()
	from := p.log.StartOffset()
	data, err := os.ReadFile(filepath.Join(p.dir, producerSnapshotFile))
	switch {
	case err == nil:
		var snap producerSnapshot
		if jerr := json.Unmarshal(data, &snap); jerr == nil && snap.Offset <= p.log.EndOffset() && snap.Producers != nil {
			p.producers.m = snap.Producers
			from = max(snap.Offset, from)
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	return p.log.ScanHeaders(from, func(h *batch.Header) error {
		if h.BaseOffset >= from || h.LastOffset() >= from {
			p.producers.applyHeader(h)
		}
		return nil
	})
}
