/* vk/lfm2_lm.c — struct lm_backend on the Vulkan runtime (see lfm2_lm.h). */
#include "vk/lfm2_lm.h"

#include <errno.h>

#include <glib.h>

#include "vk/buffer.h"
#include "vk/ops.h"
#include "vk/recorder.h"

struct gpu_lm {
	struct lm_backend be;
	struct gpu_device *dev;
	const struct gpu_pipelines *pipes;
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

static int vk_alloc(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem)
{
	struct gpu_lm *g = ctx;
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
	struct gpu_lm *g = ctx;
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
	struct gpu_lm *g = ctx;
	return gpu_staging_write(g->st, mem, off, src, bytes);
}

static int vk_flush(void *ctx)
{
	struct gpu_lm *g = ctx;
	return gpu_staging_flush(g->st);
}

static int vk_read(void *ctx, void *mem, uint64_t off, void *dst, uint64_t bytes)
{
	struct gpu_lm *g = ctx;
	return gpu_staging_read(g->st, mem, off, dst, bytes);
}

static int vk_begin(void *ctx)
{
	struct gpu_lm *g = ctx;
	/* Step inputs written into scratch (a reset conv slot) must land first;
	 * UPLOAD writes are plain memcpy and need nothing. */
	int ret = gpu_staging_flush(g->st);
	if (ret == 0)
		ret = gpu_recorder_begin(g->rec);
	g->recording = ret == 0;
	return ret;
}

static int vk_submit_wait(void *ctx)
{
	struct gpu_lm *g = ctx;
	if (!g->recording)
		return -EBUSY;
	g->recording = false;
	int ret = gpu_recorder_submit(g->rec);
	if (ret == 0)
		ret = gpu_recorder_wait(g->rec);
	return ret;
}

static int vk_mul_mat(void *ctx, const char *label, const struct lm_tensor *w, const struct lm_tensor *x,
		      const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor W = gt(w), X = gt(x), Y = gt(y);
	return gpu_op_mul_mat_vec(g->rec, label, &W, &X, &Y);
}

static int vk_rms_norm(void *ctx, const char *label, const struct lm_tensor *x, const struct lm_tensor *w,
		       float eps, const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor X = gt(x), Wt = gt(w), Y = gt(y);
	return gpu_op_rms_norm(g->rec, label, &X, &Wt, eps, &Y);
}

static int vk_add(void *ctx, const char *label, const struct lm_tensor *a, const struct lm_tensor *b,
		  const struct lm_tensor *c)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor A = gt(a), B = gt(b), C = gt(c);
	return gpu_op_add(g->rec, label, &A, &B, &C);
}

/* Ops whose kernels are not on this branch yet (vk/ops_lm.h, branch
 * deckern): each says so once per call site rather than pretending. */
static int missing(const char *label, const char *op)
{
	g_warning("%s: no Vulkan kernel for %s yet", label, op);
	return -ENOTSUP;
}

static int vk_get_rows(void *ctx, const char *label, const struct lm_tensor *table,
		       const struct lm_tensor *ids, const struct lm_tensor *y)
{
	(void)ctx, (void)table, (void)ids, (void)y;
	return missing(label, "get_rows");
}

static int vk_swiglu(void *ctx, const char *label, const struct lm_tensor *gate, const struct lm_tensor *u,
		     const struct lm_tensor *y)
{
	(void)ctx, (void)gate, (void)u, (void)y;
	return missing(label, "swiglu");
}

static int vk_shortconv(void *ctx, const char *label, const struct lm_tensor *z, const struct lm_tensor *w,
			const struct lm_tensor *state, const struct lm_tensor *rows,
			const struct lm_pool_geom *geom, const struct lm_tensor *y)
{
	(void)ctx, (void)z, (void)w, (void)state, (void)rows, (void)geom, (void)y;
	return missing(label, "shortconv");
}

static int vk_rope(void *ctx, const char *label, const struct lm_tensor *x, uint32_t n_heads,
		   const struct lm_tensor *rows, float theta)
{
	(void)ctx, (void)x, (void)n_heads, (void)rows, (void)theta;
	return missing(label, "rope");
}

static int vk_kv_write(void *ctx, const char *label, const struct lm_tensor *k, const struct lm_tensor *v,
		       const struct lm_tensor *kc, const struct lm_tensor *vc, const struct lm_tensor *rows,
		       const struct lm_pool_geom *geom)
{
	(void)ctx, (void)k, (void)v, (void)kc, (void)vc, (void)rows, (void)geom;
	return missing(label, "kv_write");
}

static int vk_attention(void *ctx, const char *label, const struct lm_tensor *q, const struct lm_tensor *kc,
			const struct lm_tensor *vc, const struct lm_tensor *rows, const struct lm_pool_geom *geom,
			uint32_t n_head, uint32_t n_head_kv, uint32_t head_dim, const struct lm_tensor *o)
{
	(void)ctx, (void)q, (void)kc, (void)vc, (void)rows, (void)geom, (void)n_head, (void)n_head_kv;
	(void)head_dim, (void)o;
	return missing(label, "attention");
}

int gpu_lm_create(struct gpu_device *dev, const struct gpu_pipelines *pipes, struct gpu_staging *st,
		  uint32_t max_dispatches, struct gpu_lm **out)
{
	*out = NULL;
	struct gpu_lm *g = g_new0(struct gpu_lm, 1);
	g->dev = dev;
	g->pipes = pipes;
	g->st = st;
	int ret = gpu_recorder_create(dev, pipes, max_dispatches, &g->rec);
	if (ret < 0) {
		g_free(g);
		return ret;
	}
	g->be = (struct lm_backend){
		.ctx = g,
		.name = "vulkan",
		.alloc = vk_alloc,
		.free = vk_free,
		.write = vk_write,
		.flush = vk_flush,
		.read = vk_read,
		.begin = vk_begin,
		.submit_wait = vk_submit_wait,
		.get_rows = vk_get_rows,
		.mul_mat = vk_mul_mat,
		.rms_norm = vk_rms_norm,
		.add = vk_add,
		.swiglu = vk_swiglu,
		.shortconv = vk_shortconv,
		.rope = vk_rope,
		.kv_write = vk_kv_write,
		.attention = vk_attention,
	};
	*out = g;
	return 0;
}

void gpu_lm_destroy(struct gpu_lm *g)
{
	if (!g)
		return;
	gpu_recorder_destroy(g->rec);
	g_free(g);
}

const struct lm_backend *gpu_lm_backend(struct gpu_lm *g)
{
	return &g->be;
}

void gpu_lm_memory(const struct gpu_lm *g, uint64_t bytes[4])
{
	for (int i = 0; i < 4; i++)
		bytes[i] = g->bytes[i];
}
