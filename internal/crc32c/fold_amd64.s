#include "textflag.h"

// func fold(state uint32, p []byte, k *foldKeys) uint32
//
// Requires AVX512F, AVX512VL and VPCLMULQDQ; len(p) >= 256 and a multiple
// of 64. Four 512-bit accumulators (Z0-Z3) each hold four 16-byte blocks;
// every round folds them 256 bytes forward and adds the next 256 bytes
// (VPTERNLOGD $0x96 is a three-way xor). The four accumulators are then
// folded into Z3, the remaining 64-byte lanes into Z3, and Z3's four
// blocks into one, whose CRC (CRC32Q from a zero state) is the result.
TEXT ·fold(SB), NOSPLIT, $0-44
	MOVL state+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ k+32(FP), DX

	VBROADCASTI32X4 0(DX), Z10  // k256
	VBROADCASTI32X4 16(DX), Z11 // k64
	VMOVDQU         32(DX), X12 // k16

	VMOVQ     AX, X4
	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VPXORQ    Z4, Z0, Z0
	ADDQ      $256, SI
	SUBQ      $256, CX

loop256:
	CMPQ       CX, $256
	JB         fold4
	VPCLMULQDQ $0x00, Z10, Z0, Z4
	VPCLMULQDQ $0x11, Z10, Z0, Z0
	VPTERNLOGD $0x96, 0(SI), Z4, Z0
	VPCLMULQDQ $0x00, Z10, Z1, Z5
	VPCLMULQDQ $0x11, Z10, Z1, Z1
	VPTERNLOGD $0x96, 64(SI), Z5, Z1
	VPCLMULQDQ $0x00, Z10, Z2, Z6
	VPCLMULQDQ $0x11, Z10, Z2, Z2
	VPTERNLOGD $0x96, 128(SI), Z6, Z2
	VPCLMULQDQ $0x00, Z10, Z3, Z7
	VPCLMULQDQ $0x11, Z10, Z3, Z3
	VPTERNLOGD $0x96, 192(SI), Z7, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JMP        loop256

fold4:
	// Z1 += Z0 moved 64 bytes; Z2 += Z1 moved; Z3 += Z2 moved.
	VPCLMULQDQ $0x00, Z11, Z0, Z4
	VPCLMULQDQ $0x11, Z11, Z0, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z1
	VPCLMULQDQ $0x00, Z11, Z1, Z4
	VPCLMULQDQ $0x11, Z11, Z1, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z2
	VPCLMULQDQ $0x00, Z11, Z2, Z4
	VPCLMULQDQ $0x11, Z11, Z2, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z3

loop64:
	CMPQ       CX, $64
	JB         fold1
	VPCLMULQDQ $0x00, Z11, Z3, Z4
	VPCLMULQDQ $0x11, Z11, Z3, Z3
	VPTERNLOGD $0x96, 0(SI), Z4, Z3
	ADDQ       $64, SI
	SUBQ       $64, CX
	JMP        loop64

fold1:
	// The four 16-byte blocks of Z3, first to last.
	VEXTRACTI32X4 $1, Z3, X5
	VEXTRACTI32X4 $2, Z3, X6
	VEXTRACTI32X4 $3, Z3, X7
	VPCLMULQDQ    $0x00, X12, X3, X4
	VPCLMULQDQ    $0x11, X12, X3, X3
	VPTERNLOGD    $0x96, X4, X5, X3
	VPCLMULQDQ    $0x00, X12, X3, X4
	VPCLMULQDQ    $0x11, X12, X3, X3
	VPTERNLOGD    $0x96, X4, X6, X3
	VPCLMULQDQ    $0x00, X12, X3, X4
	VPCLMULQDQ    $0x11, X12, X3, X3
	VPTERNLOGD    $0x96, X4, X7, X3
	VMOVQ         X3, AX
	VPEXTRQ       $1, X3, BX
	XORL          R8, R8
	CRC32Q        AX, R8
	CRC32Q        BX, R8
	MOVL          R8, ret+40(FP)
	VZEROUPPER
	RET
