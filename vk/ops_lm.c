/* vk/ops_lm.c — the decoder ops (vk/ops_lm.h): host-side checks, binding
 * windows, push constants, one gpu_recorder_dispatch each (get_rows walks
 * an embedding table larger than one binding in pieces). */
#define G_LOG_DOMAIN "gpu"
#include "vk/ops_lm.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include <glib.h>

#include "model/quant.h"
#include "vk/ops_internal.h"
#include "vk/push_lm.h"
#include "vk/recorder.h"

static uint32_t stride_units(const struct gpu_tensor *t)
{
	return (uint32_t)(gpu_t_stride(t) / gpu_t_unit(t));
}

static int bind_err(const char *label, const char *what, int ret)
{
	if (ret == -E2BIG)
		g_warning("%s: %s does not fit one binding", label, what);
	return ret;
}

/* Bind rows [r0, r0 + nr) of t. */
static int bind_rows(struct gpu_device *dev, const char *label, const char *what,
		     const struct gpu_tensor *t, uint32_t r0, uint32_t nr, bool write,
		     struct gpu_binding *b, uint32_t *elem_off)
{
	uint64_t st = gpu_t_stride(t);
	uint64_t size = (uint64_t)(nr - 1) * st + gpu_t_row_bytes(t);
	int ret = gpu_buffer_bind(dev, t->buffer, t->offset + (uint64_t)r0 * st, size,
				  gpu_t_unit(t), write, b, elem_off);
	return bind_err(label, what, ret);
}

static int bind_ints(struct gpu_device *dev, const char *label, const char *what,
		     const struct gpu_i32s *v, uint32_t need, bool write, struct gpu_binding *b,
		     uint32_t *elem_off)
{
	if (!v->buffer || v->n < need || need == 0 || v->offset % 4 ||
	    v->offset > gpu_buffer_size(v->buffer) ||
	    (uint64_t)v->n * 4 > gpu_buffer_size(v->buffer) - v->offset) {
		g_warning("%s: int table %s (%u ints at %" PRIu64 ", %u needed) is not usable here",
			  label, what, v->n, v->offset, need);
		return -EINVAL;
	}
	int ret = gpu_buffer_bind(dev, v->buffer, v->offset, (uint64_t)need * 4, 4, write, b,
				  elem_off);
	return bind_err(label, what, ret);
}

static const struct gpu_pipeline *lm_pipe(struct gpu_recorder *rec, enum gpu_pipe_id id)
{
	return gpu_pipelines_get(gpu_recorder_pipelines(rec), id);
}

static uint32_t groups_for(uint32_t n, uint32_t wg)
{
	return (uint32_t)(((uint64_t)n + wg - 1) / wg);
}

/* The grid limits of one dispatch, checked here to name the op. */
static int check_groups(struct gpu_recorder *rec, const char *label, uint32_t gx, uint32_t gy,
			uint32_t gz)
{
	const struct gpu_caps *caps = gpu_device_caps(gpu_recorder_device(rec));
	if (gx > caps->max_wg_count[0] || gy > caps->max_wg_count[1] || gz > caps->max_wg_count[2]) {
		g_warning("%s: a grid of %u x %u x %u workgroups is over the device limit", label,
			  gx, gy, gz);
		return -EINVAL;
	}
	return 0;
}

int gpu_lm_batch_tables(uint32_t n_seq, const uint32_t *slot, const uint32_t *n_past,
			const uint32_t *n_tok, int32_t *toks, int32_t *seqs, uint32_t *max_seq_tok)
{
	uint64_t total = 0;
	uint32_t mx = 0;
	for (uint32_t j = 0; j < n_seq; j++) {
		if (n_tok[j] == 0 || slot[j] > INT32_MAX || n_past[j] > INT32_MAX ||
		    n_tok[j] > (uint64_t)INT32_MAX - n_past[j] || total + n_tok[j] > INT32_MAX)
			return -EINVAL;
		seqs[GPU_SEQ_FIELDS * j + 0] = (int32_t)total;
		seqs[GPU_SEQ_FIELDS * j + 1] = (int32_t)n_tok[j];
		seqs[GPU_SEQ_FIELDS * j + 2] = (int32_t)slot[j];
		seqs[GPU_SEQ_FIELDS * j + 3] = (int32_t)n_past[j];
		for (uint32_t i = 0; i < n_tok[j]; i++) {
			toks[GPU_TOK_FIELDS * (total + i) + 0] = (int32_t)(n_past[j] + i);
			toks[GPU_TOK_FIELDS * (total + i) + 1] = (int32_t)slot[j];
		}
		total += n_tok[j];
		mx = MAX(mx, n_tok[j]);
	}
	*max_seq_tok = mx;
	return (int)total;
}

static int check_batch(const char *label, const struct gpu_lm_batch *b)
{
	if (b->n_tok == 0 || b->n_seq == 0 || b->max_seq_tok == 0 || b->max_seq_tok > b->n_tok ||
	    b->n_seq > b->n_tok) {
		g_warning("%s: batch of %u tokens in %u sequences (longest %u) is not usable", label,
			  b->n_tok, b->n_seq, b->max_seq_tok);
		return -EINVAL;
	}
	return 0;
}

