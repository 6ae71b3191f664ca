/* vk/ops.h — the typed op interface the model graphs are written against.
 *
 * A graph (vk/lfm2-*.c, later) says which op runs on which tensors in what
 * order; how an op is dispatched (pipeline choice, binding windows, pieces
 * for tensors larger than one binding, push constants, workgroup counts)
 * lives here. A CPU backend can offer the same calls.
 *
 * Every op records into a gpu_recorder between begin and submit; nothing
 * runs until submit. Shapes follow ggml: ne[0] is the contiguous dimension
 * (elements per row), ne[1] the number of rows. Returns 0, -EINVAL (types,
 * shapes or ranges that do not fit; logged with the label), -ENOTSUP (no
 * pipeline for the types), -E2BIG (one row larger than a binding), -ENOSPC
 * (recorder full).
 */
#ifndef CAPTIOND_VK_OPS_H
#define CAPTIOND_VK_OPS_H

#include <stdint.h>

#include "vk/buffer.h"
#include "vk/recorder.h"

struct gpu_tensor {
	struct gpu_buffer *buffer;
	uint64_t offset;     /* bytes from the start of buffer to row 0 */
	uint32_t type;       /* enum tensor_type (model/quant.h) */
	uint32_t ne[2];      /* [elements per row, rows] */
	uint64_t row_stride; /* bytes between rows; 0: rows are contiguous */
};

/* Bytes from row 0 to the end of the last row; 0 for a bad type or shape. */
uint64_t gpu_tensor_bytes(const struct gpu_tensor *t);

/* y = W·x for each of the ne[1] vectors of x.
 * W: [K, M] any type with a mul_mat_vec pipeline; x: F32 [K, n]; y: F32 [M, n]. */
int gpu_op_mul_mat_vec(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *w,
		       const struct gpu_tensor *x, const struct gpu_tensor *y);

/* y = x / sqrt(mean(x^2) + eps) * weight, per row.
 * x, y: F32 [K, n] (y may be x); weight: F32 [K, 1]. */
int gpu_op_rms_norm(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *x,
		    const struct gpu_tensor *weight, float eps, const struct gpu_tensor *y);

/* c = a + b. a, c: F32 [K, n] (c may be a); b: F32 [K, n] or [K, 1] (added
 * to every row). */
int gpu_op_add(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *a,
	       const struct gpu_tensor *b, const struct gpu_tensor *c);

#endif
