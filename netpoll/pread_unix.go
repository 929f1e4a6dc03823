//go:build unix

package netpoll

import "golang.org/x/sys/unix"

// pread reads from fd at off, retrying EINTR.
func pread(fd int, b []byte, off int64) (int, error) {
	for {
		n, err := unix.Pread(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
