/* daemon/main.c — captiond: captions video streams in real time and
 * publishes them on a Unix socket.
 *
 * Threads and queues, and who owns a frame at each hop:
 *
 *   GStreamer streaming threads (one pipeline per stream, pipeline/capture)
 *     appsink callback: swap the newest GstSample into the stream's slot
 *     [slot: 1 frame, latest wins; a replaced frame is counted as dropped]
 *        │  the pipeline owns the buffer until the swap; then the slot does
 *        ▼
 *   inference thread (one, daemon/batcher)
 *     takes every due stream's frame (ownership passes to it), waits at most
 *     max_wait_ms for more, up to max_batch; vision encoder + projector in
 *     one submit, prefill + batched decode (vk/captioner); pings the systemd
 *     watchdog between batches. Frames are released after the batch.
 *        │  only caption text leaves this thread:
 *        ├──► publisher inbox (≤ 1024 lines, oldest dropped) ──┐
 *        └──► g_main_context_invoke (overlay, WebVTT) ─────────┤
 *                                                              ▼
 *   main thread: GLib main loop
 *     publisher: NDJSON to every client, bounded queue each (daemon/publisher)
 *     overlay hold scheduler + textoverlay, WebVTT writer (pipeline/)
 *     capture state changes → STREAM lines; bus watches, reconnect timers
 *     SIGHUP: reload (config diff, streams added/removed/changed)
 *     SIGTERM/SIGINT: drain and exit 0
 *
 * Start-up in dependency order (each step needs the ones before):
 *   config → service (sd_notify) → GStreamer → Vulkan device, pipelines
 *   (cached in $CACHE_DIRECTORY), staging → captioner (model loaded) →
 *   publisher (socket listens) → inference thread → streams (pipelines
 *   built) → signal sources → READY=1.
 * Teardown in exact reverse; the inference thread finishes its batch first,
 * so captions in flight are published before the socket closes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <glib.h>
#include <gst/gst.h>

#include "daemon/batcher.h"
#include "daemon/config.h"
#include "daemon/protocol.h"
#include "daemon/publisher.h"
#include "daemon/service.h"
#include "model/quant.h"
#include "pipeline/capture.h"
#include "pipeline/webvtt.h"
#include "vk/captioner.h"
#include "vk/device.h"
#include "vk/pipeline.h"
#include "vk/staging.h"

#define STAGING_BYTES (64u << 20)
#define DRAIN_MS 300 /* main-loop time to hand the last captions to clients */

struct stream {
	char *name;
	struct capture_stream *capture;
	struct webvtt_writer *vtt;
	enum capture_state state;
};

struct daemon {
	const char *config_path;
	struct captiond_config *config;
	struct service *svc;
	GMainContext *ctx;
	GMainLoop *loop;
	struct gpu_device *dev;
	struct gpu_pipelines *pipes;
	struct gpu_staging *staging;
	struct captioner *captioner;
	struct publisher *pub;
	struct batcher *batcher;
	GHashTable *streams;  /* name → struct stream */
	guint sig_term, sig_int, sig_hup;
};

/* ---- streams ------------------------------------------------------------ */

static void on_state(void *user, const char *name, enum capture_state state, const char *message)
{
	struct daemon *d = user;
	struct stream *s = g_hash_table_lookup(d->streams, name);
	if (s)
		s->state = state;
	if (state == CAPTURE_STATE_FAILED || state == CAPTURE_STATE_RECONNECTING)
		g_warning("stream %s: %s%s%s", name, capture_state_name(state), message ? ": " : "",
			  message ? message : "");
	else
		g_message("stream %s: %s%s%s", name, capture_state_name(state), message ? ": " : "",
			  message ? message : "");
	publisher_publish_stream(d->pub, name, capture_state_name(state), message);
}

static void stream_free(gpointer data)
{
	struct stream *s = data;
	capture_stream_destroy(s->capture);
	int ret = webvtt_writer_destroy(s->vtt);
	if (ret < 0)
		g_warning("stream %s: WebVTT file: %s", s->name, g_strerror(-ret));
	g_free(s->name);
	g_free(s);
}

