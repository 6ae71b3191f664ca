/* daemon/batcher.h — the inference thread: dynamic batching of the streams'
 * newest frames through one engine (vk/captioner.h in the daemon).
 *
 * One thread. Each pass it takes every stream whose next caption is due
 * (caption_interval_ms after its previous batch formed) and whose slot holds
 * a frame (pipeline/capture.h: latest frame wins, a replaced frame is counted
 * there as dropped, nothing queues). With fewer than max_batch frames it
 * waits at most max_wait_ms for more due streams, then runs the batch: one
 * vision pass and one batched decode for all of them, each caption finishing
 * on its own (EOS or max tokens). Frames join at batch boundaries: a frame
 * that becomes due while a batch decodes waits for the next batch (the
 * captioner has no mid-decode join yet).
 *
 * Ownership: a frame taken from a slot belongs to this thread until its
 * batch has run; then it is released. Captions go to done() on this thread
 * (the daemon publishes them, which copies).
 *
 * The thread pings the systemd watchdog (service.h) at half its interval
 * from the loop itself: a batch that hangs on the GPU stops the pings.
 *
 * Threads: create/destroy/stream_add/stream_remove/stop/stats on the main
 * thread; run() and done() are called on the inference thread.
 */
#ifndef CAPTIOND_DAEMON_BATCHER_H
#define CAPTIOND_DAEMON_BATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "model/vision_graph.h"
#include "pipeline/capture.h"
#include "vk/captioner.h"

struct service;

/* Caption n frames into out[n] (vk/captioner.h's captioner_run). */
typedef int (*batcher_run_fn)(void *user, const struct vision_frame *frames, uint32_t n, struct caption *out);
/* One finished caption: seq counts the stream's captions from 1. */
typedef void (*batcher_done_fn)(void *user, const char *stream, uint64_t seq, const struct capture_frame *frame,
				const struct caption *caption);

struct batcher_params {
	uint32_t max_batch;        /* frames per batch, >= 1 */
	uint32_t max_wait_ms;      /* wait for more due frames once one is due */
	batcher_run_fn run;
	batcher_done_fn done;
	void *user;
	struct service *service;   /* watchdog pings; may be NULL */
};

struct batcher_stream_stats {
	bool found;
	uint64_t frames_in, frames_dropped; /* capture's counts (dropped: replaced in the slot) */
	uint64_t captions;
	double fps_in, captions_per_s;      /* since the stream was added */
	double latency_p50_ms, latency_p95_ms; /* capture to caption, last 256 captions; 0 before any */
};

#define BATCHER_MAX_BATCH 64

struct batcher_stats {
	uint64_t batches;
	uint64_t batch_sizes[BATCHER_MAX_BATCH + 1]; /* batches of each size */
	uint64_t run_errors;
};

struct batcher;

/* Starts the thread. Returns 0 and *out, or -EINVAL (params). */
int batcher_create(const struct batcher_params *params, struct batcher **out);

/* Add a stream (name copied); its first caption is due at once. The capture
 * stream must outlive its membership (remove it before destroying it). */
int batcher_stream_add(struct batcher *b, const char *name, struct capture_stream *capture,
		       uint32_t caption_interval_ms);
/* After this returns the thread never touches the capture stream again; a
 * frame of it already in a batch is still captioned and published. */
void batcher_stream_remove(struct batcher *b, const char *name);

/* Finish the batch in flight (its captions reach done()) and join. */
void batcher_stop(struct batcher *b);
/* Stops if needed; NULL-safe. */
void batcher_destroy(struct batcher *b);

void batcher_stream_stats_get(struct batcher *b, const char *name, struct batcher_stream_stats *out);
void batcher_stats_get(struct batcher *b, struct batcher_stats *out);

#endif
