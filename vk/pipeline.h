/* vk/pipeline.h — every compute pipeline, created at start-up from SPIR-V
 * embedded at build time, with one descriptor-set layout (GPU_MAX_BINDINGS
 * storage buffers) and one pipeline layout shared by all.
 *
 * Names follow one rule from source to table: shaders/mul_mat_vec.comp built
 * with -DWTYPE=Q4_0 is the SPIR-V symbol mul_mat_vec_q4_0_f32 and the table
 * entry GPU_PIPE_MUL_MAT_VEC_Q4_0_F32 named "mul_mat_vec_q4_0_f32".
 * Specialization constants: id 0 = workgroup size (a multiple of the
 * device's subgroup size), id 1 = columns per workgroup (mul_mat_vec), id 2 =
 * rows per workgroup (mul_mat_vec), id 3 = lanes per row (mul_mat_vec), id 4
 * = lanes per row for rows of >= id 5 elements (mul_mat_vec).
 *
 * The mat-vec kernels come twice from one SPIR-V: for one vector (decode of
 * one sequence: fewest registers) and for up to GPU_MMV_MAX_COLS vectors
 * (batched decode: each weight read once for all of them); entries _1.
 */
#ifndef CAPTIOND_VK_PIPELINE_H
#define CAPTIOND_VK_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "vk/device.h"

#define GPU_MAX_BINDINGS 8
#define GPU_MMV_MAX_COLS 16 /* vectors one mul_mat_vec workgroup handles */

enum gpu_pipe_id {
	GPU_PIPE_MUL_MAT_VEC_F32_F32,
	GPU_PIPE_MUL_MAT_VEC_F16_F32,
	GPU_PIPE_MUL_MAT_VEC_Q8_0_F32,
	GPU_PIPE_MUL_MAT_VEC_Q4_0_F32,
	GPU_PIPE_MUL_MAT_VEC_Q6_K_F32,
	GPU_PIPE_RMS_NORM_F32,
	GPU_PIPE_ADD_F32,
	GPU_PIPE_MUL_MAT_F32_F32,
	GPU_PIPE_MUL_MAT_F16_F32,
	GPU_PIPE_MUL_MAT_BF16_F32,
	GPU_PIPE_MUL_MAT_Q8_0_F32,
	GPU_PIPE_MUL_MAT_Q4_0_F32,
	GPU_PIPE_MUL_MAT_Q6_K_F32,
	GPU_PIPE_MUL_MAT_CM_F32_F32, /* NV cooperative matrix; no VkPipeline without it */
	GPU_PIPE_MUL_MAT_CM_F16_F32,
	GPU_PIPE_MUL_MAT_CM_BF16_F32,
	GPU_PIPE_MUL_MAT_CM_Q8_0_F32,
	GPU_PIPE_MUL_MAT_CM_Q4_0_F32,
	GPU_PIPE_MUL_MAT_CM_Q6_K_F32,
	/* F16, Q8_0, Q4_0 with other tile shapes, in this order (vk/ops_matmul.c) */
	GPU_PIPE_MUL_MAT_CM_M_F16_F32,
	GPU_PIPE_MUL_MAT_CM_M_Q8_0_F32,
	GPU_PIPE_MUL_MAT_CM_M_Q4_0_F32,
	GPU_PIPE_MUL_MAT_CM_S_F16_F32,
	GPU_PIPE_MUL_MAT_CM_S_Q8_0_F32,
	GPU_PIPE_MUL_MAT_CM_S_Q4_0_F32,
	GPU_PIPE_MUL_MAT_CM_T_F16_F32,
	GPU_PIPE_MUL_MAT_CM_T_Q8_0_F32,
	GPU_PIPE_MUL_MAT_CM_T_Q4_0_F32,
	GPU_PIPE_MUL_MAT_CM_V_F16_F32,
	GPU_PIPE_MUL_MAT_CM_V_Q8_0_F32,
	GPU_PIPE_MUL_MAT_CM_V_Q4_0_F32,
	GPU_PIPE_LAYER_NORM_F32,
	GPU_PIPE_ATTN_ENC_F32,
	GPU_PIPE_PIXEL_UNSHUFFLE_F32,
	GPU_PIPE_IMAGE_PATCHES_U8,
	GPU_PIPE_IMAGE_RESIZE_U8,
	GPU_PIPE_ATTN_ENC_CM_F32, /* NV cooperative matrix; no VkPipeline without it */
	/* decoder ops (vk/ops_lm.h) */
	GPU_PIPE_GET_ROWS_F32_F32,
	GPU_PIPE_GET_ROWS_F16_F32,
	GPU_PIPE_GET_ROWS_Q8_0_F32,
	GPU_PIPE_GET_ROWS_Q4_0_F32,
	GPU_PIPE_GET_ROWS_Q6_K_F32,
	GPU_PIPE_SET_ROWS_F32,
	GPU_PIPE_SWIGLU_F32,
	GPU_PIPE_SHORTCONV_F32,
	GPU_PIPE_ROPE_QK_NORM_F32,
	GPU_PIPE_ATTENTION_F16_F32,
	GPU_PIPE_REP_PENALTY_F32,
	GPU_PIPE_ARGMAX_F32,
	GPU_PIPE_MUL_MAT_VEC_FUSED_F32_F32,
	GPU_PIPE_MUL_MAT_VEC_FUSED_F16_F32,
	GPU_PIPE_MUL_MAT_VEC_FUSED_Q8_0_F32,
	GPU_PIPE_MUL_MAT_VEC_FUSED_Q4_0_F32,
	GPU_PIPE_MUL_MAT_VEC_FUSED_Q6_K_F32,
	/* the same kernels for one vector (spec constant 1 = 1) */
	GPU_PIPE_MUL_MAT_VEC_F32_F32_1,
	GPU_PIPE_MUL_MAT_VEC_F16_F32_1,
	GPU_PIPE_MUL_MAT_VEC_Q8_0_F32_1,
	GPU_PIPE_MUL_MAT_VEC_Q4_0_F32_1,
	GPU_PIPE_MUL_MAT_VEC_Q6_K_F32_1,
	GPU_PIPE_MUL_MAT_VEC_FUSED_F32_F32_1,
	GPU_PIPE_MUL_MAT_VEC_FUSED_F16_F32_1,
	GPU_PIPE_MUL_MAT_VEC_FUSED_Q8_0_F32_1,
	GPU_PIPE_MUL_MAT_VEC_FUSED_Q4_0_F32_1,
	GPU_PIPE_MUL_MAT_VEC_FUSED_Q6_K_F32_1,
	/* quantized KV caches and split attention (vk/ops_lm.h) */
	GPU_PIPE_ROPE_QK_NORM_Q8_0_F32,
	GPU_PIPE_ROPE_QK_NORM_Q4_0_F32,
	GPU_PIPE_ATTENTION_Q8_0_F32,
	GPU_PIPE_ATTENTION_Q4_0_F32,
	GPU_PIPE_ATTENTION_MERGE_F32,
	GPU_PIPE_SAMPLE_CANDIDATES_F32, /* min-p candidates of sampling rows */
	GPU_PIPE_COUNT
};

