/* vk/ops_matmul.c — gpu_op_mul_mat: kernel choice, binding windows, pieces.
 *
 * The output is walked in rectangles (rows of W × rows of X) that fit one
 * binding each for W, X, Y and R and the workgroup-count limits; on an H100
 * every model shape is one dispatch, on lavapipe (128 MiB bindings) too
 * except heads of 65536 rows in F32. */
#define G_LOG_DOMAIN "gpu"
#include "vk/ops_matmul.h"

#include "vk/ops_internal.h"
#include "vk/push.h"

/* Output tile of one workgroup (shaders/mul_mat.comp, mul_mat_cm.comp). */
#define TILE_TILED 64
#define TILE_CM 128
/* mul_mat_cm.comp's MM_NARROW push flag: 128 rows of X × 64 of W per
 * workgroup, taken when 128 × 128 tiles would give fewer workgroups than
 * CM_FILL (two per SM of a 132-SM H100/H200; prefill and the vision
 * projections at 1024 patches are such grids). */
#define MM_NARROW 16u
#define CM_FILL 264u

static int pipe_ids(uint32_t wtype, enum gpu_pipe_id *tiled, enum gpu_pipe_id *cm)
{
	switch (wtype) {
	case TENSOR_F32: *tiled = GPU_PIPE_MUL_MAT_F32_F32; *cm = GPU_PIPE_MUL_MAT_CM_F32_F32; break;
	case TENSOR_F16: *tiled = GPU_PIPE_MUL_MAT_F16_F32; *cm = GPU_PIPE_MUL_MAT_CM_F16_F32; break;
	case TENSOR_BF16: *tiled = GPU_PIPE_MUL_MAT_BF16_F32; *cm = GPU_PIPE_MUL_MAT_CM_BF16_F32; break;
	case TENSOR_Q8_0: *tiled = GPU_PIPE_MUL_MAT_Q8_0_F32; *cm = GPU_PIPE_MUL_MAT_CM_Q8_0_F32; break;
	case TENSOR_Q4_0: *tiled = GPU_PIPE_MUL_MAT_Q4_0_F32; *cm = GPU_PIPE_MUL_MAT_CM_Q4_0_F32; break;
	case TENSOR_Q6_K: *tiled = GPU_PIPE_MUL_MAT_Q6_K_F32; *cm = GPU_PIPE_MUL_MAT_CM_Q6_K_F32; break;
	default: return -ENOTSUP;
	}
	return 0;
}

bool gpu_mul_mat_uses_coopmat(const struct gpu_recorder *rec)
{
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(gpu_recorder_pipelines(rec), GPU_PIPE_MUL_MAT_CM_F32_F32);
	return gpu_pipeline_vk(pl) != VK_NULL_HANDLE;
}

static int bad_shape(const char *label, const char *what)
{
	g_warning("%s: mul_mat %s", label, what);
	return -EINVAL;
}

