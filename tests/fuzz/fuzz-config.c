/* tests/fuzz/fuzz-config.c — libFuzzer target for daemon/config.
 *
 * A rejected input must come with a one-line report "NAME:...: ...". An
 * accepted one must keep the promises of config.h (stream count, unique
 * names, the source kind filled), compare equal to itself and diff cleanly
 * against the defaults. Built with -fsanitize=fuzzer when meson option fuzz
 * is true; otherwise linked with replay.c to run tests/fuzz/corpus-config as
 * a test. Run it: build/fuzz/tests/fuzz/fuzz-config CORPUS-COPY -max_len=8192
 */
#include "daemon/config.h"

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(x)                                                                        \
	do {                                                                              \
		if (!(x)) {                                                               \
			fprintf(stderr, "fuzz-config: %s:%d: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                          \
		}                                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct captiond_config *c = NULL;
	struct config_error err;
	int rc = config_create_from_string("f.yaml", (const char *)data, size, &c, &err);
	if (rc < 0) {
		REQUIRE(c == NULL);
		REQUIRE(g_str_has_prefix(err.text, "f.yaml:") && !strchr(err.text, '\n'));
		REQUIRE(err.message[0] != '\0');
		return 0;
	}
	REQUIRE(c && c->n_streams <= CONFIG_MAX_STREAMS);
	for (size_t i = 0; i < c->n_streams; i++) {
		REQUIRE(c->streams[i].name && c->streams[i].source && c->streams[i].overlay_font);
		for (size_t j = 0; j < i; j++)
			REQUIRE(strcmp(c->streams[i].name, c->streams[j].name) != 0);
	}
	REQUIRE(c->min_image_tokens <= c->max_image_tokens && c->socket_mode <= 0777);
	REQUIRE(config_equal(c, c));
	struct captiond_config *def = config_create_default();
	struct config_diff *diff = NULL;
	REQUIRE(config_diff_create(def, c, &diff) == 0);
	REQUIRE(diff->n_changes <= def->n_streams + c->n_streams);
	REQUIRE(!config_equal(def, c) || (diff->n_changes == 0 && diff->n_global_keys == 0));
	config_diff_destroy(diff);
	config_destroy(def);
	config_destroy(c);
	return 0;
}
