package broker

import (
	"sync"
	"sync/atomic"

	"github.com/weirhq/weir/log"
)

// partition is one partition of a topic: its log, idempotent producer
// state, and the fetches waiting for its high watermark to move.
type partition struct {
	topic atomic.Pointer[topic]
	index int32
	dir   string
	log   *log.Log
	// hwIsLEO: with the interval flush policy the high watermark is the
	// log end offset (Kafka's behaviour); otherwise it is the durable
	// offset, so consumers never see a record a crash could take back.
	hwIsLEO bool

	// mu serializes produce to this partition: the idempotence check and
	// the append happen atomically. It guards producers.
	mu        sync.Mutex
	producers *producerStates

	wmu     sync.Mutex // guards waiters and spare
	waiters []fetchWaiter
	spare   []fetchWaiter
}

// fetchWaiter is a delayed fetch registered for one use (generation) of
// its pooled context.
type fetchWaiter struct {
	d   *delayedFetch
	gen uint64
}

// highWatermark is the offset up to which consumers may read.
func (p *partition) highWatermark() int64 {
	if p.hwIsLEO {
		return p.log.EndOffset()
	}
	return p.log.DurableOffset()
}

// watch registers a delayed fetch to be woken when the high watermark
// moves.
func (p *partition) watch(d *delayedFetch, gen uint64) {
	p.wmu.Lock()
	p.waiters = append(p.waiters, fetchWaiter{d, gen})
	p.wmu.Unlock()
}

// unwatch removes a delayed fetch.
func (p *partition) unwatch(d *delayedFetch) {
	p.wmu.Lock()
	for i, w := range p.waiters {
		if w.d == d {
			last := len(p.waiters) - 1
			p.waiters[i] = p.waiters[last]
			p.waiters[last] = fetchWaiter{}
			p.waiters = p.waiters[:last]
			break
		}
	}
	p.wmu.Unlock()
}

// wake tells every waiting fetch that the high watermark moved.
func (p *partition) wake() {
	p.wmu.Lock()
	if len(p.waiters) == 0 {
		p.wmu.Unlock()
		return
	}
	ws := p.waiters
	p.waiters, p.spare = p.spare, nil // reuse arrays: no allocation per wake
	p.wmu.Unlock()
	for _, w := range ws {
		w.d.poke(w.gen)
	}
	clear(ws)
	p.wmu.Lock()
	if p.spare == nil {
		p.spare = ws[:0]
	}
	p.wmu.Unlock()
}

// close snapshots the producer state and closes the log.
func (p *partition) close() error {
	err := p.saveProducerSnapshot()
	if cerr := p.log.Close(); err == nil {
		err = cerr
	}
	return err
}