static int stream_start(struct daemon *d, const struct config_stream *cs)
{
	struct stream *s = g_new0(struct stream, 1);
	s->name = g_strdup(cs->name);
	int ret = 0;
	if (cs->webvtt_path && (ret = webvtt_writer_create(cs->webvtt_path, &s->vtt)) < 0) {
		g_warning("stream %s: cannot write %s: %s", cs->name, cs->webvtt_path, g_strerror(-ret));
		s->vtt = NULL;
	}
	struct capture_params p;
	capture_params_init(&p);
	p.name = cs->name;
	p.source = cs->source;
	p.source_kind = cs->source_kind;
	p.width = d->config->capture_width;
	p.height = d->config->capture_height;
	if (cs->overlay_enabled) {
		p.overlay_sink = cs->overlay_sink;
		p.overlay_font = cs->overlay_font;
		p.overlay_position = cs->overlay_position;
	}
	struct capture_error err = { { 0 } };
	/* In the table first: the first state callback comes from create. */
	g_hash_table_replace(d->streams, s->name, s);
	ret = capture_stream_create(&p, d->ctx, on_state, d, &s->capture, &err);
	if (ret < 0) {
		g_warning("%s", err.text);
		publisher_publish_stream(d->pub, cs->name, "failed", err.text);
		g_hash_table_remove(d->streams, cs->name);
		return ret;
	}
	return batcher_stream_add(d->batcher, cs->name, s->capture, cs->caption_interval_ms);
}

static void stream_stop(struct daemon *d, const char *name)
{
	batcher_stream_remove(d->batcher, name);
	g_hash_table_remove(d->streams, name);
}

/* ---- captions ----------------------------------------------------------- */

struct shown {
	struct daemon *d;
	char *stream, *text;
	uint64_t stream_time_ns;
};

static gboolean show_caption(gpointer data)
{
	struct shown *c = data;
	struct stream *s = g_hash_table_lookup(c->d->streams, c->stream);
	if (s) {
		capture_stream_caption_show(s->capture, c->text);
		if (s->vtt && webvtt_writer_add(s->vtt, c->stream_time_ns, c->text) < 0)
			g_warning("stream %s: writing the WebVTT file failed", s->name);
	}
	return G_SOURCE_REMOVE;
}

static void shown_free(gpointer data)
{
	struct shown *c = data;
	g_free(c->stream);
	g_free(c->text);
	g_free(c);
}

/* Inference thread. */
static void on_caption(void *user, const char *stream, uint64_t seq, const struct capture_frame *frame,
		       const struct caption *cap)
{
	struct daemon *d = user;
	const struct caption_event ev = { .stream = stream, .seq = seq, .capture_realtime_us = frame->capture_time_us,
					  .capture_monotonic_us = frame->capture_mono_us, .text = cap->text,
					  .n_tokens = cap->n_tokens };
	publisher_publish_caption(d->pub, &ev);
	struct shown *c = g_new0(struct shown, 1);
	*c = (struct shown){ d, g_strdup(stream), g_strdup(cap->text), frame->stream_time_ns };
	g_main_context_invoke_full(d->ctx, G_PRIORITY_DEFAULT, show_caption, c, shown_free);
}

static int run_captioner(void *user, const struct vision_frame *frames, uint32_t n, struct caption *out)
{
	struct daemon *d = user;
	return captioner_run(d->captioner, frames, n, out);
}

