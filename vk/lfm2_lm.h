/* vk/lfm2_lm.h — the LFM2 decoder on Vulkan: binds the backend interface of
 * model/lm_graph.h (the graph and the sequence API live there, written once)
 * to the gpu_op_* kernels, memory kinds, staging ring and one recorder.
 *
 *   gpu_device → gpu_pipelines → gpu_staging → gpu_lm_create →
 *   lm_model_create(gpu_lm_backend(g), gguf) → lm_ctx_create → lm_seq_* /
 *   lm_ctx_step … (each step: one command buffer, one submit, one wait;
 *   lm_ctx_decode_greedy: K greedy steps in one, so the recorder's
 *   max_dispatches must hold K steps: ~89 each at 450m batch 1, ~190 on
 *   the unfused path of larger batches)
 *
 * Weights go to GPU_MEM_WEIGHTS through the staging ring, KV/conv pools and
 * activations to GPU_MEM_SCRATCH, per-step inputs to GPU_MEM_UPLOAD (read by
 * the shaders in place), logits to GPU_MEM_READBACK (written by the head in
 * place; when only the argmax is read, to scratch). Ops: vk/ops.h,
 * vk/ops_lm.h (K/V caches F16, Q8_0 or Q4_0); steps of up to 8 rows (env
 * CAPTIOND_MMV_MAX_COLS) run the mat-vec kernels, with the RMSNorms, the FFN
 * (w1, w3, SwiGLU) and the residual adds fused in (gpu_op_mul_mat_vec_fused;
 * env CAPTIOND_LM_FUSE), larger ones vk/ops_matmul.h and the plain ops. A type without a kernel is -ENOTSUP
 * from the op, never a silent CPU fallback.
 *
 * Threads: one gpu_lm, and everything run on it, belongs to the device's
 * thread. The device, pipelines and staging ring must outlive it.
 */
#ifndef CAPTIOND_VK_LFM2_LM_H
#define CAPTIOND_VK_LFM2_LM_H

#include <stdint.h>

#include "model/lm_graph.h"
#include "vk/device.h"
#include "vk/pipeline.h"
#include "vk/staging.h"

struct gpu_lm;

/* max_dispatches: per step (a 16-layer LM needs ~250 plus pieces). */
int gpu_lm_create(struct gpu_device *dev, const struct gpu_pipelines *pipes, struct gpu_staging *st,
		  uint32_t max_dispatches, struct gpu_lm **out);
void gpu_lm_destroy(struct gpu_lm *g); /* NULL-safe; after every lm_model/lm_ctx made on it */

/* The op table to hand to lm_model_create; valid while g lives. */
const struct lm_backend *gpu_lm_backend(struct gpu_lm *g);

/* Bytes allocated so far per kind (enum lm_mem_kind index). */
void gpu_lm_memory(const struct gpu_lm *g, uint64_t bytes[4]);

#endif