/* --- embeddings --- */

static int get_rows_pipe(struct gpu_recorder *rec, const char *label, uint32_t type,
			 const struct gpu_pipeline **out)
{
	enum gpu_pipe_id id;
	switch (type) {
	case TENSOR_F32: id = GPU_PIPE_GET_ROWS_F32_F32; break;
	case TENSOR_F16: id = GPU_PIPE_GET_ROWS_F16_F32; break;
	case TENSOR_Q8_0: id = GPU_PIPE_GET_ROWS_Q8_0_F32; break;
	case TENSOR_Q4_0: id = GPU_PIPE_GET_ROWS_Q4_0_F32; break;
	case TENSOR_Q6_K: id = GPU_PIPE_GET_ROWS_Q6_K_F32; break;
	default: {
		const struct tensor_type_info *ti = tensor_type_info(type);
		g_warning("%s: get_rows: no pipeline for a table of %s", label,
			  ti ? ti->name : "(unknown type)");
		*out = NULL;
		return -ENOTSUP;
	}
	}
	*out = lm_pipe(rec, id);
	return 0;
}

int gpu_op_get_rows(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *table,
		    const struct gpu_i32s *ids, const struct gpu_tensor *dst)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl;
	int ret = get_rows_pipe(rec, label, table->type, &pl);
	if (ret < 0)
		return ret;
	if ((ret = gpu_t_check(label, "table", table, -1)) < 0 ||
	    (ret = gpu_t_check(label, "dst", dst, TENSOR_F32)) < 0)
		return ret;
	uint32_t n = dst->ne[1];
	if (dst->ne[0] != table->ne[0] || ids->n != n) {
		g_warning("%s: get_rows of %u ids from [%u, %u] into [%u, %u]", label, ids->n,
			  table->ne[0], table->ne[1], dst->ne[0], dst->ne[1]);
		return -EINVAL;
	}
	uint32_t gx = groups_for(dst->ne[0], gpu_pipeline_wg_size(pl));
	if ((ret = check_groups(rec, label, gx, n, 1)) < 0)
		return ret;
	struct gpu_binding b[3];
	uint32_t ids_off, d_off, t_off;
	if ((ret = bind_ints(dev, label, "ids", ids, n, false, &b[1], &ids_off)) < 0 ||
	    (ret = bind_rows(dev, label, "dst", dst, 0, n, true, &b[2], &d_off)) < 0)
		return ret;
	/* The table in pieces of whole rows that fit a binding (an F32 token_embd
	 * of 65536 x 1024 is 256 MiB; lavapipe binds 128 MiB). */
	uint64_t st = gpu_t_stride(table);
	uint64_t slack = (uint64_t)caps->storage_align * gpu_t_unit(table);
	uint64_t room = caps->max_binding_bytes > slack ? caps->max_binding_bytes - slack : 0;
	uint64_t piece = MIN(room / st, (uint64_t)table->ne[1]);
	if (piece == 0)
		return bind_err(label, "one table row", -E2BIG);
	for (uint32_t r0 = 0; r0 < table->ne[1]; r0 += (uint32_t)piece) {
		uint32_t nr = (uint32_t)MIN(piece, (uint64_t)(table->ne[1] - r0));
		if ((ret = bind_rows(dev, label, "table", table, r0, nr, false, &b[0], &t_off)) < 0)
			return ret;
		struct gpu_push_get_rows pc = {
			.ne0 = dst->ne[0],
			.n = n,
			.r0 = r0,
			.nrows = nr,
			.n_table = table->ne[1],
			.t_off = t_off,
			.t_stride = stride_units(table),
			.ids_off = ids_off,
			.d_off = d_off,
			.d_stride = stride_units(dst),
		};
		ret = gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, gx, n, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int gpu_op_set_rows(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *src,
		    const struct gpu_i32s *rows, const struct gpu_tensor *dst)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_pipeline *pl = lm_pipe(rec, GPU_PIPE_SET_ROWS_F32);
	int ret;
	if ((ret = gpu_t_check(label, "src", src, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "dst", dst, TENSOR_F32)) < 0)
		return ret;
	uint32_t n = src->ne[1];
	if (dst->ne[0] != src->ne[0] || rows->n != n) {
		g_warning("%s: set_rows of [%u, %u] by %u row indices into [%u, %u]", label,
			  src->ne[0], n, rows->n, dst->ne[0], dst->ne[1]);
		return -EINVAL;
	}
	uint32_t gx = groups_for(src->ne[0], gpu_pipeline_wg_size(pl));
	if ((ret = check_groups(rec, label, gx, n, 1)) < 0)
		return ret;
	struct gpu_binding b[3];
	uint32_t s_off, r_off, d_off;
	if ((ret = bind_rows(dev, label, "src", src, 0, n, false, &b[0], &s_off)) < 0 ||
	    (ret = bind_ints(dev, label, "rows", rows, n, false, &b[1], &r_off)) < 0 ||
	    (ret = bind_rows(dev, label, "dst", dst, 0, dst->ne[1], true, &b[2], &d_off)) < 0)
		return ret;
	struct gpu_push_get_rows pc = {
		.ne0 = src->ne[0],
		.n = n,
		.nrows = dst->ne[1],
		.t_off = s_off,
		.t_stride = stride_units(src),
		.ids_off = r_off,
		.d_off = d_off,
		.d_stride = stride_units(dst),
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, gx, n, 1);
}

