package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// weirProcess is `weir serve` running as a child process.
type weirProcess struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// buildWeir builds cmd/weir into a temporary directory.
func buildWeir(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "weir")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/weirhq/weir/cmd/weir")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/weir: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startWeir(t *testing.T, bin, addr, dataDir string) *weirProcess {
	t.Helper()
	p := &weirProcess{stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--listen", addr, "--data", dataDir)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("weir serve exited: %v\n%s", p.cmd.ProcessState, p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("weir serve not listening on %s after 20s\n%s", addr, p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *weirProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *weirProcess) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("weir serve did not stop on SIGTERM\n%s", p.stderr)
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("weir serve exited with %v\n%s", p.cmd.ProcessState, p.stderr)
	}
}

// TestCrashAcksAll SIGKILLs `weir serve` during an acks=all idempotent
// produce stream and restarts it; the producer keeps going (kgo retries
// what was in flight). Afterwards every acknowledged record is present at
// its acknowledged offset, each partition holds the records in produce
// order, and no record is in the log twice.
func TestCrashAcksAll(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs weir serve")
	}
	bin := buildWeir(t)
	rounds := 3
	if longTests() {
		rounds = 30
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < rounds; i++ {
		killAfter := time.Duration(100+rng.IntN(900)) * time.Millisecond
		if longTests() {
			killAfter = time.Duration(50+rng.IntN(3000)) * time.Millisecond
		}
		t.Run(fmt.Sprintf("round%d-kill-after-%v", i, killAfter), func(t *testing.T) {
			crashRound(t, bin, killAfter)
		})
	}
}

type ackedRecord struct {
	partition int32
	offset    int64
}

func crashRound(t *testing.T, bin string, killAfter time.Duration) {
	dataDir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	proc := startWeir(t, bin, addr, dataDir)
	const topic = "crash"
	const parts = 4
	adm := kadm.NewClient(newClient(t, addr))
	createTopic(t, adm, topic, parts, nil)

	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond), kgo.MaxBufferedRecords(5000),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), kgo.MetadataMinAge(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	acked := map[int]ackedRecord{} // by record number
	var failed []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	produced := 0
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				produced = i
				return
			default:
			}
			wg.Add(1)
			n := i
			cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%09d", n))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, fmt.Errorf("record %d: %w", n, err))
					return
				}
				acked[n] = ackedRecord{r.Partition, r.Offset}
			})
		}
	}()

	time.Sleep(killAfter)
	mu.Lock()
	ackedAtKill := len(acked)
	mu.Unlock()
	proc.kill()
	t.Logf("killed with %d records acknowledged", ackedAtKill)
	proc = startWeir(t, bin, addr, dataDir)
	time.Sleep(300 * time.Millisecond) // keep producing after the restart
	close(stop)
	<-producerDone
	wg.Wait()
	mu.Lock()
	if len(failed) > 0 {
		t.Errorf("%d of %d records failed, first: %v", len(failed), produced, failed[0])
	}
	t.Logf("%d records produced, %d acknowledged (%d at the kill)", produced, len(acked), ackedAtKill)
	mu.Unlock()
	if len(acked) <= ackedAtKill {
		t.Errorf("no record acknowledged after the restart")
	}

	// Read every partition to its end.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	con := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	logs := map[int32][]*kgo.Record{}
	remaining := 0
	for _, e := range want {
		remaining += int(e)
	}
	for remaining > 0 {
		fs := con.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming: %v with %d records to go", ctx.Err(), remaining)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < want[r.Partition] {
				logs[r.Partition] = append(logs[r.Partition], r)
				remaining--
			}
		})
	}

	// No record twice, each partition in produce order, offsets dense.
	where := map[int]ackedRecord{}
	for p, rs := range logs {
		prev := -1
		for i, r := range rs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", p, i, r.Offset)
			}
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("partition %d offset %d: bad value %q", p, r.Offset, r.Value)
			}
			if w, dup := where[n]; dup {
				t.Fatalf("record %d is in the log twice: partition %d offset %d and partition %d offset %d", n, w.partition, w.offset, p, r.Offset)
			}
			where[n] = ackedRecord{p, r.Offset}
			if n <= prev {
				t.Fatalf("partition %d: record %d at offset %d after record %d", p, n, r.Offset, prev)
			}
			prev = n
		}
	}
	// Every acknowledged record where it was acknowledged.
	for n, a := range acked {
		if w, ok := where[n]; !ok || w != a {
			t.Fatalf("acknowledged record %d (partition %d offset %d) is %v in the log (found=%v)\nbroker log:\n%s", n, a.partition, a.offset, w, ok, tail(proc.stderr.String(), 3000))
		}
	}
	proc.stop(t)
	if err := os.RemoveAll(dataDir); err != nil {
		t.Log(err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
