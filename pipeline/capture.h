/* pipeline/capture.h — one GStreamer pipeline per stream, delivering the
 * newest frame at the vision encoder's size into the stream's slot.
 *
 *   SOURCE ! videoconvert ! videoscale
 *          ! video/x-raw,format=RGBA|RGB,width=W,height=H,pixel-aspect-ratio=1/1
 *          ! appsink (drop=true, max-buffers=1)                  -> the slot
 *
 * With an overlay the source is split first, and each branch has a queue so
 * a display that waits on its clock never holds up the frames for captions:
 *
 *   SOURCE ! tee ─┬─ queue (leaky, 1) ! videoconvert ! videoscale ! caps ! appsink
 *                 └─ queue (leaky, 2) ! videoconvert ! textoverlay ! videoconvert ! SINK
 *
 * The display branch leaves before scaling, so the picture is shown at the
 * source's own size and aspect (pipeline/overlay.h); frames are still
 * converted and scaled once for the encoder. videoscale letterboxes a source
 * of another aspect (add-borders). Frames the leaky queue drops before
 * conversion (a machine too slow to convert every frame) are not counted.
 *
 * The source string (config.h's stream source) becomes SOURCE by its kind:
 *   CONFIG_SOURCE_V4L2      "/dev/video0"     v4l2src device="/dev/video0" ! decodebin
 *   CONFIG_SOURCE_URI       "rtsp://cam/1"    uridecodebin uri="rtsp://cam/1"
 *   CONFIG_SOURCE_FILE      "/srv/clip.mp4"   uridecodebin uri="file:///srv/clip.mp4"
 *   CONFIG_SOURCE_PIPELINE  anything else     used as written, e.g.
 *                           "videotestsrc pattern=ball", "filesrc location=x ! decodebin",
 *                           "rtspsrc location=rtsp://cam/1 ! decodebin"; it must end
 *                           in raw video (add decodebin for encoded data).
 * Paths and URIs are quoted for the launch syntax, so any character is safe.
 * (decodebin after v4l2src: many cameras give MJPEG; raw passes through.)
 *
 * Frames: the appsink's streaming thread swaps each new sample into the slot
 * under a lock held only for the swap; it never waits for a consumer. A
 * sample replaced before anyone took it is counted in frames_dropped. The
 * consumer (the inference thread) takes the slot's sample: ownership passes
 * to it, and the slot is empty until the next frame.
 *
 * States, reported through the callback on the main context's thread:
 *   STARTING      the pipeline is being (re)built and started
 *   RUNNING       it reached PLAYING (a live source: once its first frame
 *                 reached the sinks)
 *   RECONNECTING  it failed: an error on the bus (device missing or gone,
 *                 network), no frame for stall_timeout_ms since the start or
 *                 the last frame, or a file that ended without a frame. It is
 *                 torn down and rebuilt after a backoff: backoff_initial_ms,
 *                 doubling per failure in a row up to backoff_max_ms, from
 *                 the start again once a pipeline has delivered a frame. The
 *                 message says why and when it retries.
 *   FAILED        gave up: max_retries rebuilds in a row failed, or the launch
 *                 description cannot be built; the message says why
 *   STOPPED       a file source ended with eos_restart false ("end of stream")
 * A source that ends (EOS) with eos_restart true is rebuilt at once:
 * STARTING with the message "end of stream; restarting".
 * Each stream has its own pipeline and timers: one stream's failures never
 * stop another's.
 *
 * Threads: create/destroy/caption calls on the thread that runs the
 * GMainContext given at create (the daemon's main loop); state callbacks
 * are called there. capture_stream_frame_take and _counts from any thread.
 */
#ifndef CAPTIOND_PIPELINE_CAPTURE_H
#define CAPTIOND_PIPELINE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <gst/gst.h>

#include "daemon/config.h"

enum capture_state {
	CAPTURE_STATE_STARTING,
	CAPTURE_STATE_RUNNING,
	CAPTURE_STATE_RECONNECTING,
	CAPTURE_STATE_FAILED,
	CAPTURE_STATE_STOPPED,
};

/* "starting", "running", "reconnecting", "failed", "stopped": the STREAM
 * line's state (docs/protocol.md). */
