/* daemon/batcher.c — the inference thread (see batcher.h). */
#include "daemon/batcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "daemon/service.h"

#define LATENCY_RING 256
#define POLL_US 5000
#define BATCHER_MAX_STREAMS 1024 /* more than config allows (CONFIG_MAX_STREAMS) */      /* how often an idle thread looks at the slots again */

struct entry {
	char *name;
	char *prompt;                   /* NULL: the captioner's */
	struct capture_stream *capture; /* NULL once removed */
	uint32_t interval_ms;
	double threshold;               /* scene-change gate; 0: off */
	int64_t next_due_us;            /* monotonic */
	int64_t added_us;
	uint64_t seq, captions, skipped;
	uint64_t frames_in_base, frames_dropped_base;
	double latency_ms[LATENCY_RING];
	uint32_t n_latency, latency_next;
	bool in_flight;                 /* a frame of it is taken, submitted or decoding */
	bool warned;                    /* a submit of it failed (logged once) */
	bool has_thumb;                 /* inference thread only: */
	uint8_t thumb[BATCHER_THUMB * BATCHER_THUMB]; /* the last captioned frame's */
};

/* A submitted sequence (the captioner's tag is its index). */
struct flight {
	struct entry *e;                /* NULL: free */
	struct capture_frame frame;     /* timestamps; sample already released */
};

struct batcher {
	struct batcher_params p;
	GMutex lock;
	GCond wake;
	GPtrArray *entries;             /* struct entry *, live streams */
	GPtrArray *retired;             /* removed while in flight: freed when it lands */
	bool stop;
	struct batcher_stats stats;
	GThread *thread;
	int64_t last_ping_us;
	struct flight flights[BATCHER_MAX_BATCH]; /* inference thread only */
};

static void entry_free(struct entry *e)
{
	g_free(e->name);
	g_free(e->prompt);
	g_free(e);
}

static void ping(struct batcher *b, int64_t now)
{
	uint64_t wd = service_watchdog_usec(b->p.service);
	if (wd && (uint64_t)(now - b->last_ping_us) >= wd / 2) {
		service_notify(b->p.service, "WATCHDOG=1");
		b->last_ping_us = now;
	}
}

static int by_due(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
	return (x->next_due_us > y->next_due_us) - (x->next_due_us < y->next_due_us);
}

/* Under the lock: take a frame from the due streams not in flight, the
 * longest overdue first, so that with more due streams than room none is
 * starved (a stream is due again before its caption ends). */
static uint32_t gather(struct batcher *b, int64_t now, struct entry **batch, struct capture_frame *frames,
		       uint32_t n, uint32_t room)
{
	struct entry *due[BATCHER_MAX_STREAMS];
	guint n_due = 0;
	for (guint i = 0; i < b->entries->len && n_due < BATCHER_MAX_STREAMS; i++) {
		struct entry *e = g_ptr_array_index(b->entries, i);
		if (!e->in_flight && now >= e->next_due_us)
			due[n_due++] = e;
	}
	qsort(due, n_due, sizeof due[0], by_due);
	for (guint i = 0; i < n_due && n < room; i++) {
		struct entry *e = due[i];
		if (capture_stream_frame_take(e->capture, &frames[n]) < 0)
			continue;
		e->in_flight = true;
		e->next_due_us = now + (int64_t)e->interval_ms * 1000;
		batch[n++] = e;
	}
	return n;
}

/* Under the lock: e's frame is done with (captioned, skipped or failed). */
static void entry_settle(struct batcher *b, struct entry *e)
{
	e->in_flight = false;
	if (!e->capture)
		g_ptr_array_remove_fast(b->retired, e); /* frees it */
}

static int64_t earliest_due(struct batcher *b, int64_t now)
{
	int64_t t = now + POLL_US;
	for (guint i = 0; i < b->entries->len; i++) {
		struct entry *e = g_ptr_array_index(b->entries, i);
		if (e->next_due_us > now && e->next_due_us < t)
			t = e->next_due_us;
	}
	return t;
}

/* Under the lock, while a decode runs: join the due streams now, or let
 * them gather (in their slots, where a newer frame still replaces an older
 * one) until they fill every free slot or the longest overdue has waited
 * max_wait_ms. One encode + prefill of k frames costs far less than k. */
static bool join_now(struct batcher *b, int64_t now, uint32_t room)
{
	uint32_t n_due = 0;
	int64_t oldest = now;
	for (guint i = 0; i < b->entries->len; i++) {
		const struct entry *e = g_ptr_array_index(b->entries, i);
		if (!e->in_flight && now >= e->next_due_us) {
			n_due++;
			oldest = MIN(oldest, e->next_due_us);
		}
	}
	return n_due >= room || (n_due > 0 && now - oldest >= (int64_t)b->p.max_wait_ms * 1000);
}

