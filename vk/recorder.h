/* vk/recorder.h — records many dispatches into one command buffer and
 * submits them at once (a decode step, an encoder pass).
 *
 *   gpu_recorder_begin → gpu_recorder_dispatch (or gpu_op_*) … →
 *   gpu_recorder_submit → gpu_recorder_wait
 *
 * Barriers: the recorder remembers which buffer ranges were read and written
 * since the last barrier and inserts a compute→compute barrier only before a
 * dispatch that reads or writes what an earlier one wrote, or writes what an
 * earlier one read. After the last dispatch, submit makes the writes visible
 * to transfers and to the host.
 *
 * Sized at create (max_dispatches): descriptor sets, labels and timestamps
 * are preallocated; recording allocates nothing. One thread per recorder;
 * a device may have several recorders (used one after another).
 */
#ifndef CAPTIOND_VK_RECORDER_H
#define CAPTIOND_VK_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "vk/buffer.h"
#include "vk/pipeline.h"

#define GPU_LABEL_MAX 64 /* longer labels are cut */

struct gpu_recorder;

int gpu_recorder_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
			uint32_t max_dispatches, struct gpu_recorder **out);
void gpu_recorder_destroy(struct gpu_recorder *rec); /* NULL-safe; waits for the GPU */

/* Start a command buffer (waits for the previous submit if not waited). */
int gpu_recorder_begin(struct gpu_recorder *rec);

/* Record one dispatch of pl. b[i] is binding i (n_bindings <= GPU_MAX_BINDINGS
 * and covering every binding the shader uses); push/push_bytes must be the
 * pipeline's push struct (size checked). label names the dispatch in the
 * profile and in debug tools (e.g. "model.layers.3.feed_forward.w1").
 * Returns 0, -EINVAL (push size, bindings, group count over the device
 * limit), -ENOSPC (more than max_dispatches), -EBUSY (not recording). */
int gpu_recorder_dispatch(struct gpu_recorder *rec, const struct gpu_pipeline *pl,
			  const char *label, const struct gpu_binding *b, uint32_t n_bindings,
			  const void *push, size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz);

/* End and submit. Returns 0, -ENODEV (device lost), -ENOMEM, -EIO. */
int gpu_recorder_submit(struct gpu_recorder *rec);
/* Wait for the submit; add timestamps to the device profile when on. */
int gpu_recorder_wait(struct gpu_recorder *rec);

struct gpu_device *gpu_recorder_device(const struct gpu_recorder *rec);
const struct gpu_pipelines *gpu_recorder_pipelines(const struct gpu_recorder *rec);
/* Counts of the current/last recording, for tests and benchmarks. */
uint32_t gpu_recorder_dispatch_count(const struct gpu_recorder *rec);
uint32_t gpu_recorder_barrier_count(const struct gpu_recorder *rec);

#endif
