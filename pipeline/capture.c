/* pipeline/capture.c — a stream's pipeline, its frame slot and its restarts. */
#include "pipeline/capture.h"

#include <errno.h>
#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include "pipeline/overlay.h"

struct capture_stream {
	char *name, *source, *overlay_sink, *overlay_font;
	struct capture_params params;  /* strings point at the copies above */
	char *launch;
	GMainContext *context;
	capture_state_fn on_state;
	void *user;
	struct overlay *overlay;       /* NULL without a display branch */

	/* Main context thread only. */
	GstElement *pipeline;          /* NULL between a teardown and the next start */
	GSource *bus_watch;
	GSource *retry;
	GSource *watchdog;             /* checks for a stalled source; NULL when off */
	int64_t started_mono_us;       /* the current pipeline was started */
	uint32_t failures;             /* in a row, since a pipeline last delivered */
	uint64_t frames_at_start;
	int64_t created_mono_us;
	gint state;                    /* enum capture_state, atomic: read from any thread */

	/* The slot, shared with the appsink's streaming thread. */
	GMutex lock;
	GstSample *slot;
	int64_t slot_real_us, slot_mono_us;
	uint64_t slot_stream_ns;
	uint64_t run_offset_ns;        /* stream time at which the current pipeline started */
	uint64_t frames_in, frames_dropped;
};

const char *capture_state_name(enum capture_state state)
{
	switch (state) {
	case CAPTURE_STATE_STARTING: return "starting";
	case CAPTURE_STATE_RUNNING: return "running";
	case CAPTURE_STATE_RECONNECTING: return "reconnecting";
	case CAPTURE_STATE_FAILED: return "failed";
	case CAPTURE_STATE_STOPPED: return "stopped";
	}
	return "unknown";
}

void capture_params_init(struct capture_params *p)
{
	memset(p, 0, sizeof(*p));
	p->format = CAPTURE_FORMAT_RGBA;
	p->eos_restart = true;
	p->backoff_initial_ms = 500;
	p->backoff_max_ms = 30000;
	p->stall_timeout_ms = 10000;
	p->source_kind = CONFIG_SOURCE_PIPELINE;
	p->overlay_position = CONFIG_OVERLAY_BOTTOM;
}

/* A value for the launch syntax: quoted, '"' and '\' escaped. */
static void append_quoted(GString *d, const char *s)
{
	g_string_append_c(d, '"');
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(d, '\\');
		g_string_append_c(d, *p);
	}
	g_string_append_c(d, '"');
}

char *capture_launch_description(const struct capture_params *p)
{
	GString *d = g_string_new(NULL);
	switch (p->source_kind) {
	case CONFIG_SOURCE_V4L2:
		/* decodebin: many cameras give MJPEG; raw passes straight through. */
		g_string_append(d, "v4l2src device=");
		append_quoted(d, p->source);
		g_string_append(d, " ! decodebin");
		break;
	case CONFIG_SOURCE_URI:
		g_string_append(d, "uridecodebin uri=");
		append_quoted(d, p->source);
		break;
	case CONFIG_SOURCE_FILE: {
		char *uri = g_filename_to_uri(p->source, NULL, NULL);
		g_string_append(d, "uridecodebin uri=");
		append_quoted(d, uri ? uri : p->source);
		g_free(uri);
		break;
	}
	case CONFIG_SOURCE_PIPELINE:
		g_string_append(d, p->source);
		break;
	}
	if (p->overlay_sink)
		g_string_append(d, " ! tee name=t t. ! queue leaky=downstream max-size-buffers=1"
				   " max-size-bytes=0 max-size-time=0");
	g_string_append_printf(d, " ! videoconvert ! videoscale ! video/x-raw,format=%s,width=%u,height=%u,"
			       "pixel-aspect-ratio=1/1 ! appsink name=frames drop=true max-buffers=1",
			       p->format == CAPTURE_FORMAT_RGB ? "RGB" : "RGBA", p->width, p->height);
	if (p->overlay_sink) {
		char *branch = overlay_branch_description(p->overlay_sink, "overlay");
		g_string_append_printf(d, " t. ! %s", branch);
		g_free(branch);
	}
	return g_string_free(d, FALSE);
}

static void set_state(struct capture_stream *s, enum capture_state state, const char *message)
{
	g_atomic_int_set(&s->state, (gint)state);
	if (s->on_state)
		s->on_state(s->user, s->name, state, message);
}

