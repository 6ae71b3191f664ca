/* vk/graph_mem.c — see vk/graph_mem.h. */
#include "vk/graph_mem.h"

#include <errno.h>

#include "vk/buffer.h"
#include "vk/recorder.h"
#include "vk/staging.h"

int gpu_graph_mem_alloc(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem)
{
	struct gpu_graph_mem *g = ctx;
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

void gpu_graph_mem_free(void *ctx, void *mem)
{
	struct gpu_graph_mem *g = ctx;
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

int gpu_graph_mem_write(void *ctx, void *mem, uint64_t off, const void *src, uint64_t bytes)
{
	struct gpu_graph_mem *g = ctx;
	return gpu_staging_write(g->st, mem, off, src, bytes);
}

int gpu_graph_mem_flush(void *ctx)
{
	struct gpu_graph_mem *g = ctx;
	return gpu_staging_flush(g->st);
}

int gpu_graph_mem_read(void *ctx, void *mem, uint64_t off, void *dst, uint64_t bytes)
{
	struct gpu_graph_mem *g = ctx;
	return gpu_staging_read(g->st, mem, off, dst, bytes);
}

int gpu_graph_mem_begin(void *ctx)
{
	struct gpu_graph_mem *g = ctx;
	/* Writes queued in the staging ring (weights, a reset state slot) must
	 * land before the step reads them; UPLOAD writes are plain memcpy. */
	int ret = gpu_staging_flush(g->st);
	if (ret == 0)
		ret = gpu_recorder_begin(g->rec);
	g->recording = ret == 0;
	return ret;
}

int gpu_graph_mem_submit_wait(void *ctx)
{
	struct gpu_graph_mem *g = ctx;
	if (!g->recording)
		return -EBUSY;
	g->recording = false;
	int ret = gpu_recorder_submit(g->rec);
	if (ret == 0)
		ret = gpu_recorder_wait(g->rec);
	return ret;
}
