/* daemon/protocol.c — NDJSON lines of the caption socket: an RFC 8259
 * string escaper, the object builders and a strict parser for WATCH / POLL. */
#include "daemon/protocol.h"

#include <errno.h>
#include <string.h>

/* ---- writing -------------------------------------------------------------- */

void protocol_json_string_append(GString *out, const char *value)
{
	char *valid = g_utf8_make_valid(value ? value : "", -1);
	g_string_append_c(out, '"');
	for (const unsigned char *p = (const unsigned char *)valid; *p; p++) {
		switch (*p) {
		case '"': g_string_append(out, "\\\""); break;
		case '\\': g_string_append(out, "\\\\"); break;
		case '\b': g_string_append(out, "\\b"); break;
		case '\f': g_string_append(out, "\\f"); break;
		case '\n': g_string_append(out, "\\n"); break;
		case '\r': g_string_append(out, "\\r"); break;
		case '\t': g_string_append(out, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				g_string_append_printf(out, "\\u%04x", *p);
			} else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
				/* U+2028 / U+2029 are valid JSON but end lines in JavaScript. */
				g_string_append_printf(out, "\\u%04x", 0x2028 + (p[2] - 0xa8));
				p += 2;
			} else {
				g_string_append_c(out, (char)*p);
			}
		}
	}
	g_string_append_c(out, '"');
	g_free(valid);
}

static void begin(GString *out, const char *class_name)
{
	g_string_append_printf(out, "{\"class\":\"%s\"", class_name);
}

static void member_string(GString *out, const char *name, const char *value)
{
	g_string_append_printf(out, ",\"%s\":", name);
	protocol_json_string_append(out, value);
}

static void end(GString *out)
{
	g_string_append(out, "}\n");
}

void protocol_version_line(GString *out, const char *release, const char *model)
{
	begin(out, "VERSION");
	g_string_append_printf(out, ",\"proto_major\":%d,\"proto_minor\":%d", PROTOCOL_MAJOR, PROTOCOL_MINOR);
	member_string(out, "release", release);
	if (model)
		member_string(out, "model", model);
	end(out);
}

void protocol_caption_line(GString *out, const struct caption_event *ev, int64_t publish_realtime_us,
			   double latency_ms)
{
	char latency[G_ASCII_DTOSTR_BUF_SIZE];
	begin(out, "CAPTION");
	member_string(out, "stream", ev->stream);
	g_string_append_printf(out, ",\"seq\":%" G_GUINT64_FORMAT ",\"capture_time_us\":%" G_GINT64_FORMAT
			       ",\"publish_time_us\":%" G_GINT64_FORMAT ",\"latency_ms\":%s",
			       ev->seq, ev->capture_realtime_us, publish_realtime_us,
			       g_ascii_formatd(latency, sizeof latency, "%.1f", latency_ms));
	member_string(out, "text", ev->text);
	g_string_append_printf(out, ",\"tokens\":%u", ev->n_tokens);
	end(out);
}

void protocol_stream_line(GString *out, const char *stream, const char *state, const char *message)
{
	begin(out, "STREAM");
	member_string(out, "stream", stream);
	member_string(out, "state", state);
	if (message)
		member_string(out, "message", message);
	end(out);
}

void protocol_error_line(GString *out, const char *message)
{
	begin(out, "ERROR");
	member_string(out, "message", message);
	end(out);
}

void protocol_dropped_line(GString *out, uint64_t count)
{
	begin(out, "DROPPED");
	g_string_append_printf(out, ",\"count\":%" G_GUINT64_FORMAT, count);
	end(out);
}

void protocol_watch_line(GString *out, char *const *streams)
{
	begin(out, "WATCH");
	if (streams) {
		g_string_append(out, ",\"streams\":[");
		for (size_t i = 0; streams[i]; i++) {
			if (i)
				g_string_append_c(out, ',');
			protocol_json_string_append(out, streams[i]);
		}
		g_string_append_c(out, ']');
	}
	end(out);
}

/* ---- reading --------------------------------------------------------------- */

#define MAX_DEPTH 8

struct reader {
	const char *p, *end;
	char *why;
	size_t why_size;
};

static int reject(struct reader *r, const char *what)
{
	g_snprintf(r->why, r->why_size, "%s", what);
	return -EINVAL;
}

