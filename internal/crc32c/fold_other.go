//go:build !amd64

package crc32c

const canFold = false

func fold(state uint32, p []byte, k *foldKeys) uint32 { panic("crc32c: no vector fold") }