const char *capture_state_name(enum capture_state state);

enum capture_format {
	CAPTURE_FORMAT_RGBA, /* 4 bytes per pixel */
	CAPTURE_FORMAT_RGB,  /* 3 bytes per pixel */
};

struct capture_params {
	const char *name;               /* the stream's name, for messages */
	const char *source;             /* see above */
	enum config_source_kind source_kind;
	uint32_t width, height;         /* frame size the encoder wants, pixels */
	enum capture_format format;
	bool eos_restart;               /* a source that ends is started again */
	uint32_t backoff_initial_ms;    /* first retry delay, >= 1 */
	uint32_t backoff_max_ms;        /* cap of the doubling delay */
	uint32_t max_retries;           /* rebuilds after failures in a row before FAILED; 0: no limit */
	uint32_t stall_timeout_ms;      /* no frame this long (started or running) is a failure; 0: off */
	/* The display branch: NULL for none, else the sink (pipeline/overlay.h). */
	const char *overlay_sink;
	const char *overlay_font;       /* Pango family and style, "Sans 18" (its size is replaced) */
	enum config_overlay_position overlay_position;
};

/* Defaults: RGBA, restart at EOS, backoff 500 ms to 30 s, never give up,
 * stall timeout 10 s, no overlay. Fill name, source, source_kind, width,
 * height after. */
void capture_params_init(struct capture_params *params);

/* Called on the main context's thread; message may be NULL; stream is the
 * params' name. Do not destroy the stream from inside its callback (defer
 * it to an idle source). */
typedef void (*capture_state_fn)(void *user, const char *stream, enum capture_state state,
				 const char *message);

struct capture_error {
	char text[512];   /* "stream NAME: what is wrong" */
};

struct capture_stream;

/* Build the pipeline and start it (asynchronously: states follow through
 * the callback). context NULL: the global default context. Returns 0 and
 * *out, or -EINVAL with *err (may be NULL) filled for bad params or a launch
 * description GStreamer cannot build (unknown element, bad syntax, elements
 * that cannot link). A device that is missing is not an error here: the
 * stream goes RECONNECTING. The first STARTING (and a RECONNECTING when the
 * source cannot even open) is reported from within this call, after *out
 * is set. gst_init must have been called. */
int capture_stream_create(const struct capture_params *params, GMainContext *context,
			  capture_state_fn on_state, void *user, struct capture_stream **out,
			  struct capture_error *err);

/* Stop the pipeline and free everything, a frame left in the slot too.
 * NULL-safe. */
void capture_stream_destroy(struct capture_stream *stream);

struct capture_frame {
	GstSample *sample;          /* owned by the taker: capture_frame_release */
	GstBuffer *buffer;          /* the sample's, not a separate reference */
	uint32_t width, height;     /* pixels */
	uint32_t stride_bytes;      /* of one row */
	enum capture_format format;
	uint64_t pts_ns;            /* the buffer's PTS; GST_CLOCK_TIME_NONE when it has none */
	uint64_t stream_time_ns;    /* since the stream was created, restarts included */
	int64_t capture_time_us;    /* CLOCK_REALTIME when the frame reached the slot */
	int64_t capture_mono_us;    /* the same on g_get_monotonic_time's clock */
};

/* Take the newest frame. Returns 0 and *frame (release it), or -EAGAIN when
 * the slot is empty. Any thread. */
int capture_stream_frame_take(struct capture_stream *stream, struct capture_frame *frame);

/* Drop the taker's reference; NULL-safe, zeroes *frame. */
void capture_frame_release(struct capture_frame *frame);

/* frames_in: samples that reached the slot; frames_dropped: those replaced
 * before they were taken. Any thread. */
void capture_stream_counts(const struct capture_stream *stream, uint64_t *frames_in,
			   uint64_t *frames_dropped);

enum capture_state capture_stream_state(const struct capture_stream *stream);

/* Show a caption on the stream's overlay (through the hold scheduler of
 * pipeline/overlay.h); nothing happens without an overlay. */
void capture_stream_caption_show(struct capture_stream *stream, const char *text);

/* The launch description built for params (g_free it), for logs and tests. */
char *capture_launch_description(const struct capture_params *params);

#endif