static void skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
		r->p++;
}

static int hex4(struct reader *r, uint32_t *out)
{
	if (r->end - r->p < 4)
		return reject(r, "bad \\u escape");
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		int d = g_ascii_xdigit_value(r->p[i]);
		if (d < 0)
			return reject(r, "bad \\u escape");
		v = v << 4 | (uint32_t)d;
	}
	r->p += 4;
	*out = v;
	return 0;
}

/* At the opening quote. out may be NULL to skip; the line is known UTF-8. */
static int read_string(struct reader *r, GString *out)
{
	r->p++;
	while (r->p < r->end) {
		unsigned char c = (unsigned char)*r->p++;
		if (c == '"')
			return 0;
		if (c < 0x20)
			return reject(r, "control character in a string");
		if (c != '\\') {
			if (out)
				g_string_append_c(out, (char)c);
			continue;
		}
		if (r->p >= r->end)
			break;
		char e = *r->p++;
		uint32_t cp;
		switch (e) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (hex4(r, &cp))
				return -EINVAL;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return reject(r, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;
				if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
					return reject(r, "lone high surrogate");
				r->p += 2;
				if (hex4(r, &lo))
					return -EINVAL;
				if (lo < 0xdc00 || lo > 0xdfff)
					return reject(r, "lone high surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				return reject(r, "NUL in a string");
			break;
		default:
			return reject(r, "bad escape in a string");
		}
		if (out)
			g_string_append_unichar(out, (gunichar)cp);
	}
	return reject(r, "unterminated string");
}

static int read_number(struct reader *r)
{
	const char *p = r->p;
	if (p < r->end && *p == '-')
		p++;
	if (p < r->end && *p == '0') {
		p++;
	} else if (p < r->end && *p >= '1' && *p <= '9') {
		while (p < r->end && g_ascii_isdigit(*p))
			p++;
	} else {
		return reject(r, "bad number");
	}
	if (p < r->end && *p == '.') {
		p++;
		if (p >= r->end || !g_ascii_isdigit(*p))
			return reject(r, "bad number");
		while (p < r->end && g_ascii_isdigit(*p))
			p++;
	}
	if (p < r->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < r->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= r->end || !g_ascii_isdigit(*p))
			return reject(r, "bad number");
		while (p < r->end && g_ascii_isdigit(*p))
			p++;
	}
	r->p = p;
	return 0;
}

static int skip_value(struct reader *r, int depth);

static int skip_container(struct reader *r, int depth, char close, bool object)
{
	if (depth >= MAX_DEPTH)
		return reject(r, "nested too deeply");
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return 0;
	}
	for (;;) {
		skip_ws(r);
		if (object) {
			if (r->p >= r->end || *r->p != '"')
				return reject(r, "expected a member name");
			if (read_string(r, NULL))
				return -EINVAL;
			skip_ws(r);
			if (r->p >= r->end || *r->p != ':')
				return reject(r, "expected ':'");
			r->p++;
		}
		if (skip_value(r, depth + 1))
			return -EINVAL;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			return 0;
		}
		return reject(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static bool literal(struct reader *r, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) >= n && memcmp(r->p, word, n) == 0) {
		r->p += n;
		return true;
	}
	return false;
}

static int skip_value(struct reader *r, int depth)
{
	skip_ws(r);
	if (r->p >= r->end)
		return reject(r, "expected a value");
	switch (*r->p) {
	case '"': return read_string(r, NULL);
	case '{': return skip_container(r, depth, '}', true);
	case '[': return skip_container(r, depth, ']', false);
	default:
		if (literal(r, "true") || literal(r, "false") || literal(r, "null"))
			return 0;
		return read_number(r);
	}
}