/* STATS members beyond the publisher's own (main thread). */
static void stats_members(void *user, GString *m)
{
	struct daemon *d = user;
	g_string_append(m, ",\"streams\":[");
	for (size_t i = 0; i < d->config->n_streams; i++) {
		const char *name = d->config->streams[i].name;
		struct stream *s = g_hash_table_lookup(d->streams, name);
		struct batcher_stream_stats st;
		batcher_stream_stats_get(d->batcher, name, &st);
		g_string_append(m, i ? ",{\"name\":" : "{\"name\":");
		protocol_json_string_append(m, name);
		g_string_append_printf(m, ",\"state\":\"%s\"", s ? capture_state_name(s->state) : "failed");
		g_string_append_printf(m, ",\"frames_in\":%" G_GUINT64_FORMAT ",\"frames_dropped\":%" G_GUINT64_FORMAT
				       ",\"captions\":%" G_GUINT64_FORMAT ",\"fps_in\":%.2f,\"captions_per_s\":%.3f",
				       st.frames_in, st.frames_dropped, st.captions, st.fps_in, st.captions_per_s);
		if (st.captions)
			g_string_append_printf(m, ",\"latency_p50_ms\":%.1f,\"latency_p95_ms\":%.1f", st.latency_p50_ms,
					       st.latency_p95_ms);
		g_string_append_c(m, '}');
	}
	struct batcher_stats bs;
	batcher_stats_get(d->batcher, &bs);
	g_string_append_printf(m, "],\"batches\":%" G_GUINT64_FORMAT ",\"batch_sizes\":{", bs.batches);
	bool first = true;
	for (uint32_t k = 1; k <= BATCHER_MAX_BATCH; k++) {
		if (!bs.batch_sizes[k])
			continue;
		g_string_append_printf(m, "%s\"%u\":%" G_GUINT64_FORMAT, first ? "" : ",", k, bs.batch_sizes[k]);
		first = false;
	}
	g_string_append_printf(m, "},\"batch_errors\":%" G_GUINT64_FORMAT, bs.run_errors);
}

static void status_running(struct daemon *d)
{
	service_status(d->svc, "captioning %u stream%s on %s; socket %s", g_hash_table_size(d->streams),
		       g_hash_table_size(d->streams) == 1 ? "" : "s", gpu_device_caps(d->dev)->name,
		       d->config->socket_path);
}

/* ---- signals ------------------------------------------------------------ */

static gboolean on_quit(gpointer data)
{
	struct daemon *d = data;
	g_message("stopping: finishing the captions in flight");
	service_notify(d->svc, "STOPPING=1\nSTATUS=stopping: finishing the captions in flight");
	g_main_loop_quit(d->loop);
	return G_SOURCE_CONTINUE;
}

static gboolean on_reload(gpointer data)
{
	struct daemon *d = data;
	service_notify(d->svc, "RELOADING=1\nSTATUS=reloading the configuration");
	struct captiond_config *next = NULL;
	struct config_error err;
	struct config_diff *diff = NULL;
	if (config_create_from_file(d->config_path, &next, &err) < 0) {
		g_warning("reload rejected, the running configuration is kept: %s", err.text);
		service_notify(d->svc, "READY=1");
		service_status(d->svc, "reload rejected (%s); running on the previous configuration", err.text);
		return G_SOURCE_CONTINUE;
	}
	if (config_diff_create(d->config, next, &diff) < 0) {
		config_destroy(next);
		service_notify(d->svc, "READY=1");
		return G_SOURCE_CONTINUE;
	}
	for (size_t i = 0; i < diff->n_global_keys; i++)
		g_warning("reload: %s changed; it takes effect when captiond restarts", diff->global_keys[i]);
	/* Removals use names owned by the old config, additions the new one:
	 * both stay alive until the diff is done. */
	struct captiond_config *old = d->config;
	d->config = next;
	for (size_t i = 0; i < diff->n_changes; i++) {
		const struct config_stream_change *c = &diff->changes[i];
		if (c->change != CONFIG_STREAM_ADDED)
			stream_stop(d, c->name);
		if (c->change == CONFIG_STREAM_REMOVED)
			continue;
		for (size_t k = 0; k < next->n_streams; k++)
			if (strcmp(next->streams[k].name, c->name) == 0)
				stream_start(d, &next->streams[k]);
		g_message("reload: stream %s %s", c->name, c->change == CONFIG_STREAM_ADDED ? "added" : "changed");
	}
	for (size_t i = 0; i < diff->n_changes; i++)
		if (diff->changes[i].change == CONFIG_STREAM_REMOVED)
			g_message("reload: stream %s removed", diff->changes[i].name);
	config_diff_destroy(diff);
	config_destroy(old);
	service_notify(d->svc, "READY=1");
	status_running(d);
	return G_SOURCE_CONTINUE;
}

