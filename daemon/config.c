/* daemon/config.c — YAML (libyaml event API) → a small tree of our own →
 * schema-checked struct captiond_config. The event API lets us refuse
 * aliases, tags and deep nesting as they arrive, before anything grows. */
#include "daemon/config.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 16
#define MAX_NODES 10000
#define MAX_SCALAR_BYTES (64u * 1024u)
#define MAX_KEY_BYTES 64

/* ---- the parsed tree ---------------------------------------------------- */

enum ynode_kind { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ };

struct ynode {
	enum ynode_kind kind;
	unsigned line, column; /* 1-based */
	char *value;           /* scalar: NUL-terminated, may hold NULs inside */
	size_t len;
	bool plain;            /* scalar written without quotes */
	GPtrArray *items;      /* map: key, value, key, value...; seq: values */
};

static void ynode_free(struct ynode *node)
{
	if (!node)
		return;
	g_free(node->value);
	if (node->items)
		g_ptr_array_free(node->items, TRUE);
	g_free(node);
}

struct parse {
	const char *name;
	struct config_error *err;
	size_t n_nodes;
	/* where each top-level key was set, for checks across keys */
	unsigned mark_line[64], mark_column[64];
};

static int fail(struct parse *ps, unsigned line, unsigned column, const char *key, int rc, const char *fmt, ...)
	G_GNUC_PRINTF(6, 7);

static int fail(struct parse *ps, unsigned line, unsigned column, const char *key, int rc, const char *fmt, ...)
{
	struct config_error *err = ps->err;
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	err->line = line;
	err->column = column;
	g_strlcpy(err->key, key ? key : "", sizeof err->key);
	if (line && err->key[0])
		g_snprintf(err->text, sizeof err->text, "%s:%u:%u: %s: %s", ps->name, line, column, err->key, err->message);
	else if (line)
		g_snprintf(err->text, sizeof err->text, "%s:%u:%u: %s", ps->name, line, column, err->message);
	else if (err->key[0])
		g_snprintf(err->text, sizeof err->text, "%s: %s: %s", ps->name, err->key, err->message);
	else
		g_snprintf(err->text, sizeof err->text, "%s: %s", ps->name, err->message);
	return rc;
}

static void offset_position(const unsigned char *text, size_t len, size_t offset, unsigned *line, unsigned *column)
{
	*line = 1;
	*column = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if ((text[i] & 0xc0) != 0x80) {
			(*column)++;
		}
	}
}

static int syntax_error(struct parse *ps, yaml_parser_t *parser, const unsigned char *text, size_t len)
{
	unsigned line, column;
	if (parser->error == YAML_READER_ERROR) {
		offset_position(text, len, parser->problem_offset, &line, &column);
	} else {
		line = (unsigned)parser->problem_mark.line + 1;
		column = (unsigned)parser->problem_mark.column + 1;
	}
	const char *problem = parser->problem ? parser->problem : "cannot parse";
	if (parser->context)
		return fail(ps, line, column, "yaml", -EBADMSG, "%s (%s at %u:%u)", problem, parser->context,
			    (unsigned)parser->context_mark.line + 1, (unsigned)parser->context_mark.column + 1);
	return fail(ps, line, column, "yaml", -EBADMSG, "%s", problem);
}

/* A node starts at ev: refuse what we do not support, or make it. */
static int node_start(struct parse *ps, yaml_event_t *ev, GPtrArray *stack, struct ynode **out)
{
	unsigned line = (unsigned)ev->start_mark.line + 1, column = (unsigned)ev->start_mark.column + 1;
	const yaml_char_t *anchor = NULL, *tag = NULL;
	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	} else {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	if (anchor)
		return fail(ps, line, column, "yaml", -EINVAL, "anchors and aliases are not supported");
	if (tag)
		return fail(ps, line, column, "yaml", -EINVAL, "tags are not supported");
	if (ev->type != YAML_SCALAR_EVENT && stack->len >= MAX_DEPTH)
		return fail(ps, line, column, "yaml", -EINVAL, "nested deeper than %d levels", MAX_DEPTH);
	if (++ps->n_nodes > MAX_NODES)
		return fail(ps, line, column, "yaml", -EINVAL, "more than %d nodes", MAX_NODES);

	struct ynode *node = g_new0(struct ynode, 1);
	node->line = line;
	node->column = column;
	if (ev->type == YAML_SCALAR_EVENT) {
		if (ev->data.scalar.length > MAX_SCALAR_BYTES) {
			g_free(node);
			return fail(ps, line, column, "yaml", -EINVAL, "scalar longer than %u bytes", MAX_SCALAR_BYTES);
		}
		node->kind = YNODE_SCALAR;
		node->len = ev->data.scalar.length;
		node->value = g_malloc(node->len + 1);
		memcpy(node->value, ev->data.scalar.value, node->len);
		node->value[node->len] = '\0';
		node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	} else {
		node->kind = ev->type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP;
		node->items = g_ptr_array_new_with_free_func((GDestroyNotify)ynode_free);
	}
	*out = node;
	return 0;
}

