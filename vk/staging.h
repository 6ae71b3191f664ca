/* vk/staging.h — a host-visible ring through which weights go up once and
 * results come down: copies are batched into one command buffer and
 * submitted when the ring is full or on flush.
 *
 * Sized at start-up (e.g. 64 MiB); a write of any size goes through in
 * ring-sized pieces. Owned by one thread. Writes into UPLOAD buffers and
 * reads from UPLOAD/READBACK buffers are a memcpy; the other kinds always
 * take the ring.
 */
#ifndef CAPTIOND_VK_STAGING_H
#define CAPTIOND_VK_STAGING_H

#include <stddef.h>
#include <stdint.h>

#include "vk/buffer.h"

struct gpu_staging;

int gpu_staging_create(struct gpu_device *dev, uint64_t ring_bytes, struct gpu_staging **out);
void gpu_staging_destroy(struct gpu_staging *st); /* NULL-safe; waits for pending copies */

/* Queue a copy of size bytes from src into dst at dst_offset. The data is
 * copied into the ring now (src may be reused on return); it reaches dst at
 * the latest on gpu_staging_flush(). Returns 0, -EINVAL (out of range),
 * -ENODEV, -ENOMEM. */
int gpu_staging_write(struct gpu_staging *st, struct gpu_buffer *dst, uint64_t dst_offset,
		      const void *src, uint64_t size);

/* Submit what is queued and wait for it; later dispatches see the data. */
int gpu_staging_flush(struct gpu_staging *st);

/* Copy size bytes of src at src_offset into dst (flushes first; waits).
 * The GPU work that wrote src must be finished (gpu_recorder_wait). */
int gpu_staging_read(struct gpu_staging *st, struct gpu_buffer *src, uint64_t src_offset,
		     void *dst, uint64_t size);

#endif
