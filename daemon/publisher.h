/* daemon/publisher.h — the caption socket: a Unix stream socket that sends
 * NDJSON lines (daemon/protocol.h, docs/protocol.md) to every subscriber.
 *
 * Runs on a GLib main context (the daemon's main loop). Sockets are plain
 * non-blocking fds watched by GSources of our own rather than GSocketService
 * + GOutputStream: GIO allows one pending async write per stream and hides
 * how much the kernel took, while a bounded per-client queue needs exactly
 * that (write what fits, keep the rest, drop the oldest whole line).
 *
 * Per client: a queue of lines (shared, reference-counted GBytes — one copy
 * of a caption however many clients) bounded by queue_max_lines and
 * queue_max_bytes. Past either bound the oldest line not yet started is
 * dropped and counted; the client receives {"class":"DROPPED","count":N}
 * before the next line it gets. A client that lets more than
 * disconnect_after_dropped_lines lines drop without the kernel taking a
 * single byte from it is disconnected, with the reason logged. Nobody else
 * ever waits for a slow client.
 *
 * Lines from other threads wait in an inbox of at most 1024 lines for the
 * main loop; if it stalls that long, the oldest are dropped and each client
 * that would have received them gets a DROPPED notice at the right place.
 *
 * Client input: lines of at most PROTOCOL_MAX_CLIENT_LINE_BYTES. A longer
 * line gets one ERROR reply and is discarded up to its newline; the client
 * stays connected. Malformed commands get an ERROR line.
 *
 * Threads: publisher_publish_caption() and publisher_publish_stream() may be
 * called from any thread (they copy what they need and wake the context);
 * everything else runs on the thread that iterates the context. Stop every
 * producer thread before publisher_destroy().
 */
#ifndef CAPTIOND_DAEMON_PUBLISHER_H
#define CAPTIOND_DAEMON_PUBLISHER_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/protocol.h"

struct publisher;

/* What a 0 in publisher_options means (conf/captiond.yaml has the same). */
#define PUBLISHER_DEFAULT_QUEUE_MAX_LINES 256
#define PUBLISHER_DEFAULT_QUEUE_MAX_BYTES (1u << 20)
#define PUBLISHER_DEFAULT_DISCONNECT_AFTER_DROPPED_LINES 4096
#define PUBLISHER_DEFAULT_MAX_CLIENTS 128

struct publisher_options {
	const char *socket_path;
	uint32_t socket_mode;                 /* permission bits of the socket file */
	const char *socket_group;             /* NULL or "": keep the daemon's group */
	const char *release;                  /* daemon version, for VERSION */
	const char *model;                    /* model name for VERSION; NULL: omitted */
	size_t queue_max_lines;               /* per client */
	size_t queue_max_bytes;               /* per client */
	size_t disconnect_after_dropped_lines; /* with no write progress */
	size_t max_clients;                   /* more are refused with an ERROR */
};

struct publisher_stats {
	size_t clients;
	uint64_t lines_published;       /* CAPTION and STREAM lines handed to the publisher */
	uint64_t lines_dropped;         /* per client, summed */
	uint64_t inbox_dropped;         /* lost before reaching any client (inbox over 1024) */
	uint64_t clients_disconnected;  /* forced: stopped reading, write error, refused */
	size_t queue_lines_peak;        /* largest client queue seen, in lines */
	size_t queue_bytes_peak;        /* largest client queue seen, in bytes */
};

/* Appends extra STATS members, each as ,"name":value (protocol.h helpers
 * for strings). Called on the context's thread. */
typedef void (*publisher_stats_fn)(void *user, GString *members);

/* Listens on options->socket_path: a stale socket file (nobody accepting) is
 * removed; anything else at that path is left alone and refused. Returns 0
 * and *out, or a negative errno with a one-line reason in why:
 * -ENAMETOOLONG, -EEXIST (not a socket), -EADDRINUSE (a live socket), -ENOENT
 * (unknown group), or what socket/bind/chmod/chown/listen returned. */
int publisher_create(const struct publisher_options *options, GMainContext *context, struct publisher **out,
		     char *why, size_t why_size);

/* Closes every client and removes the socket file if it is still ours. */
void publisher_destroy(struct publisher *pub);

/* Any thread. Copies ev (ev->stream must be set); the publish time is taken now. */
void publisher_publish_caption(struct publisher *pub, const struct caption_event *ev);
/* Any thread. A STREAM line: state such as "playing", "error"; message may be NULL. */
void publisher_publish_stream(struct publisher *pub, const char *stream, const char *state, const char *message);

void publisher_stats_fn_set(struct publisher *pub, publisher_stats_fn fn, void *user);
void publisher_stats_get(struct publisher *pub, struct publisher_stats *out);

#endif