static int tree_load(struct parse *ps, const unsigned char *text, size_t len, struct ynode **root)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	GPtrArray *stack = g_ptr_array_new();
	int rc = 0, n_docs = 0;
	bool done = false;

	*root = NULL;
	if (!yaml_parser_initialize(&parser)) {
		g_ptr_array_free(stack, TRUE);
		return fail(ps, 0, 0, "", -ENOMEM, "out of memory");
	}
	yaml_parser_set_input_string(&parser, text, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(ps, &parser, text, len);
			break;
		}
		struct ynode *node = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (n_docs++ > 0)
				rc = fail(ps, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1, "yaml",
					  -EINVAL, "more than one document");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail(ps, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1, "yaml",
				  -EINVAL, "anchors and aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			rc = node_start(ps, &ev, stack, &node);
			if (rc)
				break;
			if (stack->len)
				g_ptr_array_add(((struct ynode *)g_ptr_array_index(stack, stack->len - 1))->items, node);
			else
				*root = node;
			if (node->kind != YNODE_SCALAR)
				g_ptr_array_add(stack, node);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			g_ptr_array_remove_index(stack, stack->len - 1);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	g_ptr_array_free(stack, TRUE);
	if (rc) {
		ynode_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- the schema ---------------------------------------------------------- */

enum key_type { KEY_STRING, KEY_UINT, KEY_FLOAT, KEY_BOOL, KEY_ENUM, KEY_MODE };

enum {
	KEY_REQUIRED = 1 << 0, /* no default: must be given (stream name, source) */
	KEY_OPTIONAL = 1 << 1, /* no default: NULL when not given */
};

typedef bool (*string_check_fn)(const char *value, size_t len, char *why, size_t why_size);

struct schema_key {
	const char *path;   /* dotted, relative to the table */
	enum key_type type;
	double min, max;    /* numbers: inclusive range; strings: min and max bytes */
	const char *def;    /* the default as YAML text; NULL with KEY_REQUIRED / KEY_OPTIONAL */
	const char *example; /* the value shown in the default file when def is NULL */
	const char *help;
	size_t offset;
	const char *const *names; /* KEY_ENUM: value i is names[i] */
	unsigned flags;
	string_check_fn check;
};

static const char *const sampling_names[] = { "greedy", "model", NULL };
static const char *const log_names[] = { "error", "warning", "info", "debug", NULL };
static const char *const position_names[] = { "bottom", "top", NULL };
static const char *const kv_cache_names[] = { "f16", "q8_0", "q4_0", NULL };

static bool check_no_control(const char *value, size_t len, char *why, size_t why_size)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
			g_strlcpy(why, "contains a control character", why_size);
			return false;
		}
	}
	return true;
}

static bool check_stream_name(const char *value, size_t len, char *why, size_t why_size)
{
	bool ok = g_ascii_isalnum(value[0]);
	for (size_t i = 0; ok && i < len; i++)
		ok = g_ascii_isalnum(value[i]) || value[i] == '-' || value[i] == '_';
	if (!ok)
		g_strlcpy(why, "must start with a letter or digit and hold only letters, digits, '-' and '_'", why_size);
	return ok;
}

static bool check_language(const char *value, size_t len, char *why, size_t why_size)
{
	bool ok = g_ascii_isalpha(value[0]);
	for (size_t i = 0; ok && i < len; i++)
		ok = g_ascii_isalnum(value[i]) || value[i] == '-';
	if (!ok)
		g_strlcpy(why, "expected a language tag such as en or pt-BR", why_size);
	return ok;
}

#define C(field) offsetof(struct captiond_config, field)
#define S(field) offsetof(struct config_stream, field)

