/* tests/test-capture.c — capture pipelines on videotestsrc and generated
 * files: frames in the slots at the configured size, latest frame wins,
 * a missing camera, a source that ends, a bad launch description.
 *
 *   test-capture two|slow|missing|eos|restart|stall|bad
 *
 * Every wait is bounded (a few seconds); the main loop is the default
 * context, as in the daemon.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "pipeline/capture.h"
#include "tests/check.h"

#define MAX_EVENTS 64

struct event {
	char stream[32];
	enum capture_state state;
	char message[512];
};

struct recorder {
	struct event events[MAX_EVENTS];
	int n;
};

static void on_state(void *user, const char *stream, enum capture_state state, const char *message)
{
	struct recorder *r = user;
	fprintf(stderr, "state: %s %s%s%s\n", stream, capture_state_name(state), message ? ": " : "",
		message ? message : "");
	if (r->n == MAX_EVENTS)
		return;
	struct event *e = &r->events[r->n++];
	g_strlcpy(e->stream, stream, sizeof(e->stream));
	e->state = state;
	g_strlcpy(e->message, message ? message : "", sizeof(e->message));
}

static const struct event *find_event(const struct recorder *r, const char *stream, enum capture_state state)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(r->events[i].stream, stream) == 0 && r->events[i].state == state)
			return &r->events[i];
	return NULL;
}

typedef bool (*done_fn)(void *arg);

/* Run the default main context until done(arg) or timeout_ms; returns done. */
static bool run_until(done_fn done, void *arg, int timeout_ms)
{
	int64_t end = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
	while (!done(arg)) {
		if (g_get_monotonic_time() > end)
			return false;
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(5000);
	}
	return true;
}

static bool never(void *arg)
{
	return false;
}

static void run_for(int ms)
{
	run_until(never, NULL, ms);
}

struct frames_wait {
	struct capture_stream *s;
	uint64_t n;
};

static bool has_frames(void *arg)
{
	struct frames_wait *w = arg;
	uint64_t in = 0;
	capture_stream_counts(w->s, &in, NULL);
	return in >= w->n;
}

static void params_for(struct capture_params *p, const char *name, const char *source, uint32_t w, uint32_t h)
{
	capture_params_init(p);
	p->name = name;
	p->source = source;
	p->width = w;
	p->height = h;
	p->backoff_initial_ms = 50;
	p->backoff_max_ms = 200;
}

/* Two streams, different patterns, sizes and formats: each slot holds its
 * own stream's frames at its size. */
