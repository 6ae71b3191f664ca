/* tests/check.h — the one assertion macro of the test programs.
 *
 * CHECK(expr) prints file:line and the expression when it fails, counts the
 * failure and goes on, so one run shows every broken case. A test program
 * ends with `return check_report();`: exit 0 when nothing failed, 1 otherwise.
 * Skips exit 77 (meson's skip code) with a reason via check_skip().
 */
#ifndef CAPTIOND_TESTS_CHECK_H
#define CAPTIOND_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                   \
	do {                                                                          \
		check_count++;                                                        \
		if (!(expr)) {                                                        \
			check_failures++;                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
		}                                                                     \
	} while (0)

/* CHECK with a printf-style explanation printed on failure. */
#define CHECKF(expr, ...)                                                             \
	do {                                                                          \
		check_count++;                                                        \
		if (!(expr)) {                                                        \
			check_failures++;                                             \
			fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #expr); \
			fprintf(stderr, __VA_ARGS__);                                 \
			fputc('\n', stderr);                                          \
		}                                                                     \
	} while (0)

static inline int check_report(void)
{
	fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

static inline void check_skip(const char *reason)
{
	fprintf(stderr, "SKIP: %s\n", reason);
	exit(77);
}

#endif