/* Streaming thread: swap the new sample in; never waits for the consumer. */
static GstFlowReturn on_new_sample(GstAppSink *sink, gpointer user)
{
	struct capture_stream *s = user;
	GstSample *sample = gst_app_sink_pull_sample(sink);
	if (!sample)
		return GST_FLOW_OK; /* flushing */
	int64_t real_us = g_get_real_time(), mono_us = g_get_monotonic_time();
	GstBuffer *buffer = gst_sample_get_buffer(sample);
	const GstSegment *segment = gst_sample_get_segment(sample);
	guint64 running = GST_CLOCK_TIME_NONE;
	if (buffer && segment && GST_BUFFER_PTS_IS_VALID(buffer))
		running = gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));

	g_mutex_lock(&s->lock);
	GstSample *old = s->slot;
	s->slot = sample;
	s->slot_real_us = real_us;
	s->slot_mono_us = mono_us;
	s->slot_stream_ns = GST_CLOCK_TIME_IS_VALID(running)
		? s->run_offset_ns + running
		: (uint64_t)(mono_us - s->created_mono_us) * 1000;
	s->frames_in++;
	if (old)
		s->frames_dropped++;
	g_mutex_unlock(&s->lock);
	if (old)
		gst_sample_unref(old);
	return GST_FLOW_OK;
}

static void teardown(struct capture_stream *s)
{
	if (s->pipeline) {
		gst_element_set_state(s->pipeline, GST_STATE_NULL);
		if (s->overlay)
			overlay_element_attach(s->overlay, NULL);
		gst_object_unref(s->pipeline);
		s->pipeline = NULL;
	}
	if (s->bus_watch) {
		g_source_destroy(s->bus_watch);
		g_clear_pointer(&s->bus_watch, g_source_unref);
	}
}

static uint64_t frames_in(const struct capture_stream *s)
{
	g_mutex_lock((GMutex *)&s->lock);
	uint64_t n = s->frames_in;
	g_mutex_unlock((GMutex *)&s->lock);
	return n;
}

static void start(struct capture_stream *s);

static gboolean on_retry(gpointer user)
{
	struct capture_stream *s = user;
	g_clear_pointer(&s->retry, g_source_unref);
	set_state(s, CAPTURE_STATE_STARTING, NULL);
	start(s);
	return G_SOURCE_REMOVE;
}

/* The pipeline failed: tear it down, retry after the backoff or give up. */
static void fail(struct capture_stream *s, const char *why)
{
	bool delivered = frames_in(s) > s->frames_at_start;
	teardown(s);
	if (delivered)
		s->failures = 0;
	s->failures++;
	if (s->params.max_retries && s->failures > s->params.max_retries) {
		char *m = g_strdup_printf("%s; gave up after %u retries", why, s->params.max_retries);
		set_state(s, CAPTURE_STATE_FAILED, m);
		g_free(m);
		return;
	}
	uint64_t delay = s->params.backoff_initial_ms;
	for (uint32_t i = 1; i < s->failures && delay < s->params.backoff_max_ms; i++)
		delay *= 2;
	if (delay > s->params.backoff_max_ms)
		delay = s->params.backoff_max_ms;
	char *m = g_strdup_printf("%s; retrying in %u ms", why, (unsigned)delay);
	set_state(s, CAPTURE_STATE_RECONNECTING, m);
	g_free(m);
	s->retry = g_timeout_source_new((guint)delay);
	g_source_set_callback(s->retry, on_retry, s, NULL);
	g_source_attach(s->retry, s->context);
}

static char *error_text(GstMessage *msg)
{
	GError *gerr = NULL;
	char *debug = NULL;
	gst_message_parse_error(msg, &gerr, &debug);
	/* The debug string's last line often names what is missing
	 * ("No such file ..."); its first lines are source positions. */
	const char *detail = debug ? strrchr(debug, '\n') : NULL;
	detail = detail ? detail + 1 : NULL;
	char *t = g_strdup_printf("%s: %s%s%s%s", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)),
				  gerr ? gerr->message : "unknown error", detail ? " (" : "", detail ? detail : "",
				  detail ? ")" : "");
	g_clear_error(&gerr);
	g_free(debug);
	return t;
}

static gboolean on_bus(GstBus *bus, GstMessage *msg, gpointer user)
{
	struct capture_stream *s = user;
	switch (GST_MESSAGE_TYPE(msg)) {
	case GST_MESSAGE_ERROR: {
		char *t = error_text(msg);
		fail(s, t);
		g_free(t);
		return G_SOURCE_REMOVE;
	}
	case GST_MESSAGE_EOS:
		if (!s->params.eos_restart) {
			teardown(s);
			set_state(s, CAPTURE_STATE_STOPPED, "end of stream");
		} else if (frames_in(s) > s->frames_at_start) {
			teardown(s);
			s->failures = 0;
			set_state(s, CAPTURE_STATE_STARTING, "end of stream; restarting");
			start(s);
		} else {
			/* A source that ends before any frame would spin: back off. */
			fail(s, "end of stream before any frame");
		}
		return G_SOURCE_REMOVE;
	case GST_MESSAGE_STATE_CHANGED:
		if (GST_MESSAGE_SRC(msg) == GST_OBJECT(s->pipeline)) {
			GstState new_state;
			gst_message_parse_state_changed(msg, NULL, &new_state, NULL);
			if (new_state == GST_STATE_PLAYING &&
			    g_atomic_int_get(&s->state) != CAPTURE_STATE_RUNNING)
				set_state(s, CAPTURE_STATE_RUNNING, NULL);
		}
		return G_SOURCE_CONTINUE;
	default:
		return G_SOURCE_CONTINUE;
	}
}

