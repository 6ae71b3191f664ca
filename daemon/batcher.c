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
	struct capture_stream *capture; /* NULL once removed */
	uint32_t interval_ms;
	int64_t next_due_us;            /* monotonic */
	int64_t added_us;
	uint64_t seq, captions;
	uint64_t frames_in_base, frames_dropped_base;
	double latency_ms[LATENCY_RING];
	uint32_t n_latency, latency_next;
	bool in_batch;                  /* a frame of it is in the batch running now */
};

struct batcher {
	struct batcher_params p;
	GMutex lock;
	GCond wake;
	GPtrArray *entries;             /* struct entry *, live streams */
	GPtrArray *retired;             /* removed while in a batch: freed after it */
	bool stop;
	struct batcher_stats stats;
	GThread *thread;
	int64_t last_ping_us;
};

static void entry_free(struct entry *e)
{
	g_free(e->name);
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

/* Under the lock: take a frame from the due streams not yet in the batch,
 * the longest overdue first, so that with more due streams than max_batch
 * none is starved (a stream is due again before a batch ends). */
static uint32_t gather(struct batcher *b, int64_t now, struct entry **batch, struct capture_frame *frames,
		       uint32_t n)
{
	struct entry *due[BATCHER_MAX_STREAMS];
	guint n_due = 0;
	for (guint i = 0; i < b->entries->len && n_due < BATCHER_MAX_STREAMS; i++) {
		struct entry *e = g_ptr_array_index(b->entries, i);
		if (!e->in_batch && now >= e->next_due_us)
			due[n_due++] = e;
	}
	qsort(due, n_due, sizeof due[0], by_due);
	for (guint i = 0; i < n_due && n < b->p.max_batch; i++) {
		struct entry *e = due[i];
		if (capture_stream_frame_take(e->capture, &frames[n]) < 0)
			continue;
		e->in_batch = true;
		e->next_due_us = now + (int64_t)e->interval_ms * 1000;
		batch[n++] = e;
	}
	return n;
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

static void run_batch(struct batcher *b, struct entry **batch, struct capture_frame *frames, uint32_t n)
{
	struct vision_frame vf[BATCHER_MAX_BATCH];
	GstMapInfo maps[BATCHER_MAX_BATCH];
	struct caption caps[BATCHER_MAX_BATCH];
	bool mapped[BATCHER_MAX_BATCH] = { false };
	memset(caps, 0, sizeof caps);
	uint32_t m = 0;
	int ret = 0;
	for (uint32_t i = 0; i < n; i++) {
		mapped[i] = gst_buffer_map(frames[i].buffer, &maps[i], GST_MAP_READ);
		const uint32_t ch = frames[i].format == CAPTURE_FORMAT_RGBA ? 4 : 3;
		if (!mapped[i] || (uint64_t)frames[i].stride_bytes * frames[i].height > maps[i].size) {
			ret = -EBADMSG;
			break;
		}
		vf[m++] = (struct vision_frame){ .pixels = maps[i].data, .width = frames[i].width,
						  .height = frames[i].height, .channels = ch,
						  .row_stride = frames[i].stride_bytes };
	}
	if (ret == 0)
		ret = b->p.run(b->p.user, vf, n, caps);
	for (uint32_t i = 0; i < n; i++)
		if (mapped[i])
			gst_buffer_unmap(frames[i].buffer, &maps[i]);

	const int64_t now = g_get_monotonic_time();
	g_mutex_lock(&b->lock);
	b->stats.batches++;
	b->stats.batch_sizes[n]++;
	if (ret < 0) {
		b->stats.run_errors++;
		g_warning("inference: a batch of %u frames failed (%s)", n, g_strerror(-ret));
	}
	uint64_t seqs[BATCHER_MAX_BATCH];
	for (uint32_t i = 0; i < n && ret == 0; i++) {
		struct entry *e = batch[i];
		seqs[i] = ++e->seq;
		e->captions++;
		e->latency_ms[e->latency_next] = (double)(now - frames[i].capture_mono_us) / 1000.0;
		e->latency_next = (e->latency_next + 1) % LATENCY_RING;
		if (e->n_latency < LATENCY_RING)
			e->n_latency++;
	}
	g_mutex_unlock(&b->lock);
	/* done() outside the lock: it publishes (copies) and may take a while. */
	for (uint32_t i = 0; i < n && ret == 0; i++)
		b->p.done(b->p.user, batch[i]->name, seqs[i], &frames[i], &caps[i]);
	g_mutex_lock(&b->lock);
	for (uint32_t i = 0; i < n; i++) {
		batch[i]->in_batch = false;
		capture_frame_release(&frames[i]);
		caption_clear(&caps[i]);
	}
	g_ptr_array_set_size(b->retired, 0);
	g_mutex_unlock(&b->lock);
}

static gpointer thread_main(gpointer data)
{
	struct batcher *b = data;
	struct entry *batch[BATCHER_MAX_BATCH];
	struct capture_frame frames[BATCHER_MAX_BATCH];
	g_mutex_lock(&b->lock);
	while (!b->stop) {
		int64_t now = g_get_monotonic_time();
		ping(b, now);
		uint32_t n = gather(b, now, batch, frames, 0);
		if (n == 0) {
			g_cond_wait_until(&b->wake, &b->lock, earliest_due(b, now));
			continue;
		}
		/* Wait a little for more due streams: one batch of k frames costs
		 * far less than k batches of one. */
		const int64_t deadline = now + (int64_t)b->p.max_wait_ms * 1000;
		while (n < b->p.max_batch && !b->stop && (now = g_get_monotonic_time()) < deadline) {
			g_cond_wait_until(&b->wake, &b->lock, MIN(deadline, now + POLL_US / 5));
			n = gather(b, g_get_monotonic_time(), batch, frames, n);
		}
		g_mutex_unlock(&b->lock);
		run_batch(b, batch, frames, n);
		g_mutex_lock(&b->lock);
	}
	g_mutex_unlock(&b->lock);
	return NULL;
}

int batcher_create(const struct batcher_params *params, struct batcher **out)
{
	if (!params->run || !params->done || params->max_batch < 1 || params->max_batch > BATCHER_MAX_BATCH)
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
		       uint32_t caption_interval_ms)
{
	struct entry *e = g_new0(struct entry, 1);
	e->name = g_strdup(name);
	e->capture = capture;
	e->interval_ms = caption_interval_ms;
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
		/* In a batch: the running batch still reads its name; free it after. */
		g_ptr_array_steal_index(b->entries, i);
		if (e->in_batch)
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
