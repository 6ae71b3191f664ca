/* vk/ops.c — from tensors to dispatches. Each op walks its rows in pieces
 * that fit both one binding (caps.max_binding_bytes) and the workgroup-count
 * limit, so a 65536-row head on lavapipe (128 MiB bindings) is a few
 * dispatches and on a large GPU one. */
#define G_LOG_DOMAIN "gpu"
#include "vk/ops.h"

#include <errno.h>
#include <inttypes.h>

#include <glib.h>

#include "model/quant.h"
#include "vk/ops_internal.h"
#include "vk/push.h"

uint64_t gpu_tensor_bytes(const struct gpu_tensor *t)
{
	uint64_t rb = gpu_t_row_bytes(t), st = gpu_t_stride(t);
	if (rb == 0 || t->ne[1] == 0 || st < rb)
		return 0;
	if ((uint64_t)(t->ne[1] - 1) > (UINT64_MAX - rb) / st)
		return 0;
	return (uint64_t)(t->ne[1] - 1) * st + rb;
}

/* Bind rows [r0, r0 + nr) of t. */
static int bind_rows(struct gpu_device *dev, const struct gpu_tensor *t, uint32_t r0, uint32_t nr,
		     bool write, struct gpu_binding *b, uint32_t *elem_off)
{
	uint64_t st = gpu_t_stride(t);
	uint64_t size = (uint64_t)(nr - 1) * st + gpu_t_row_bytes(t);
	return gpu_buffer_bind(dev, t->buffer, t->offset + (uint64_t)r0 * st, size, gpu_t_unit(t),
			       write, b, elem_off);
}

/* Rows per piece so that a window of nr rows of each tensor fits a binding
 * (leaving room for the alignment step-back of gpu_buffer_bind). */