/* A source can vanish without an error (a network camera that stops
 * sending, or opens and never sends): no frame for stall_timeout_ms since
 * the pipeline started or since the last frame counts as a failure. */
static gboolean on_watchdog(gpointer user)
{
	struct capture_stream *s = user;
	if (!s->pipeline)
		return G_SOURCE_CONTINUE;
	g_mutex_lock(&s->lock);
	int64_t last = s->frames_in > s->frames_at_start ? s->slot_mono_us : 0;
	g_mutex_unlock(&s->lock);
	if (last < s->started_mono_us)
		last = s->started_mono_us;
	if (g_get_monotonic_time() - last > (int64_t)s->params.stall_timeout_ms * 1000) {
		char *m = g_strdup_printf("no frame for %u ms", s->params.stall_timeout_ms);
		fail(s, m);
		g_free(m);
	}
	return G_SOURCE_CONTINUE;
}

/* Build the pipeline. Returns 0, or -EINVAL with the reason in *why. */
static int build(struct capture_stream *s, char **why)
{
	GError *gerr = NULL;
	GstElement *pipeline = gst_parse_launch_full(s->launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &gerr);
	if (!pipeline || gerr) {
		*why = g_strdup_printf("cannot build the pipeline \"%s\": %s", s->launch,
				       gerr ? gerr->message : "unknown error");
		g_clear_error(&gerr);
		if (pipeline)
			gst_object_unref(pipeline);
		return -EINVAL;
	}
	GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "frames");
	if (!sink) {
		*why = g_strdup_printf("cannot build the pipeline \"%s\": no appsink", s->launch);
		gst_object_unref(pipeline);
		return -EINVAL;
	}
	GstAppSinkCallbacks callbacks = { .new_sample = on_new_sample };
	gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, s, NULL);
	gst_object_unref(sink);
	if (s->overlay) {
		GstElement *text = gst_bin_get_by_name(GST_BIN(pipeline), "overlay");
		overlay_element_attach(s->overlay, text);
		if (text)
			gst_object_unref(text);
	}
	s->pipeline = pipeline;
	GstBus *bus = gst_element_get_bus(pipeline);
	s->bus_watch = gst_bus_create_watch(bus);
	gst_object_unref(bus);
	g_source_set_callback(s->bus_watch, (GSourceFunc)(void (*)(void))on_bus, s, NULL);
	g_source_attach(s->bus_watch, s->context);
	return 0;
}

