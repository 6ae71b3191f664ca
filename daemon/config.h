/* daemon/config.h — the daemon's configuration: conf/captiond.yaml parsed
 * into a plain, validated struct.
 *
 * One schema table (key, type, range, default, help) drives parsing,
 * validation, comparison and the commented default file, so the shipped
 * file and the built-in defaults cannot drift (tests/test-config.c checks).
 *
 * Errors are reported once, as "FILE:LINE:COLUMN: KEY: what is wrong" with
 * 1-based positions from libyaml's marks; keys are dotted paths with stream
 * indices ("streams[1].caption_interval_ms"). The first error stops parsing.
 *
 * Hostile input: the file is read up to 1 MiB; YAML anchors, aliases and
 * explicit tags are rejected (an alias would let a few bytes expand into a
 * huge tree, and a value reached through an alias has no single position to
 * report an error at); nesting is limited to 16 levels, scalars to 64 KiB,
 * the document to 10 000 nodes, keys and values to the lengths in the schema.
 *
 * Threads: a config is immutable once created; any thread may read it.
 * Ownership: every string in the struct belongs to the config.
 */
#ifndef CAPTIOND_DAEMON_CONFIG_H
#define CAPTIOND_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_sampling {
	CONFIG_SAMPLING_GREEDY, /* argmax every step */
	CONFIG_SAMPLING_MODEL,  /* the model's recommended temperature / min_p / penalty */
};

/* model.kv_cache_type: what the LM's K and V caches hold (docs/vulkan.md). */
enum config_kv_cache_type {
	CONFIG_KV_F16,  /* 12 KiB a position on LFM2-350M */
	CONFIG_KV_Q8_0, /* 6.4 KiB, logits within NMSE 2e-5, greedy unchanged on the goldens */
	CONFIG_KV_Q4_0, /* 3.4 KiB, logits within NMSE 3e-3 */
};

enum config_log_level {
	CONFIG_LOG_ERROR,
	CONFIG_LOG_WARNING,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG,
};

enum config_overlay_position {
	CONFIG_OVERLAY_BOTTOM,
	CONFIG_OVERLAY_TOP,
};

/* What a stream's source string names; derived, not a key of its own. */
enum config_source_kind {
	CONFIG_SOURCE_V4L2,     /* "/dev/..." : a V4L2 device */
	CONFIG_SOURCE_URI,      /* "scheme://..." : rtsp://, file://, http:// ... */
	CONFIG_SOURCE_FILE,     /* any other absolute path: a media file */
	CONFIG_SOURCE_PIPELINE, /* anything else: a GStreamer source description */
};

struct config_stream {
	char *name;                    /* unique; letters, digits, '-', '_'; <= 32 bytes */
	char *source;                  /* see enum config_source_kind */
	enum config_source_kind source_kind;
	uint32_t caption_interval_ms;  /* a caption is due this long after the last one */
	char *prompt;                  /* NULL: the global prompt_text */
	bool overlay_enabled;
	enum config_overlay_position overlay_position;
	char *overlay_font;            /* Pango font description, "Sans 18" */
	char *overlay_sink;            /* pipeline/overlay.h's sink setting */
	char *webvtt_path;             /* NULL: no WebVTT recording */
};

struct captiond_config {
	char *model_path;              /* language model GGUF */
	char *mmproj_path;             /* vision encoder + projector GGUF */
	uint32_t min_image_tokens;     /* <= max_image_tokens */
	uint32_t max_image_tokens;
	uint32_t max_new_tokens;
	enum config_sampling sampling;
	double temperature;
	double min_p;
	double repetition_penalty;
	enum config_kv_cache_type kv_cache_type;
	char *prompt_text;
	char *prompt_language;         /* BCP 47 tag, "en" */
	char *gpu_device;              /* "auto", an index "0", or part of a device name */
	uint32_t capture_width;        /* frames for the encoder, pixels */
	uint32_t capture_height;
	uint32_t max_batch;            /* frames per vision batch */
	uint32_t max_wait_ms;          /* how long a batch waits for more due frames */
	char *socket_path;
	uint32_t socket_mode;          /* permission bits, <= 0777 */
	char *socket_group;            /* "" : the daemon's own group */
	uint32_t socket_max_clients;
	uint32_t socket_queue_max_lines;  /* per client (daemon/publisher.h) */
	uint32_t socket_queue_max_bytes;  /* per client */
	uint32_t socket_disconnect_after_dropped_lines;
	enum config_log_level log_level;
	struct config_stream *streams;
	size_t n_streams;              /* <= CONFIG_MAX_STREAMS, may be 0 */
};

#define CONFIG_MAX_STREAMS 64
#define CONFIG_MAX_FILE_BYTES (1u << 20)

struct config_error {
	unsigned line, column; /* 1-based; 0 when the error is not about a place */
	char key[128];         /* dotted key path; "yaml" for syntax errors, "" for file errors */
	char message[256];
	char text[768];        /* the whole report: "FILE:LINE:COLUMN: KEY: message" */
};

/* Parse and validate the file at path. Returns 0 and *out (destroy with
 * config_destroy), or a negative errno with *err filled: -ENOENT / -EACCES /
 * -EIO the file, -EFBIG over CONFIG_MAX_FILE_BYTES, -EBADMSG not YAML,
 * -EINVAL a wrong key, type or value. */
int config_create_from_file(const char *path, struct captiond_config **out, struct config_error *err);

/* The same for text already in memory; name stands for the file in reports. */
int config_create_from_string(const char *name, const char *text, size_t len,
			      struct captiond_config **out, struct config_error *err);

/* The built-in defaults (what an empty file gives). NULL only without memory. */
struct captiond_config *config_create_default(void);

void config_destroy(struct captiond_config *config);

bool config_equal(const struct captiond_config *a, const struct captiond_config *b);
bool config_stream_equal(const struct config_stream *a, const struct config_stream *b);

/* The commented default file, as shipped in conf/captiond.yaml (g_free it). */
char *config_default_text(void);

/* What a SIGHUP reload changes. Stream entries point at names owned by the
 * old (REMOVED) or new (ADDED, CHANGED) config: keep both alive while the
 * diff is used. global_keys are static schema key paths ("model.path") of
 * the non-stream settings that differ. */
enum config_change {
	CONFIG_STREAM_REMOVED,
	CONFIG_STREAM_CHANGED,
	CONFIG_STREAM_ADDED,
};

struct config_stream_change {
	enum config_change change;
	const char *name;
};

struct config_diff {
	struct config_stream_change *changes; /* removed (old order), changed, added (new order) */
	size_t n_changes;
	const char **global_keys;
	size_t n_global_keys;
};

/* Returns 0 and *out (destroy with config_diff_destroy) or -ENOMEM. */
int config_diff_create(const struct captiond_config *old_config, const struct captiond_config *new_config,
		       struct config_diff **out);
void config_diff_destroy(struct config_diff *diff);

#endif