/* --- short convolution --- */

int gpu_op_shortconv(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *z,
		     const struct gpu_tensor *conv_w, const struct gpu_tensor *state,
		     const struct gpu_lm_batch *batch, const struct gpu_tensor *y)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_pipeline *pl = lm_pipe(rec, GPU_PIPE_SHORTCONV_F32);
	int ret;
	if ((ret = check_batch(label, batch)) < 0 ||
	    (ret = gpu_t_check(label, "z", z, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "conv_w", conv_w, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "state", state, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "y", y, TENSOR_F32)) < 0)
		return ret;
	uint32_t d = y->ne[0];
	if (conv_w->ne[0] != 3 || conv_w->ne[1] != d || conv_w->row_stride != 0 ||
	    z->ne[0] != 3 * d || z->ne[1] != batch->n_tok || y->ne[1] != batch->n_tok ||
	    state->ne[0] != 2 * d) {
		g_warning("%s: shortconv of z [%u, %u] with taps [%u, %u] and state [%u, %u] into "
			  "y [%u, %u] (L_cache 3, batch of %u)", label, z->ne[0], z->ne[1],
			  conv_w->ne[0], conv_w->ne[1], state->ne[0], state->ne[1], y->ne[0],
			  y->ne[1], batch->n_tok);
		return -EINVAL;
	}
	uint32_t gx = groups_for(d, gpu_pipeline_wg_size(pl));
	if ((ret = check_groups(rec, label, gx, batch->n_seq, 1)) < 0)
		return ret;
	struct gpu_binding b[5];
	uint32_t z_off, w_off, s_off, q_off, y_off;
	if ((ret = bind_rows(dev, label, "z", z, 0, z->ne[1], false, &b[0], &z_off)) < 0 ||
	    (ret = bind_rows(dev, label, "conv_w", conv_w, 0, d, false, &b[1], &w_off)) < 0 ||
	    (ret = bind_rows(dev, label, "state", state, 0, state->ne[1], true, &b[2], &s_off)) < 0 ||
	    (ret = bind_ints(dev, label, "seqs", &batch->seqs, batch->n_seq * GPU_SEQ_FIELDS, false,
			     &b[3], &q_off)) < 0 ||
	    (ret = bind_rows(dev, label, "y", y, 0, y->ne[1], true, &b[4], &y_off)) < 0)
		return ret;
	struct gpu_push_shortconv pc = {
		.d = d,
		.n_tok = batch->n_tok,
		.n_slots = state->ne[1],
		.n_seq = batch->n_seq,
		.z_off = z_off,
		.z_stride = stride_units(z),
		.w_off = w_off,
		.s_off = s_off,
		.s_stride = stride_units(state),
		.seqs_off = q_off,
		.y_off = y_off,
		.y_stride = stride_units(y),
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 5, &pc, sizeof pc, gx, batch->n_seq, 1);
}

/* --- attention --- */

#define HD_MAX 256 /* shaders/attention.comp */
#define ATTN_CHUNK 32 /* head elements per lane in shaders/attention.comp */
/* Split attention (flash-decoding): only for grids under ATTN_SPLIT_GRID
 * workgroups, in pieces of at least ATTN_SPLIT_MIN_KEYS keys (the merge
 * costs a dispatch and a barrier, a few µs), at most ATTN_SPLIT_MAX. */
#define ATTN_SPLIT_GRID 256
#define ATTN_SPLIT_MIN_KEYS 256
#define ATTN_SPLIT_MAX 16

static bool kv_type_ok(uint32_t type)
{
	return type == TENSOR_F16 || type == TENSOR_Q8_0 || type == TENSOR_Q4_0;
}

static int check_kv(const char *label, const struct gpu_kv_cache *kv, uint32_t hd,
		    uint32_t *n_kv, uint32_t *n_slots)
{
	int ret;
	if ((ret = gpu_t_check(label, "K cache", &kv->k, -1)) < 0 ||
	    (ret = gpu_t_check(label, "V cache", &kv->v, -1)) < 0)
		return ret;
	if (!kv_type_ok(kv->k.type) || kv->v.type != kv->k.type) {
		const struct tensor_type_info *tk = tensor_type_info(kv->k.type);
		const struct tensor_type_info *tv = tensor_type_info(kv->v.type);
		g_warning("%s: KV cache of %s and %s: F16, Q8_0 or Q4_0, both the same", label,
			  tk ? tk->name : "?", tv ? tv->name : "?");
		return -ENOTSUP;
	}
	if (kv->n_ctx == 0 || kv->k.ne[0] != kv->v.ne[0] || kv->k.ne[1] != kv->v.ne[1] ||
	    gpu_t_stride(&kv->k) != gpu_t_stride(&kv->v) || kv->k.ne[0] % hd != 0 ||
	    kv->k.ne[1] % kv->n_ctx != 0 || (kv->k.type != TENSOR_F16 && hd % 32 != 0)) {
		g_warning("%s: KV cache K [%u, %u], V [%u, %u] with %u positions per slot and "
			  "head_dim %u is not usable", label, kv->k.ne[0], kv->k.ne[1], kv->v.ne[0],
			  kv->v.ne[1], kv->n_ctx, hd);
		return -EINVAL;
	}
	*n_kv = kv->k.ne[0] / hd;
	*n_slots = kv->k.ne[1] / kv->n_ctx;
	return 0;
}