static void test_two(void)
{
	struct recorder rec = { 0 };
	struct capture_params pa, pb;
	params_for(&pa, "white", "videotestsrc pattern=white", 64, 48);
	params_for(&pb, "black", "videotestsrc pattern=black", 96, 40);
	pb.format = CAPTURE_FORMAT_RGB;
	struct capture_error err;
	struct capture_stream *a = NULL, *b = NULL;
	CHECK(capture_stream_create(&pa, NULL, on_state, &rec, &a, &err) == 0);
	CHECK(capture_stream_create(&pb, NULL, on_state, &rec, &b, &err) == 0);
	if (!a || !b)
		goto out;
	struct frames_wait wa = { a, 3 }, wb = { b, 3 };
	CHECK(run_until(has_frames, &wa, 10000));
	CHECK(run_until(has_frames, &wb, 10000));
	CHECK(find_event(&rec, "white", CAPTURE_STATE_RUNNING) != NULL);
	CHECK(find_event(&rec, "black", CAPTURE_STATE_RUNNING) != NULL);
	CHECK(capture_stream_state(a) == CAPTURE_STATE_RUNNING);

	struct capture_frame fa, fb;
	CHECK(capture_stream_frame_take(a, &fa) == 0);
	CHECK(capture_stream_frame_take(b, &fb) == 0);
	CHECK(fa.width == 64 && fa.height == 48 && fa.format == CAPTURE_FORMAT_RGBA);
	CHECK(fb.width == 96 && fb.height == 40 && fb.format == CAPTURE_FORMAT_RGB);
	CHECK(fa.stride_bytes >= 64 * 4 && fb.stride_bytes >= 96 * 3);
	CHECK(fa.capture_time_us > 0 && fa.capture_mono_us > 0);
	GstMapInfo ma, mb;
	if (fa.buffer && gst_buffer_map(fa.buffer, &ma, GST_MAP_READ)) {
		CHECK(ma.size >= (size_t)fa.stride_bytes * 47 + 64 * 4);
		/* white: every channel near 255 (alpha included) */
		bool white = true;
		for (uint32_t y = 0; y < 48 && ma.size >= (size_t)fa.stride_bytes * 48; y++)
			for (uint32_t x = 0; x < 64 * 4; x++)
				white = white && ma.data[y * fa.stride_bytes + x] >= 250;
		CHECK(white);
		gst_buffer_unmap(fa.buffer, &ma);
	}
	if (fb.buffer && gst_buffer_map(fb.buffer, &mb, GST_MAP_READ)) {
		CHECK(mb.size >= (size_t)fb.stride_bytes * 39 + 96 * 3);
		bool black = true;
		for (uint32_t y = 0; y < 40 && mb.size >= (size_t)fb.stride_bytes * 40; y++)
			for (uint32_t x = 0; x < 96 * 3; x++)
				black = black && mb.data[y * fb.stride_bytes + x] <= 5;
		CHECK(black);
		gst_buffer_unmap(fb.buffer, &mb);
	}
	capture_frame_release(&fa);
	capture_frame_release(&fb);
	capture_frame_release(&fb); /* twice: a no-op */
out:
	capture_stream_destroy(a);
	capture_stream_destroy(b);
}

/* A consumer slower than the camera sees only the newest frame; the frames
 * it never took are counted as dropped. */
static void test_slow(void)
{
	struct recorder rec = { 0 };
	struct capture_params p;
	params_for(&p, "live", "videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=30/1", 32, 32);
	struct capture_error err;
	struct capture_stream *s = NULL;
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == 0);
	if (!s)
		return;
	struct frames_wait w = { s, 2 };
	CHECK(run_until(has_frames, &w, 10000));
	struct capture_frame f1, f2, f3;
	CHECK(capture_stream_frame_take(s, &f1) == 0);
	uint64_t in1, dropped1;
	capture_stream_counts(s, &in1, &dropped1);
	run_for(600); /* the consumer is busy for 18 frame times */
	CHECK(capture_stream_frame_take(s, &f2) == 0);
	uint64_t in2, dropped2;
	capture_stream_counts(s, &in2, &dropped2);
	fprintf(stderr, "slow: in %" PRIu64 " -> %" PRIu64 ", dropped %" PRIu64 " -> %" PRIu64 "\n", in1, in2,
		dropped1, dropped2);
	CHECK(in2 - in1 >= 6);
	/* All but the one taken (and one possibly arrived since) were dropped. */
	CHECK(dropped2 - dropped1 + 2 >= in2 - in1);
	/* The frame taken is recent: many frame times after the first. */
	CHECK(f2.pts_ns != GST_CLOCK_TIME_NONE && f1.pts_ns != GST_CLOCK_TIME_NONE);
	CHECKF(f2.pts_ns >= f1.pts_ns + 10 * (GST_SECOND / 30), "pts %" PRIu64 " -> %" PRIu64, f1.pts_ns,
	       f2.pts_ns);
	CHECK(f2.stream_time_ns > f1.stream_time_ns);
	/* Taken: the slot stays empty until the next frame. */
	int rc = capture_stream_frame_take(s, &f3);
	CHECK(rc == -EAGAIN || f3.pts_ns > f2.pts_ns);
	capture_frame_release(&f3);
	capture_frame_release(&f1);
	capture_frame_release(&f2);
	capture_stream_destroy(s);
}

