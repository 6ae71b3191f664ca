/* vk/lfm2_vision.c — struct vision_backend on the Vulkan runtime (see lfm2_vision.h). */
#include "vk/lfm2_vision.h"

#include <errno.h>

#include <glib.h>

#include "model/quant.h"
#include "vk/buffer.h"
#include "vk/ops.h"
#include "vk/ops_matmul.h"
#include "vk/ops_vision.h"
#include "vk/recorder.h"

struct gpu_vision {
	struct vision_backend be;
	struct gpu_device *dev;
	struct gpu_staging *st;
	struct gpu_recorder *rec;
	bool recording;
	uint64_t bytes[4];
};

static struct gpu_tensor gt(const struct lm_tensor *t)
{
	return (struct gpu_tensor){
		.buffer = t->mem, .offset = t->offset, .type = t->type,
		.ne = { t->ne[0], t->ne[1] }, .row_stride = t->row_stride,
	};
}

static struct gpu_image gimg(const struct vision_image *im)
{
	return (struct gpu_image){
		.buffer = im->mem, .offset = im->offset, .width = im->width, .height = im->height,
		.channels = im->channels, .row_stride = im->row_stride,
	};
}

static int vk_alloc(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem)
{
	struct gpu_vision *g = ctx;
	static const enum gpu_mem_kind kinds[] = {
		[LM_MEM_WEIGHTS] = GPU_MEM_WEIGHTS, [LM_MEM_SCRATCH] = GPU_MEM_SCRATCH,
		[LM_MEM_UPLOAD] = GPU_MEM_UPLOAD, [LM_MEM_READBACK] = GPU_MEM_READBACK,
	};
	struct gpu_buffer *b = NULL;
	int ret = gpu_buffer_create(g->dev, kinds[kind], bytes, name, &b);
	if (ret < 0)
		return ret;
	g->bytes[kind] += bytes;
	*mem = b;
	return 0;
}

static void vk_free(void *ctx, void *mem)
{
	struct gpu_vision *g = ctx;
	struct gpu_buffer *b = mem;
	uint64_t size = gpu_buffer_size(b);
	switch (gpu_buffer_kind(b)) {
	case GPU_MEM_WEIGHTS: g->bytes[LM_MEM_WEIGHTS] -= size; break;
	case GPU_MEM_SCRATCH: g->bytes[LM_MEM_SCRATCH] -= size; break;
	case GPU_MEM_UPLOAD: g->bytes[LM_MEM_UPLOAD] -= size; break;
	case GPU_MEM_READBACK: g->bytes[LM_MEM_READBACK] -= size; break;
	}
	gpu_buffer_destroy(b);
}

static int vk_write(void *ctx, void *mem, uint64_t off, const void *src, uint64_t bytes)
{
	struct gpu_vision *g = ctx;
	return gpu_staging_write(g->st, mem, off, src, bytes);
}

static int vk_flush(void *ctx)
{
	struct gpu_vision *g = ctx;
	return gpu_staging_flush(g->st);
}

static int vk_read(void *ctx, void *mem, uint64_t off, void *dst, uint64_t bytes)
{
	struct gpu_vision *g = ctx;
	return gpu_staging_read(g->st, mem, off, dst, bytes);
}

static int vk_begin(void *ctx)
{
	struct gpu_vision *g = ctx;
	int ret = gpu_staging_flush(g->st);
	if (ret == 0)
		ret = gpu_recorder_begin(g->rec);
	g->recording = ret == 0;
	return ret;
}

static int vk_submit_wait(void *ctx)
{
	struct gpu_vision *g = ctx;
	if (!g->recording)
		return -EBUSY;
	g->recording = false;
	int ret = gpu_recorder_submit(g->rec);
	if (ret == 0)
		ret = gpu_recorder_wait(g->rec);
	return ret;
}

static int vk_linear(void *ctx, const char *label, const struct lm_tensor *w, const struct lm_tensor *x,
		     const struct lm_tensor *bias, const struct lm_tensor *residual, enum vision_act act,
		     const struct lm_tensor *y)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor W = gt(w), X = gt(x), Y = gt(y), B, R;
	struct gpu_mul_mat_epilogue ep = { .act = (enum gpu_act)act };
	if (bias) {
		B = gt(bias);
		B.ne[1] = 1;
		ep.bias = &B;
	}
	if (residual) {
		R = gt(residual);
		ep.residual = &R;
	}
	return gpu_op_mul_mat(g->rec, label, &W, &X, &Y, &ep);
}