static int check_head_dim(const char *label, uint32_t hd)
{
	if (hd == 0 || hd % 2 || hd > HD_MAX) {
		g_warning("%s: head_dim %u (even, at most %d)", label, hd, HD_MAX);
		return -EINVAL;
	}
	return 0;
}

static enum gpu_pipe_id rope_pipe_id(uint32_t kv_type)
{
	return kv_type == TENSOR_Q8_0 ? GPU_PIPE_ROPE_QK_NORM_Q8_0_F32
	       : kv_type == TENSOR_Q4_0 ? GPU_PIPE_ROPE_QK_NORM_Q4_0_F32
					 : GPU_PIPE_ROPE_QK_NORM_F32;
}

static enum gpu_pipe_id attention_pipe_id(uint32_t kv_type)
{
	return kv_type == TENSOR_Q8_0 ? GPU_PIPE_ATTENTION_Q8_0_F32
	       : kv_type == TENSOR_Q4_0 ? GPU_PIPE_ATTENTION_Q4_0_F32
					 : GPU_PIPE_ATTENTION_F16_F32;
}

int gpu_op_rope_qk_norm(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *q,
			const struct gpu_tensor *k, const struct gpu_tensor *v,
			const struct gpu_tensor *q_norm, const struct gpu_tensor *k_norm,
			const struct gpu_lm_batch *batch, const struct gpu_kv_cache *kv,
			const struct gpu_rope_params *p)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	uint32_t hd = p->head_dim, n_kv, n_slots;
	int ret;
	if ((ret = check_head_dim(label, hd)) < 0 || (ret = check_batch(label, batch)) < 0 ||
	    (ret = gpu_t_check(label, "q", q, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "k", k, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "v", v, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "q_norm", q_norm, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "k_norm", k_norm, TENSOR_F32)) < 0 ||
	    (ret = check_kv(label, kv, hd, &n_kv, &n_slots)) < 0)
		return ret;
	const struct gpu_pipeline *pl = lm_pipe(rec, rope_pipe_id(kv->k.type));
	uint32_t n = batch->n_tok;
	if (q->ne[0] % hd || q->ne[1] != n || k->ne[0] != kv->k.ne[0] || k->ne[1] != n ||
	    v->ne[0] != kv->k.ne[0] || v->ne[1] != n || q_norm->ne[0] != hd ||
	    k_norm->ne[0] != hd || !(p->theta > 0) || !(p->eps >= 0)) {
		g_warning("%s: rope_qk_norm of q [%u, %u], k [%u, %u], v [%u, %u] (head_dim %u, "
			  "norms [%u], [%u], cache rows of %u, theta %g, eps %g, batch of %u)", label,
			  q->ne[0], q->ne[1], k->ne[0], k->ne[1], v->ne[0], v->ne[1], hd,
			  q_norm->ne[0], k_norm->ne[0], kv->k.ne[0], (double)p->theta,
			  (double)p->eps, n);
		return -EINVAL;
	}
	uint32_t n_head = q->ne[0] / hd, gx = n_head + 2 * n_kv;
	if ((ret = check_groups(rec, label, gx, n, 1)) < 0)
		return ret;
	struct gpu_binding b[8];
	uint32_t q_off, k_off, v_off, qn_off, kn_off, t_off, kc_off, vc_off;
	if ((ret = bind_rows(dev, label, "q", q, 0, n, true, &b[0], &q_off)) < 0 ||
	    (ret = bind_rows(dev, label, "k", k, 0, n, false, &b[1], &k_off)) < 0 ||
	    (ret = bind_rows(dev, label, "v", v, 0, n, false, &b[2], &v_off)) < 0 ||
	    (ret = bind_rows(dev, label, "q_norm", q_norm, 0, 1, false, &b[3], &qn_off)) < 0 ||
	    (ret = bind_rows(dev, label, "k_norm", k_norm, 0, 1, false, &b[4], &kn_off)) < 0 ||
	    (ret = bind_ints(dev, label, "toks", &batch->toks, n * GPU_TOK_FIELDS, false, &b[5],
			     &t_off)) < 0 ||
	    (ret = bind_rows(dev, label, "K cache", &kv->k, 0, kv->k.ne[1], true, &b[6],
			     &kc_off)) < 0 ||
	    (ret = bind_rows(dev, label, "V cache", &kv->v, 0, kv->v.ne[1], true, &b[7],
			     &vc_off)) < 0)
		return ret;
	struct gpu_push_rope_qk_norm pc = {
		.hd = hd,
		.n_head = n_head,
		.n_kv = n_kv,
		.n_tok = n,
		.n_slots = n_slots,
		.n_ctx = kv->n_ctx,
		.q_off = q_off,
		.q_stride = stride_units(q),
		.k_off = k_off,
		.k_stride = stride_units(k),
		.v_off = v_off,
		.v_stride = stride_units(v),
		.qn_off = qn_off,
		.kn_off = kn_off,
		.toks_off = t_off,
		.kc_off = kc_off,
		.kc_stride = stride_units(&kv->k),
		.vc_off = vc_off,
		.eps = p->eps,
		.theta = p->theta,
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 8, &pc, sizeof pc, gx, n, 1);
}