struct gpu_pipelines;
struct gpu_pipeline;

/* Build every pipeline. cache_path: a file to load the VkPipelineCache from
 * (a missing, foreign or damaged file is ignored with a message) and to save
 * it to afterwards; NULL for no disk cache. Returns 0, -ENOMEM, -ENODEV,
 * -EINVAL (a table entry disagrees with its SPIR-V: push size, bindings). */
int gpu_pipelines_create(struct gpu_device *dev, const char *cache_path,
			 struct gpu_pipelines **out);
void gpu_pipelines_destroy(struct gpu_pipelines *p); /* NULL-safe */

const struct gpu_pipeline *gpu_pipelines_get(const struct gpu_pipelines *p, enum gpu_pipe_id id);
/* By name ("rms_norm_f32"); NULL when unknown. */
const struct gpu_pipeline *gpu_pipelines_find(const struct gpu_pipelines *p, const char *name);
/* mul_mat_vec for a weight type (enum tensor_type); -ENOTSUP naming the type
 * when no variant exists. */
int gpu_pipelines_mul_mat_vec(const struct gpu_pipelines *p, uint32_t wtype,
			      const struct gpu_pipeline **out);
/* The variant for n vectors (the one-vector kernel for n == 1); fused: the
 * mul_mat_vec_fused family. */
int gpu_pipelines_mmv(const struct gpu_pipelines *p, uint32_t wtype, uint32_t n, bool fused,
		      const struct gpu_pipeline **out);

const char *gpu_pipeline_name(const struct gpu_pipeline *pl);
uint32_t gpu_pipeline_push_bytes(const struct gpu_pipeline *pl);
uint32_t gpu_pipeline_binding_mask(const struct gpu_pipeline *pl);
uint32_t gpu_pipeline_wg_size(const struct gpu_pipeline *pl);   /* spec constant 0 */
uint32_t gpu_pipeline_cols(const struct gpu_pipeline *pl);      /* spec constant 1 */
uint32_t gpu_pipeline_rows(const struct gpu_pipeline *pl);      /* spec constant 2 */
/* Mat-vec rows per workgroup for rows of ne0 elements (spec constants 2-5). */
uint32_t gpu_pipeline_mmv_rows(const struct gpu_pipeline *pl, uint32_t ne0);

VkPipeline gpu_pipeline_vk(const struct gpu_pipeline *pl);
VkPipelineLayout gpu_pipelines_layout(const struct gpu_pipelines *p);
VkDescriptorSetLayout gpu_pipelines_set_layout(const struct gpu_pipelines *p);

#endif