static uint32_t rows_per_piece(const struct gpu_caps *caps, const struct gpu_tensor *const *ts,
			       int n, uint32_t limit)
{
	uint64_t rows = limit;
	for (int i = 0; i < n; i++) {
		uint64_t slack = (uint64_t)caps->storage_align * gpu_t_unit(ts[i]);
		uint64_t room = caps->max_binding_bytes > slack ? caps->max_binding_bytes - slack : 0;
		rows = MIN(rows, room / gpu_t_stride(ts[i]));
	}
	return (uint32_t)rows;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Round a piece down so that every piece starts at an aligned byte offset
 * for each stride given (when that is possible at all): the windows then
 * need no step-back and neighbouring pieces do not overlap, so the recorder
 * puts no barrier between them. */
static uint32_t align_piece(const struct gpu_caps *caps, uint32_t piece, const uint64_t *strides,
			    int n)
{
	uint64_t align = caps->storage_align ? caps->storage_align : 1, m = 1;
	for (int i = 0; i < n; i++) {
		uint64_t q = align / gcd_u64(align, strides[i]);
		m = m / gcd_u64(m, q) * q;
	}
	return piece >= m ? (uint32_t)(piece / m * m) : piece;
}

static int too_big(const char *label)
{
	g_warning("%s: one row does not fit a binding", label);
	return -E2BIG;
}

int gpu_op_mul_mat_vec(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *w,
		       const struct gpu_tensor *x, const struct gpu_tensor *y)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl;
	int ret = gpu_pipelines_mmv(gpu_recorder_pipelines(rec), w->type, x->ne[1], false, &pl);
	if (ret < 0)
		return ret;
	if ((ret = gpu_t_check(label, "W", w, -1)) < 0 ||
	    (ret = gpu_t_check(label, "x", x, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "y", y, TENSOR_F32)) < 0)
		return ret;
	if (x->ne[0] != w->ne[0] || y->ne[0] != w->ne[1] || y->ne[1] != x->ne[1]) {
		g_warning("%s: W [%u, %u] * x [%u, %u] cannot give y [%u, %u]", label, w->ne[0],
			  w->ne[1], x->ne[0], x->ne[1], y->ne[0], y->ne[1]);
		return -EINVAL;
	}
	uint32_t n = x->ne[1], cols = gpu_pipeline_cols(pl), rows = gpu_pipeline_mmv_rows(pl, w->ne[0]);
	uint32_t groups_y = (n + cols - 1) / cols;
	if (groups_y > caps->max_wg_count[1]) {
		g_warning("%s: %u vectors are more than one dispatch takes", label, n);
		return -EINVAL;
	}
	/* x is bound whole; W goes in pieces of rows, and y in the matching
	 * window: elements [r0, r0 + nr) of each output vector (for one vector
	 * the pieces are disjoint and need no barrier between them). */
	struct gpu_binding b[3];
	uint32_t x_off, y_off, w_off;
	if ((ret = bind_rows(dev, x, 0, n, false, &b[1], &x_off)) < 0)
		return ret == -E2BIG ? too_big(label) : ret;
	const struct gpu_tensor *ts[] = { w };
	uint32_t piece = rows_per_piece(caps, ts, 1, caps->max_wg_count[0]);
	if (piece == 0)
		return too_big(label);
	if (piece < w->ne[1]) {
		uint64_t strides[] = { gpu_t_stride(w), 4 };
		piece = align_piece(caps, piece, strides, 2);
	}
	uint32_t unit = gpu_t_unit(w);
	for (uint32_t r0 = 0; r0 < w->ne[1]; r0 += piece) {
		uint32_t nr = MIN(piece, w->ne[1] - r0);
		if ((ret = bind_rows(dev, w, r0, nr, false, &b[0], &w_off)) < 0)
			return ret;
		uint64_t y_size = (uint64_t)(n - 1) * gpu_t_stride(y) + (uint64_t)nr * 4;
		ret = gpu_buffer_bind(dev, y->buffer, y->offset + (uint64_t)r0 * 4, y_size, 4, true,
				      &b[2], &y_off);
		if (ret < 0)
			return ret == -E2BIG ? too_big(label) : ret;
		struct gpu_push_mul_mat_vec pc = {
			.ne0 = w->ne[0],
			.nrows = nr,
			.ncols = n,
			.w_off = w_off,
			.w_stride = (uint32_t)(gpu_t_stride(w) / unit),
			.x_off = x_off,
			.x_stride = (uint32_t)(gpu_t_stride(x) / 4),
			.y_off = y_off,
			.y_stride = (uint32_t)(gpu_t_stride(y) / 4),
		};
		ret = gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, (nr + rows - 1) / rows,
					    groups_y, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int gpu_op_rms_norm(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *x,
		    const struct gpu_tensor *weight, float eps, const struct gpu_tensor *y)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl = gpu_pipelines_get(gpu_recorder_pipelines(rec),
							  GPU_PIPE_RMS_NORM_F32);
	int ret;
	if ((ret = gpu_t_check(label, "x", x, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "weight", weight, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "y", y, TENSOR_F32)) < 0)
		return ret;
	if (weight->ne[0] != x->ne[0] || y->ne[0] != x->ne[0] || y->ne[1] != x->ne[1]) {
		g_warning("%s: rms_norm of x [%u, %u] with weight [%u] into y [%u, %u]", label,
			  x->ne[0], x->ne[1], weight->ne[0], y->ne[0], y->ne[1]);
		return -EINVAL;
	}
	struct gpu_binding b[3];
	uint32_t w_off, x_off, y_off;
	if ((ret = bind_rows(dev, weight, 0, 1, false, &b[1], &w_off)) < 0)
		return ret;
	const struct gpu_tensor *ts[] = { x, y };
	uint32_t piece = rows_per_piece(caps, ts, 2, caps->max_wg_count[0]);
	if (piece == 0)
		return too_big(label);
	if (piece < x->ne[1]) {
		uint64_t strides[] = { gpu_t_stride(x), gpu_t_stride(y) };
		piece = align_piece(caps, piece, strides, 2);
	}
	for (uint32_t r0 = 0; r0 < x->ne[1]; r0 += piece) {
		uint32_t nr = MIN(piece, x->ne[1] - r0);
		if ((ret = bind_rows(dev, x, r0, nr, false, &b[0], &x_off)) < 0 ||
		    (ret = bind_rows(dev, y, r0, nr, true, &b[2], &y_off)) < 0)
			return ret;
		struct gpu_push_rms_norm pc = {
			.ne0 = x->ne[0],
			.nrows = nr,
			.x_off = x_off,
			.x_stride = (uint32_t)(gpu_t_stride(x) / 4),
			.w_off = w_off,
			.y_off = y_off,
			.y_stride = (uint32_t)(gpu_t_stride(y) / 4),
			.eps = eps,
		};
		ret = gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, nr, 1, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int gpu_op_add(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *a,
	       const struct gpu_tensor *bt, const struct gpu_tensor *c)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl = gpu_pipelines_get(gpu_recorder_pipelines(rec),
							  GPU_PIPE_ADD_F32);
	int ret;
	if ((ret = gpu_t_check(label, "a", a, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "b", bt, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "c", c, TENSOR_F32)) < 0)
		return ret;
	bool broadcast = bt->ne[1] == 1 && a->ne[1] != 1;
	if (bt->ne[0] != a->ne[0] || c->ne[0] != a->ne[0] || c->ne[1] != a->ne[1] ||
	    (!broadcast && bt->ne[1] != a->ne[1])) {
		g_warning("%s: add of a [%u, %u] and b [%u, %u] into c [%u, %u]", label, a->ne[0],
			  a->ne[1], bt->ne[0], bt->ne[1], c->ne[0], c->ne[1]);
		return -EINVAL;
	}
	uint32_t wg = gpu_pipeline_wg_size(pl);
	uint32_t groups_x = (a->ne[0] + wg - 1) / wg;
	if (groups_x > caps->max_wg_count[0]) {
		g_warning("%s: rows of %u elements are too long for one dispatch", label, a->ne[0]);
		return -EINVAL;
	}
	const struct gpu_tensor *ts[] = { a, bt, c };
	uint32_t piece = rows_per_piece(caps, ts, broadcast ? 1 : 3, caps->max_wg_count[1]);
	if (broadcast)
		piece = MIN(piece, rows_per_piece(caps, ts + 2, 1, caps->max_wg_count[1]));
	if (piece == 0)
		return too_big(label);
	if (piece < a->ne[1]) {
		uint64_t strides[] = { gpu_t_stride(a), broadcast ? 4 : gpu_t_stride(bt), gpu_t_stride(c) };
		piece = align_piece(caps, piece, strides, 3);
	}
	struct gpu_binding b[3];
	uint32_t a_off, b_off, c_off;
	for (uint32_t r0 = 0; r0 < a->ne[1]; r0 += piece) {
		uint32_t nr = MIN(piece, a->ne[1] - r0);
		if ((ret = bind_rows(dev, a, r0, nr, false, &b[0], &a_off)) < 0 ||
		    (ret = bind_rows(dev, bt, broadcast ? 0 : r0, broadcast ? 1 : nr, false, &b[1],
				     &b_off)) < 0 ||
		    (ret = bind_rows(dev, c, r0, nr, true, &b[2], &c_off)) < 0)
			return ret;
		struct gpu_push_add pc = {
			.ne0 = a->ne[0],
			.nrows = nr,
			.a_off = a_off,
			.a_stride = (uint32_t)(gpu_t_stride(a) / 4),
			.b_off = b_off,
			.b_stride = broadcast ? 0 : (uint32_t)(gpu_t_stride(bt) / 4),
			.c_off = c_off,
			.c_stride = (uint32_t)(gpu_t_stride(c) / 4),
		};
		ret = gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, groups_x, nr, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}
