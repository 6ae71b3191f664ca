/* daemon/protocol.h — the caption socket's NDJSON lines (docs/protocol.md):
 * building the daemon's objects and parsing the two client commands.
 *
 * Every object is one line ending in "\n" with a "class" member first.
 * Strings are escaped per RFC 8259 §7; invalid UTF-8 in a string becomes
 * U+FFFD, so every line we write is valid UTF-8 and valid JSON.
 *
 * The client side is parsed by a small strict parser of our own: the
 * commands are two tiny objects, and json-glib (not installed on the target
 * image) would add a dependency and a GObject tree for them.
 *
 * No state; any thread may call these. The builders append to a GString the
 * caller owns.
 */
#ifndef CAPTIOND_DAEMON_PROTOCOL_H
#define CAPTIOND_DAEMON_PROTOCOL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_MAJOR 1
#define PROTOCOL_MINOR 0

/* Longest client line we accept, the newline excluded. */
#define PROTOCOL_MAX_CLIENT_LINE_BYTES 4096
/* A WATCH names at most this many streams, each at most this long. */
#define PROTOCOL_MAX_WATCH_STREAMS 64
#define PROTOCOL_MAX_STREAM_NAME_BYTES 64

/* One finished caption, as the inference side hands it over. The strings are
 * borrowed for the duration of the call that takes the event. */
struct caption_event {
	const char *stream;
	uint64_t seq;                 /* per stream, from 1 */
	int64_t capture_realtime_us;  /* g_get_real_time() when the frame was captured */
	int64_t capture_monotonic_us; /* g_get_monotonic_time() at the same moment */
	const char *text;             /* UTF-8; invalid bytes are replaced */
	uint32_t n_tokens;            /* generated tokens, EOS excluded */
};

/* Appends value (NUL-terminated) as a quoted JSON string. */
void protocol_json_string_append(GString *out, const char *value);

void protocol_version_line(GString *out, const char *release, const char *model);
void protocol_caption_line(GString *out, const struct caption_event *ev, int64_t publish_realtime_us,
			   double latency_ms);
/* message may be NULL (the member is then omitted). */
void protocol_stream_line(GString *out, const char *stream, const char *state, const char *message);
void protocol_error_line(GString *out, const char *message);
void protocol_dropped_line(GString *out, uint64_t count);
/* streams NULL: every stream (the member is omitted). */
void protocol_watch_line(GString *out, char *const *streams);

enum protocol_command_kind {
	PROTOCOL_COMMAND_WATCH,
	PROTOCOL_COMMAND_POLL,
};

struct protocol_command {
	enum protocol_command_kind kind;
	char **streams; /* WATCH: NULL-terminated, NULL when "streams" is absent (all) */
};

/* Parses one client line (without its newline). Unknown members are ignored
 * (the protocol only grows by adding members). Returns 0, or -EINVAL with a
 * one-line reason in why. Clear cmd with protocol_command_clear either way. */
int protocol_command_parse(const char *line, size_t len, struct protocol_command *cmd, char *why, size_t why_size);
void protocol_command_clear(struct protocol_command *cmd);

#endif