void batcher_thumbnail(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
		       uint32_t row_stride, uint8_t thumb[BATCHER_THUMB * BATCHER_THUMB])
{
	const uint32_t T = BATCHER_THUMB, S = 4; /* S×S samples per block */
	for (uint32_t by = 0; by < T; by++)
		for (uint32_t bx = 0; bx < T; bx++) {
			uint32_t sum = 0;
			for (uint32_t sy = 0; sy < S; sy++) {
				/* sample centres spread over the block */
				const uint64_t y = ((uint64_t)by * S + sy) * height / (T * S) + height / (2 * T * S);
				const uint8_t *row = pixels + (size_t)MIN(y, height - 1) * row_stride;
				for (uint32_t sx = 0; sx < S; sx++) {
					const uint64_t x = ((uint64_t)bx * S + sx) * width / (T * S) + width / (2 * T * S);
					const uint8_t *p = row + (size_t)MIN(x, width - 1) * channels;
					sum += (77u * p[0] + 150u * p[1] + 29u * p[2]) >> 8; /* BT.601 luma */
				}
			}
			thumb[by * T + bx] = (uint8_t)(sum / (S * S));
		}
}

double batcher_thumbnail_diff(const uint8_t *a, const uint8_t *b)
{
	uint32_t sum = 0;
	for (uint32_t i = 0; i < BATCHER_THUMB * BATCHER_THUMB; i++)
		sum += (uint32_t)abs((int)a[i] - (int)b[i]);
	return (double)sum / (255.0 * BATCHER_THUMB * BATCHER_THUMB);
}

/* Inference thread: gate, then encode + prefill the frames that pass;
 * every frame's buffer is released here. */
static void submit_frames(struct batcher *b, struct entry **batch, struct capture_frame *frames, uint32_t n)
{
	struct vision_frame vf[BATCHER_MAX_BATCH];
	GstMapInfo maps[BATCHER_MAX_BATCH];
	bool mapped[BATCHER_MAX_BATCH] = { false };
	struct captioner_request req[BATCHER_MAX_BATCH];
	uint8_t thumbs[BATCHER_MAX_BATCH][BATCHER_THUMB * BATCHER_THUMB];
	uint32_t who[BATCHER_MAX_BATCH];
	enum { BAD, SKIPPED, SUBMITTED } fate[BATCHER_MAX_BATCH];
	uint32_t m = 0, n_bad = 0, f = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct entry *e = batch[i];
		mapped[i] = gst_buffer_map(frames[i].buffer, &maps[i], GST_MAP_READ);
		const uint32_t ch = frames[i].format == CAPTURE_FORMAT_RGBA ? 4 : 3;
		if (!mapped[i] || (uint64_t)frames[i].stride_bytes * frames[i].height > maps[i].size ||
		    (uint64_t)frames[i].width * ch > frames[i].stride_bytes) {
			fate[i] = BAD;
			n_bad++;
			continue;
		}
		vf[i] = (struct vision_frame){ .pixels = maps[i].data, .width = frames[i].width,
					       .height = frames[i].height, .channels = ch,
					       .row_stride = frames[i].stride_bytes };
		if (e->threshold > 0) {
			batcher_thumbnail(vf[i].pixels, vf[i].width, vf[i].height, ch, vf[i].row_stride, thumbs[i]);
			if (e->has_thumb && batcher_thumbnail_diff(thumbs[i], e->thumb) <= e->threshold) {
				fate[i] = SKIPPED;
				continue;
			}
		}
		while (b->flights[f].e)
			f++;
		b->flights[f].e = e;
		b->flights[f].frame = frames[i];
		b->flights[f].frame.sample = NULL;
		b->flights[f].frame.buffer = NULL;
		req[m] = (struct captioner_request){ .frame = &vf[i], .prompt = e->prompt, .tag = f };
		who[m++] = i;
		fate[i] = SUBMITTED;
		f++;
	}
	int ret = m ? captioner_submit(b->p.captioner, req, m) : 0;
	for (uint32_t i = 0; i < n; i++) {
		if (mapped[i])
			gst_buffer_unmap(frames[i].buffer, &maps[i]);
		capture_frame_release(&frames[i]);
	}
	if (ret == 0)
		for (uint32_t j = 0; j < m; j++) {
			struct entry *e = batch[who[j]];
			if (e->threshold > 0) {
				memcpy(e->thumb, thumbs[who[j]], sizeof e->thumb);
				e->has_thumb = true;
			}
		}
	g_mutex_lock(&b->lock);
	if (m) {
		b->stats.batches++;
		b->stats.batch_sizes[m]++;
	}
	b->stats.run_errors += n_bad + (ret < 0 ? m : 0);
	for (uint32_t i = 0; i < n; i++) {
		struct entry *e = batch[i];
		if (fate[i] == SUBMITTED && ret == 0)
			continue; /* settled when its caption is taken */
		if (fate[i] == SKIPPED)
			e->skipped++;
		if (fate[i] == SUBMITTED && !e->warned) {
			g_warning("inference: stream %s: a frame could not be submitted (%s)", e->name, g_strerror(-ret));
			e->warned = true;
		}
		entry_settle(b, e);
	}
	g_mutex_unlock(&b->lock);
	if (ret < 0)
		for (uint32_t j = 0; j < m; j++)
			b->flights[req[j].tag].e = NULL;
}

