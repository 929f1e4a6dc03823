package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weirhq/weir/internal/vfs"
)

// CheckpointFile is the name of the per-partition state file. It is
// replaced atomically (temporary file, fsync, rename, directory fsync).
//
// Text format, one "key value" per line:
//
//	weir-log 1
//	clean 0|1              1 only after a clean Close
//	recovery-point N       every segment with a base below N is sealed and fsynced
//	log-start-offset N     the log start offset (DeleteRecordsBefore)
//	boot-id ID             the machine boot that last opened the log for writing
const CheckpointFile = "weir-log.checkpoint"

type checkpoint struct {
	clean          bool
	recoveryPoint  int64
	logStartOffset int64
	bootID         string
}

func (c checkpoint) encode() []byte {
	var b bytes.Buffer
	clean := 0
	if c.clean {
		clean = 1
	}
	fmt.Fprintf(&b, "weir-log 1\nclean %d\nrecovery-point %d\nlog-start-offset %d\nboot-id %s\n",
		clean, c.recoveryPoint, c.logStartOffset, c.bootID)
	return b.Bytes()
}

func readCheckpoint(fs vfs.FS, dir string) (checkpoint, bool, error) {
	path := filepath.Join(dir, CheckpointFile)
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return checkpoint{}, false, err
	}
	data := make([]byte, min(size, 4096))
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		return checkpoint{}, false, err
	}
	var c checkpoint
	sc := bufio.NewScanner(bytes.NewReader(data))
	seen := 0
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		var perr error
		switch k {
		case "weir-log":
			if v != "1" {
				return c, false, fmt.Errorf("log: %s: unknown version %q", path, v)
			}
			seen++
		case "clean":
			c.clean = v == "1"
		case "recovery-point":
			c.recoveryPoint, perr = strconv.ParseInt(v, 10, 64)
		case "log-start-offset":
			c.logStartOffset, perr = strconv.ParseInt(v, 10, 64)
		case "boot-id":
			c.bootID = v
		}
		if perr != nil {
			return c, false, fmt.Errorf("log: %s: bad %s: %w", path, k, perr)
		}
	}
	if seen == 0 {
		return c, false, fmt.Errorf("log: %s: not a checkpoint file", path)
	}
	return c, true, nil
}

func writeCheckpoint(fs vfs.FS, dir string, c checkpoint) error {
	return vfs.WriteFileAtomic(fs, filepath.Join(dir, CheckpointFile), c.encode())
}

func systemBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