int gpu_op_mul_mat(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *w,
		   const struct gpu_tensor *x, const struct gpu_tensor *y,
		   const struct gpu_mul_mat_epilogue *ep)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipelines *pipes = gpu_recorder_pipelines(rec);
	const struct gpu_tensor *bias = ep ? ep->bias : NULL, *res = ep ? ep->residual : NULL;
	enum gpu_act act = ep ? ep->act : GPU_ACT_NONE;
	enum gpu_pipe_id tiled_id, cm_id;
	int ret;

	if (pipe_ids(w->type, &tiled_id, &cm_id) < 0) {
		const struct tensor_type_info *ti = tensor_type_info(w->type);
		g_warning("%s: mul_mat: no pipeline for weights %s x F32", label,
			  ti ? ti->name : "(unknown type)");
		return -ENOTSUP;
	}
	const struct gpu_pipeline *pl = gpu_pipelines_get(pipes, cm_id);
	uint32_t tile = TILE_CM, tile_m = TILE_CM;
	if (gpu_pipeline_vk(pl) == VK_NULL_HANDLE) {
		pl = gpu_pipelines_get(pipes, tiled_id);
		tile = tile_m = TILE_TILED;
	}
	if ((ret = gpu_t_check(label, "W", w, -1)) < 0 ||
	    (ret = gpu_t_check(label, "X", x, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "Y", y, TENSOR_F32)) < 0 ||
	    (bias && (ret = gpu_t_check(label, "bias", bias, TENSOR_F32)) < 0) ||
	    (res && (ret = gpu_t_check(label, "residual", res, TENSOR_F32)) < 0))
		return ret;
	const uint32_t K = w->ne[0], M = w->ne[1], N = x->ne[1];
	if (x->ne[0] != K || y->ne[0] != M || y->ne[1] != N) {
		g_warning("%s: W [%u, %u] * X [%u, %u] cannot give Y [%u, %u]", label, K, M,
			  x->ne[0], x->ne[1], y->ne[0], y->ne[1]);
		return -EINVAL;
	}
	if (bias && (bias->ne[0] != M || bias->ne[1] != 1))
		return bad_shape(label, "bias must be [M, 1]");
	if (res && (res->ne[0] != M || res->ne[1] != N))
		return bad_shape(label, "residual must have Y's shape");
	if ((unsigned)act > GPU_ACT_GELU_ERF)
		return bad_shape(label, "unknown activation");
	uint32_t narrow = 0;
	if (tile == TILE_CM &&
	    (uint64_t)((M + tile - 1) / tile) * ((N + tile - 1) / tile) < CM_FILL) {
		narrow = MM_NARROW;
		tile_m = TILE_CM / 2;
	}

	/* Pieces: rows of W (pm) and rows of X (pn). */
	const uint64_t ws = gpu_t_stride(w), xs = gpu_t_stride(x), ys = gpu_t_stride(y);
	const uint64_t rs = res ? gpu_t_stride(res) : 4;
	const uint64_t room_w = gpu_t_room(caps, gpu_t_unit(w)), room_f = gpu_t_room(caps, 4);
	uint64_t pm = MIN((uint64_t)M, room_w / ws);
	pm = MIN(pm, (uint64_t)caps->max_wg_count[0] * tile_m);
	uint64_t pn = MIN((uint64_t)N, room_f / MAX(MAX(xs, ys), rs));
	pn = MIN(pn, (uint64_t)caps->max_wg_count[1] * tile);
	if (pm == 0 || pn == 0) {
		g_warning("%s: one row does not fit a binding", label);
		return -E2BIG;
	}
	if (pm < M) {
		uint64_t st[] = { ws, 4 };
		pm = gpu_t_align_piece(caps, (uint32_t)pm, st, 2);
	}
	if (pn < N) {
		uint64_t st[] = { xs, ys, rs };
		pn = gpu_t_align_piece(caps, (uint32_t)pn, st, 3);
	}
	const uint32_t flags = (bias ? 1u : 0u) | (res ? 2u : 0u) | ((uint32_t)act << 2) | narrow;
	struct gpu_binding b[5];
	uint32_t w_off, x_off, y_off, b_off = 0, r_off = 0;
	for (uint32_t c0 = 0; c0 < N; c0 += (uint32_t)pn) {
		uint32_t nc = (uint32_t)MIN(pn, (uint64_t)(N - c0));
		if ((ret = gpu_t_bind(dev, x, c0, nc, 0, gpu_t_row_bytes(x), false, &b[1], &x_off)) < 0)
			return ret;
		for (uint32_t r0 = 0; r0 < M; r0 += (uint32_t)pm) {
			uint32_t nr = (uint32_t)MIN(pm, (uint64_t)(M - r0));
			uint64_t e0 = (uint64_t)r0 * 4, eb = (uint64_t)nr * 4;
			if ((ret = gpu_t_bind(dev, w, r0, nr, 0, gpu_t_row_bytes(w), false, &b[0],
					      &w_off)) < 0 ||
			    (ret = gpu_t_bind(dev, y, c0, nc, e0, eb, true, &b[2], &y_off)) < 0)
				return ret;
			if (bias)
				ret = gpu_t_bind(dev, bias, 0, 1, e0, eb, false, &b[3], &b_off);
			else
				b[3] = b[1]; /* unused by the shader; any read-only window */
			if (ret < 0)
				return ret;
			if (res)
				ret = gpu_t_bind(dev, res, c0, nc, e0, eb, false, &b[4], &r_off);
			else
				b[4] = b[1];
			if (ret < 0)
				return ret;
			struct gpu_push_mul_mat pc = {
				.K = K, .M = nr, .N = nc,
				.w_off = w_off, .w_stride = (uint32_t)(ws / gpu_t_unit(w)),
				.x_off = x_off, .x_stride = (uint32_t)(xs / 4),
				.y_off = y_off, .y_stride = (uint32_t)(ys / 4),
				.b_off = b_off,
				.r_off = r_off, .r_stride = (uint32_t)(rs / 4),
				.flags = flags,
			};
			ret = gpu_recorder_dispatch(rec, pl, label, b, 5, &pc, sizeof pc,
						    (nr + tile_m - 1) / tile_m, (nc + tile - 1) / tile, 1);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}
