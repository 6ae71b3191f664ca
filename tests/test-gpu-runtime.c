/* tests/test-gpu-runtime.c — placeholder, filled below. */
#include "tests/check.h"
#include "tests/gpu-test-util.h"
int main(void)
{
	struct gpu_test t;
	gpu_test_open(&t, 0);
	gpu_device_describe(t.dev, stderr);
	CHECK(gpu_test_close(&t) == 0);
	return check_report();
}
