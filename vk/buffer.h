/* vk/buffer.h — GPU buffers grouped by lifetime, and how a piece of a buffer
 * is bound to a shader.
 *
 * Kinds (docs/vulkan.md "Memory"):
 *   GPU_MEM_WEIGHTS  device-local, written once through a gpu_staging ring
 *   GPU_MEM_SCRATCH  device-local activations, KV cache, conv state
 *   GPU_MEM_UPLOAD   host-visible + coherent, mapped (device-local if the
 *                    device has such memory): per-step inputs
 *   GPU_MEM_READBACK host-visible, mapped, cached when possible: results
 * Buffers are sized at start-up; the per-frame path creates none.
 *
 * A shader binding can see at most caps.max_binding_bytes (lavapipe: 128 MiB)
 * and must start at a multiple of caps.storage_align. gpu_buffer_bind() turns
 * any (offset, size) into an aligned binding plus an element offset that the
 * shader adds; ops split tensors larger than one binding into pieces.
 */
#ifndef CAPTIOND_VK_BUFFER_H
#define CAPTIOND_VK_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vk/device.h"

enum gpu_mem_kind {
	GPU_MEM_WEIGHTS,
	GPU_MEM_SCRATCH,
	GPU_MEM_UPLOAD,
	GPU_MEM_READBACK,
};

struct gpu_buffer;

/* name labels the buffer in logs. Returns 0, -EINVAL (size 0), -E2BIG (more
 * than the device can allocate at once), -ENOMEM, -ENODEV. */
int gpu_buffer_create(struct gpu_device *dev, enum gpu_mem_kind kind, uint64_t size_bytes,
		      const char *name, struct gpu_buffer **out);
void gpu_buffer_destroy(struct gpu_buffer *buf); /* NULL-safe; the GPU must be done with it */

uint64_t gpu_buffer_size(const struct gpu_buffer *buf);
enum gpu_mem_kind gpu_buffer_kind(const struct gpu_buffer *buf);
const char *gpu_buffer_name(const struct gpu_buffer *buf);
VkBuffer gpu_buffer_vk(const struct gpu_buffer *buf);
/* Host pointer of UPLOAD/READBACK buffers (and of others when the memory
 * happens to be host-visible); NULL otherwise. */
void *gpu_buffer_map(const struct gpu_buffer *buf);
/* Make GPU writes visible to the host pointer (no-op on coherent memory).
 * Call after gpu_recorder_wait() and before reading. */
int gpu_buffer_invalidate(struct gpu_buffer *buf);

/* One descriptor binding: a window of a buffer. */
struct gpu_binding {
	struct gpu_buffer *buffer;
	uint64_t offset;  /* multiple of caps.storage_align */
	uint64_t range;   /* <= caps.max_binding_bytes */
	bool write;       /* the dispatch writes through it (for barriers) */
};

/* Bind bytes [offset, offset + size) of buf, whose elements are unit_bytes
 * wide (4 for f32, 18 for a Q4_0 block): fills b and *elem_offset, the index
 * of the first element inside the binding. Returns 0, -EINVAL (range outside
 * the buffer, or offset not reachable at the device's alignment), -E2BIG (the
 * window is larger than one binding may be). */
int gpu_buffer_bind(const struct gpu_device *dev, struct gpu_buffer *buf, uint64_t offset,
		    uint64_t size, uint32_t unit_bytes, bool write, struct gpu_binding *b,
		    uint32_t *elem_offset);

#endif