/* ---- start-up and teardown ------------------------------------------------ */

static char *cache_file(void)
{
	const char *dir = g_getenv("CACHE_DIRECTORY"); /* systemd's CacheDirectory= */
	if (!dir || !*dir)
		return NULL;
	char *first = g_strdup(dir);
	char *colon = strchr(first, ':');
	if (colon)
		*colon = '\0';
	char *path = g_build_filename(first, "pipelines.bin", NULL);
	g_free(first);
	return path;
}

static int engine_start(struct daemon *d)
{
	const struct captiond_config *c = d->config;
	struct gpu_device_config dc = { 0 };
	if (strcmp(c->gpu_device, "auto") != 0)
		dc.device = c->gpu_device;
	gpu_device_config_from_env(&dc);
	int ret = gpu_device_create(&dc, &d->dev);
	if (ret < 0) {
		g_critical("no usable Vulkan device (%s)", g_strerror(-ret));
		return ret;
	}
	service_status(d->svc, "building compute pipelines on %s", gpu_device_caps(d->dev)->name);
	char *cache = cache_file();
	ret = gpu_pipelines_create(d->dev, cache, &d->pipes);
	g_free(cache);
	if (ret < 0 || (ret = gpu_staging_create(d->dev, STAGING_BYTES, &d->staging)) < 0) {
		g_critical("Vulkan start-up failed (%s)", g_strerror(-ret));
		return ret;
	}
	service_status(d->svc, "loading model %s", c->model_path);
	struct captioner_config cc;
	captioner_config_default(&cc);
	cc.prompt = c->prompt_text;
	cc.max_tokens = c->max_new_tokens;
	cc.max_batch = c->max_batch;
	cc.kv_type = c->kv_cache_type == CONFIG_KV_Q8_0   ? TENSOR_Q8_0
		     : c->kv_cache_type == CONFIG_KV_Q4_0 ? TENSOR_Q4_0
							  : TENSOR_F16;
	cc.max_width = c->capture_width;
	cc.max_height = c->capture_height;
	cc.image.min_image_tokens = c->min_image_tokens;
	cc.image.max_image_tokens = c->max_image_tokens;
	if (c->sampling == CONFIG_SAMPLING_GREEDY)
		cc.sampling = (struct sampler_params){ .temperature = 0.0f, .repetition_penalty = 1.0f };
	else
		cc.sampling = (struct sampler_params){ .temperature = (float)c->temperature, .top_k = 50,
						       .min_p = (float)c->min_p,
						       .repetition_penalty = (float)c->repetition_penalty };
	char err[256] = "";
	ret = captioner_create(d->dev, d->pipes, d->staging, c->model_path, c->mmproj_path, &cc, &d->captioner, err,
			       sizeof err);
	if (ret < 0)
		g_critical("cannot load the model: %s", err);
	return ret;
}

static void engine_stop(struct daemon *d)
{
	captioner_destroy(d->captioner);
	gpu_staging_destroy(d->staging);
	gpu_pipelines_destroy(d->pipes);
	gpu_device_destroy(d->dev);
}

static int publisher_start(struct daemon *d)
{
	const struct captiond_config *c = d->config;
	char *model = g_path_get_basename(c->model_path);
	const struct publisher_options po = {
		.socket_path = c->socket_path, .socket_mode = c->socket_mode, .socket_group = c->socket_group,
		.release = CAPTIOND_VERSION, .model = model, .queue_max_lines = c->socket_queue_max_lines,
		.queue_max_bytes = c->socket_queue_max_bytes,
		.disconnect_after_dropped_lines = c->socket_disconnect_after_dropped_lines,
		.max_clients = c->socket_max_clients,
	};
	char why[256] = "";
	int ret = publisher_create(&po, d->ctx, &d->pub, why, sizeof why);
	g_free(model);
	if (ret < 0) {
		g_critical("caption socket %s: %s", c->socket_path, why);
		return ret;
	}
	publisher_stats_fn_set(d->pub, stats_members, d);
	return 0;
}