static int read_streams(struct reader *r, GPtrArray *names)
{
	skip_ws(r);
	if (r->p >= r->end || *r->p != '[')
		return reject(r, "\"streams\" must be a list of strings");
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return 0;
	}
	for (;;) {
		skip_ws(r);
		if (r->p >= r->end || *r->p != '"')
			return reject(r, "\"streams\" must be a list of strings");
		GString *name = g_string_new(NULL);
		int rc = read_string(r, name);
		if (rc == 0 && name->len > PROTOCOL_MAX_STREAM_NAME_BYTES)
			rc = reject(r, "stream name too long");
		if (rc == 0 && names->len >= PROTOCOL_MAX_WATCH_STREAMS)
			rc = reject(r, "too many streams");
		if (rc) {
			g_string_free(name, TRUE);
			return rc;
		}
		g_ptr_array_add(names, g_string_free(name, FALSE));
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return 0;
		}
		return reject(r, "expected ',' or ']'");
	}
}

int protocol_command_parse(const char *line, size_t len, struct protocol_command *cmd, char *why, size_t why_size)
{
	struct reader r = { line, line + len, why, why_size };
	GString *class_name = NULL;
	GPtrArray *names = NULL;
	bool seen_streams = false;
	int rc = -EINVAL;

	memset(cmd, 0, sizeof *cmd);
	if (memchr(line, '\0', len)) {
		reject(&r, "NUL byte in the line");
		goto out;
	}
	if (!g_utf8_validate(line, (gssize)len, NULL)) {
		reject(&r, "not valid UTF-8");
		goto out;
	}
	skip_ws(&r);
	if (r.p >= r.end || *r.p != '{') {
		reject(&r, "expected a JSON object");
		goto out;
	}
	r.p++;
	skip_ws(&r);
	if (r.p < r.end && *r.p == '}') {
		r.p++;
	} else {
		for (;;) {
			skip_ws(&r);
			if (r.p >= r.end || *r.p != '"') {
				reject(&r, "expected a member name");
				goto out;
			}
			GString *name = g_string_new(NULL);
			if (read_string(&r, name)) {
				g_string_free(name, TRUE);
				goto out;
			}
			skip_ws(&r);
			if (r.p >= r.end || *r.p != ':') {
				g_string_free(name, TRUE);
				reject(&r, "expected ':'");
				goto out;
			}
			r.p++;
			skip_ws(&r);
			int mrc;
			if (strcmp(name->str, "class") == 0) {
				if (class_name) {
					mrc = reject(&r, "duplicate \"class\"");
				} else if (r.p >= r.end || *r.p != '"') {
					mrc = reject(&r, "\"class\" must be a string");
				} else {
					class_name = g_string_new(NULL);
					mrc = read_string(&r, class_name);
				}
			} else if (strcmp(name->str, "streams") == 0) {
				if (seen_streams) {
					mrc = reject(&r, "duplicate \"streams\"");
				} else {
					seen_streams = true;
					names = g_ptr_array_new_with_free_func(g_free);
					mrc = read_streams(&r, names);
				}
			} else {
				mrc = skip_value(&r, 1);
			}
			g_string_free(name, TRUE);
			if (mrc)
				goto out;
			skip_ws(&r);
			if (r.p < r.end && *r.p == ',') {
				r.p++;
				continue;
			}
			if (r.p < r.end && *r.p == '}') {
				r.p++;
				break;
			}
			reject(&r, "expected ',' or '}'");
			goto out;
		}
	}
	skip_ws(&r);
	if (r.p != r.end) {
		reject(&r, "text after the object");
		goto out;
	}
	if (!class_name) {
		reject(&r, "missing \"class\"");
		goto out;
	}
	if (strcmp(class_name->str, "WATCH") == 0) {
		cmd->kind = PROTOCOL_COMMAND_WATCH;
		if (names) {
			g_ptr_array_add(names, NULL);
			cmd->streams = (char **)g_ptr_array_free(names, FALSE);
			names = NULL;
		}
	} else if (strcmp(class_name->str, "POLL") == 0) {
		cmd->kind = PROTOCOL_COMMAND_POLL;
	} else {
		char *shown = g_strescape(class_name->len > 32 ? "(long)" : class_name->str, NULL);
		g_snprintf(why, why_size, "unknown class \"%s\"", shown);
		g_free(shown);
		goto out;
	}
	rc = 0;
out:
	if (class_name)
		g_string_free(class_name, TRUE);
	if (names)
		g_ptr_array_free(names, TRUE);
	return rc;
}

void protocol_command_clear(struct protocol_command *cmd)
{
	if (!cmd)
		return;
	g_strfreev(cmd->streams);
	cmd->streams = NULL;
}
