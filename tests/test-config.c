/* tests/test-config.c — daemon/config: bad files with their exact reports
 * (positions counted by hand in each input, 1-based), good files, the
 * built-in defaults against the model card values (spec §sampling table),
 * the shipped conf/captiond.yaml against the built-in defaults, hostile
 * inputs, and the SIGHUP diff. */
#include "daemon/config.h"
#include "daemon/publisher.h"
#include "tests/check.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

static int parse(const char *text, struct captiond_config **out, struct config_error *err)
{
	return config_create_from_string("t.yaml", text, strlen(text), out, err);
}

struct bad_case {
	const char *yaml;
	const char *report;
};

static const struct bad_case bad_cases[] = {
	{ "modle:\n  path: /x\n", "t.yaml:1:1: modle: unknown key" },
	{ "\"a\\nb\": 1\n", "t.yaml:1:1: a\\nb: unknown key" },
	{ "model:\n  pth: /x\n", "t.yaml:2:3: model.pth: unknown key" },
	{ "model:\n  max_new_tokens: many\n", "t.yaml:2:19: model.max_new_tokens: expected an integer, got \"many\"" },
	{ "model:\n  max_new_tokens: 1.5\n", "t.yaml:2:19: model.max_new_tokens: expected an integer, got \"1.5\"" },
	{ "batching:\n  max_batch: 0\n", "t.yaml:2:14: batching.max_batch: must be between 1 and 64, got 0" },
	{ "batching:\n  max_batch: -3\n", "t.yaml:2:14: batching.max_batch: must be between 1 and 64, got -3" },
	{ "batching:\n  max_batch: 99999999999999999999999\n",
	  "t.yaml:2:14: batching.max_batch: must be between 1 and 64, got 99999999999999999999999" },
	{ "batching:\n  max_wait_ms: \"20\"\n",
	  "t.yaml:2:16: batching.max_wait_ms: expected an integer, got a quoted string" },
	{ "model:\n  min_p: 1.5\n", "t.yaml:2:10: model.min_p: must be between 0 and 1, got 1.5" },
	{ "model:\n  temperature: hot\n", "t.yaml:2:16: model.temperature: expected a number, got \"hot\"" },
	{ "model:\n  temperature: .nan\n", "t.yaml:2:16: model.temperature: expected a number, got \".nan\"" },
	{ "model:\n  repetition_penalty: 1e999\n",
	  "t.yaml:2:23: model.repetition_penalty: expected a number, got \"1e999\"" },
	{ "model:\n  sampling: beam\n", "t.yaml:2:13: model.sampling: expected one of greedy, model; got \"beam\"" },
	{ "log:\n  level: loud\n", "t.yaml:2:10: log.level: expected one of error, warning, info, debug; got \"loud\"" },
	{ "log:\n  level: info\n  level: debug\n", "t.yaml:3:3: log.level: duplicate key (first at line 2)" },
	{ "log:\n  level: info\nlog:\n  level: info\n", "t.yaml:3:1: log: duplicate key (first at line 1)" },
	{ "model: 5\n", "t.yaml:1:8: model: expected a mapping" },
	{ "log:\n  level: [info]\n", "t.yaml:2:10: log.level: expected a scalar, got a list" },
	{ "model:\n  path:\n", "t.yaml:2:8: model.path: missing value" },
	{ "gpu:\n  device: \"\"\n", "t.yaml:2:11: gpu.device: must not be empty" },
	{ "prompt:\n  text: \"a\\0b\"\n", "t.yaml:2:9: prompt.text: contains a NUL byte" },
	{ "prompt:\n  language: \"e n\"\n",
	  "t.yaml:2:13: prompt.language: expected a language tag such as en or pt-BR, got \"e n\"" },
	{ "socket:\n  mode: 0999\n", "t.yaml:2:9: socket.mode: expected an octal mode such as 0660, got \"0999\"" },
	{ "socket:\n  mode: 1777\n", "t.yaml:2:9: socket.mode: must be between 0 and 0777, got 1777" },
	{ "socket:\n  path: \"/run/a\\tb\"\n",
	  "t.yaml:2:9: socket.path: contains a control character, got \"/run/a\\tb\"" },
	{ "model:\n  min_image_tokens: 300\n",
	  "t.yaml:2:21: model.min_image_tokens: must not exceed model.max_image_tokens (256), got 300" },
	{ "model:\n  max_image_tokens: 32\n",
	  "t.yaml:2:21: model.max_image_tokens: must not be below model.min_image_tokens (64), got 32" },
	{ "model:\n  max_image_tokens: 32\n  min_image_tokens: 48\n",
	  "t.yaml:3:21: model.min_image_tokens: must not exceed model.max_image_tokens (32), got 48" },
	{ "streams:\n  name: a\n", "t.yaml:2:3: streams: expected a list of streams" },
	{ "streams:\n  - a\n", "t.yaml:2:5: streams[0]: expected a mapping" },
	{ "streams:\n  - name: a\n", "t.yaml:2:5: streams[0].source: required key missing" },
	{ "streams:\n  - name: ../etc\n    source: x\n",
	  "t.yaml:2:11: streams[0].name: must start with a letter or digit and hold only letters, digits, '-' and '_', "
	  "got \"../etc\"" },
	{ "streams:\n  - name: a\n    source: /dev/video0\n  - name: a\n    source: /dev/video1\n",
	  "t.yaml:4:11: streams[1].name: duplicate stream name \"a\" (streams[0])" },
	{ "streams:\n  - name: a\n    source: /dev/video0\n    overlay:\n      enabled: yes\n",
	  "t.yaml:5:16: streams[0].overlay.enabled: expected true or false, got \"yes\"" },
	{ "streams:\n  - name: a\n    source: /dev/video0\n    caption_interval_ms: 10\n",
	  "t.yaml:4:26: streams[0].caption_interval_ms: must be between 100 and 3600000, got 10" },
	{ "streams:\n  - name: a\n    source: /dev/video0\n    colour: red\n", "t.yaml:4:5: streams[0].colour: unknown key" },
	{ "batching:\n  scene_change_threshold: 1.5\n",
	  "t.yaml:2:27: batching.scene_change_threshold: must be between 0 and 1, got 1.5" },
	{ "streams:\n  - name: a\n    source: /dev/video0\n    scene_change_threshold: -2\n",
	  "t.yaml:4:29: streams[0].scene_change_threshold: must be between -1 and 1, got -2" },
	{ "streams:\n  - name: a\n    source: /dev/video0\n    overlay:\n      position: left\n",
	  "t.yaml:5:17: streams[0].overlay.position: expected one of bottom, top; got \"left\"" },
	{ "- a\n", "t.yaml:1:1: yaml: expected a mapping at the top" },
	{ "? [a]\n: 1\n", "t.yaml:1:3: yaml: keys must be scalars" },
	{ "log:\n  level: !!str info\n", "t.yaml:2:10: yaml: tags are not supported" },
	{ "base: &b\n  level: info\nlog: *b\n", "t.yaml:1:7: yaml: anchors and aliases are not supported" },
	{ "log: {level: info}\n---\nlog: {level: info}\n", "t.yaml:2:1: yaml: more than one document" },
	/* Syntax errors: libyaml's own wording, our position and key. */
	{ "model:\n  path: [\n", "t.yaml:3:1: yaml: did not find expected node content (while parsing a flow node at 3:1)" },
	{ "log:\n  level: info\n bad\n",
	  "t.yaml:3:2: yaml: did not find expected key (while parsing a block mapping at 1:1)" },
	{ "log:\n\tlevel: info\n",
	  "t.yaml:2:1: yaml: found character that cannot start any token (while scanning for the next token at 2:1)" },
	{ "log:\n  level: \"info\x01\"\n", "t.yaml:2:15: yaml: control characters are not allowed" },
	/* libyaml points at the offending octet, the '(' after \xc3. */
	{ "log:\n  level: \"inf\xc3\x28\"\n", "t.yaml:2:15: yaml: invalid trailing UTF-8 octet" },
};

