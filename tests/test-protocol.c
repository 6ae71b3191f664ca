/* tests/test-protocol.c — daemon/protocol: the JSON string escaper against
 * RFC 8259 §7 (and Python's json module as an independent decoder when
 * python3 is present), the line builders, and the client command parser on
 * good and hostile input. */
#include "daemon/protocol.h"
#include "tests/check.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static char *escaped(const char *s)
{
	GString *out = g_string_new(NULL);
	protocol_json_string_append(out, s);
	return g_string_free(out, FALSE);
}

static void test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "\"\"" },
		{ "plain text", "\"plain text\"" },
		/* RFC 8259 §7: quotation mark, reverse solidus and U+0000..U+001F must be escaped. */
		{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "a\\b", "\"a\\\\b\"" },
		{ "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"" },
		{ "\x01\x1f", "\"\\u0001\\u001f\"" },
		{ "\x7f", "\"\\u007f\"" },
		/* Solidus needs no escape. */
		{ "a/b", "\"a/b\"" },
		/* Valid UTF-8 passes through; U+2028 / U+2029 are escaped for JavaScript readers. */
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"" },
		{ "a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\"" },
		/* Invalid UTF-8 becomes U+FFFD (EF BF BD). */
		{ "a\xff" "b", "\"a\xef\xbf\xbd" "b\"" },
		{ "\xc3", "\"\xef\xbf\xbd\"" },
		{ "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" }, /* CESU surrogate: 3 bad bytes */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = escaped(cases[i].in);
		CHECKF(strcmp(got, cases[i].out) == 0, "case %zu: got %s want %s", i, got, cases[i].out);
		g_free(got);
	}
	char *got = escaped(NULL);
	CHECK(strcmp(got, "\"\"") == 0);
	g_free(got);
}

static void test_builders(void)
{
	GString *s = g_string_new(NULL);
	struct caption_event ev = { .stream = "cam0", .seq = 42, .capture_realtime_us = 1700000000123456,
				    .capture_monotonic_us = 5, .text = "A dog \"runs\".", .n_tokens = 7 };
	protocol_caption_line(s, &ev, 1700000000923456, 800.04);
	CHECKF(strcmp(s->str, "{\"class\":\"CAPTION\",\"stream\":\"cam0\",\"seq\":42,\"capture_time_us\":1700000000123456,"
			      "\"publish_time_us\":1700000000923456,\"latency_ms\":800.0,"
			      "\"text\":\"A dog \\\"runs\\\".\",\"tokens\":7}\n") == 0,
	       "%s", s->str);
	g_string_truncate(s, 0);
	protocol_version_line(s, "0.1.0", NULL);
	CHECKF(strcmp(s->str, "{\"class\":\"VERSION\",\"proto_major\":1,\"proto_minor\":0,\"release\":\"0.1.0\"}\n") == 0,
	       "%s", s->str);
	g_string_truncate(s, 0);
	protocol_stream_line(s, "cam0", "error", "no such device");
	CHECK(strcmp(s->str, "{\"class\":\"STREAM\",\"stream\":\"cam0\",\"state\":\"error\",\"message\":\"no such device\"}\n") == 0);
	g_string_truncate(s, 0);
	protocol_stream_line(s, "cam0", "playing", NULL);
	CHECK(strcmp(s->str, "{\"class\":\"STREAM\",\"stream\":\"cam0\",\"state\":\"playing\"}\n") == 0);
	g_string_truncate(s, 0);
	protocol_dropped_line(s, 12);
	CHECK(strcmp(s->str, "{\"class\":\"DROPPED\",\"count\":12}\n") == 0);
	g_string_truncate(s, 0);
	char *names[] = { "a", "b\"", NULL };
	protocol_watch_line(s, names);
	CHECK(strcmp(s->str, "{\"class\":\"WATCH\",\"streams\":[\"a\",\"b\\\"\"]}\n") == 0);
	g_string_truncate(s, 0);
	protocol_watch_line(s, NULL);
	CHECK(strcmp(s->str, "{\"class\":\"WATCH\"}\n") == 0);
	g_string_free(s, TRUE);
}

/* Python's json module decodes our ERROR lines; each message comes back
 * as hex of its UTF-8 bytes. */
