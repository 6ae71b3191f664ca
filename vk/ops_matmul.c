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

/* Output tile of one workgroup of the tiled kernel (shaders/mul_mat.comp). */
#define TILE_TILED 64

/* mul_mat_cm.comp's tile shapes. L is built for the six weight types (ids
 * GPU_PIPE_MUL_MAT_CM_<T>_F32, in type_index order), the others for F16,
 * Q8_0 and Q4_0 (blocks of three from `first`; other types take L). bn: rows
 * of X, bm: rows of W per workgroup. */
static const struct tile_cfg {
	uint32_t bn, bm;
	enum gpu_pipe_id first; /* L: the F32 variant; others: F16, then Q8_0, Q4_0 */
} tile_cfg[GPU_MM_TILE_COUNT] = {
	[GPU_MM_TILE_L] = { 128, 128, GPU_PIPE_MUL_MAT_CM_F32_F32 },
	[GPU_MM_TILE_M] = { 64, 128, GPU_PIPE_MUL_MAT_CM_M_F16_F32 },
	[GPU_MM_TILE_S] = { 64, 64, GPU_PIPE_MUL_MAT_CM_S_F16_F32 },
	[GPU_MM_TILE_T] = { 64, 64, GPU_PIPE_MUL_MAT_CM_T_F16_F32 },
	[GPU_MM_TILE_V] = { 32, 64, GPU_PIPE_MUL_MAT_CM_V_F16_F32 },
};

/* SMs of an H100/H200 (Vulkan core does not report it): the thresholds
 * below count workgroups per SM. */
#define CM_SMS 132u

static uint64_t tile_groups(enum gpu_mm_tile t, uint32_t M, uint32_t N)
{
	return (uint64_t)((M + tile_cfg[t].bm - 1) / tile_cfg[t].bm) *
	       ((N + tile_cfg[t].bn - 1) / tile_cfg[t].bn);
}

/* By the count of 64×64 tiles, from bench-matmul --sweep on an H100
 * (bench/results/2026-11-21-h100-gemm): huge grids (16 frames, 4096³) the
 * 64×128 tile; large ones (1024 patches × 3072) 64×64 with two K groups;
 * two to four per SM (prefill's 1024 → 4608) plain 64×64; smaller grids 32×64
 * with four K groups while that is one wave (prefill's k/v, 256-row w2),
 * else 64×64 with two (prefill's 271-row w2 and out_proj, 768-wide vision
 * projections). */
static enum gpu_mm_tile pick_tile(uint32_t M, uint32_t N)
{
	const uint64_t s = tile_groups(GPU_MM_TILE_S, M, N);
	if (s >= 16 * CM_SMS)
		return GPU_MM_TILE_M;
	if (s >= 4 * CM_SMS)
		return GPU_MM_TILE_T;
	if (s >= 2 * CM_SMS)
		return GPU_MM_TILE_S;
	return tile_groups(GPU_MM_TILE_V, M, N) <= CM_SMS ? GPU_MM_TILE_V : GPU_MM_TILE_T;
}

enum gpu_mm_tile gpu_mul_mat_tile_for(uint32_t M, uint32_t N)
{
	return pick_tile(M, N);
}

static int type_index(uint32_t wtype)
{
	switch (wtype) {
	case TENSOR_F32: return 0;
	case TENSOR_F16: return 1;
	case TENSOR_BF16: return 2;
	case TENSOR_Q8_0: return 3;
	case TENSOR_Q4_0: return 4;
	case TENSOR_Q6_K: return 5;
	default: return -1;
	}
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
	return gpu_op_mul_mat_tile(rec, label, w, x, y, ep, GPU_MM_TILE_AUTO);
}

int gpu_op_mul_mat_tile(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *w,
			const struct gpu_tensor *x, const struct gpu_tensor *y,
			const struct gpu_mul_mat_epilogue *ep, enum gpu_mm_tile tile_id)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipelines *pipes = gpu_recorder_pipelines(rec);
	const struct gpu_tensor *bias = ep ? ep->bias : NULL, *res = ep ? ep->residual : NULL;
	enum gpu_act act = ep ? ep->act : GPU_ACT_NONE;
	const int ti_idx = type_index(w->type);
	int ret;

	if (ti_idx < 0) {
		const struct tensor_type_info *ti = tensor_type_info(w->type);
		g_warning("%s: mul_mat: no pipeline for weights %s x F32", label,
			  ti ? ti->name : "(unknown type)");
		return -ENOTSUP;
	}
	if ((unsigned)tile_id >= GPU_MM_TILE_COUNT)
		return bad_shape(label, "unknown tile");
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
	/* tile: rows of X per workgroup, tile_m: rows of W */
	if (tile_id == GPU_MM_TILE_AUTO)
		tile_id = pick_tile(M, N);
	const int q = w->type == TENSOR_F16 ? 0 : w->type == TENSOR_Q8_0 ? 1
						: w->type == TENSOR_Q4_0 ? 2 : -1;
	if (q < 0)
		tile_id = GPU_MM_TILE_L;
	const struct gpu_pipeline *pl = gpu_pipelines_get(
		pipes, (enum gpu_pipe_id)(tile_cfg[tile_id].first +
					  (tile_id == GPU_MM_TILE_L ? ti_idx : q)));
	uint32_t tile = tile_cfg[tile_id].bn, tile_m = tile_cfg[tile_id].bm;
	if (gpu_pipeline_vk(pl) == VK_NULL_HANDLE) {
		pl = gpu_pipelines_get(pipes, (enum gpu_pipe_id)(GPU_PIPE_MUL_MAT_F32_F32 + ti_idx));
		tile = tile_m = TILE_TILED;
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
	const uint32_t flags = (bias ? 1u : 0u) | (res ? 2u : 0u) | ((uint32_t)act << 2);
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