static const struct schema_key top_keys[] = {
	{ "model.path", KEY_STRING, 1, 4095, "/var/lib/captiond/models/LFM2-VL-450M-Q8_0.gguf", NULL,
	  "Language model GGUF file.", C(model_path), NULL, 0, check_no_control },
	{ "model.mmproj_path", KEY_STRING, 1, 4095, "/var/lib/captiond/models/mmproj-LFM2-VL-450M-Q8_0.gguf", NULL,
	  "Vision encoder and projector GGUF file.", C(mmproj_path), NULL, 0, check_no_control },
	{ "model.min_image_tokens", KEY_UINT, 16, 4096, "64", NULL,
	  "Fewest image tokens per frame (small frames are scaled up to this).", C(min_image_tokens), NULL, 0, NULL },
	{ "model.max_image_tokens", KEY_UINT, 16, 4096, "256", NULL,
	  "Most image tokens per frame (large frames are scaled down to this).", C(max_image_tokens), NULL, 0, NULL },
	{ "model.max_new_tokens", KEY_UINT, 1, 1024, "64", NULL,
	  "A caption ends after this many tokens if the model has not ended it.", C(max_new_tokens), NULL, 0, NULL },
	{ "model.sampling", KEY_ENUM, 0, 0, "model", NULL,
	  "greedy (argmax) or model (temperature, min_p, repetition_penalty below).", C(sampling),
	  sampling_names, 0, NULL },
	{ "model.temperature", KEY_FLOAT, 0, 2, "0.1", NULL,
	  "Sampling temperature (the model's recommended value).", C(temperature), NULL, 0, NULL },
	{ "model.min_p", KEY_FLOAT, 0, 1, "0.15", NULL,
	  "Drop tokens less likely than min_p times the most likely one.", C(min_p), NULL, 0, NULL },
	{ "model.repetition_penalty", KEY_FLOAT, 1, 2, "1.05", NULL,
	  "Penalty on tokens already in the caption; 1 is none.", C(repetition_penalty), NULL, 0, NULL },
	{ "model.kv_cache_type", KEY_ENUM, 0, 0, "f16", NULL,
	  "What the attention cache holds: f16, q8_0 (half the memory) or q4_0 (a quarter; logits move more).",
	  C(kv_cache_type), kv_cache_names, 0, NULL },
	{ "prompt.text", KEY_STRING, 1, 2048, "Describe this image in one short sentence.", NULL,
	  "What the model is asked about every frame.", C(prompt_text), NULL, 0, NULL },
	{ "prompt.language", KEY_STRING, 2, 35, "en", NULL,
	  "Language of the captions, a BCP 47 tag.", C(prompt_language), NULL, 0, check_language },
	{ "gpu.device", KEY_STRING, 1, 256, "auto", NULL,
	  "auto (first discrete GPU, else any), a device index, or part of a device name.", C(gpu_device),
	  NULL, 0, check_no_control },
	{ "capture.width", KEY_UINT, 64, 4096, "512", NULL,
	  "Width of the frames handed to the vision encoder, pixels (other aspects are letterboxed).",
	  C(capture_width), NULL, 0, NULL },
	{ "capture.height", KEY_UINT, 64, 4096, "512", NULL,
	  "Height of the frames handed to the vision encoder, pixels.", C(capture_height), NULL, 0, NULL },
	{ "batching.max_batch", KEY_UINT, 1, 64, "4", NULL,
	  "Most frames encoded together.", C(max_batch), NULL, 0, NULL },
	{ "batching.max_wait_ms", KEY_UINT, 0, 1000, "20", NULL,
	  "How long a batch waits for more frames once one is due.", C(max_wait_ms), NULL, 0, NULL },
	{ "socket.path", KEY_STRING, 1, 107, "/run/captiond/captions.sock", NULL,
	  "Unix socket the captions are published on (docs/protocol.md).", C(socket_path), NULL, 0,
	  check_no_control },
	{ "socket.mode", KEY_MODE, 0, 0777, "0660", NULL,
	  "Permissions of the socket, octal.", C(socket_mode), NULL, 0, NULL },
	{ "socket.group", KEY_STRING, 0, 64, "", NULL,
	  "Group owning the socket; empty: the daemon's own group.", C(socket_group), NULL, 0,
	  check_no_control },
	{ "socket.max_clients", KEY_UINT, 1, 1024, "128", NULL,
	  "More clients than this are refused.", C(socket_max_clients), NULL, 0, NULL },
	{ "socket.queue_max_lines", KEY_UINT, 16, 65536, "256", NULL,
	  "Lines waiting for one client; past this its oldest are dropped.", C(socket_queue_max_lines), NULL, 0,
	  NULL },
	{ "socket.queue_max_bytes", KEY_UINT, 4096, 67108864, "1048576", NULL,
	  "Bytes waiting for one client; past this its oldest lines are dropped.", C(socket_queue_max_bytes), NULL,
	  0, NULL },
	{ "socket.disconnect_after_dropped_lines", KEY_UINT, 16, 1000000, "4096", NULL,
	  "A client that lets this many lines drop without reading is disconnected.",
	  C(socket_disconnect_after_dropped_lines), NULL, 0, NULL },
	{ "log.level", KEY_ENUM, 0, 0, "info", NULL,
	  "error, warning, info or debug.", C(log_level), log_names, 0, NULL },
};

static const struct schema_key stream_keys[] = {
	{ "name", KEY_STRING, 1, 32, NULL, "camera0",
	  "Unique name: letters, digits, '-' and '_'.", S(name), NULL, KEY_REQUIRED, check_stream_name },
	{ "source", KEY_STRING, 1, 1024, NULL, "/dev/video0",
	  "A V4L2 device (/dev/video0), a URI (rtsp://host/path, file:///video.mp4), a file path, or a "
	  "GStreamer source description (videotestsrc pattern=ball).",
	  S(source), NULL, KEY_REQUIRED, check_no_control },
	{ "caption_interval_ms", KEY_UINT, 100, 3600000, "2000", NULL,
	  "A new caption is due this long after the previous one.", S(caption_interval_ms), NULL, 0, NULL },
	{ "prompt", KEY_STRING, 1, 2048, NULL, "Describe this image in one short sentence.",
	  "This stream's prompt; prompt.text when not given.", S(prompt), NULL, KEY_OPTIONAL, NULL },
	{ "overlay.enabled", KEY_BOOL, 0, 0, "false", NULL,
	  "Draw the caption on a display branch of the stream.", S(overlay_enabled), NULL, 0, NULL },
	{ "overlay.position", KEY_ENUM, 0, 0, "bottom", NULL,
	  "bottom or top.", S(overlay_position), position_names, 0, NULL },
	{ "overlay.font", KEY_STRING, 1, 128, "Sans 18", NULL,
	  "Pango font description.", S(overlay_font), NULL, 0, check_no_control },
	{ "overlay.sink", KEY_STRING, 1, 1024, "autovideosink", NULL,
	  "Where the captioned video goes: a GStreamer sink (autovideosink, kmssink, fakesink), a .png "
	  "path (the latest frame) or a .mkv path.", S(overlay_sink), NULL, 0, check_no_control },
	{ "webvtt", KEY_STRING, 1, 4095, NULL, "/var/lib/captiond/camera0.vtt",
	  "Record this stream's captions to this WebVTT file (truncated at start).", S(webvtt_path), NULL,
	  KEY_OPTIONAL, check_no_control },
};