static void test_bad_cases(void)
{
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		struct captiond_config *config = (struct captiond_config *)1;
		struct config_error err;
		int rc = parse(bad_cases[i].yaml, &config, &err);
		CHECKF(rc < 0 && config == NULL, "case %zu: rc %d", i, rc);
		CHECKF(strcmp(err.text, bad_cases[i].report) == 0, "case %zu:\n  got  %s\n  want %s", i, err.text,
		       bad_cases[i].report);
	}
}

static void test_good(void)
{
	const char *text = "model:\n"
			   "  path: /models/lm.gguf\n"
			   "  mmproj_path: /models/mmproj.gguf\n"
			   "  max_new_tokens: 32\n"
			   "  sampling: greedy\n"
			   "  temperature: 0\n"
			   "  repetition_penalty: 1\n"
			   "prompt: {text: \"What is happening?\", language: pt-BR}\n"
			   "gpu:\n  device: \"1\"\n"
			   "batching:\n  max_batch: 8\n  max_wait_ms: 0\n"
			   "socket:\n  path: /tmp/c.sock\n  mode: 600\n  group: video\n"
			   "log:\n  level: debug\n"
			   "streams:\n"
			   "  - name: front-door\n"
			   "    source: rtsp://10.0.0.5/stream1\n"
			   "    caption_interval_ms: 500\n"
			   "    prompt: \"Is anyone at the door?\"\n"
			   "    overlay: {enabled: true, position: top, font: \"Mono 12\"}\n"
			   "  - name: test_1\n"
			   "    source: videotestsrc pattern=ball is-live=true\n"
			   "  - name: clip\n"
			   "    source: /srv/clip.mp4\n"
			   "  - name: cam\n"
			   "    source: /dev/video2\n";
	struct captiond_config *c = NULL;
	struct config_error err;
	int rc = parse(text, &c, &err);
	CHECKF(rc == 0, "%s", err.text);
	if (rc)
		return;
	CHECK(strcmp(c->model_path, "/models/lm.gguf") == 0);
	CHECK(strcmp(c->mmproj_path, "/models/mmproj.gguf") == 0);
	CHECK(c->max_new_tokens == 32 && c->max_image_tokens == 256 && c->min_image_tokens == 64);
	CHECK(c->sampling == CONFIG_SAMPLING_GREEDY && c->temperature == 0.0 && c->repetition_penalty == 1.0);
	CHECK(c->min_p == 0.15);
	CHECK(strcmp(c->prompt_text, "What is happening?") == 0 && strcmp(c->prompt_language, "pt-BR") == 0);
	CHECK(strcmp(c->gpu_device, "1") == 0);
	CHECK(c->max_batch == 8 && c->max_wait_ms == 0);
	CHECK(strcmp(c->socket_path, "/tmp/c.sock") == 0 && c->socket_mode == 0600);
	CHECK(strcmp(c->socket_group, "video") == 0);
	CHECK(c->log_level == CONFIG_LOG_DEBUG);
	CHECK(c->n_streams == 4);
	if (c->n_streams == 4) {
		const struct config_stream *s = c->streams;
		CHECK(strcmp(s[0].name, "front-door") == 0 && s[0].source_kind == CONFIG_SOURCE_URI);
		CHECK(s[0].caption_interval_ms == 500 && strcmp(s[0].prompt, "Is anyone at the door?") == 0);
		CHECK(s[0].overlay_enabled && s[0].overlay_position == CONFIG_OVERLAY_TOP);
		CHECK(strcmp(s[0].overlay_font, "Mono 12") == 0);
		CHECK(s[1].source_kind == CONFIG_SOURCE_PIPELINE && s[1].prompt == NULL);
		CHECK(s[1].caption_interval_ms == 2000 && !s[1].overlay_enabled);
		CHECK(strcmp(s[1].overlay_font, "Sans 18") == 0);
		CHECK(s[2].source_kind == CONFIG_SOURCE_FILE);
		CHECK(s[3].source_kind == CONFIG_SOURCE_V4L2);
	}
	config_destroy(c);

	/* An explicit empty list: no streams (the socket still serves). */
	rc = parse("streams: []\n", &c, &err);
	CHECK(rc == 0 && c && c->n_streams == 0);
	config_destroy(c);
	/* Quoted and unquoted octal modes mean the same. */
	rc = parse("socket: {mode: \"0640\"}\n", &c, &err);
	CHECK(rc == 0 && c && c->socket_mode == 0640);
	config_destroy(c);
	/* Comments-only and empty files give the defaults. */
	struct captiond_config *def = config_create_default();
	rc = parse("", &c, &err);
	CHECK(rc == 0 && c && config_equal(c, def));
	config_destroy(c);
	rc = parse("# nothing\n", &c, &err);
	CHECK(rc == 0 && c && config_equal(c, def));
	config_destroy(c);
	config_destroy(def);
}

