/* daemon/batcher.h — the inference thread: dynamic batching of the streams'
 * newest frames through one streaming captioner (vk/captioner.h), with
 * sequences that join a running decode.
 *
 * One thread, one loop; each pass:
 *   1. gather: every stream whose next caption is due (caption_interval_ms
 *      after its previous frame was taken) and whose slot holds a frame
 *      (pipeline/capture.h: latest frame wins, a replaced frame is counted
 *      there as dropped, nothing queues), the longest overdue first, up to
 *      the captioner's free slots. One encode of k frames costs far less
 *      than k encodes, so it waits at most max_wait_ms for more: when
 *      nothing decodes, for more due streams once one has a frame; while a
 *      decode runs, the due streams join when they fill every free slot or
 *      the longest overdue has waited max_wait_ms (their frames stay in
 *      their slots meanwhile, so the newest is taken).
 *   2. gate (optional, per stream): a frame whose picture changed less than
 *      the stream's scene_change_threshold since its last captioned frame is
 *      released uncaptioned and counted (skipped_unchanged).
 *   3. submit: the remaining frames are encoded together and their prompts
 *      (each stream's own, or the global one) prefilled in one step; the new
 *      sequences join the running decode.
 *   4. step: one decode step of every running sequence.
 *   5. take: every caption that finished (EOS or max tokens) goes to done().
 * So a frame that becomes due while others decode starts within
 * max_wait_ms (plus one decode step), not when the whole previous batch
 * has finished.
 *
 * The gate runs on the CPU, on this thread: the frame is already in host
 * memory (GStreamer's buffer), the measure reads a 16×16 grid of 4×4-pixel
 * samples per block (~4 k pixels of a 512×512 frame, a few µs), and a frame
 * it skips never costs an upload or a GPU submit — on a GPU the frame would
 * have to be uploaded first, which is most of what the gate saves. Block
 * means ignore sensor noise that a per-pixel difference would see.
 *
 * Ownership: a frame taken from a slot belongs to this thread; its buffer
 * is released as soon as its sequence is submitted (the encoder has read
 * it) or skipped; its timestamps travel with the sequence to done().
 * Captions go to done() on this thread (the daemon publishes them, which
 * copies).
 *
 * The thread pings the systemd watchdog (service.h) at half its interval
 * from the loop itself: a step that hangs on the GPU stops the pings.
 *
 * Threads: create/destroy/stream_add/stream_remove/stop/stats on the main
 * thread; the captioner and done() are used on the inference thread only.
 */
#ifndef CAPTIOND_DAEMON_BATCHER_H
#define CAPTIOND_DAEMON_BATCHER_H

#include <stdbool.h>
#include <stdint.h>

#include "model/vision_graph.h"
#include "pipeline/capture.h"
#include "vk/captioner.h"

struct service;

/* One finished caption: seq counts the stream's captions from 1. frame has
 * the capture's timestamps and geometry; its sample is already released. */
typedef void (*batcher_done_fn)(void *user, const char *stream, uint64_t seq, const struct capture_frame *frame,
				const struct caption *caption);

struct batcher_params {
	uint32_t max_batch;        /* sequences at once (the captioner's max_batch), >= 1 */
	uint32_t max_wait_ms;      /* wait for more due frames once one is due (idle decoder only) */
	struct captioner *captioner; /* streaming; used by the inference thread only */
	batcher_done_fn done;
	void *user;
	struct service *service;   /* watchdog pings; may be NULL */
};

struct batcher_stream_params {
	uint32_t caption_interval_ms;
	const char *prompt;            /* NULL: the captioner's; copied */
	double scene_change_threshold; /* 0: caption every due frame; (0, 1]: see above */
};

struct batcher_stream_stats {
	bool found;
	uint64_t frames_in, frames_dropped; /* capture's counts (dropped: replaced in the slot) */
	uint64_t captions;
	uint64_t skipped_unchanged;         /* due frames the scene-change gate skipped */
	double fps_in, captions_per_s;      /* since the stream was added */
	double latency_p50_ms, latency_p95_ms; /* capture to caption, last 256 captions; 0 before any */
};

#define BATCHER_MAX_BATCH 64

struct batcher_stats {
	uint64_t batches;                            /* submits (frames encoded together) */
	uint64_t batch_sizes[BATCHER_MAX_BATCH + 1]; /* submits of each size */
	uint64_t steps, step_rows;                   /* decode steps and sequences in them */
	uint64_t run_errors;                         /* failed submits and failed sequences */
};

struct batcher;

/* Starts the thread. Returns 0 and *out, or -EINVAL (params). */
int batcher_create(const struct batcher_params *params, struct batcher **out);

/* Add a stream (name and prompt copied); its first caption is due at once.
 * The capture stream must outlive its membership (remove it before
 * destroying it). */
int batcher_stream_add(struct batcher *b, const char *name, struct capture_stream *capture,
		       const struct batcher_stream_params *params);
/* After this returns the thread never touches the capture stream again; a
 * frame of it already submitted is still captioned and published. */
void batcher_stream_remove(struct batcher *b, const char *name);

/* Take no new frames, finish the sequences running (their captions reach
 * done()) and join. */
void batcher_stop(struct batcher *b);
/* Stops if needed; NULL-safe. */
void batcher_destroy(struct batcher *b);

void batcher_stream_stats_get(struct batcher *b, const char *name, struct batcher_stream_stats *out);
void batcher_stats_get(struct batcher *b, struct batcher_stats *out);

/* The gate's measure (exposed for tests): mean absolute difference of two
 * 16×16 grey thumbnails, 0..1. */
#define BATCHER_THUMB 16
void batcher_thumbnail(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
		       uint32_t row_stride, uint8_t thumb[BATCHER_THUMB * BATCHER_THUMB]);
double batcher_thumbnail_diff(const uint8_t *a, const uint8_t *b);

#endif