static int check_config(const char *path)
{
	struct captiond_config *c = NULL;
	struct config_error err;
	if (config_create_from_file(path, &c, &err) < 0) {
		fprintf(stderr, "%s\n", err.text);
		return 1;
	}
	printf("%s: OK (%zu stream%s)\n", path, c->n_streams, c->n_streams == 1 ? "" : "s");
	config_destroy(c);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: captiond [--config FILE]      run (default /etc/captiond/captiond.yaml)\n"
		   "       captiond --check-config FILE  validate FILE and exit (1 on an error)\n"
		   "       captiond --version\n");
}

int main(int argc, char **argv)
{
	struct daemon d = { .config_path = "/etc/captiond/captiond.yaml" };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--check-config") && i + 1 < argc)
			return check_config(argv[i + 1]);
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			d.config_path = argv[++i];
		} else if (!strcmp(argv[i], "--version")) {
			printf("captiond %s\n", CAPTIOND_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}

	int status = 1;
	struct config_error err;
	if (config_create_from_file(d.config_path, &d.config, &err) < 0) {
		fprintf(stderr, "captiond: %s\n", err.text);
		return 1;
	}
	if (d.config->log_level == CONFIG_LOG_DEBUG)
		g_setenv("G_MESSAGES_DEBUG", "captiond", FALSE);
	d.svc = service_create();
	gst_init(NULL, NULL);
	d.ctx = g_main_context_default();
	d.loop = g_main_loop_new(d.ctx, FALSE);
	d.streams = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, stream_free);

	if (engine_start(&d) < 0)
		goto out_engine;
	if (publisher_start(&d) < 0)
		goto out_engine;
	const struct batcher_params bp = { .max_batch = d.config->max_batch, .max_wait_ms = d.config->max_wait_ms,
					   .run = run_captioner, .done = on_caption, .user = &d, .service = d.svc };
	if (batcher_create(&bp, &d.batcher) < 0)
		goto out_publisher;
	service_status(d.svc, "starting %zu stream%s", d.config->n_streams, d.config->n_streams == 1 ? "" : "s");
	for (size_t i = 0; i < d.config->n_streams; i++)
		stream_start(&d, &d.config->streams[i]); /* a stream that fails is reported; others go on */
	d.sig_term = g_unix_signal_add(SIGTERM, on_quit, &d);
	d.sig_int = g_unix_signal_add(SIGINT, on_quit, &d);
	d.sig_hup = g_unix_signal_add(SIGHUP, on_reload, &d);

	g_message("ready: %zu stream%s, socket %s", d.config->n_streams, d.config->n_streams == 1 ? "" : "s",
		  d.config->socket_path);
	service_notify(d.svc, "READY=1");
	status_running(&d);
	g_main_loop_run(d.loop);
	status = 0;

	g_source_remove(d.sig_hup);
	g_source_remove(d.sig_int);
	g_source_remove(d.sig_term);
	/* Streams go first (no new frames); the inference thread then finishes
	 * its batch and publishes it; the main loop hands it to the clients. */
	for (size_t i = 0; i < d.config->n_streams; i++)
		stream_stop(&d, d.config->streams[i].name);
	batcher_destroy(d.batcher);
	const int64_t until = g_get_monotonic_time() + DRAIN_MS * 1000;
	while (g_get_monotonic_time() < until)
		if (!g_main_context_iteration(d.ctx, FALSE))
			g_usleep(5000);
out_publisher:
	publisher_destroy(d.pub);
out_engine:
	engine_stop(&d);
	g_hash_table_destroy(d.streams);
	g_main_loop_unref(d.loop);
	service_destroy(d.svc);
	config_destroy(d.config);
	if (status)
		fprintf(stderr, "captiond: start-up failed\n");
	return status;
}