struct state_wait {
	struct recorder *rec;
	const char *stream;
	enum capture_state state;
};

static bool has_state(void *arg)
{
	struct state_wait *w = arg;
	return find_event(w->rec, w->stream, w->state) != NULL;
}

/* A camera that is not there: reported, retried with backoff, given up;
 * another stream goes on. */
static void test_missing(void)
{
	GstElementFactory *v4l2 = gst_element_factory_find("v4l2src");
	if (!v4l2)
		check_skip("v4l2src (gstreamer1.0-plugins-good) is not installed");
	gst_object_unref(v4l2);
	struct recorder rec = { 0 };
	struct capture_params pc, pt;
	params_for(&pc, "cam99", "/dev/video99", 64, 64);
	pc.source_kind = CONFIG_SOURCE_V4L2;
	pc.max_retries = 2;
	params_for(&pt, "test", "videotestsrc is-live=true ! video/x-raw,framerate=30/1", 32, 32);
	struct capture_error err;
	struct capture_stream *cam = NULL, *t = NULL;
	CHECK(capture_stream_create(&pt, NULL, on_state, &rec, &t, &err) == 0);
	CHECK(capture_stream_create(&pc, NULL, on_state, &rec, &cam, &err) == 0);
	if (!cam || !t)
		goto out;
	struct state_wait failed = { &rec, "cam99", CAPTURE_STATE_FAILED };
	CHECK(run_until(has_state, &failed, 10000));
	const struct event *e = find_event(&rec, "cam99", CAPTURE_STATE_RECONNECTING);
	CHECK(e && strstr(e->message, "/dev/video99") && strstr(e->message, "retrying in 50 ms"));
	int reconnects = 0;
	for (int i = 0; i < rec.n; i++)
		reconnects += strcmp(rec.events[i].stream, "cam99") == 0 &&
			      rec.events[i].state == CAPTURE_STATE_RECONNECTING;
	CHECK(reconnects == 2);
	/* the second retry waits twice as long */
	bool doubled = false;
	for (int i = 0; i < rec.n; i++)
		doubled = doubled || strstr(rec.events[i].message, "retrying in 100 ms");
	CHECK(doubled);
	e = find_event(&rec, "cam99", CAPTURE_STATE_FAILED);
	CHECK(e && strstr(e->message, "gave up after 2 retries"));
	CHECK(capture_stream_state(cam) == CAPTURE_STATE_FAILED);
	struct capture_frame f;
	CHECK(capture_stream_frame_take(cam, &f) == -EAGAIN);

	/* The other stream kept delivering. */
	uint64_t in1, in2;
	capture_stream_counts(t, &in1, NULL);
	CHECK(in1 > 0);
	struct frames_wait w = { t, in1 + 5 };
	CHECK(run_until(has_frames, &w, 5000));
	capture_stream_counts(t, &in2, NULL);
	CHECK(in2 > in1);
	CHECK(capture_stream_state(t) == CAPTURE_STATE_RUNNING);
out:
	capture_stream_destroy(cam);
	capture_stream_destroy(t);
}