/* Start a built pipeline; a failure to start is handled like a bus error. */
static void start(struct capture_stream *s)
{
	char *why = NULL;
	if (!s->pipeline && build(s, &why) != 0) {
		set_state(s, CAPTURE_STATE_FAILED, why);
		g_free(why);
		return;
	}
	g_mutex_lock(&s->lock);
	s->run_offset_ns = (uint64_t)(g_get_monotonic_time() - s->created_mono_us) * 1000;
	s->frames_at_start = s->frames_in;
	g_mutex_unlock(&s->lock);
	s->started_mono_us = g_get_monotonic_time();
	if (gst_element_set_state(s->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		GstBus *bus = gst_element_get_bus(s->pipeline);
		GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
		gst_object_unref(bus);
		char *t = msg ? error_text(msg) : g_strdup("the pipeline would not start");
		if (msg)
			gst_message_unref(msg);
		fail(s, t);
		g_free(t);
	}
}

int capture_stream_create(const struct capture_params *params, GMainContext *context,
			  capture_state_fn on_state, void *user, struct capture_stream **out,
			  struct capture_error *err)
{
	struct capture_error ignored;
	if (!err)
		err = &ignored;
	const char *name = params && params->name ? params->name : "?";
	if (!params || !params->source || !params->name || params->width == 0 || params->height == 0 ||
	    params->width > 16384 || params->height > 16384 || params->backoff_initial_ms == 0 ||
	    params->backoff_max_ms < params->backoff_initial_ms || (params->overlay_sink && !*params->overlay_sink)) {
		snprintf(err->text, sizeof(err->text), "stream %s: bad capture parameters", name);
		return -EINVAL;
	}
	struct capture_stream *s = g_new0(struct capture_stream, 1);
	s->params = *params;
	s->name = g_strdup(params->name);
	s->source = g_strdup(params->source);
	s->overlay_sink = g_strdup(params->overlay_sink);
	s->overlay_font = g_strdup(params->overlay_font ? params->overlay_font : "Sans");
	s->params.name = s->name;
	s->params.source = s->source;
	s->params.overlay_sink = s->overlay_sink;
	s->params.overlay_font = s->overlay_font;
	s->context = context ? g_main_context_ref(context) : NULL;
	s->on_state = on_state;
	s->user = user;
	s->created_mono_us = g_get_monotonic_time();
	g_mutex_init(&s->lock);
	s->launch = capture_launch_description(&s->params);
	if (s->overlay_sink)
		s->overlay = overlay_create(context, s->overlay_font, s->params.overlay_position);

	char *why = NULL;
	if (build(s, &why) != 0) {
		snprintf(err->text, sizeof(err->text), "stream %s: %s", s->name, why);
		g_free(why);
		capture_stream_destroy(s);
		return -EINVAL;
	}
	*out = s;
	if (s->params.stall_timeout_ms) {
		guint period = s->params.stall_timeout_ms / 4;
		s->watchdog = g_timeout_source_new(period < 1 ? 1 : period > 1000 ? 1000 : period);
		g_source_set_callback(s->watchdog, on_watchdog, s, NULL);
		g_source_attach(s->watchdog, s->context);
	}
	set_state(s, CAPTURE_STATE_STARTING, NULL);
	start(s);
	return 0;
}

void capture_stream_destroy(struct capture_stream *s)
{
	if (!s)
		return;
	teardown(s);
	if (s->retry) {
		g_source_destroy(s->retry);
		g_source_unref(s->retry);
	}
	if (s->watchdog) {
		g_source_destroy(s->watchdog);
		g_source_unref(s->watchdog);
	}
	overlay_destroy(s->overlay);
	if (s->slot)
		gst_sample_unref(s->slot);
	g_mutex_clear(&s->lock);
	if (s->context)
		g_main_context_unref(s->context);
	g_free(s->launch);
	g_free(s->name);
	g_free(s->source);
	g_free(s->overlay_sink);
	g_free(s->overlay_font);
	g_free(s);
}

int capture_stream_frame_take(struct capture_stream *s, struct capture_frame *f)
{
	memset(f, 0, sizeof(*f));
	g_mutex_lock(&s->lock);
	GstSample *sample = s->slot;
	s->slot = NULL;
	f->capture_time_us = s->slot_real_us;
	f->capture_mono_us = s->slot_mono_us;
	f->stream_time_ns = s->slot_stream_ns;
	g_mutex_unlock(&s->lock);
	if (!sample) {
		memset(f, 0, sizeof(*f));
		return -EAGAIN;
	}
	f->sample = sample;
	f->buffer = gst_sample_get_buffer(sample);
	f->format = s->params.format;
	f->pts_ns = f->buffer ? GST_BUFFER_PTS(f->buffer) : GST_CLOCK_TIME_NONE;
	GstVideoInfo info;
	GstCaps *caps = gst_sample_get_caps(sample);
	if (caps && gst_video_info_from_caps(&info, caps)) {
		f->width = (uint32_t)GST_VIDEO_INFO_WIDTH(&info);
		f->height = (uint32_t)GST_VIDEO_INFO_HEIGHT(&info);
		f->stride_bytes = (uint32_t)GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
	}
	GstVideoMeta *meta = f->buffer ? gst_buffer_get_video_meta(f->buffer) : NULL;
	if (meta)
		f->stride_bytes = (uint32_t)meta->stride[0];
	return 0;
}

void capture_frame_release(struct capture_frame *f)
{
	if (!f)
		return;
	if (f->sample)
		gst_sample_unref(f->sample);
	memset(f, 0, sizeof(*f));
}

void capture_stream_counts(const struct capture_stream *s, uint64_t *in, uint64_t *dropped)
{
	g_mutex_lock((GMutex *)&s->lock);
	if (in)
		*in = s->frames_in;
	if (dropped)
		*dropped = s->frames_dropped;
	g_mutex_unlock((GMutex *)&s->lock);
}

enum capture_state capture_stream_state(const struct capture_stream *s)
{
	return (enum capture_state)g_atomic_int_get((gint *)&s->state);
}

void capture_stream_caption_show(struct capture_stream *s, const char *text)
{
	if (s->overlay)
		overlay_caption_push(s->overlay, text);
}
