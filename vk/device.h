/* vk/device.h — the Vulkan instance, the chosen physical device, its logical
 * device and compute queue, and what the device can do (struct gpu_caps).
 *
 * Start-up order: gpu_device_config_from_env() (optional) → gpu_device_create()
 * → gpu_pipelines_create() → buffers, recorders. Teardown in reverse.
 * One thread owns a gpu_device and everything made from it; nothing here is
 * thread-safe unless said so.
 *
 * Debug knobs (all of them, read only by gpu_device_config_from_env; see
 * docs/vulkan.md):
 *   CAPTIOND_VK_DEVICE      device index ("1") or name substring ("llvmpipe")
 *   CAPTIOND_VK_VALIDATION  1: enable VK_LAYER_KHRONOS_validation + messenger
 *   CAPTIOND_PROFILE        1: timestamp every dispatch, print a per-label
 *                           table at gpu_device_destroy()
 */
#ifndef CAPTIOND_VK_DEVICE_H
#define CAPTIOND_VK_DEVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <volk.h>

struct gpu_device;

struct gpu_device_config {
	/* NULL: best device (discrete > integrated > virtual > CPU). All digits:
	 * that index in vkEnumeratePhysicalDevices order. Else a case-insensitive
	 * substring of the device name. */
	const char *device;
	bool validation;  /* enable the validation layer when it is installed */
	bool profile;     /* timestamps per dispatch (needs timestamp support) */
	/* 0: the device's maxStorageBufferRange. Else the smaller of the two:
	 * lets tests exercise the split of large tensors on small shapes. */
	uint64_t max_binding_bytes;
};

/* What the device can do, filled at create; plain values, read-only. */
struct gpu_caps {
	char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
	VkPhysicalDeviceType type;
	uint32_t api_version;
	uint32_t vendor_id, device_id;
	uint32_t subgroup_size;          /* the default subgroup size */
	bool subgroup_arithmetic;        /* subgroupAdd & co. in compute */
	bool subgroup_shuffle;           /* subgroupShuffleXor & co. in compute (attention) */
	bool fp16_arith;                 /* shaderFloat16 */
	bool int8_arith;                 /* shaderInt8 */
	bool int16_arith;                /* shaderInt16 */
	bool storage_16bit, storage_8bit;
	bool int8_dot;                   /* shaderIntegerDotProduct */
	bool int8_dot_accelerated;       /* packed 4x8-bit signed, accelerated */
	bool coopmat_khr, coopmat_nv;    /* extension (and feature) present */
	bool memory_model;      /* vulkanMemoryModel: SPIR-V from GL_NV_cooperative_matrix declares it */
	uint32_t max_shared_bytes;       /* maxComputeSharedMemorySize */
	uint64_t max_storage_range;      /* maxStorageBufferRange, as reported */
	uint64_t max_binding_bytes;      /* what bindings use: range or override */
	uint64_t max_alloc_bytes;        /* maxMemoryAllocationSize */
	uint64_t device_local_bytes;     /* size of the largest device-local heap */
	uint32_t storage_align;          /* minStorageBufferOffsetAlignment */
	uint32_t max_push_bytes;         /* maxPushConstantsSize */
	uint32_t max_wg_count[3];        /* maxComputeWorkGroupCount */
	uint32_t max_wg_size_x;          /* maxComputeWorkGroupSize[0] */
	uint32_t max_wg_invocations;
	bool timestamps;                 /* compute queue can write timestamps */
	double timestamp_period_ns;
	bool debug_utils;                /* VK_EXT_debug_utils on the instance */
	bool validation;                 /* the validation layer is enabled */
};

/* Fill cfg from the environment knobs above; fields the environment does
 * not set keep their value. The returned strings point into the environment. */
void gpu_device_config_from_env(struct gpu_device_config *cfg);

/* Create instance, pick a device, create it. Returns 0, -ENODEV when there is
 * no Vulkan loader or no usable device (the log says which), -ENOENT when the
 * asked-for device does not exist, -ENOTSUP when the device lacks a required
 * feature (Vulkan 1.2, 8/16-bit storage, subgroup arithmetic), -ENOMEM. */
int gpu_device_create(const struct gpu_device_config *cfg, struct gpu_device **out);
void gpu_device_destroy(struct gpu_device *dev); /* NULL-safe; prints the profile */

const struct gpu_caps *gpu_device_caps(const struct gpu_device *dev);

/* Print name, type, limits and features, one "key: value" per line. */
void gpu_device_describe(const struct gpu_device *dev, FILE *f);

/* Validation-layer messages of severity error seen so far (0 without the
 * layer). Tests fail on any. */
uint32_t gpu_device_validation_errors(const struct gpu_device *dev);

/* Per-label GPU time, accumulated by recorders when profiling is on. */
void gpu_device_profile_add(struct gpu_device *dev, const char *label, double ns);
void gpu_device_profile_print(const struct gpu_device *dev, FILE *f);
void gpu_device_profile_reset(struct gpu_device *dev); /* forget what was added so far */

/* Raw handles for the other vk/ modules. */
VkDevice gpu_device_vk(const struct gpu_device *dev);
VkPhysicalDevice gpu_device_vk_physical(const struct gpu_device *dev);
VkQueue gpu_device_queue(const struct gpu_device *dev);
uint32_t gpu_device_queue_family(const struct gpu_device *dev);
bool gpu_device_profiling(const struct gpu_device *dev);

/* Memory type index with all `required` flags, preferring `preferred`,
 * among those in type_bits; -1 when none fits. */
int gpu_device_memory_type(const struct gpu_device *dev, uint32_t type_bits,
			   VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred);

/* Log a failed Vulkan call with its site; returns gpu_result_errno(r). */
int gpu_vk_fail(const char *what, VkResult r);

#endif
