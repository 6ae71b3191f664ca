/* vk/ops_internal.h — tensor helpers shared by the op files (ops_matmul.c,
 * ops_vision.c, ops_lm.c): sizes, checks and binding windows of struct gpu_tensor.
 * Internal to vk/; the same rules as vk/ops.c. */
#ifndef CAPTIOND_VK_OPS_INTERNAL_H
#define CAPTIOND_VK_OPS_INTERNAL_H

#include <errno.h>
#include <inttypes.h>

#include <glib.h>

#include "model/quant.h"
#include "vk/ops.h"

static inline uint64_t gpu_t_row_bytes(const struct gpu_tensor *t)
{
	uint64_t b = 0;
	return tensor_row_bytes(t->type, t->ne[0], &b) == 0 ? b : 0;
}

static inline uint64_t gpu_t_stride(const struct gpu_tensor *t)
{
	return t->row_stride ? t->row_stride : gpu_t_row_bytes(t);
}

static inline uint32_t gpu_t_unit(const struct gpu_tensor *t)
{
	const struct tensor_type_info *ti = tensor_type_info(t->type);
	return ti ? ti->block_bytes : 0;
}

/* Known type, rows within the stride, stride in whole units, all of it
 * inside the buffer; want_type < 0 accepts any type. */
static inline int gpu_t_check(const char *label, const char *what, const struct gpu_tensor *t,
			      int want_type)
{
	uint64_t bytes = gpu_tensor_bytes(t);
	uint32_t unit = gpu_t_unit(t);
	if (!t->buffer || bytes == 0 || unit == 0 || gpu_t_stride(t) % unit != 0 ||
	    gpu_t_stride(t) / unit > UINT32_MAX || /* strides travel as u32 units */
	    (want_type >= 0 && t->type != (uint32_t)want_type) ||
	    t->offset > gpu_buffer_size(t->buffer) || bytes > gpu_buffer_size(t->buffer) - t->offset) {
		const struct tensor_type_info *ti = tensor_type_info(t->type);
		g_warning("%s: tensor %s (%s [%u, %u] at %" PRIu64 ") is not usable here", label, what,
			  ti ? ti->name : "?", t->ne[0], t->ne[1], t->offset);
		return -EINVAL;
	}
	return 0;
}

/* Bind elements [e0, e0 + ne) of each of rows [r0, r0 + nr) of t (whole
 * rows: e0 = 0, ne = ne[0]); e0 and ne count units for quantized types. */
static inline int gpu_t_bind(struct gpu_device *dev, const struct gpu_tensor *t, uint32_t r0,
			     uint32_t nr, uint64_t e0_bytes, uint64_t row_bytes, bool write,
			     struct gpu_binding *b, uint32_t *elem_off)
{
	uint64_t st = gpu_t_stride(t);
	uint64_t size = (uint64_t)(nr - 1) * st + row_bytes;
	return gpu_buffer_bind(dev, t->buffer, t->offset + (uint64_t)r0 * st + e0_bytes, size,
			       gpu_t_unit(t), write, b, elem_off);
}

static inline uint64_t gpu_t_gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Round piece down so each piece starts aligned for every stride given. */
static inline uint32_t gpu_t_align_piece(const struct gpu_caps *caps, uint32_t piece,
					 const uint64_t *strides, int n)
{
	uint64_t align = caps->storage_align ? caps->storage_align : 1, m = 1;
	for (int i = 0; i < n; i++) {
		uint64_t q = align / gpu_t_gcd(align, strides[i]);
		m = m / gpu_t_gcd(m, q) * q;
	}
	return piece >= m ? (uint32_t)(piece / m * m) : piece;
}

/* Bytes a binding may span once gpu_buffer_bind steps back to alignment. */
static inline uint64_t gpu_t_room(const struct gpu_caps *caps, uint32_t unit)
{
	uint64_t slack = (uint64_t)caps->storage_align * unit;
	return caps->max_binding_bytes > slack ? caps->max_binding_bytes - slack : 0;
}

#endif