/* Pieces of each sequence's key range: only when the grid alone would leave
 * the GPU idle (few sequences, decode) and the keys are many. */
static uint32_t attention_splits(const struct gpu_kv_cache *kv, const struct gpu_lm_batch *batch,
				 uint32_t n_head, uint32_t hd)
{
	uint64_t grid = (uint64_t)n_head * batch->max_seq_tok * batch->n_seq;
	uint32_t keys = batch->max_keys && batch->max_keys < kv->n_ctx ? batch->max_keys : kv->n_ctx;
	if (!kv->part.buffer || batch->max_seq_tok != 1 || grid >= ATTN_SPLIT_GRID)
		return 1;
	uint64_t want = MIN((ATTN_SPLIT_GRID + grid - 1) / grid, keys / ATTN_SPLIT_MIN_KEYS);
	uint64_t room = (uint64_t)kv->part.ne[0] * kv->part.ne[1] /
			((uint64_t)batch->n_tok * n_head * (hd + 2));
	want = MIN(MIN(want, room), ATTN_SPLIT_MAX);
	return want > 1 ? (uint32_t)want : 1;
}

int gpu_op_attention(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *q,
		     const struct gpu_kv_cache *kv, const struct gpu_lm_batch *batch,
		     uint32_t head_dim, const struct gpu_tensor *out)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	uint32_t hd = head_dim, n_kv, n_slots;
	int ret;
	if ((ret = check_head_dim(label, hd)) < 0 || (ret = check_batch(label, batch)) < 0 ||
	    (ret = gpu_t_check(label, "q", q, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "out", out, TENSOR_F32)) < 0 ||
	    (ret = check_kv(label, kv, hd, &n_kv, &n_slots)) < 0)
		return ret;
	const struct gpu_pipeline *pl = lm_pipe(rec, attention_pipe_id(kv->k.type));
	uint32_t n = batch->n_tok, n_head = q->ne[0] / hd;
	/* A lane owns 32 elements; the lanes of a key (hd/32 of them, a power
	 * of two) must sit in one subgroup. */
	uint32_t lpk = hd / ATTN_CHUNK;
	if (hd % ATTN_CHUNK || (lpk & (lpk - 1)) ||
	    lpk > gpu_device_caps(dev)->subgroup_size || lpk > gpu_pipeline_wg_size(pl)) {
		g_warning("%s: attention with head_dim %u (32, 64, 128 or 256 here)", label, hd);
		return -EINVAL;
	}
	if (lpk > 1 && !gpu_device_caps(dev)->subgroup_shuffle) {
		g_warning("%s: attention needs subgroup shuffles in compute shaders", label);
		return -ENOTSUP;
	}
	if (q->ne[0] % hd || q->ne[1] != n || out->ne[0] != q->ne[0] || out->ne[1] != n ||
	    n_head % n_kv) {
		g_warning("%s: attention of q [%u, %u] over a cache of %u kv heads into out [%u, %u] "
			  "(head_dim %u, batch of %u)", label, q->ne[0], q->ne[1], n_kv, out->ne[0],
			  out->ne[1], hd, n);
		return -EINVAL;
	}
	uint32_t n_split = attention_splits(kv, batch, n_head, hd);
	if ((ret = check_groups(rec, label, n_head * n_split, batch->max_seq_tok, batch->n_seq)) < 0)
		return ret;
	struct gpu_binding b[6];
	uint32_t q_off, kc_off, vc_off, s_off, o_off, p_off = 0;
	if ((ret = bind_rows(dev, label, "q", q, 0, n, false, &b[0], &q_off)) < 0 ||
	    (ret = bind_rows(dev, label, "K cache", &kv->k, 0, kv->k.ne[1], false, &b[1],
			     &kc_off)) < 0 ||
	    (ret = bind_rows(dev, label, "V cache", &kv->v, 0, kv->v.ne[1], false, &b[2],
			     &vc_off)) < 0 ||
	    (ret = bind_ints(dev, label, "seqs", &batch->seqs, batch->n_seq * GPU_SEQ_FIELDS, false,
			     &b[3], &s_off)) < 0 ||
	    (ret = bind_rows(dev, label, "out", out, 0, n, true, &b[4], &o_off)) < 0)
		return ret;
	if (n_split > 1) {
		if ((ret = gpu_t_check(label, "part", &kv->part, TENSOR_F32)) < 0 ||
		    (ret = bind_rows(dev, label, "part", &kv->part, 0, kv->part.ne[1], true, &b[5],
				     &p_off)) < 0)
			return ret;
	} else {
		b[5] = b[4]; /* not touched: nothing to merge */
	}
	/* F16 caches are read 8 halves (16 bytes) at a time. */
	uint32_t kst = stride_units(&kv->k);
	if (kv->k.type == TENSOR_F16 && (kc_off % 8 || vc_off % 8 || kst % 8)) {
		g_warning("%s: F16 KV cache not 16-byte aligned (offsets %u, %u, stride %u halves)",
			  label, kc_off, vc_off, kst);
		return -EINVAL;
	}
	uint32_t keys = batch->max_keys && batch->max_keys < kv->n_ctx ? batch->max_keys : kv->n_ctx;
	struct gpu_push_attention pc = {
		.hd = hd,
		.n_head = n_head,
		.group = n_head / n_kv,
		.n_tok = n,
		.n_seq = batch->n_seq,
		.n_slots = n_slots,
		.n_ctx = kv->n_ctx,
		.q_off = q_off,
		.q_stride = stride_units(q),
		.kc_off = kc_off,
		.kc_stride = kst,
		.vc_off = vc_off,
		.seqs_off = s_off,
		.o_off = o_off,
		.o_stride = stride_units(out),
		.scale = (float)(1.0 / sqrt((double)hd)),
		.n_split = n_split,
		.split_keys = (keys + n_split - 1) / n_split,
		.part_off = p_off,
	};
	ret = gpu_recorder_dispatch(rec, pl, label, b, 6, &pc, sizeof pc, n_head * n_split,
				    batch->max_seq_tok, batch->n_seq);
	if (ret < 0 || n_split == 1)
		return ret;
	char merge[GPU_LABEL_MAX];
	snprintf(merge, sizeof merge, "%s.merge", label);
	return gpu_recorder_dispatch(rec, lm_pipe(rec, GPU_PIPE_ATTENTION_MERGE_F32), merge, b, 6, &pc,
				     sizeof pc, n_head, batch->max_seq_tok, batch->n_seq);
}