#undef C
#undef S

#define N_TOP (sizeof top_keys / sizeof top_keys[0])
#define N_STREAM (sizeof stream_keys / sizeof stream_keys[0])

static const char *const streams_help =
	"Streams to caption. Each may be added, removed or changed by editing this file and sending SIGHUP.";

/* ---- values --------------------------------------------------------------- */

static bool scalar_is_null(const struct ynode *v)
{
	return v->plain && (v->len == 0 || strcmp(v->value, "~") == 0 || strcmp(v->value, "null") == 0 ||
			    strcmp(v->value, "Null") == 0 || strcmp(v->value, "NULL") == 0);
}

/* A value for error messages: quoted, cut, control bytes escaped. */
static void value_show(const struct ynode *v, char *buf, size_t size)
{
	char *shown = g_strescape(v->len > 40 ? "" : v->value, NULL);
	if (v->len > 40) {
		char cut[41];
		memcpy(cut, v->value, 37);
		memcpy(cut + 37, "...", 4);
		g_free(shown);
		shown = g_strescape(cut, NULL);
	}
	g_snprintf(buf, size, "\"%s\"", shown);
	g_free(shown);
}

static int set_value(struct parse *ps, const struct schema_key *k, const struct ynode *v, const char *key, void *base)
{
	char *field = (char *)base + k->offset;
	char shown[128], why[160];

	if (v->kind != YNODE_SCALAR)
		return fail(ps, v->line, v->column, key, -EINVAL, "expected a scalar, got a %s",
			    v->kind == YNODE_MAP ? "mapping" : "list");
	if (scalar_is_null(v))
		return fail(ps, v->line, v->column, key, -EINVAL, "missing value");
	value_show(v, shown, sizeof shown);
	if (strlen(v->value) != v->len)
		return fail(ps, v->line, v->column, key, -EINVAL, "contains a NUL byte");

	switch (k->type) {
	case KEY_STRING: {
		if (v->len < (size_t)k->min)
			return fail(ps, v->line, v->column, key, -EINVAL, "must not be empty");
		if (v->len > (size_t)k->max)
			return fail(ps, v->line, v->column, key, -EINVAL, "longer than %.0f bytes", k->max);
		if (!g_utf8_validate(v->value, (gssize)v->len, NULL))
			return fail(ps, v->line, v->column, key, -EINVAL, "not valid UTF-8");
		if (k->check && !k->check(v->value, v->len, why, sizeof why))
			return fail(ps, v->line, v->column, key, -EINVAL, "%s, got %s", why, shown);
		char **dst = (char **)field;
		g_free(*dst);
		*dst = g_strndup(v->value, v->len);
		return 0;
	}
	case KEY_UINT: {
		if (!v->plain)
			return fail(ps, v->line, v->column, key, -EINVAL, "expected an integer, got a quoted string");
		const char *p = v->value;
		if (*p == '+' || *p == '-')
			p++;
		bool digits = *p != '\0';
		for (const char *q = p; *q; q++)
			digits = digits && g_ascii_isdigit(*q);
		if (!digits)
			return fail(ps, v->line, v->column, key, -EINVAL, "expected an integer, got %s", shown);
		errno = 0;
		long long n = strtoll(v->value, NULL, 10);
		if (errno == ERANGE || (double)n < k->min || (double)n > k->max)
			return fail(ps, v->line, v->column, key, -EINVAL, "must be between %.0f and %.0f, got %s",
				    k->min, k->max, v->value);
		*(uint32_t *)field = (uint32_t)n;
		return 0;
	}
	case KEY_FLOAT: {
		if (!v->plain)
			return fail(ps, v->line, v->column, key, -EINVAL, "expected a number, got a quoted string");
		bool ok = v->len > 0;
		for (size_t i = 0; i < v->len; i++)
			ok = ok && (g_ascii_isdigit(v->value[i]) || strchr("+-.eE", v->value[i]));
		char *end = NULL;
		double x = ok ? g_ascii_strtod(v->value, &end) : 0;
		if (!ok || end != v->value + v->len || !isfinite(x))
			return fail(ps, v->line, v->column, key, -EINVAL, "expected a number, got %s", shown);
		if (x < k->min || x > k->max)
			return fail(ps, v->line, v->column, key, -EINVAL, "must be between %g and %g, got %s", k->min,
				    k->max, v->value);
		*(double *)field = x;
		return 0;
	}
	case KEY_BOOL:
		if (v->plain && strcmp(v->value, "true") == 0)
			*(bool *)field = true;
		else if (v->plain && strcmp(v->value, "false") == 0)
			*(bool *)field = false;
		else
			return fail(ps, v->line, v->column, key, -EINVAL, "expected true or false, got %s", shown);
		return 0;
	case KEY_ENUM: {
		for (int i = 0; k->names[i]; i++) {
			if (strcmp(v->value, k->names[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		char *list = g_strjoinv(", ", (char **)k->names);
		int rc = fail(ps, v->line, v->column, key, -EINVAL, "expected one of %s; got %s", list, shown);
		g_free(list);
		return rc;
	}
	case KEY_MODE: {
		bool ok = v->len >= 1 && v->len <= 4;
		for (size_t i = 0; i < v->len; i++)
			ok = ok && v->value[i] >= '0' && v->value[i] <= '7';
		if (!ok)
			return fail(ps, v->line, v->column, key, -EINVAL, "expected an octal mode such as 0660, got %s",
				    shown);
		unsigned long mode = strtoul(v->value, NULL, 8);
		if (mode > (unsigned long)k->max)
			return fail(ps, v->line, v->column, key, -EINVAL, "must be between 0 and 0777, got %s",
				    v->value);
		*(uint32_t *)field = (uint32_t)mode;
		return 0;
	}
	}
	return -EINVAL;
}

/* Built-in defaults go through set_value like any file value. */
static void set_defaults(const struct schema_key *table, size_t n, void *base)
{
	struct config_error err;
	struct parse ps = { .name = "<defaults>", .err = &err };
	for (size_t i = 0; i < n; i++) {
		if (!table[i].def)
			continue;
		struct ynode v = { .kind = YNODE_SCALAR, .value = (char *)table[i].def, .len = strlen(table[i].def),
				   .plain = table[i].type != KEY_STRING };
		int rc = set_value(&ps, &table[i], &v, table[i].path, base);
		g_assert(rc == 0); /* a bad default is a programming error (test-config checks) */
		(void)rc;
	}
}

/* ---- walking the tree against the schema ---------------------------------- */

static int walk_streams(struct parse *ps, const struct ynode *seq, struct captiond_config *config);

static bool is_section(const struct schema_key *table, size_t n, const char *rel)
{
	size_t len = strlen(rel);
	for (size_t i = 0; i < n; i++)
		if (strncmp(table[i].path, rel, len) == 0 && table[i].path[len] == '.')
			return true;
	return false;
}

/* A key as reports show it: control bytes escaped and long keys cut, so a
 * report stays one short line. */
static void key_show(const struct ynode *k, char *buf, size_t size)
{
	size_t len = strlen(k->value);
	bool cut = len != k->len || len > MAX_KEY_BYTES;
	char *part = g_strndup(k->value, cut ? MIN(len, (size_t)MAX_KEY_BYTES - 3) : len);
	char *shown = g_strescape(part, NULL);
	g_snprintf(buf, size, "%s%s", shown, cut ? "..." : "");
	g_free(shown);
	g_free(part);
}

static int walk_map(struct parse *ps, const struct ynode *map, const struct schema_key *table, size_t n,
		    const char *rel_prefix, const char *key_prefix, void *base, uint64_t *seen,
		    struct captiond_config *top)
{
	for (guint i = 0; i + 1 < map->items->len; i += 2) {
		const struct ynode *k = g_ptr_array_index(map->items, i);
		const struct ynode *v = g_ptr_array_index(map->items, i + 1);
		if (k->kind != YNODE_SCALAR)
			return fail(ps, k->line, k->column, *key_prefix ? key_prefix : "yaml", -EINVAL,
				    "keys must be scalars");
		char name[4 * MAX_KEY_BYTES + 8];
		key_show(k, name, sizeof name);
		char *rel = g_strconcat(rel_prefix, name, NULL);
		char *key = g_strconcat(key_prefix, name, NULL);
		int rc = 0;

		for (guint j = 0; j < i && rc == 0; j += 2) {
			const struct ynode *prev = g_ptr_array_index(map->items, j);
			if (prev->kind == YNODE_SCALAR && prev->len == k->len && memcmp(prev->value, k->value, k->len) == 0)
				rc = fail(ps, k->line, k->column, key, -EINVAL, "duplicate key (first at line %u)", prev->line);
		}
		size_t idx = n;
		for (size_t j = 0; rc == 0 && j < n; j++)
			if (strcmp(table[j].path, rel) == 0)
				idx = j;
		if (rc) {
		} else if (idx < n) {
			rc = set_value(ps, &table[idx], v, key, base);
			*seen |= UINT64_C(1) << idx;
			if (top && idx < 64) {
				ps->mark_line[idx] = v->line;
				ps->mark_column[idx] = v->column;
			}
		} else if (is_section(table, n, rel)) {
			if (v->kind != YNODE_MAP) {
				rc = fail(ps, v->line, v->column, key, -EINVAL, "expected a mapping");
			} else {
				char *sub_rel = g_strconcat(rel, ".", NULL);
				char *sub_key = g_strconcat(key, ".", NULL);
				rc = walk_map(ps, v, table, n, sub_rel, sub_key, base, seen, top);
				g_free(sub_rel);
				g_free(sub_key);
			}
		} else if (top && strcmp(rel, "streams") == 0) {
			rc = walk_streams(ps, v, top);
		} else {
			rc = fail(ps, k->line, k->column, key, -EINVAL, "unknown key");
		}
		g_free(rel);
		g_free(key);
		if (rc)
			return rc;
	}
	return 0;
}

static enum config_source_kind source_kind(const char *source)
{
	if (g_str_has_prefix(source, "/dev/"))
		return CONFIG_SOURCE_V4L2;
	const char *colon = strstr(source, "://");
	if (colon && colon > source) {
		bool scheme = g_ascii_isalpha(source[0]);
		for (const char *p = source; scheme && p < colon; p++)
			scheme = g_ascii_isalnum(*p) || *p == '+' || *p == '-' || *p == '.';
		if (scheme)
			return CONFIG_SOURCE_URI;
	}
	if (source[0] == '/')
		return CONFIG_SOURCE_FILE;
	return CONFIG_SOURCE_PIPELINE;
}

static void streams_free(struct config_stream *streams, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		g_free(streams[i].name);
		g_free(streams[i].source);
		g_free(streams[i].prompt);
		g_free(streams[i].overlay_font);
		g_free(streams[i].overlay_sink);
		g_free(streams[i].webvtt_path);
	}
	g_free(streams);
}

static int walk_streams(struct parse *ps, const struct ynode *seq, struct captiond_config *config)
{
	if (seq->kind != YNODE_SEQ)
		return fail(ps, seq->line, seq->column, "streams", -EINVAL, "expected a list of streams");
	if (seq->items->len > CONFIG_MAX_STREAMS)
		return fail(ps, seq->line, seq->column, "streams", -EINVAL, "more than %d streams", CONFIG_MAX_STREAMS);
	streams_free(config->streams, config->n_streams);
	config->n_streams = seq->items->len;
	config->streams = g_new0(struct config_stream, config->n_streams ? config->n_streams : 1);

	for (size_t s = 0; s < config->n_streams; s++) {
		const struct ynode *item = g_ptr_array_index(seq->items, s);
		struct config_stream *stream = &config->streams[s];
		char prefix[32];
		g_snprintf(prefix, sizeof prefix, "streams[%zu]", s);
		if (item->kind != YNODE_MAP)
			return fail(ps, item->line, item->column, prefix, -EINVAL, "expected a mapping");
		set_defaults(stream_keys, N_STREAM, stream);
		uint64_t seen = 0;
		char dotted[40];
		g_snprintf(dotted, sizeof dotted, "%s.", prefix);
		int rc = walk_map(ps, item, stream_keys, N_STREAM, "", dotted, stream, &seen, NULL);
		if (rc)
			return rc;
		for (size_t j = 0; j < N_STREAM; j++) {
			if ((stream_keys[j].flags & KEY_REQUIRED) && !(seen & (UINT64_C(1) << j))) {
				char key[64];
				g_snprintf(key, sizeof key, "%s%s", dotted, stream_keys[j].path);
				return fail(ps, item->line, item->column, key, -EINVAL, "required key missing");
			}
		}
		stream->source_kind = source_kind(stream->source);
		for (size_t t = 0; t < s; t++) {
			if (strcmp(config->streams[t].name, stream->name) != 0)
				continue;
			/* Point at this stream's name value. */
			const struct ynode *at = item;
			for (guint i = 0; i + 1 < item->items->len; i += 2) {
				const struct ynode *k = g_ptr_array_index(item->items, i);
				if (k->kind == YNODE_SCALAR && strcmp(k->value, "name") == 0)
					at = g_ptr_array_index(item->items, i + 1);
			}
			char key[64];
			g_snprintf(key, sizeof key, "%sname", dotted);
			return fail(ps, at->line, at->column, key, -EINVAL, "duplicate stream name \"%s\" (streams[%zu])",
				    stream->name, t);
		}
	}
	return 0;
}

static size_t top_index(const char *path)
{
	for (size_t i = 0; i < N_TOP; i++)
		if (strcmp(top_keys[i].path, path) == 0)
			return i;
	g_assert_not_reached();
	return 0;
}

static int check_across(struct parse *ps, const struct captiond_config *config)
{
	if (config->min_image_tokens > config->max_image_tokens) {
		/* Point at the one the file set (min when both). */
		size_t i = top_index("model.min_image_tokens"), j = top_index("model.max_image_tokens");
		if (ps->mark_line[i] || !ps->mark_line[j])
			return fail(ps, ps->mark_line[i], ps->mark_column[i], "model.min_image_tokens", -EINVAL,
				    "must not exceed model.max_image_tokens (%u), got %u", config->max_image_tokens,
				    config->min_image_tokens);
		return fail(ps, ps->mark_line[j], ps->mark_column[j], "model.max_image_tokens", -EINVAL,
			    "must not be below model.min_image_tokens (%u), got %u", config->min_image_tokens,
			    config->max_image_tokens);
	}
	return 0;
}

/* ---- create / destroy ------------------------------------------------------ */

static struct config_stream *default_streams(size_t *n)
{
	struct config_stream *streams = g_new0(struct config_stream, 1);
	set_defaults(stream_keys, N_STREAM, &streams[0]);
	streams[0].name = g_strdup(stream_keys[0].example);
	streams[0].source = g_strdup(stream_keys[1].example);
	streams[0].source_kind = source_kind(streams[0].source);
	*n = 1;
	return streams;
}

struct captiond_config *config_create_default(void)
{
	struct captiond_config *config = g_new0(struct captiond_config, 1);
	set_defaults(top_keys, N_TOP, config);
	config->streams = default_streams(&config->n_streams);
	return config;
}

void config_destroy(struct captiond_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < N_TOP; i++)
		if (top_keys[i].type == KEY_STRING)
			g_free(*(char **)((char *)config + top_keys[i].offset));
	streams_free(config->streams, config->n_streams);
	g_free(config);
}

int config_create_from_string(const char *name, const char *text, size_t len, struct captiond_config **out,
			      struct config_error *err)
{
	struct parse ps = { .name = name, .err = err };
	struct ynode *root = NULL;
	struct captiond_config *config = NULL;
	int rc;

	memset(err, 0, sizeof *err);
	*out = NULL;
	if (len > CONFIG_MAX_FILE_BYTES) {
		rc = fail(&ps, 0, 0, "", -EFBIG, "larger than %u bytes", CONFIG_MAX_FILE_BYTES);
		goto out;
	}
	rc = tree_load(&ps, (const unsigned char *)text, len, &root);
	if (rc)
		goto out;
	config = config_create_default();
	if (root && !(root->kind == YNODE_SCALAR && scalar_is_null(root))) {
		if (root->kind != YNODE_MAP) {
			rc = fail(&ps, root->line, root->column, "yaml", -EINVAL, "expected a mapping at the top");
			goto out;
		}
		uint64_t seen = 0;
		rc = walk_map(&ps, root, top_keys, N_TOP, "", "", config, &seen, config);
		if (rc)
			goto out;
	}
	rc = check_across(&ps, config);
	if (rc)
		goto out;
	*out = config;
	config = NULL;
out:
	config_destroy(config);
	ynode_free(root);
	return rc;
}

int config_create_from_file(const char *path, struct captiond_config **out, struct config_error *err)
{
	struct parse ps = { .name = path, .err = err };
	memset(err, 0, sizeof *err);
	*out = NULL;

	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		return fail(&ps, 0, 0, "", -e, "cannot open: %s", g_strerror(e));
	}
	/* Read one byte past the limit to tell "too large" from "exactly at it". */
	char *buf = g_malloc(CONFIG_MAX_FILE_BYTES + 1);
	size_t len = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
	int rc;
	if (ferror(f))
		rc = fail(&ps, 0, 0, "", -EIO, "read error");
	else if (len > CONFIG_MAX_FILE_BYTES)
		rc = fail(&ps, 0, 0, "", -EFBIG, "larger than %u bytes", CONFIG_MAX_FILE_BYTES);
	else
		rc = config_create_from_string(path, buf, len, out, err);
	fclose(f);
	g_free(buf);
	return rc;
}

/* ---- comparison and diff --------------------------------------------------- */

static bool field_equal(const struct schema_key *k, const void *a, const void *b)
{
	const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
	switch (k->type) {
	case KEY_STRING: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
	}
	case KEY_UINT:
	case KEY_MODE:
		return *(const uint32_t *)fa == *(const uint32_t *)fb;
	case KEY_FLOAT:
		return *(const double *)fa == *(const double *)fb;
	case KEY_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case KEY_ENUM:
		return *(const int *)fa == *(const int *)fb;
	}
	return false;
}