_Static_assert((int)VISION_ACT_GELU_TANH == (int)GPU_ACT_GELU_TANH &&
	       (int)VISION_ACT_GELU_ERF == (int)GPU_ACT_GELU_ERF, "activation ids");

static int vk_layer_norm(void *ctx, const char *label, const struct lm_tensor *x, const struct lm_tensor *w,
			 const struct lm_tensor *b, float eps, const struct lm_tensor *y)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor X = gt(x), Wt = gt(w), Bt = gt(b), Y = gt(y);
	Wt.ne[1] = Bt.ne[1] = 1;
	return gpu_op_layer_norm(g->rec, label, &X, &Wt, &Bt, eps, &Y);
}

static int vk_attention(void *ctx, const char *label, const struct lm_tensor *q, const struct lm_tensor *k,
			const struct lm_tensor *v, uint32_t n_head, const struct lm_tensor *o)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor Q = gt(q), K = gt(k), V = gt(v), O = gt(o);
	return gpu_op_attention_encoder(g->rec, label, &Q, &K, &V, n_head, &O);
}

static int vk_pixel_unshuffle(void *ctx, const char *label, const struct lm_tensor *x, uint32_t gh,
			      uint32_t gw, const struct lm_tensor *u)
{
	struct gpu_vision *g = ctx;
	struct gpu_tensor X = gt(x), U = gt(u);
	return gpu_op_pixel_unshuffle(g->rec, label, &X, gh, gw, &U);
}

static int vk_image_patches(void *ctx, const char *label, const struct vision_image *img,
			    const float mean[3], const float std[3], const struct lm_tensor *patches)
{
	struct gpu_vision *g = ctx;
	struct gpu_image I = gimg(img);
	struct gpu_tensor P = gt(patches);
	return gpu_op_image_patches(g->rec, label, &I, mean, std, &P);
}

static int vk_image_resize(void *ctx, const char *label, const struct vision_image *src,
			   const struct vision_coeffs *c, bool horizontal, const struct vision_image *dst)
{
	struct gpu_vision *g = ctx;
	struct gpu_image S = gimg(src), D = gimg(dst);
	struct gpu_resize_coeffs C = {
		.buffer = c->mem, .offset = c->offset, .n_in = c->n_in, .n_out = c->n_out, .ksize = c->ksize,
	};
	return gpu_op_image_resize(g->rec, label, &S, &C, horizontal ? 1 : 0, &D);
}

int gpu_vision_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
		      struct gpu_staging *st, uint32_t max_dispatches, struct gpu_vision **out)
{
	*out = NULL;
	struct gpu_vision *g = g_new0(struct gpu_vision, 1);
	g->dev = dev;
	g->st = st;
	int ret = gpu_recorder_create(dev, pipes, max_dispatches, &g->rec);
	if (ret < 0) {
		g_free(g);
		return ret;
	}
	g->be = (struct vision_backend){
		.ctx = g,
		.name = "vulkan",
		.alloc = vk_alloc,
		.free = vk_free,
		.write = vk_write,
		.flush = vk_flush,
		.read = vk_read,
		.begin = vk_begin,
		.submit_wait = vk_submit_wait,
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
	gpu_recorder_destroy(g->rec);
	g_free(g);
}

const struct vision_backend *gpu_vision_backend(struct gpu_vision *g)
{
	return &g->be;
}

void gpu_vision_memory(const struct gpu_vision *g, uint64_t bytes[4])
{
	for (int i = 0; i < 4; i++)
		bytes[i] = g->bytes[i];
}

uint32_t gpu_vision_dispatches(uint32_t n_layer, uint32_t n_crops)
{
	/* resize ≤ 4 and patches 1 per crop; per layer 8 dense + 1 per crop;
	 * unshuffle 1 per crop; tail 5; pieces of large mul_mats: margin ×2. */
	uint64_t n = 2ull * (6ull * n_crops + (uint64_t)n_layer * (8 + n_crops) + 8);
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}
