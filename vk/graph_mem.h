/* vk/graph_mem.h — the memory half of a model-graph backend on Vulkan:
 * buffers by lifetime, staged writes and reads, one recording at a time.
 * The LM (vk/lfm2_lm.c) and vision (vk/lfm2_vision.c) bindings share it.
 *
 * The functions take the backend's void *ctx, which must point at a
 * struct gpu_graph_mem: a binding keeps one as the FIRST member of its own
 * struct and passes that struct as the backend's ctx. One thread, as the
 * device. */
#ifndef CAPTIOND_VK_GRAPH_MEM_H
#define CAPTIOND_VK_GRAPH_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "model/lm_graph.h"
#include "vk/ops.h"

struct gpu_device;
struct gpu_staging;
struct gpu_recorder;

struct gpu_graph_mem {
	struct gpu_device *dev;
	struct gpu_staging *st;
	struct gpu_recorder *rec;
	bool recording;
	uint64_t bytes[4]; /* allocated, by enum lm_mem_kind */
};

int gpu_graph_mem_alloc(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem);
void gpu_graph_mem_free(void *ctx, void *mem);
int gpu_graph_mem_write(void *ctx, void *mem, uint64_t off, const void *src, uint64_t bytes);
int gpu_graph_mem_flush(void *ctx);
int gpu_graph_mem_read(void *ctx, void *mem, uint64_t off, void *dst, uint64_t bytes);
int gpu_graph_mem_begin(void *ctx);
int gpu_graph_mem_submit_wait(void *ctx);

/* The Vulkan view of a graph tensor. */
static inline struct gpu_tensor gpu_graph_tensor(const struct lm_tensor *t)
{
	return (struct gpu_tensor){
		.buffer = t->mem, .offset = t->offset, .type = t->type,
		.ne = { t->ne[0], t->ne[1] }, .row_stride = t->row_stride,
	};
}

#endif