/* --- FFN --- */

int gpu_op_swiglu(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *gate,
		  const struct gpu_tensor *up, const struct gpu_tensor *y)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_pipeline *pl = lm_pipe(rec, GPU_PIPE_SWIGLU_F32);
	int ret;
	if ((ret = gpu_t_check(label, "gate", gate, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "up", up, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "y", y, TENSOR_F32)) < 0)
		return ret;
	if (up->ne[0] != gate->ne[0] || up->ne[1] != gate->ne[1] || y->ne[0] != gate->ne[0] ||
	    y->ne[1] != gate->ne[1]) {
		g_warning("%s: swiglu of gate [%u, %u] and up [%u, %u] into y [%u, %u]", label,
			  gate->ne[0], gate->ne[1], up->ne[0], up->ne[1], y->ne[0], y->ne[1]);
		return -EINVAL;
	}
	uint32_t n = gate->ne[1], gx = groups_for(gate->ne[0], gpu_pipeline_wg_size(pl));
	if ((ret = check_groups(rec, label, gx, n, 1)) < 0)
		return ret;
	struct gpu_binding b[3];
	uint32_t g_off, u_off, y_off;
	if ((ret = bind_rows(dev, label, "gate", gate, 0, n, false, &b[0], &g_off)) < 0 ||
	    (ret = bind_rows(dev, label, "up", up, 0, n, false, &b[1], &u_off)) < 0 ||
	    (ret = bind_rows(dev, label, "y", y, 0, n, true, &b[2], &y_off)) < 0)
		return ret;
	struct gpu_push_swiglu pc = {
		.ne0 = gate->ne[0],
		.nrows = n,
		.g_off = g_off,
		.g_stride = stride_units(gate),
		.u_off = u_off,
		.u_stride = stride_units(up),
		.y_off = y_off,
		.y_stride = stride_units(y),
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, gx, n, 1);
}

/* --- sampling --- */

int gpu_op_repetition_penalty(struct gpu_recorder *rec, const char *label,
			      const struct gpu_tensor *logits, const struct gpu_i32s *present,
			      float penalty)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_pipeline *pl = lm_pipe(rec, GPU_PIPE_REP_PENALTY_F32);
	int ret;
	if ((ret = gpu_t_check(label, "logits", logits, TENSOR_F32)) < 0)
		return ret;
	if (!(penalty > 0) || !isfinite(penalty)) {
		g_warning("%s: repetition penalty %g (must be > 0)", label, (double)penalty);
		return -EINVAL;
	}
	uint32_t V = logits->ne[0], n = logits->ne[1], words = (V + 31) / 32;
	if ((uint64_t)words * n > UINT32_MAX) {
		g_warning("%s: bitmaps of %u x %u words are too large", label, words, n);
		return -EINVAL;
	}
	uint32_t gx = groups_for(V, gpu_pipeline_wg_size(pl));
	if ((ret = check_groups(rec, label, gx, n, 1)) < 0)
		return ret;
	struct gpu_binding b[2];
	uint32_t z_off, i_off;
	if ((ret = bind_rows(dev, label, "logits", logits, 0, n, true, &b[0], &z_off)) < 0 ||
	    (ret = bind_ints(dev, label, "present", present, words * n, false, &b[1], &i_off)) < 0)
		return ret;
	struct gpu_push_sample pc = {
		.n_vocab = V,
		.n_seq = n,
		.z_off = z_off,
		.z_stride = stride_units(logits),
		.i_off = i_off,
		.i_stride = words,
		.penalty = penalty,
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 2, &pc, sizeof pc, gx, n, 1);
}

