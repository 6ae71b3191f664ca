/* model/quant.h — tensor element types of GGUF files and their block layouts.
 *
 * Type ids are the ggml ids stored in GGUF tensor infos (spec §2.1). Blocks run
 * along ne0; a row of ne0 elements is ne0/block_elems consecutive blocks. The
 * block structs below are the on-disk layouts; the GLSL shaders mirror them
 * field by field (shaders/types.glsl), so keep the two in step.
 *
 * Every function here is pure and thread-safe. Nothing allocates.
 */
#ifndef CAPTIOND_MODEL_QUANT_H
#define CAPTIOND_MODEL_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tensor_type {
	TENSOR_F32 = 0,
	TENSOR_F16 = 1,
	TENSOR_Q4_0 = 2,
	TENSOR_Q4_1 = 3,
	TENSOR_Q5_0 = 6,
	TENSOR_Q5_1 = 7,
	TENSOR_Q8_0 = 8,
	TENSOR_Q2_K = 10,
	TENSOR_Q3_K = 11,
	TENSOR_Q4_K = 12,
	TENSOR_Q5_K = 13,
	TENSOR_Q6_K = 14,
	TENSOR_BF16 = 30,
};

#define QK4_0 32
#define QK8_0 32
#define QK_K 256

/* f16 fields are raw IEEE binary16 bits. */
struct block_q4_0 {
	uint16_t d;
	uint8_t qs[QK4_0 / 2]; /* low nibbles: elements 0..15, high: 16..31 */
};
struct block_q4_1 {
	uint16_t d;
	uint16_t m;
	uint8_t qs[16];
};
struct block_q5_0 {
	uint16_t d;
	uint8_t qh[4]; /* bit 4 of each element, read as u32 little-endian */
	uint8_t qs[16];
};
struct block_q5_1 {
	uint16_t d;
	uint16_t m;
	uint8_t qh[4];
	uint8_t qs[16];
};
struct block_q8_0 {
	uint16_t d;
	int8_t qs[QK8_0];
};
struct block_q2_K {
	uint8_t scales[16];
	uint8_t qs[64];
	uint16_t d;
	uint16_t dmin;
};
struct block_q3_K {
	uint8_t hmask[32];
	uint8_t qs[64];
	uint8_t scales[12];
	uint16_t d;
};
struct block_q4_K {
	uint16_t d;
	uint16_t dmin;
	uint8_t scales[12];
	uint8_t qs[128];
};
struct block_q5_K {
	uint16_t d;
	uint16_t dmin;
	uint8_t scales[12];
	uint8_t qh[32];
	uint8_t qs[128];
};
struct block_q6_K {
	uint8_t ql[128];
	uint8_t qh[64];
	int8_t scales[16];
	uint16_t d;
};

_Static_assert(sizeof(struct block_q4_0) == 18, "q4_0 block layout");
_Static_assert(sizeof(struct block_q4_1) == 20, "q4_1 block layout");
_Static_assert(sizeof(struct block_q5_0) == 22, "q5_0 block layout");
_Static_assert(sizeof(struct block_q5_1) == 24, "q5_1 block layout");
_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0 block layout");
_Static_assert(sizeof(struct block_q2_K) == 84, "q2_K block layout");
_Static_assert(sizeof(struct block_q3_K) == 110, "q3_K block layout");
_Static_assert(sizeof(struct block_q4_K) == 144, "q4_K block layout");
_Static_assert(sizeof(struct block_q5_K) == 176, "q5_K block layout");
_Static_assert(sizeof(struct block_q6_K) == 210, "q6_K block layout");

struct tensor_type_info {
	const char *name;      /* "Q4_0", as llama.cpp prints it */
	uint32_t block_elems;  /* elements per block (1 for F32/F16/BF16) */
	uint32_t block_bytes;  /* bytes per block */
};

/* Layout of a type id read from a file; NULL for ids this project does not know. */
const struct tensor_type_info *tensor_type_info(uint32_t type);

/* Bytes of one row of ne0 elements. Returns 0 or -EINVAL when the type is
 * unknown or ne0 is not a multiple of its block size. */
int tensor_row_bytes(uint32_t type, uint64_t ne0, uint64_t *bytes);

float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f); /* round to nearest even, like ggml's reference */
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f); /* round to nearest even; NaN kept quiet */

/* Dequantize n elements (a multiple of the block size) starting at a block
 * boundary, exactly as llama.cpp's reference dequantize_row_* (spec §2).
 * Returns 0 or -EINVAL for an unknown type or a bad n. */
int dequantize_row(uint32_t type, const void *src, float *dst, uint64_t n);

/* Quantize n elements with the reference (non-imatrix) quantizers of
 * llama.cpp, so that generated test models carry realistic blocks.
 * Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
 * Returns 0, -ENOTSUP (Q2_K, Q3_K) or -EINVAL (unknown type, bad n). */
int quantize_row(uint32_t type, const float *src, void *dst, uint64_t n);

#endif
