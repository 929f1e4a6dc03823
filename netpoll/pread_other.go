//go:build !unix

package netpoll

import "errors"

func pread(fd int, b []byte, off int64) (int, error) {
	return 0, errors.New("netpoll: file parts need a Unix system")
}
