/* vk/lfm2_vision.c — struct vision_backend on the Vulkan runtime (see lfm2_vision.h). */
#include "vk/lfm2_vision.h"
#include "vk/graph_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "model/quant.h"
#include "vk/buffer.h"
#include "vk/ops.h"
#include "vk/ops_matmul.h"
#include "vk/ops_vision.h"
#include "vk/recorder.h"

struct gpu_vision {
	struct gpu_graph_mem mem; /* first: the backend's ctx points at it (vk/graph_mem.h) */
	struct vision_backend be;
	uint32_t attn_flags;      /* GPU_ATTN_ENC_* (CAPTIOND_VISION_ATTN) */
};


static struct gpu_image gimg(const struct vision_image *im)
{
	return (struct gpu_image){
		.buffer = im->mem, .offset = im->offset, .width = im->width, .height = im->height,
		.channels = im->channels, .row_stride = im->row_stride,
	};
}


static int vk_linear(void *ctx, const char *label, const struct lm_tensor *w, const struct lm_tensor *x,
		     const struct lm_tensor *bias, const struct lm_tensor *residual, enum vision_act act,
		     const struct lm_tensor *y)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor W = gpu_graph_tensor(w), X = gpu_graph_tensor(x), Y = gpu_graph_tensor(y), B, R;
	struct gpu_mul_mat_epilogue ep = { .act = (enum gpu_act)act };
	if (bias) {
		B = gpu_graph_tensor(bias);
		B.ne[1] = 1;
		ep.bias = &B;
	}
	if (residual) {
		R = gpu_graph_tensor(residual);
		ep.residual = &R;
	}
	return gpu_op_mul_mat(g->mem.rec, label, &W, &X, &Y, &ep);
}

_Static_assert((int)VISION_ACT_GELU_TANH == (int)GPU_ACT_GELU_TANH &&
	       (int)VISION_ACT_GELU_ERF == (int)GPU_ACT_GELU_ERF, "activation ids");

static int vk_layer_norm(void *ctx, const char *label, const struct lm_tensor *x, const struct lm_tensor *w,
			 const struct lm_tensor *b, float eps, const struct lm_tensor *y)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor X = gpu_graph_tensor(x), Wt = gpu_graph_tensor(w), Bt = gpu_graph_tensor(b), Y = gpu_graph_tensor(y);
	Wt.ne[1] = Bt.ne[1] = 1;
	return gpu_op_layer_norm(g->mem.rec, label, &X, &Wt, &Bt, eps, &Y);
}

static int vk_attention(void *ctx, const char *label, const struct lm_tensor *q, const struct lm_tensor *k,
			const struct lm_tensor *v, uint32_t n_head, const struct lm_tensor *segs,
			uint32_t max_rows, const struct lm_tensor *o)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor Q = gpu_graph_tensor(q), K = gpu_graph_tensor(k), V = gpu_graph_tensor(v), O = gpu_graph_tensor(o);
	if (segs->ne[0] < 2 || segs->ne[1] != 1)
		return -EINVAL;
	struct gpu_attn_segs S = {
		.buffer = segs->mem, .offset = segs->offset, .n_seg = segs->ne[0] - 1, .max_rows = max_rows,
	};
	return gpu_op_attention_encoder(g->mem.rec, label, &Q, &K, &V, n_head, &S, g->attn_flags, &O);
}

static int vk_pixel_unshuffle(void *ctx, const char *label, const struct lm_tensor *x,
			      const struct lm_tensor *crops, uint32_t max_tok, const struct lm_tensor *u)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor X = gpu_graph_tensor(x), U = gpu_graph_tensor(u);
	if (crops->ne[0] != 4 || crops->ne[1] == 0)
		return -EINVAL;
	struct gpu_crop_table T = {
		.buffer = crops->mem, .offset = crops->offset, .n = crops->ne[1], .max_tok = max_tok,
	};
	return gpu_op_pixel_unshuffle_crops(g->mem.rec, label, &X, &T, &U);
}

static int vk_image_patches(void *ctx, const char *label, const struct vision_image *img,
			    const float mean[3], const float std[3], const struct lm_tensor *patches)
{
	struct gpu_vision *g = ctx;
	struct gpu_image I = gimg(img);
	struct gpu_tensor P = gpu_graph_tensor(patches);
	return gpu_op_image_patches(g->mem.rec, label, &I, mean, std, &P);
}

static int vk_image_resize(void *ctx, const char *label, const struct vision_image *src,
			   const struct vision_coeffs *c, bool horizontal, const struct vision_image *dst)
{
	struct gpu_vision *g = ctx;
	struct gpu_image S = gimg(src), D = gimg(dst);
	struct gpu_resize_coeffs C = {
		.buffer = c->mem, .offset = c->offset, .n_in = c->n_in, .n_out = c->n_out, .ksize = c->ksize,
	};
	return gpu_op_image_resize(g->mem.rec, label, &S, &C, horizontal ? 1 : 0, &D);
}

int gpu_vision_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
		      struct gpu_staging *st, uint32_t max_dispatches, struct gpu_vision **out)
{
	*out = NULL;
	struct gpu_vision *g = g_new0(struct gpu_vision, 1);
	g->mem.dev = dev;
	g->mem.st = st;
	const char *env = getenv("CAPTIOND_VISION_ATTN");
	if (env && strcmp(env, "plain") == 0)
		g->attn_flags = GPU_ATTN_ENC_PLAIN;
	int ret = gpu_recorder_create(dev, pipes, max_dispatches, &g->mem.rec);
	if (ret < 0) {
		g_free(g);
		return ret;
	}
	g->be = (struct vision_backend){
		.ctx = g,
		.name = "vulkan",
		.alloc = gpu_graph_mem_alloc,
		.free = gpu_graph_mem_free,
		.write = gpu_graph_mem_write,
		.flush = gpu_graph_mem_flush,
		.read = gpu_graph_mem_read,
		.begin = gpu_graph_mem_begin,
		.submit_wait = gpu_graph_mem_submit_wait,
		.linear = vk_linear,
		.layer_norm = vk_layer_norm,
		.attention = vk_attention,
		.pixel_unshuffle = vk_pixel_unshuffle,
		.image_patches = vk_image_patches,
		.image_resize = vk_image_resize,
		.coeffs_size = gpu_resize_coeffs_size,
		.coeffs_fill = gpu_resize_coeffs_fill,
		.pos_resize = gpu_vision_pos_embd_resize,
	};
	*out = g;
	return 0;
}

void gpu_vision_destroy(struct gpu_vision *g)
{
	if (!g)
		return;
	gpu_recorder_destroy(g->mem.rec);
	g_free(g);
}

const struct vision_backend *gpu_vision_backend(struct gpu_vision *g)
{
	return &g->be;
}

void gpu_vision_memory(const struct gpu_vision *g, uint64_t bytes[4])
{
	for (int i = 0; i < 4; i++)
		bytes[i] = g->mem.bytes[i];
}

uint32_t gpu_vision_dispatches(uint32_t n_layer, uint32_t n_crops)
{
	/* resize ≤ 4 and patches 1 per crop; per layer ≤ 9 dense + attention;
	 * tail 6; pieces of large mul_mats: margin ×2. */
	uint64_t n = 2ull * (5ull * n_crops + (uint64_t)n_layer * 10 + 8);
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}