static void test_defaults(void)
{
	struct captiond_config *c = config_create_default();
	/* The model card's recommended sampling (spec: LFM2-VL sampling table). */
	CHECK(c->temperature == 0.1 && c->min_p == 0.15 && c->repetition_penalty == 1.05);
	CHECK(c->min_image_tokens == 64 && c->max_image_tokens == 256);
	CHECK(c->sampling == CONFIG_SAMPLING_MODEL);
	/* The defaults: V4L2 camera, socket path. */
	CHECK(strcmp(c->socket_path, "/run/captiond/captions.sock") == 0);
	CHECK(c->n_streams == 1 && c->streams[0].source_kind == CONFIG_SOURCE_V4L2);
	CHECK(strcmp(c->streams[0].source, "/dev/video0") == 0);
	/* The socket limits are the publisher's own defaults. */
	CHECK(c->socket_queue_max_lines == PUBLISHER_DEFAULT_QUEUE_MAX_LINES);
	CHECK(c->socket_queue_max_bytes == PUBLISHER_DEFAULT_QUEUE_MAX_BYTES);
	CHECK(c->socket_disconnect_after_dropped_lines == PUBLISHER_DEFAULT_DISCONNECT_AFTER_DROPPED_LINES);
	CHECK(c->socket_max_clients == PUBLISHER_DEFAULT_MAX_CLIENTS);
	config_destroy(c);
	config_destroy(NULL);
}