int gpu_op_argmax(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *logits,
		  const struct gpu_i32s *ids)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_pipeline *pl = lm_pipe(rec, GPU_PIPE_ARGMAX_F32);
	int ret;
	if ((ret = gpu_t_check(label, "logits", logits, TENSOR_F32)) < 0)
		return ret;
	uint32_t n = logits->ne[1];
	if ((ret = check_groups(rec, label, n, 1, 1)) < 0)
		return ret;
	struct gpu_binding b[2];
	uint32_t z_off, i_off;
	if ((ret = bind_rows(dev, label, "logits", logits, 0, n, false, &b[0], &z_off)) < 0 ||
	    (ret = bind_ints(dev, label, "ids", ids, n, true, &b[1], &i_off)) < 0)
		return ret;
	struct gpu_push_sample pc = {
		.n_vocab = logits->ne[0],
		.n_seq = n,
		.z_off = z_off,
		.z_stride = stride_units(logits),
		.i_off = i_off,
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 2, &pc, sizeof pc, n, 1, 1);
}

/* --- fused mat-vec --- */

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static bool same_shape(const struct gpu_tensor *a, const struct gpu_tensor *b)
{
	return a->type == b->type && a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1] &&
	       gpu_t_stride(a) == gpu_t_stride(b);
}

/* Byte ranges [a, a + na) and [b, b + nb) of one buffer meet. */
static bool overlaps(const struct gpu_tensor *a, const struct gpu_tensor *b)
{
	return a->buffer == b->buffer && a->offset < b->offset + gpu_tensor_bytes(b) &&
	       b->offset < a->offset + gpu_tensor_bytes(a);
}