/* Write a short video file with GStreamer (MJPEG in AVI: plugins-good). */
static bool make_file(const char *path, int n_frames)
{
	char *desc = g_strdup_printf("videotestsrc num-buffers=%d pattern=smpte ! video/x-raw,width=64,height=48,"
				     "framerate=30/1 ! jpegenc ! avimux ! filesink location=\"%s\"", n_frames, path);
	GError *gerr = NULL;
	GstElement *p = gst_parse_launch(desc, &gerr);
	g_free(desc);
	if (!p) {
		fprintf(stderr, "make_file: %s\n", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		return false;
	}
	g_clear_error(&gerr);
	gst_element_set_state(p, GST_STATE_PLAYING);
	GstBus *bus = gst_element_get_bus(p);
	GstMessage *m = gst_bus_timed_pop_filtered(bus, 10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
	bool ok = m && GST_MESSAGE_TYPE(m) == GST_MESSAGE_EOS;
	if (m)
		gst_message_unref(m);
	gst_object_unref(bus);
	gst_element_set_state(p, GST_STATE_NULL);
	gst_object_unref(p);
	return ok;
}

/* A file that ends: STOPPED with "end of stream", every frame delivered. */
static void test_eos(void)
{
	char *dir = g_dir_make_tmp("test-capture-XXXXXX", NULL);
	char *path = dir ? g_build_filename(dir, "clip.avi", NULL) : NULL;
	if (!path || !make_file(path, 10)) {
		CHECKF(false, "cannot generate a video file");
		goto out;
	}
	struct recorder rec = { 0 };
	struct capture_params p;
	params_for(&p, "clip", path, 32, 24);
	p.source_kind = CONFIG_SOURCE_FILE;
	p.eos_restart = false;
	struct capture_error err;
	struct capture_stream *s = NULL;
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == 0);
	if (s) {
		struct state_wait stopped = { &rec, "clip", CAPTURE_STATE_STOPPED };
		CHECK(run_until(has_state, &stopped, 10000));
		const struct event *e = find_event(&rec, "clip", CAPTURE_STATE_STOPPED);
		CHECK(e && strcmp(e->message, "end of stream") == 0);
		uint64_t in = 0, dropped = 0;
		capture_stream_counts(s, &in, &dropped);
		CHECKF(in == 10, "frames_in %" PRIu64, in);
		CHECK(dropped == 9); /* nobody took any */
		struct capture_frame f;
		CHECK(capture_stream_frame_take(s, &f) == 0);
		CHECK(f.width == 32 && f.height == 24);
		/* the last of 10 frames at 30 fps */
		CHECKF(f.pts_ns == 9 * GST_SECOND / 30 || f.pts_ns == 9 * GST_SECOND / 30 + 1, "%" PRIu64, f.pts_ns);
		capture_frame_release(&f);
		capture_stream_destroy(s);
	}
	g_unlink(path);
out:
	if (dir)
		g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

/* A source that ends with eos_restart: started again, stream time goes on. */
static void test_restart(void)
{
	struct recorder rec = { 0 };
	struct capture_params p;
	params_for(&p, "loop", "videotestsrc num-buffers=5 ! video/x-raw,framerate=30/1", 16, 16);
	struct capture_error err;
	struct capture_stream *s = NULL;
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == 0);
	if (!s)
		return;
	struct frames_wait w = { s, 12 };
	CHECK(run_until(has_frames, &w, 10000));
	int restarts = 0;
	for (int i = 0; i < rec.n; i++)
		restarts += rec.events[i].state == CAPTURE_STATE_STARTING &&
			    strcmp(rec.events[i].message, "end of stream; restarting") == 0;
	CHECK(restarts >= 2);
	struct capture_frame f;
	CHECK(capture_stream_frame_take(s, &f) == 0);
	/* PTS restarts with each run, stream time does not. */
	CHECK(f.pts_ns < 5 * GST_SECOND / 30 + 1);
	CHECK(f.stream_time_ns >= 10 * GST_SECOND / 30);
	capture_frame_release(&f);
	capture_stream_destroy(s);
}

/* A source that stops sending without an error is found by the watchdog. */
static void test_stall(void)
{
	struct recorder rec = { 0 };
	struct capture_params p;
	params_for(&p, "mute", "videotestsrc is-live=true ! valve drop=true", 16, 16);
	p.stall_timeout_ms = 300;
	p.max_retries = 1;
	struct capture_error err;
	struct capture_stream *s = NULL;
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == 0);
	if (!s)
		return;
	struct state_wait failed = { &rec, "mute", CAPTURE_STATE_FAILED };
	int64_t t0 = g_get_monotonic_time();
	CHECK(run_until(has_state, &failed, 10000));
	CHECK(g_get_monotonic_time() - t0 >= 2 * 300 * 1000); /* two runs of 300 ms */
	const struct event *e = find_event(&rec, "mute", CAPTURE_STATE_RECONNECTING);
	CHECK(e && strcmp(e->message, "no frame for 300 ms; retrying in 50 ms") == 0);
	capture_stream_destroy(s);
}