bool config_stream_equal(const struct config_stream *a, const struct config_stream *b)
{
	for (size_t i = 0; i < N_STREAM; i++)
		if (!field_equal(&stream_keys[i], a, b))
			return false;
	return true;
}

bool config_equal(const struct captiond_config *a, const struct captiond_config *b)
{
	for (size_t i = 0; i < N_TOP; i++)
		if (!field_equal(&top_keys[i], a, b))
			return false;
	if (a->n_streams != b->n_streams)
		return false;
	for (size_t i = 0; i < a->n_streams; i++)
		if (!config_stream_equal(&a->streams[i], &b->streams[i]))
			return false;
	return true;
}

static const struct config_stream *stream_find(const struct captiond_config *config, const char *name)
{
	for (size_t i = 0; i < config->n_streams; i++)
		if (strcmp(config->streams[i].name, name) == 0)
			return &config->streams[i];
	return NULL;
}

int config_diff_create(const struct captiond_config *old_config, const struct captiond_config *new_config,
		       struct config_diff **out)
{
	struct config_diff *diff = g_new0(struct config_diff, 1);
	diff->changes = g_new0(struct config_stream_change, old_config->n_streams + new_config->n_streams + 1);
	diff->global_keys = g_new0(const char *, N_TOP);

	for (size_t i = 0; i < N_TOP; i++)
		if (!field_equal(&top_keys[i], old_config, new_config))
			diff->global_keys[diff->n_global_keys++] = top_keys[i].path;
	for (size_t i = 0; i < old_config->n_streams; i++) {
		const struct config_stream *s = &old_config->streams[i];
		if (!stream_find(new_config, s->name))
			diff->changes[diff->n_changes++] = (struct config_stream_change){ CONFIG_STREAM_REMOVED, s->name };
	}
	for (size_t i = 0; i < new_config->n_streams; i++) {
		const struct config_stream *s = &new_config->streams[i];
		const struct config_stream *o = stream_find(old_config, s->name);
		if (o && !config_stream_equal(o, s))
			diff->changes[diff->n_changes++] = (struct config_stream_change){ CONFIG_STREAM_CHANGED, s->name };
	}
	for (size_t i = 0; i < new_config->n_streams; i++) {
		const struct config_stream *s = &new_config->streams[i];
		if (!stream_find(old_config, s->name))
			diff->changes[diff->n_changes++] = (struct config_stream_change){ CONFIG_STREAM_ADDED, s->name };
	}
	*out = diff;
	return 0;
}