/* Inference thread: every finished caption to done(). */
static void collect(struct batcher *b)
{
	struct caption cap;
	uint64_t tag;
	int st;
	while ((st = captioner_take(b->p.captioner, &cap, &tag)) != -EAGAIN) {
		struct flight *fl = &b->flights[tag < BATCHER_MAX_BATCH ? tag : 0];
		struct entry *e = fl->e;
		if (!e || tag >= BATCHER_MAX_BATCH) { /* not ours: cannot happen */
			caption_clear(&cap);
			continue;
		}
		const int64_t now = g_get_monotonic_time();
		uint64_t seq = 0;
		g_mutex_lock(&b->lock);
		if (st < 0) {
			b->stats.run_errors++;
			g_warning("inference: stream %s: a caption failed (%s)", e->name, g_strerror(-st));
		} else {
			seq = ++e->seq;
			e->captions++;
			e->latency_ms[e->latency_next] = (double)(now - fl->frame.capture_mono_us) / 1000.0;
			e->latency_next = (e->latency_next + 1) % LATENCY_RING;
			if (e->n_latency < LATENCY_RING)
				e->n_latency++;
		}
		g_mutex_unlock(&b->lock);
		/* done() outside the lock: it publishes (copies) and may take a while. */
		if (st == 0)
			b->p.done(b->p.user, e->name, seq, &fl->frame, &cap);
		caption_clear(&cap);
		g_mutex_lock(&b->lock);
		entry_settle(b, e);
		g_mutex_unlock(&b->lock);
		fl->e = NULL;
	}
}

static gpointer thread_main(gpointer data)
{
	struct batcher *b = data;
	struct captioner *cap = b->p.captioner;
	struct entry *batch[BATCHER_MAX_BATCH];
	struct capture_frame frames[BATCHER_MAX_BATCH];
	g_mutex_lock(&b->lock);
	for (;;) {
		int64_t now = g_get_monotonic_time();
		ping(b, now);
		const uint32_t running = captioner_running(cap);
		if (b->stop && running == 0)
			break;
		const uint32_t room = b->stop ? 0 : MIN(captioner_free_slots(cap), b->p.max_batch);
		uint32_t n = room && (running == 0 || join_now(b, now, room)) ? gather(b, now, batch, frames, 0, room) : 0;
		if (n == 0 && running == 0) {
			g_cond_wait_until(&b->wake, &b->lock, earliest_due(b, now));
			continue;
		}
		/* Nothing decoding: wait a little for more due streams, one
		 * encode of k frames costs far less than k. While a decode runs,
		 * new frames join at the next step instead. */
		const int64_t deadline = now + (int64_t)b->p.max_wait_ms * 1000;
		while (running == 0 && n < room && !b->stop && (now = g_get_monotonic_time()) < deadline) {
			g_cond_wait_until(&b->wake, &b->lock, MIN(deadline, now + POLL_US / 5));
			n = gather(b, g_get_monotonic_time(), batch, frames, n, room);
		}
		g_mutex_unlock(&b->lock);
		if (n)
			submit_frames(b, batch, frames, n);
		const uint32_t rows = captioner_running(cap);
		int ret = rows ? captioner_step(cap) : 0;
		if (ret < 0)
			g_warning("inference: a decode step of %u sequences failed (%s)", rows, g_strerror(-ret));
		collect(b);
		g_mutex_lock(&b->lock);
		if (rows) {
			b->stats.steps++;
			b->stats.step_rows += rows;
		}
	}
	g_mutex_unlock(&b->lock);
	return NULL;
}