static void test_python_decodes(void)
{
	static const char *const messages[] = {
		"plain", "quote \" backslash \\ slash /", "\x01\x02\x1f\x7f\b\f\n\r\t", "caf\xc3\xa9 \xf0\x9f\x98\x80",
		"\xe2\x80\xa8\xe2\x80\xa9", "bad \xff\xfe utf8 \xc3",
	};
	static const char *const want_hex[] = {
		"706c61696e",
		"71756f74652022206261636b736c617368205c20736c617368202f",
		"01021f7f080c0a0d09",
		"636166c3a920f09f9880",
		"e280a8e280a9",
		"62616420efbfbdefbfbd207574663820efbfbd",
	};
	char *python = g_find_program_in_path("python3");
	if (!python) {
		fprintf(stderr, "python3 not found: Python decoding check skipped\n");
		return;
	}
	GString *in = g_string_new(NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(messages); i++)
		protocol_error_line(in, messages[i]);
	char *argv[] = { python, "-c",
			 "import json,sys\n"
			 "for line in sys.stdin.buffer:\n"
			 "    o = json.loads(line.decode('utf-8'), strict=True)\n"
			 "    assert list(o)[0] == 'class' and o['class'] == 'ERROR'\n"
			 "    print(o['message'].encode('utf-8').hex())\n",
			 NULL };
	char *tmp = NULL;
	int fd = g_file_open_tmp("test-protocol-XXXXXX", &tmp, NULL);
	CHECK(fd >= 0);
	if (fd < 0)
		goto out;
	close(fd);
	CHECK(g_file_set_contents(tmp, in->str, (gssize)in->len, NULL));
	char *cmd = g_strdup_printf("%s -c \"$0\" < %s", python, tmp);
	char *sh_argv[] = { "/bin/sh", "-c", cmd, argv[2], NULL };
	char *out = NULL, *err = NULL;
	int status = -1;
	CHECK(g_spawn_sync(NULL, sh_argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, NULL));
	CHECKF(status == 0, "python3: %s", err ? err : "");
	char **lines = g_strsplit(out ? out : "", "\n", -1);
	for (size_t i = 0; i < G_N_ELEMENTS(want_hex); i++)
		CHECKF(lines[i] && strcmp(lines[i], want_hex[i]) == 0, "message %zu: python decoded %s", i,
		       lines[i] ? lines[i] : "(nothing)");
	g_strfreev(lines);
	g_free(out);
	g_free(err);
	g_free(cmd);
	remove(tmp);
out:
	g_free(tmp);
	g_string_free(in, TRUE);
	g_free(python);
}

static int parse(const char *line, struct protocol_command *cmd, char *why)
{
	return protocol_command_parse(line, strlen(line), cmd, why, 160);
}

static void test_commands_good(void)
{
	struct protocol_command cmd;
	char why[160];

	CHECK(parse("{\"class\":\"POLL\"}", &cmd, why) == 0 && cmd.kind == PROTOCOL_COMMAND_POLL);
	protocol_command_clear(&cmd);
	CHECK(parse(" { \"class\" : \"WATCH\" } \r", &cmd, why) == 0 && cmd.kind == PROTOCOL_COMMAND_WATCH &&
	      cmd.streams == NULL);
	protocol_command_clear(&cmd);
	CHECK(parse("{\"class\":\"WATCH\",\"streams\":[]}", &cmd, why) == 0 && cmd.streams && cmd.streams[0] == NULL);
	protocol_command_clear(&cmd);
	CHECK(parse("{\"streams\":[\"a\", \"\\u0062\", \"\\ud83d\\ude00\"],\"class\":\"WATCH\"}", &cmd, why) == 0);
	CHECK(cmd.streams && g_strv_length(cmd.streams) == 3 && strcmp(cmd.streams[0], "a") == 0 &&
	      strcmp(cmd.streams[1], "b") == 0 && strcmp(cmd.streams[2], "\xf0\x9f\x98\x80") == 0);
	protocol_command_clear(&cmd);
	/* Unknown members of any JSON type are skipped (the protocol grows by adding). */
	CHECKF(parse("{\"class\":\"POLL\",\"x\":{\"y\":[1,-2.5e3,0.0,true,false,null,\"z\"],\"w\":{}},\"v\":[]}", &cmd,
		     why) == 0, "%s", why);
	protocol_command_clear(&cmd);
}