/* The shipped file parses to the built-in defaults and is exactly the text
 * the schema generates, so neither can drift from the other. */
static void test_shipped_file(void)
{
	const char *root = g_getenv("CAPTIOND_SOURCE_ROOT");
	if (!root)
		root = ".";
	char *path = g_build_filename(root, "conf", "captiond.yaml", NULL);
	struct captiond_config *c = NULL;
	struct config_error err;
	int rc = config_create_from_file(path, &c, &err);
	CHECKF(rc == 0, "%s", err.text);
	struct captiond_config *def = config_create_default();
	CHECK(c && config_equal(c, def));

	char *want = config_default_text();
	char *got = NULL;
	CHECK(g_file_get_contents(path, &got, NULL, NULL));
	bool same = got && strcmp(got, want) == 0;
	CHECKF(same, "%s differs from the schema's default text; the expected text is in %s", path,
	       "captiond.yaml.expected (copy it over conf/captiond.yaml)");
	if (!same)
		g_file_set_contents("captiond.yaml.expected", want, -1, NULL);
	/* The generated text round-trips too (independently of the file). */
	struct captiond_config *again = NULL;
	rc = config_create_from_string("default", want, strlen(want), &again, &err);
	CHECKF(rc == 0 && config_equal(again, def), "%s", err.text);

	config_destroy(again);
	g_free(got);
	g_free(want);
	config_destroy(def);
	config_destroy(c);
	g_free(path);
}

static void test_files(void)
{
	struct captiond_config *c = NULL;
	struct config_error err;
	CHECK(config_create_from_file("/nonexistent/captiond.yaml", &c, &err) == -ENOENT && !c);
	CHECK(strcmp(err.text, "/nonexistent/captiond.yaml: cannot open: No such file or directory") == 0);

	char *dir = g_dir_make_tmp("test-config-XXXXXX", NULL);
	char *big = g_build_filename(dir, "big.yaml", NULL);
	/* One byte over the limit: a comment line, otherwise valid. */
	size_t n = CONFIG_MAX_FILE_BYTES + 1;
	char *text = g_malloc(n);
	memset(text, ' ', n);
	text[0] = '#';
	text[n - 1] = '\n';
	CHECK(g_file_set_contents(big, text, (gssize)n, NULL));
	CHECK(config_create_from_file(big, &c, &err) == -EFBIG && !c);
	char *want = g_strdup_printf("%s: larger than 1048576 bytes", big);
	CHECKF(strcmp(err.text, want) == 0, "%s", err.text);
	/* Exactly at the limit is fine. */
	CHECK(g_file_set_contents(big, text + 1, (gssize)n - 1, NULL));
	CHECKF(config_create_from_file(big, &c, &err) == 0 && c, "%s", err.text);
	config_destroy(c);
	g_unlink(big);
	g_rmdir(dir);
	g_free(want);
	g_free(text);
	g_free(big);
	g_free(dir);
}