void config_diff_destroy(struct config_diff *diff)
{
	if (!diff)
		return;
	g_free(diff->changes);
	g_free(diff->global_keys);
	g_free(diff);
}

/* ---- the commented default file ------------------------------------------- */

static void text_value(GString *out, const struct schema_key *k, const char *value)
{
	if (k->type != KEY_STRING && k->type != KEY_MODE) {
		g_string_append(out, value);
		return;
	}
	g_string_append_c(out, '"');
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(out, '\\');
		g_string_append_c(out, *p);
	}
	g_string_append_c(out, '"');
}

static void text_range(GString *out, const struct schema_key *k)
{
	if (k->type == KEY_UINT)
		g_string_append_printf(out, " [%.0f..%.0f]", k->min, k->max);
	else if (k->type == KEY_FLOAT)
		g_string_append_printf(out, " [%g..%g]", k->min, k->max);
}

/* "# text" lines at cols, words wrapped before column 80. */
static void text_comment(GString *out, int cols, const char *text)
{
	char **words = g_strsplit(text, " ", -1);
	int col = 0;
	for (char **w = words; *w; w++) {
		int len = (int)strlen(*w);
		if (col && col + 1 + len > 79) {
			g_string_append_c(out, '\n');
			col = 0;
		}
		if (col == 0) {
			g_string_append_printf(out, "%*s#", cols, "");
			col = cols + 1;
		}
		g_string_append_printf(out, " %s", *w);
		col += 1 + len;
	}
	g_string_append_c(out, '\n');
	g_strfreev(words);
}

