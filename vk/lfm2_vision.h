/* vk/lfm2_vision.h — the LFM2-VL vision side on Vulkan: binds the backend
 * interface of model/vision_graph.h (the graph lives there, written once)
 * to the gpu_op_* kernels of vk/ops_vision.h and vk/ops_matmul.h.
 *
 *   gpu_device → gpu_pipelines → gpu_staging → gpu_vision_create →
 *   vision_model_create(gpu_vision_backend(g), mmproj) → vision_ctx_create →
 *   vision_ctx_encode … (each batch: one command buffer, one submit, one wait)
 *
 * Linear layers use gpu_op_mul_mat (its cooperative-matrix kernel where the
 * device has one, the tiled f32 kernel everywhere else); frames are written
 * into GPU_MEM_UPLOAD and read by the shaders in place; projector rows are
 * written into GPU_MEM_READBACK.
 *
 * Attention: the tensor-core kernel where the device has it
 * (gpu_op_attention_encoder); CAPTIOND_VISION_ATTN=plain in the environment
 * (read at create) forces the plain kernel, to compare the two.
 *
 * Threads: one gpu_vision, and everything run on it, belongs to the
 * device's thread. The device, pipelines and staging ring must outlive it.
 */
#ifndef CAPTIOND_VK_LFM2_VISION_H
#define CAPTIOND_VK_LFM2_VISION_H

#include <stdint.h>

#include "model/vision_graph.h"
#include "vk/device.h"
#include "vk/pipeline.h"
#include "vk/staging.h"

struct gpu_vision;

/* max_dispatches: per batch (≈ 10 per layer plus one per crop per layer). */
int gpu_vision_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
		      struct gpu_staging *st, uint32_t max_dispatches, struct gpu_vision **out);
void gpu_vision_destroy(struct gpu_vision *g); /* NULL-safe; after its models and contexts */

const struct vision_backend *gpu_vision_backend(struct gpu_vision *g);

/* Bytes allocated so far per kind (enum lm_mem_kind index). */
void gpu_vision_memory(const struct gpu_vision *g, uint64_t bytes[4]);

/* Dispatches a batch of n_crops crops needs (for max_dispatches). */
uint32_t gpu_vision_dispatches(uint32_t n_layer, uint32_t n_crops);

#endif