static void test_hostile(void)
{
	struct captiond_config *c = NULL;
	struct config_error err;
	GString *s = g_string_new(NULL);

	/* Deep flow nesting stops at the 17th level, before libyaml's stack grows. */
	for (int i = 0; i < 100000; i++)
		g_string_append_c(s, '[');
	CHECK(parse(s->str, &c, &err) == -EINVAL && !c);
	CHECKF(strcmp(err.text, "t.yaml:1:17: yaml: nested deeper than 16 levels") == 0, "%s", err.text);

	/* Deep block nesting too: the 17th mapping is the value of k15. */
	g_string_truncate(s, 0);
	for (int i = 0; i < 40; i++)
		g_string_append_printf(s, "%*sk%d:\n", 2 * i, "", i);
	g_string_append_printf(s, "%*sv: 1\n", 80, "");
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECKF(strcmp(err.text, "t.yaml:17:33: yaml: nested deeper than 16 levels") == 0, "%s", err.text);

	/* Billion laughs: refused at the first anchor. */
	g_string_assign(s, "a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\n");
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECKF(strcmp(err.text, "t.yaml:1:4: yaml: anchors and aliases are not supported") == 0, "%s", err.text);

	/* A long string where a short one belongs, and one past the scalar cap. */
	g_string_assign(s, "prompt:\n  text: ");
	for (int i = 0; i < 3000; i++)
		g_string_append_c(s, 'a');
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECKF(strcmp(err.text, "t.yaml:2:9: prompt.text: longer than 2048 bytes") == 0, "%s", err.text);
	g_string_assign(s, "prompt:\n  text: ");
	for (int i = 0; i < 70000; i++)
		g_string_append_c(s, 'a');
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECKF(strcmp(err.text, "t.yaml:2:9: yaml: scalar longer than 65536 bytes") == 0, "%s", err.text);

	/* A long key is reported cut. */
	g_string_assign(s, "");
	for (int i = 0; i < 200; i++)
		g_string_append_c(s, 'k');
	g_string_append(s, ": 1\n");
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECK(g_str_has_prefix(err.text, "t.yaml:1:1: kkkk") && g_str_has_suffix(err.text, "...: unknown key"));

	/* Many nodes: root, key, list, then item 9998 is node 10001. */
	g_string_assign(s, "x: [");
	for (int i = 0; i < 20000; i++)
		g_string_append(s, "1,");
	g_string_append(s, "1]\n");
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECKF(strcmp(err.text, "t.yaml:1:19999: yaml: more than 10000 nodes") == 0, "%s", err.text);

	/* 65 streams. */
	g_string_assign(s, "streams:\n");
	for (int i = 0; i < 65; i++)
		g_string_append_printf(s, "  - {name: s%d, source: /dev/video%d}\n", i, i);
	CHECK(parse(s->str, &c, &err) == -EINVAL);
	CHECKF(strcmp(err.text, "t.yaml:2:3: streams: more than 64 streams") == 0, "%s", err.text);
	g_string_free(s, TRUE);

	/* Bytes that are not text at all. */
	const char junk[] = "\x00\xff\xfe\x01log: x";
	CHECK(config_create_from_string("t.yaml", junk, sizeof junk - 1, &c, &err) < 0 && !c);
	CHECK(g_str_has_prefix(err.text, "t.yaml:1:"));
}

static void test_diff(void)
{
	const char *old_text = "streams:\n"
			       "  - {name: a, source: /dev/video0}\n"
			       "  - {name: b, source: /dev/video1}\n"
			       "  - {name: c, source: /dev/video2}\n";
	const char *new_text = "log: {level: debug}\n"
			       "streams:\n"
			       "  - {name: d, source: videotestsrc}\n"
			       "  - {name: c, source: /dev/video2}\n"
			       "  - {name: b, source: /dev/video1, caption_interval_ms: 500}\n";
	struct captiond_config *o = NULL, *n = NULL;
	struct config_error err;
	CHECK(parse(old_text, &o, &err) == 0);
	CHECK(parse(new_text, &n, &err) == 0);
	if (!o || !n)
		return;
	struct config_diff *d = NULL;
	CHECK(config_diff_create(o, n, &d) == 0);
	CHECK(d->n_changes == 3);
	if (d->n_changes == 3) {
		CHECK(d->changes[0].change == CONFIG_STREAM_REMOVED && strcmp(d->changes[0].name, "a") == 0);
		CHECK(d->changes[1].change == CONFIG_STREAM_CHANGED && strcmp(d->changes[1].name, "b") == 0);
		CHECK(d->changes[2].change == CONFIG_STREAM_ADDED && strcmp(d->changes[2].name, "d") == 0);
	}
	CHECK(d->n_global_keys == 1 && strcmp(d->global_keys[0], "log.level") == 0);
	config_diff_destroy(d);
	CHECK(config_diff_create(o, o, &d) == 0 && d->n_changes == 0 && d->n_global_keys == 0);
	config_diff_destroy(d);
	config_diff_destroy(NULL);
	CHECK(!config_equal(o, n));
	config_destroy(o);
	config_destroy(n);
}

int main(void)
{
	test_bad_cases();
	test_good();
	test_defaults();
	test_shipped_file();
	test_files();
	test_hostile();
	test_diff();
	return check_report();
}
