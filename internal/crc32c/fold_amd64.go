package crc32c

import "golang.org/x/sys/cpu"

// canFold reports whether fold can run on this CPU.
var canFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VPCLMULQDQ

// fold returns the CRC state after p (at least 256 bytes, a multiple of
// 64), starting from state. See Update.
//
//go:noescape
func fold(state uint32, p []byte, k *foldKeys) uint32