static void test_commands_bad(void)
{
	static const struct {
		const char *line, *why;
	} cases[] = {
		{ "", "expected a JSON object" },
		{ "not json", "expected a JSON object" },
		{ "[\"class\"]", "expected a JSON object" },
		{ "{", "expected a member name" },
		{ "{\"class\":\"POLL\"", "expected ',' or '}'" },
		{ "{\"class\":\"POLL\",}", "expected a member name" },
		{ "{'class':'POLL'}", "expected a member name" },
		{ "{\"class\" \"POLL\"}", "expected ':'" },
		{ "{\"class\":\"NOPE\"}", "unknown class \"NOPE\"" },
		{ "{\"class\":\"poll\"}", "unknown class \"poll\"" },
		{ "{\"class\":5}", "\"class\" must be a string" },
		{ "{\"streams\":[]}", "missing \"class\"" },
		{ "{}", "missing \"class\"" },
		{ "{\"class\":\"POLL\"} x", "text after the object" },
		{ "{\"class\":\"POLL\"}{}", "text after the object" },
		{ "{\"class\":\"POLL\",\"class\":\"WATCH\"}", "duplicate \"class\"" },
		{ "{\"class\":\"WATCH\",\"streams\":[],\"streams\":[]}", "duplicate \"streams\"" },
		{ "{\"class\":\"WATCH\",\"streams\":\"a\"}", "\"streams\" must be a list of strings" },
		{ "{\"class\":\"WATCH\",\"streams\":[1]}", "\"streams\" must be a list of strings" },
		{ "{\"class\":\"WATCH\",\"streams\":[\"a\" \"b\"]}", "expected ',' or ']'" },
		{ "{\"class\":\"WA\\u0000TCH\"}", "NUL in a string" },
		{ "{\"class\":\"\\ud800\"}", "lone high surrogate" },
		{ "{\"class\":\"\\ud800\\u0041\"}", "lone high surrogate" },
		{ "{\"class\":\"\\udc00\"}", "lone low surrogate" },
		{ "{\"class\":\"\\u12\"}", "bad \\u escape" },
		{ "{\"class\":\"\\x41\"}", "bad escape in a string" },
		{ "{\"class\":\"a\tb\"}", "control character in a string" },
		{ "{\"class\":\"POLL", "unterminated string" },
		{ "{\"class\":\"\xff\"}", "not valid UTF-8" },
		{ "{\"class\":\"POLL\",\"n\":01}", "expected ',' or '}'" },
		{ "{\"class\":\"POLL\",\"n\":1.}", "bad number" },
		{ "{\"class\":\"POLL\",\"n\":-}", "bad number" },
		{ "{\"class\":\"POLL\",\"n\":tru}", "bad number" },
		{ "{\"class\":\"POLL\",\"n\":[[[[[[[[[[1]]]]]]]]]]}", "nested too deeply" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct protocol_command cmd;
		char why[160] = "";
		int rc = parse(cases[i].line, &cmd, why);
		CHECKF(rc == -EINVAL && strcmp(why, cases[i].why) == 0, "case %zu (%s): rc %d why '%s'", i, cases[i].line,
		       rc, why);
		protocol_command_clear(&cmd);
	}

	/* Limits on WATCH lists. */
	GString *s = g_string_new("{\"class\":\"WATCH\",\"streams\":[");
	for (int i = 0; i < PROTOCOL_MAX_WATCH_STREAMS + 1; i++)
		g_string_append_printf(s, "%s\"s%d\"", i ? "," : "", i);
	g_string_append(s, "]}");
	struct protocol_command cmd;
	char why[160] = "";
	CHECK(protocol_command_parse(s->str, s->len, &cmd, why, sizeof why) == -EINVAL &&
	      strcmp(why, "too many streams") == 0);
	protocol_command_clear(&cmd);
	g_string_assign(s, "{\"class\":\"WATCH\",\"streams\":[\"");
	for (int i = 0; i < PROTOCOL_MAX_STREAM_NAME_BYTES + 1; i++)
		g_string_append_c(s, 'x');
	g_string_append(s, "\"]}");
	CHECK(protocol_command_parse(s->str, s->len, &cmd, why, sizeof why) == -EINVAL &&
	      strcmp(why, "stream name too long") == 0);
	protocol_command_clear(&cmd);
	/* A NUL byte inside the line (len counts past it). */
	const char nul[] = "{\"class\":\"POLL\"}\0junk";
	CHECK(protocol_command_parse(nul, sizeof nul - 1, &cmd, why, sizeof why) == -EINVAL &&
	      strcmp(why, "NUL byte in the line") == 0);
	protocol_command_clear(&cmd);
	g_string_free(s, TRUE);
}

/* What the encoder writes, the parser reads back (names through WATCH). */
static void test_round_trip(void)
{
	char *names[] = { "plain", "q\"b\\s/", "\x01\x1f\n", "caf\xc3\xa9\xf0\x9f\x98\x80", NULL };
	GString *s = g_string_new(NULL);
	protocol_watch_line(s, names);
	struct protocol_command cmd;
	char why[160] = "";
	CHECKF(protocol_command_parse(s->str, s->len - 1, &cmd, why, sizeof why) == 0, "%s", why);
	for (size_t i = 0; names[i]; i++)
		CHECK(cmd.streams && cmd.streams[i] && strcmp(cmd.streams[i], names[i]) == 0);
	protocol_command_clear(&cmd);
	g_string_free(s, TRUE);
}

int main(void)
{
	test_escape();
	test_builders();
	test_python_decodes();
	test_commands_good();
	test_commands_bad();
	test_round_trip();
	return check_report();
}
