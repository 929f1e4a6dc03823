package broker

// InitProducerId (API key 22), versions 0-5.
//
// Idempotent producers (no transactional id) always get a new producer id
// with epoch 0, as Kafka gives them. Producer ids are allocated in blocks
// whose upper bound is made durable (producer-ids file) before any id of
// the block is handed out, so ids are never reused across restarts.
// Transactional ids need the transaction coordinator, which Weir does not
// have yet: TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a non-retriable error,
// so clients fail fast instead of retrying forever.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirhq/weir/internal/vfs"
)

func init() {
	register(22, 0, 5, (*Broker).handleInitProducerID)
}

const (
	producerIDsFile  = "producer-ids"
	producerIDsBlock = 1000
)

// producerIDs allocates producer ids durably.
type producerIDs struct {
	mu    sync.Mutex
	path  string
	next  int64
	limit int64 // ids below limit are reserved durably
}

func (p *producerIDs) load(dataDir string) error {
	p.path = filepath.Join(dataDir, producerIDsFile)
	data, err := os.ReadFile(p.path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if err == nil {
		n, perr := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if perr != nil || n < 0 {
			return fmt.Errorf("broker: %s: bad content %q", p.path, data)
		}
		p.next, p.limit = n, n
	}
	return nil
}

func (p *producerIDs) allocate() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.limit {
		limit := p.next + producerIDsBlock
		if err := vfs.WriteFileAtomic(vfs.OS, p.path, []byte(strconv.FormatInt(limit, 10)+"\n")); err != nil {
			return -1, err
		}
		p.limit = limit
	}
	id := p.next
	p.next++
	return id, nil
}

func (b *Broker) handleInitProducerID(cs *conn, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	id, err := b.producer.allocate()
	if err != nil {
		b.log.Error("allocating producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
