/* tests/gpu-test-util.c — shared set-up of the gpu-suite tests. */
#include "tests/gpu-test-util.h"

#include "model/quant.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void gpu_test_open(struct gpu_test *t, uint64_t max_binding_bytes)
{
	memset(t, 0, sizeof *t);
	struct gpu_device_config cfg = { 0 };
	gpu_device_config_from_env(&cfg);
	cfg.validation = true; /* installed here; tests fail on its errors */
	cfg.max_binding_bytes = max_binding_bytes;
	int ret = gpu_device_create(&cfg, &t->dev);
	if (ret < 0) {
		char why[128];
		snprintf(why, sizeof why, "no usable Vulkan device (gpu_device_create: %d)", ret);
		fprintf(stderr, "SKIP: %s\n", why);
		exit(77);
	}
	if (!gpu_device_caps(t->dev)->validation)
		fprintf(stderr, "note: validation layer not installed, running without it\n");
	if (gpu_pipelines_create(t->dev, NULL, &t->pipes) < 0 ||
	    gpu_staging_create(t->dev, 16u << 20, &t->staging) < 0 ||
	    gpu_recorder_create(t->dev, t->pipes, 256, &t->rec) < 0) {
		fprintf(stderr, "FAIL: runtime set-up failed\n");
		exit(1);
	}
}

uint32_t gpu_test_close(struct gpu_test *t)
{
	gpu_recorder_destroy(t->rec);
	for (int i = 0; i < t->n_bufs; i++)
		gpu_buffer_destroy(t->bufs[i]);
	gpu_staging_destroy(t->staging);
	gpu_pipelines_destroy(t->pipes);
	uint32_t errors = t->dev ? gpu_device_validation_errors(t->dev) : 0;
	gpu_device_destroy(t->dev);
	memset(t, 0, sizeof *t);
	return errors;
}

struct gpu_tensor gpu_test_tensor(struct gpu_test *t, enum gpu_mem_kind kind, uint32_t type,
				  uint32_t ne0, uint32_t ne1, const void *data)
{
	struct gpu_tensor tensor = { .type = type, .ne = { ne0, ne1 } };
	uint64_t bytes = gpu_tensor_bytes(&tensor);
	struct gpu_buffer *buf = NULL;
	if (bytes == 0 || t->n_bufs == (int)(sizeof t->bufs / sizeof t->bufs[0]) ||
	    gpu_buffer_create(t->dev, kind, bytes, "test", &buf) < 0) {
		fprintf(stderr, "FAIL: cannot make a [%u, %u] tensor\n", ne0, ne1);
		exit(1);
	}
	t->bufs[t->n_bufs++] = buf;
	tensor.buffer = buf;
	if (data && (gpu_staging_write(t->staging, buf, 0, data, bytes) < 0 ||
		     gpu_staging_flush(t->staging) < 0)) {
		fprintf(stderr, "FAIL: upload failed\n");
		exit(1);
	}
	return tensor;
}

int gpu_test_read(struct gpu_test *t, const struct gpu_tensor *tensor, void *dst)
{
	return gpu_staging_read(t->staging, tensor->buffer, tensor->offset, dst,
				gpu_tensor_bytes(tensor));
}

double gpu_test_nmse(const float *got, const double *ref, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)got[i] - ref[i];
		num += d * d;
		den += ref[i] * ref[i];
	}
	return den > 0 ? num / den : num;
}

uint64_t gpu_test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

float gpu_test_uniform(uint64_t *s, float lo, float hi)
{
	return lo + (hi - lo) * (float)((gpu_test_rand(s) >> 40) * (1.0 / 16777216.0));
}

double gpu_test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void gpu_test_random_weights(uint32_t type, uint8_t *dst, uint64_t bytes, uint64_t *rng)
{
	const struct tensor_type_info *ti = tensor_type_info(type);
	uint64_t nb = bytes / ti->block_bytes;
	for (uint64_t i = 0; i < bytes; i += 8) {
		uint64_t r = gpu_test_rand(rng);
		memcpy(dst + i, &r, bytes - i < 8 ? bytes - i : 8);
	}
	for (uint64_t i = 0; i < nb; i++) {
		uint8_t *b = dst + i * ti->block_bytes;
		uint16_t h;
		float f;
		switch (type) {
		case TENSOR_F32:
			f = gpu_test_uniform(rng, -1, 1);
			memcpy(b, &f, 4);
			break;
		case TENSOR_F16:
			h = f32_to_fp16(gpu_test_uniform(rng, -1, 1));
			memcpy(b, &h, 2);
			break;
		case TENSOR_BF16:
			h = f32_to_bf16(gpu_test_uniform(rng, -1, 1));
			memcpy(b, &h, 2);
			break;
		case TENSOR_Q8_0:
		case TENSOR_Q4_0: /* d first */
			h = f32_to_fp16(gpu_test_uniform(rng, 0.001f, 0.05f));
			memcpy(b, &h, 2);
			break;
		case TENSOR_Q6_K: /* d last */
			h = f32_to_fp16(gpu_test_uniform(rng, 0.0001f, 0.002f));
			memcpy(b + offsetof(struct block_q6_K, d), &h, 2);
			break;
		}
	}
}