/* Writes table entries, opening a "section:" line whenever the section
 * changes. cols is the indentation of the table's own keys; a list item
 * puts "- " in front of its first key. */
static void text_table(GString *out, const struct schema_key *table, size_t n, int cols, bool list_item)
{
	char section[64] = "";
	for (size_t i = 0; i < n; i++) {
		const struct schema_key *k = &table[i];
		const char *dot = strchr(k->path, '.');
		const char *leaf = dot ? dot + 1 : k->path;
		char this_section[64] = "";
		if (dot)
			g_snprintf(this_section, sizeof this_section, "%.*s", (int)(dot - k->path), k->path);
		if (strcmp(this_section, section) != 0) {
			g_strlcpy(section, this_section, sizeof section);
			if (!list_item)
				g_string_append(out, "\n");
			if (section[0])
				g_string_append_printf(out, "%*s%s:\n", cols, "", section);
		}
		int key_cols = cols + (section[0] ? 2 : 0);
		GString *help = g_string_new(k->help);
		text_range(help, k);
		text_comment(out, key_cols, help->str);
		g_string_free(help, TRUE);
		if (list_item && i == 0)
			g_string_append_printf(out, "%*s- ", key_cols - 2, "");
		else
			g_string_append_printf(out, "%*s", key_cols, "");
		g_string_append_printf(out, "%s%s: ", k->flags & KEY_OPTIONAL ? "# " : "", leaf);
		text_value(out, k, k->def ? k->def : k->example);
		g_string_append(out, "\n");
	}
}

char *config_default_text(void)
{
	GString *out = g_string_new(
		"# captiond configuration. Every key is shown at its default; delete what you\n"
		"# do not change. Check a file with: captiond --check-config FILE\n"
		"# Send SIGHUP to reload: streams are added, removed or changed without\n"
		"# touching the others; a bad file is rejected and the old one kept.\n");
	text_table(out, top_keys, N_TOP, 0, false);
	g_string_append_c(out, '\n');
	text_comment(out, 0, streams_help);
	g_string_append(out, "streams:\n");
	text_table(out, stream_keys, N_STREAM, 4, true);
	return g_string_free(out, FALSE);
}
