package broker

import "sync"

// Appends of a Produce request to many partitions are split between the
// event loop that decoded the request and an append worker, so that a
// request spreading records thin over hundreds of partitions (one write
// system call each) is not served by one core while the other idles.
// Requests below parallelAppendMin partitions append on the event loop
// alone: handing work to another goroutine costs a wake-up, more than a
// few appends take.
const parallelAppendMin = 64

// appendJob is the share of one request's appends given to a worker.
type appendJob struct {
	b     *Broker
	now   int64
	parts []*producePartResult
	wg    sync.WaitGroup
}

func (j *appendJob) run() {
	for _, pr := range j.parts {
		j.b.appendPartition(pr.p, pr.t, pr.records, j.now, pr)
	}
}

// appendWorkers runs appendJobs until the broker closes; it has no
// goroutines on one core.
type appendWorkers struct {
	jobs chan *appendJob
	wg   sync.WaitGroup
}

func (w *appendWorkers) start(n int, done <-chan struct{}) {
	if n <= 0 {
		return
	}
	w.jobs = make(chan *appendJob)
	for range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case j := <-w.jobs:
					j.run()
					j.wg.Done()
				case <-done:
					return
				}
			}
		}()
	}
}

// appendAll appends every resolved partition of the request (pr.p set, no
// error yet). With workers and enough partitions, the partitions with odd
// index go to a worker while the loop appends the rest; a partition named
// twice in one request stays with one goroutine, in request order.
func (b *Broker) appendAll(ctx *produceCtx, now int64) {
	job := &ctx.half
	job.b, job.now, job.parts = b, now, job.parts[:0]
	n := 0
	for i := range ctx.topics {
		for j := range ctx.topics[i].parts {
			if pr := &ctx.topics[i].parts[j]; pr.p != nil && pr.err == 0 {
				n++
				if pr.p.index&1 == 1 {
					job.parts = append(job.parts, pr)
				}
			}
		}
	}
	parallel := n >= parallelAppendMin && b.appenders.jobs != nil
	if parallel {
		job.wg.Add(1)
		select {
		case b.appenders.jobs <- job:
		case <-b.done: // closing: the workers are gone
			job.run()
			job.wg.Done()
		}
	}
	for i := range ctx.topics {
		for j := range ctx.topics[i].parts {
			// Parity first: the worker writes the odd ones' results.
			if pr := &ctx.topics[i].parts[j]; pr.p != nil && (!parallel || pr.p.index&1 == 0) && pr.err == 0 {
				b.appendPartition(pr.p, pr.t, pr.records, now, pr)
			}
		}
	}
	if parallel {
		job.wg.Wait()
	}
	clear(job.parts)
	job.parts, job.b = job.parts[:0], nil
}