int batcher_create(const struct batcher_params *params, struct batcher **out)
{
	if (!params->captioner || !params->done || params->max_batch < 1 || params->max_batch > BATCHER_MAX_BATCH)
		return -EINVAL;
	struct batcher *b = g_new0(struct batcher, 1);
	b->p = *params;
	g_mutex_init(&b->lock);
	g_cond_init(&b->wake);
	b->entries = g_ptr_array_new_with_free_func((GDestroyNotify)entry_free);
	b->retired = g_ptr_array_new_with_free_func((GDestroyNotify)entry_free);
	b->thread = g_thread_new("inference", thread_main, b);
	*out = b;
	return 0;
}

static struct entry *find(struct batcher *b, const char *name, guint *index)
{
	for (guint i = 0; i < b->entries->len; i++) {
		struct entry *e = g_ptr_array_index(b->entries, i);
		if (strcmp(e->name, name) == 0) {
			if (index)
				*index = i;
			return e;
		}
	}
	return NULL;
}

int batcher_stream_add(struct batcher *b, const char *name, struct capture_stream *capture,
		       const struct batcher_stream_params *params)
{
	struct entry *e = g_new0(struct entry, 1);
	e->name = g_strdup(name);
	e->prompt = g_strdup(params->prompt);
	e->capture = capture;
	e->interval_ms = params->caption_interval_ms;
	e->threshold = params->scene_change_threshold > 0 ? params->scene_change_threshold : 0;
	e->added_us = e->next_due_us = g_get_monotonic_time();
	capture_stream_counts(capture, &e->frames_in_base, &e->frames_dropped_base);
	g_mutex_lock(&b->lock);
	int ret = find(b, name, NULL) ? -EEXIST : 0;
	if (ret == 0)
		g_ptr_array_add(b->entries, e);
	g_cond_signal(&b->wake);
	g_mutex_unlock(&b->lock);
	if (ret < 0)
		entry_free(e);
	return ret;
}

void batcher_stream_remove(struct batcher *b, const char *name)
{
	g_mutex_lock(&b->lock);
	guint i;
	struct entry *e = find(b, name, &i);
	if (e) {
		e->capture = NULL;
		/* In flight: the inference thread still reads its name; free it after. */
		g_ptr_array_steal_index(b->entries, i);
		if (e->in_flight)
			g_ptr_array_add(b->retired, e);
		else
			entry_free(e);
	}
	g_mutex_unlock(&b->lock);
}

void batcher_stop(struct batcher *b)
{
	if (!b || !b->thread)
		return;
	g_mutex_lock(&b->lock);
	b->stop = true;
	g_cond_signal(&b->wake);
	g_mutex_unlock(&b->lock);
	g_thread_join(b->thread);
	b->thread = NULL;
}

void batcher_destroy(struct batcher *b)
{
	if (!b)
		return;
	batcher_stop(b);
	g_ptr_array_free(b->entries, TRUE);
	g_ptr_array_free(b->retired, TRUE);
	g_cond_clear(&b->wake);
	g_mutex_clear(&b->lock);
	g_free(b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static double percentile(const double *v, uint32_t n, double p)
{
	uint32_t rank = (uint32_t)(p / 100.0 * n + 0.999999);
	return v[rank == 0 ? 0 : rank - 1];
}

void batcher_stream_stats_get(struct batcher *b, const char *name, struct batcher_stream_stats *out)
{
	memset(out, 0, sizeof *out);
	double lat[LATENCY_RING];
	uint32_t n = 0;
	g_mutex_lock(&b->lock);
	struct entry *e = find(b, name, NULL);
	if (e) {
		out->found = true;
		capture_stream_counts(e->capture, &out->frames_in, &out->frames_dropped);
		out->frames_in -= e->frames_in_base;
		out->frames_dropped -= e->frames_dropped_base;
		out->captions = e->captions;
		out->skipped_unchanged = e->skipped;
		double s = (double)(g_get_monotonic_time() - e->added_us) / 1e6;
		out->fps_in = s > 0 ? (double)out->frames_in / s : 0;
		out->captions_per_s = s > 0 ? (double)out->captions / s : 0;
		n = e->n_latency;
		memcpy(lat, e->latency_ms, n * sizeof lat[0]);
	}
	g_mutex_unlock(&b->lock);
	if (n) {
		qsort(lat, n, sizeof lat[0], cmp_double);
		out->latency_p50_ms = percentile(lat, n, 50);
		out->latency_p95_ms = percentile(lat, n, 95);
	}
}

void batcher_stats_get(struct batcher *b, struct batcher_stats *out)
{
	g_mutex_lock(&b->lock);
	*out = b->stats;
	g_mutex_unlock(&b->lock);
}