/* A description GStreamer cannot build: a clear error line at create. */
static void test_bad(void)
{
	struct recorder rec = { 0 };
	struct capture_params p;
	struct capture_error err;
	struct capture_stream *s = NULL;
	params_for(&p, "typo", "videotestsrcc pattern=ball", 32, 32);
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == -EINVAL);
	CHECK(s == NULL);
	fprintf(stderr, "error line: %s\n", err.text);
	CHECK(g_str_has_prefix(err.text, "stream typo: cannot build the pipeline"));
	CHECK(strstr(err.text, "videotestsrcc"));

	params_for(&p, "syntax", "videotestsrc ! ! x", 32, 32);
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == -EINVAL);
	fprintf(stderr, "error line: %s\n", err.text);
	CHECK(g_str_has_prefix(err.text, "stream syntax: cannot build the pipeline"));

	params_for(&p, "zero", "videotestsrc", 0, 32);
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == -EINVAL);
	CHECK(rec.n == 0); /* nothing started */

	/* Paths and URIs are quoted: a quote in a file name cannot inject. */
	params_for(&p, "q", "/tmp/a \"b\" ! fakesink", 8, 8);
	p.source_kind = CONFIG_SOURCE_FILE;
	char *d = capture_launch_description(&p);
	CHECK(g_str_has_prefix(d, "uridecodebin uri=\"file:///tmp/a%20%22b%22%20!%20fakesink\" ! videoconvert"));
	g_free(d);
	params_for(&p, "v", "/dev/video\"0", 8, 8);
	p.source_kind = CONFIG_SOURCE_V4L2;
	d = capture_launch_description(&p);
	CHECK(g_str_has_prefix(d, "v4l2src device=\"/dev/video\\\"0\" ! decodebin ! "));
	g_free(d);

	/* A source that gives no video cannot be linked: also at create. */
	params_for(&p, "audio", "audiotestsrc", 32, 32);
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == -EINVAL);
	fprintf(stderr, "error line: %s\n", err.text);
	CHECK(strstr(err.text, "audiotestsrc"));

	/* A runtime error (a file that is not there) is a state change. */
	params_for(&p, "nofile", "filesrc location=/nonexistent/clip.avi ! decodebin", 32, 32);
	p.max_retries = 1;
	CHECK(capture_stream_create(&p, NULL, on_state, &rec, &s, &err) == 0);
	if (s) {
		struct state_wait failed = { &rec, "nofile", CAPTURE_STATE_FAILED };
		CHECK(run_until(has_state, &failed, 10000));
		const struct event *e = find_event(&rec, "nofile", CAPTURE_STATE_RECONNECTING);
		CHECK(e && strstr(e->message, "/nonexistent/clip.avi"));
		capture_stream_destroy(s);
	}
	capture_stream_destroy(NULL);
}

int main(int argc, char **argv)
{
	gst_init(NULL, NULL);
	const char *what = argc > 1 ? argv[1] : "";
	if (strcmp(what, "two") == 0)
		test_two();
	else if (strcmp(what, "slow") == 0)
		test_slow();
	else if (strcmp(what, "missing") == 0)
		test_missing();
	else if (strcmp(what, "eos") == 0)
		test_eos();
	else if (strcmp(what, "restart") == 0)
		test_restart();
	else if (strcmp(what, "bad") == 0)
		test_bad();
	else if (strcmp(what, "stall") == 0)
		test_stall();
	else {
		fprintf(stderr, "usage: test-capture two|slow|missing|eos|restart|stall|bad\n");
		return 2;
	}
	gst_deinit();
	return check_report();
}