int gpu_op_mul_mat_vec_fused(struct gpu_recorder *rec, const char *label,
			     const struct gpu_tensor *w, const struct gpu_tensor *x,
			     const struct gpu_mmv_fusion *f, const struct gpu_tensor *y)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl;
	int ret = gpu_pipelines_mmv(gpu_recorder_pipelines(rec), w->type, x->ne[1], true, &pl);
	if (ret < 0)
		return ret;
	if ((ret = gpu_t_check(label, "W", w, -1)) < 0 ||
	    (ret = gpu_t_check(label, "x", x, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "y", y, TENSOR_F32)) < 0 ||
	    (f->norm && (ret = gpu_t_check(label, "norm", f->norm, TENSOR_F32)) < 0) ||
	    (f->up && (ret = gpu_t_check(label, "up", f->up, -1)) < 0) ||
	    (f->residual && (ret = gpu_t_check(label, "residual", f->residual, TENSOR_F32)) < 0))
		return ret;
	uint32_t K = w->ne[0], M = w->ne[1], n = x->ne[1];
	if (x->ne[0] != K || y->ne[0] != M || y->ne[1] != n || overlaps(x, y) ||
	    (f->norm && (f->norm->ne[0] != K || !(f->eps >= 0))) ||
	    (f->up && !same_shape(f->up, w)) ||
	    (f->residual && (f->residual->ne[0] != M || f->residual->ne[1] != n))) {
		g_warning("%s: fused W [%u, %u] * x [%u, %u] cannot give y [%u, %u] (norm, up, "
			  "residual must match; y apart from x)", label, K, M, x->ne[0], n, y->ne[0],
			  y->ne[1]);
		return -EINVAL;
	}
	uint32_t cols = gpu_pipeline_cols(pl), groups_y = (n + cols - 1) / cols;
	uint32_t rows = gpu_pipeline_mmv_rows(pl, K);
	if (groups_y > caps->max_wg_count[1]) {
		g_warning("%s: %u vectors are more than one dispatch takes", label, n);
		return -EINVAL;
	}
	/* Bindings: 0 W, 1 x, 2 y, 3 norm, 4 residual, 5 up; a part that is off
	 * binds x in its place (never read). */
	struct gpu_binding b[6];
	uint32_t x_off, nw_off = 0, w_off, w2_off = 0, y_off, r_off = 0;
	if ((ret = bind_rows(dev, label, "x", x, 0, n, false, &b[1], &x_off)) < 0)
		return ret;
	b[3] = b[4] = b[5] = b[1];
	if (f->norm && (ret = bind_rows(dev, label, "norm", f->norm, 0, 1, false, &b[3], &nw_off)) < 0)
		return ret;
	/* W (and up) in pieces of rows that fit a binding, y and the residual
	 * in the matching windows, as gpu_op_mul_mat_vec. */
	uint64_t st = gpu_t_stride(w), slack = (uint64_t)caps->storage_align * gpu_t_unit(w);
	uint64_t room = caps->max_binding_bytes > slack ? caps->max_binding_bytes - slack : 0;
	uint64_t piece = MIN(MIN(room / st, (uint64_t)caps->max_wg_count[0]), (uint64_t)M);
	if (piece == 0)
		return bind_err(label, "one row of W", -E2BIG);
	if (piece < M) {
		uint64_t align = caps->storage_align ? caps->storage_align : 1;
		uint64_t m = align / gcd_u64(align, st), q = align / gcd_u64(align, 4);
		m = m / gcd_u64(m, q) * q;
		piece = piece >= m ? piece / m * m : piece;
	}
	for (uint32_t r0 = 0; r0 < M; r0 += (uint32_t)piece) {
		uint32_t nr = (uint32_t)MIN(piece, (uint64_t)(M - r0));
		if ((ret = bind_rows(dev, label, "W", w, r0, nr, false, &b[0], &w_off)) < 0 ||
		    (f->up && (ret = bind_rows(dev, label, "up", f->up, r0, nr, false, &b[5],
					       &w2_off)) < 0))
			return ret;
		uint64_t y_size = (uint64_t)(n - 1) * gpu_t_stride(y) + (uint64_t)nr * 4;
		ret = gpu_buffer_bind(dev, y->buffer, y->offset + (uint64_t)r0 * 4, y_size, 4, true,
				      &b[2], &y_off);
		if (ret < 0)
			return bind_err(label, "y", ret);
		if (f->residual) {
			const struct gpu_tensor *r = f->residual;
			uint64_t r_size = (uint64_t)(n - 1) * gpu_t_stride(r) + (uint64_t)nr * 4;
			ret = gpu_buffer_bind(dev, r->buffer, r->offset + (uint64_t)r0 * 4, r_size, 4,
					      false, &b[4], &r_off);
			if (ret < 0)
				return bind_err(label, "residual", ret);
		}
		struct gpu_push_mmv_fused pc = {
			.ne0 = K,
			.nrows = nr,
			.ncols = n,
			.w_off = w_off,
			.w_stride = stride_units(w),
			.x_off = x_off,
			.x_stride = stride_units(x),
			.y_off = y_off,
			.y_stride = stride_units(y),
			.flags = (f->norm ? GPU_MMV_NORM : 0) | (f->up ? GPU_MMV_GLU : 0) |
				 (f->residual ? GPU_MMV_ADD : 0),
			.nw_off = nw_off,
			.r_off = r_off,
			.r_stride = f->residual ? stride_units(f->residual) : 0,
			.w2_off = w2_off,
			.eps = f->eps,
		};
		ret = gpu_recorder_dispatch(rec, pl, label, b, 6, &pc, sizeof pc, (nr + rows - 1) / rows,
					    groups_y, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* --- sampling candidates --- */

int gpu_op_sample_candidates(struct gpu_recorder *rec, const char *label,
			     const struct gpu_tensor *logits, const struct gpu_i32s *present,
			     float penalty, float t, float log_min_p, uint32_t cap,
			     const struct gpu_i32s *out, const struct gpu_tensor *full)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_pipeline *pl = lm_pipe(rec, GPU_PIPE_SAMPLE_CANDIDATES_F32);
	int ret;
	if ((ret = gpu_t_check(label, "logits", logits, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "full", full, TENSOR_F32)) < 0)
		return ret;
	if (!(penalty > 0) || !isfinite(penalty) || !(t > 0) || !isfinite(t) || isnan(log_min_p) ||
	    cap == 0 || cap > 65536) {
		g_warning("%s: penalty %g, temperature %g, ln min_p %g or cap %u out of range", label,
			  (double)penalty, (double)t, (double)log_min_p, cap);
		return -EINVAL;
	}
	uint32_t V = logits->ne[0], n = logits->ne[1], words = (V + 31) / 32, per = 1 + 2 * cap;
	if (full->ne[0] != V || full->ne[1] < n) {
		g_warning("%s: full [%u, %u] does not match logits [%u, %u]", label, full->ne[0],
			  full->ne[1], V, n);
		return -EINVAL;
	}
	if ((uint64_t)words * n > UINT32_MAX || (uint64_t)per * n > UINT32_MAX) {
		g_warning("%s: %u rows are too many", label, n);
		return -EINVAL;
	}
	if ((ret = check_groups(rec, label, n, 1, 1)) < 0)
		return ret;
	struct gpu_binding b[4];
	uint32_t z_off, b_off, o_off, f_off;
	if ((ret = bind_rows(dev, label, "logits", logits, 0, n, false, &b[0], &z_off)) < 0 ||
	    (ret = bind_ints(dev, label, "present", present, words * n, false, &b[1], &b_off)) < 0 ||
	    (ret = bind_ints(dev, label, "out", out, per * n, true, &b[2], &o_off)) < 0 ||
	    (ret = bind_rows(dev, label, "full", full, 0, n, true, &b[3], &f_off)) < 0)
		return ret;
	struct gpu_push_candidates pc = {
		.n_vocab = V,
		.n_seq = n,
		.z_off = z_off,
		.z_stride = stride_units(logits),
		.b_off = b_off,
		.b_stride = words,
		.o_off = o_off,
		.o_stride = per,
		.f_off = f_off,
		.f_stride = stride_units(full),
		.cap = cap,
		.penalty = penalty,
		.t = t,
		.log_min_p = log_min_p,
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 4, &pc, sizeof pc, n, 1, 1);
}
