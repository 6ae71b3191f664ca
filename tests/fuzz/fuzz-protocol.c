/* tests/fuzz/fuzz-protocol.c — libFuzzer target for daemon/protocol.
 *
 * The input is parsed as a client command (an accepted WATCH keeps the
 * limits protocol.h promises), and escaped as a JSON string: the line built
 * from it must be valid UTF-8 with no raw control byte, and, for valid UTF-8
 * without NUL, read back to the same bytes through the command parser.
 * Built with -fsanitize=fuzzer when meson option fuzz is true; otherwise
 * linked with replay.c to run tests/fuzz/corpus-protocol as a test.
 */
#include "daemon/protocol.h"

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(x)                                                                          \
	do {                                                                                \
		if (!(x)) {                                                                 \
			fprintf(stderr, "fuzz-protocol: %s:%d: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                            \
		}                                                                           \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct protocol_command cmd;
	char why[160];
	if (protocol_command_parse((const char *)data, size, &cmd, why, sizeof why) == 0 && cmd.streams) {
		size_t n = g_strv_length(cmd.streams);
		REQUIRE(n <= PROTOCOL_MAX_WATCH_STREAMS);
		for (size_t i = 0; i < n; i++)
			REQUIRE(strlen(cmd.streams[i]) <= PROTOCOL_MAX_STREAM_NAME_BYTES);
	}
	protocol_command_clear(&cmd);

	char *text = g_strndup((const char *)data, size);
	char *names[] = { text, NULL };
	GString *line = g_string_new(NULL);
	protocol_watch_line(line, names);
	REQUIRE(line->len && line->str[line->len - 1] == '\n');
	REQUIRE(g_utf8_validate(line->str, (gssize)line->len, NULL));
	for (size_t i = 0; i + 1 < line->len; i++)
		REQUIRE((unsigned char)line->str[i] >= 0x20);
	if (strlen(text) == size && g_utf8_validate(text, (gssize)size, NULL) && size <= PROTOCOL_MAX_STREAM_NAME_BYTES) {
		REQUIRE(protocol_command_parse(line->str, line->len - 1, &cmd, why, sizeof why) == 0);
		REQUIRE(cmd.streams && cmd.streams[0] && strcmp(cmd.streams[0], text) == 0 && !cmd.streams[1]);
		protocol_command_clear(&cmd);
	}
	g_string_free(line, TRUE);
	g_free(text);
	return 0;
}
