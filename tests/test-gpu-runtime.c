/* tests/test-gpu-runtime.c — the runtime around the kernels: device choice,
 * describe, result mapping, the validation messenger, binding arithmetic,
 * the pipeline table and its disk cache, dispatch checks, barrier placement,
 * the staging ring, profiling. */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"
#include "vk/push.h"
#include "vk/result.h"
#include "vk/spirv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

static void test_results(void)
{
	CHECK(gpu_result_errno(VK_ERROR_DEVICE_LOST) == -ENODEV);
	CHECK(gpu_result_errno(VK_ERROR_OUT_OF_DEVICE_MEMORY) == -ENOMEM);
	CHECK(gpu_result_errno(VK_ERROR_EXTENSION_NOT_PRESENT) == -ENOTSUP);
	CHECK(gpu_result_errno(VK_SUCCESS) == 0);
	CHECK(gpu_result_errno(VK_INCOMPLETE) == 0);
	CHECK(gpu_result_errno(VK_ERROR_UNKNOWN) == -EIO);
	CHECK(strcmp(gpu_result_string(VK_ERROR_DEVICE_LOST), "VK_ERROR_DEVICE_LOST") == 0);
	CHECK(strcmp(gpu_result_string((VkResult)-12345), "VK_UNKNOWN_RESULT") == 0);
}

static void test_spirv_reader(void)
{
	struct spirv_info info;
	uint32_t bad_magic[6] = { 0x12345678, 0x10500, 0, 10, 0, 0 };
	CHECK(spirv_reflect(bad_magic, 6, &info) == -EBADMSG);
	/* An instruction whose word count runs past the end. */
	uint32_t truncated[6] = { 0x07230203, 0x10500, 0, 10, 0, (9u << 16) | 17 };
	CHECK(spirv_reflect(truncated, 6, &info) == -EBADMSG);
	uint32_t zero_count[6] = { 0x07230203, 0x10500, 0, 10, 0, 0 };
	CHECK(spirv_reflect(zero_count, 6, &info) == -EBADMSG);
	CHECK(spirv_reflect(bad_magic, 3, &info) == -EBADMSG);
}

static void test_device_choice(const struct gpu_caps *caps)
{
	struct gpu_device *dev = NULL;
	struct gpu_device_config cfg = { .device = "no-such-gpu-anywhere" };
	CHECK(gpu_device_create(&cfg, &dev) == -ENOENT && dev == NULL);
	cfg.device = "99";
	CHECK(gpu_device_create(&cfg, &dev) == -ENOENT);
	cfg.device = "0";
	CHECK(gpu_device_create(&cfg, &dev) == 0);
	gpu_device_destroy(dev);
	/* By name, case-insensitive: the device the test runs on. */
	char upper[sizeof caps->name];
	g_strlcpy(upper, caps->name, sizeof upper);
	upper[MIN(strlen(upper), 6)] = 0;
	for (char *p = upper; *p; p++)
		*p = (char)g_ascii_toupper(*p);
	cfg.device = upper;
	CHECK(gpu_device_create(&cfg, &dev) == 0);
	CHECK(dev && strcmp(gpu_device_caps(dev)->name, caps->name) == 0);
	gpu_device_destroy(dev);
	gpu_device_destroy(NULL);
}

static void test_describe(struct gpu_test *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	gpu_device_describe(t->dev, f);
	fclose(f);
	const struct gpu_caps *c = gpu_device_caps(t->dev);
	char line[64];
	snprintf(line, sizeof line, "subgroup_size: %u\n", c->subgroup_size);
	CHECK(strstr(text, c->name) != NULL);
	CHECK(strstr(text, line) != NULL);
	CHECK(strstr(text, "max_storage_buffer_range: ") != NULL);
	CHECK(strstr(text, "cooperative_matrix_nv: ") != NULL);
	CHECK(c->subgroup_size > 0 && c->max_binding_bytes > 0 && c->storage_align > 0);
	fputs(text, stderr);
	free(text);
}

/* The messenger must see errors, or "no validation errors" means nothing. */
static void test_messenger_counts(void)
{
	struct gpu_device *dev = NULL;
	struct gpu_device_config cfg = { .validation = true };
	gpu_device_config_from_env(&cfg);
	cfg.validation = true;
	if (gpu_device_create(&cfg, &dev) < 0)
		return;
	if (!gpu_device_caps(dev)->validation || !gpu_device_caps(dev)->debug_utils) {
		fprintf(stderr, "note: no validation layer, messenger test not run\n");
		gpu_device_destroy(dev);
		return;
	}
	VkBufferCreateInfo bci = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		.size = 0, /* invalid: VUID-VkBufferCreateInfo-size-00912 */
		.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT,
	};
	VkBuffer b = VK_NULL_HANDLE;
	fprintf(stderr, "(one validation error expected next)\n");
	VkResult r = vkCreateBuffer(gpu_device_vk(dev), &bci, NULL, &b);
	if (r == VK_SUCCESS && b)
		vkDestroyBuffer(gpu_device_vk(dev), b, NULL);
	CHECK(gpu_device_validation_errors(dev) >= 1);
	gpu_device_destroy(dev);
}

static void test_bind(struct gpu_test *t)
{
	const struct gpu_caps *c = gpu_device_caps(t->dev);
	struct gpu_buffer *buf;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_SCRATCH, 4096, "bind", &buf) == 0);
	struct gpu_binding b;
	uint32_t k = 99;
	/* Q4_0 blocks from byte 54 (block 3): an aligned start, k blocks back. */
	CHECK(gpu_buffer_bind(t->dev, buf, 54, 180, 18, false, &b, &k) == 0);
	CHECK(b.offset % c->storage_align == 0 && b.offset + (uint64_t)k * 18 == 54);
	CHECK(b.range == 180 + (uint64_t)k * 18 && !b.write);
	CHECK(gpu_buffer_bind(t->dev, buf, 64, 4, 4, true, &b, &k) == 0 && k == 0 && b.offset == 64);
	CHECK(gpu_buffer_bind(t->dev, buf, 4000, 100, 4, false, &b, &k) == -EINVAL);
	CHECK(gpu_buffer_bind(t->dev, buf, 0, 0, 4, false, &b, &k) == -EINVAL);
	if (c->storage_align % 2 == 0)
		CHECK(gpu_buffer_bind(t->dev, buf, 55, 18, 18, false, &b, &k) == -EINVAL);
	CHECK(gpu_buffer_size(buf) == 4096 && gpu_buffer_kind(buf) == GPU_MEM_SCRATCH);
	gpu_buffer_destroy(buf);
	gpu_buffer_destroy(NULL);
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_SCRATCH, 0, "empty", &buf) == -EINVAL);
}

static void test_pipeline_table(struct gpu_test *t)
{
	const struct gpu_caps *c = gpu_device_caps(t->dev);
	/* the first entries of the table; later ones are checked by their ops' tests */
	static const char *names[] = {
		"mul_mat_vec_f32_f32", "mul_mat_vec_f16_f32", "mul_mat_vec_q8_0_f32",
		"mul_mat_vec_q4_0_f32", "mul_mat_vec_q6_k_f32", "rms_norm_f32", "add_f32",
	};
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
		const struct gpu_pipeline *pl = gpu_pipelines_get(t->pipes, (enum gpu_pipe_id)i);
		CHECK(strcmp(gpu_pipeline_name(pl), names[i]) == 0);
		CHECK(gpu_pipelines_find(t->pipes, names[i]) == pl);
		CHECK(gpu_pipeline_binding_mask(pl) == 0x7); /* three buffers each */
	}
	for (int i = 0; i < GPU_PIPE_COUNT; i++) {
		const struct gpu_pipeline *pl = gpu_pipelines_get(t->pipes, (enum gpu_pipe_id)i);
		CHECK(gpu_pipelines_find(t->pipes, gpu_pipeline_name(pl)) == pl);
		CHECK(gpu_pipeline_wg_size(pl) % c->subgroup_size == 0);
	}
	CHECK(gpu_pipelines_find(t->pipes, "mul_mat_vec_q5_k_f32") == NULL);
	const struct gpu_pipeline *pl;
	CHECK(gpu_pipelines_mul_mat_vec(t->pipes, TENSOR_Q4_0, &pl) == 0 &&
	      pl == gpu_pipelines_get(t->pipes, GPU_PIPE_MUL_MAT_VEC_Q4_0_F32));
	CHECK(gpu_pipelines_mul_mat_vec(t->pipes, TENSOR_Q5_K, &pl) == -ENOTSUP && pl == NULL);
	CHECK(gpu_pipeline_push_bytes(gpu_pipelines_get(t->pipes, GPU_PIPE_ADD_F32)) ==
	      sizeof(struct gpu_push_add));
}

static void test_pipeline_cache(struct gpu_test *t)
{
	char *dir = g_dir_make_tmp("captiond-gpu-XXXXXX", NULL);
	CHECK(dir != NULL);
	char *path = g_build_filename(dir, "pipelines.cache", NULL);
	struct gpu_pipelines *p = NULL;
	CHECK(gpu_pipelines_create(t->dev, path, &p) == 0);
	gpu_pipelines_destroy(p);
	gchar *data = NULL;
	gsize n = 0;
	CHECK(g_file_get_contents(path, &data, &n, NULL));
	CHECK(n >= 16 + VK_UUID_SIZE); /* at least Vulkan's header */
	uint32_t hdr[4] = { 0 };
	if (data && n >= sizeof hdr)
		memcpy(hdr, data, sizeof hdr);
	CHECK(hdr[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE);
	CHECK(hdr[2] == gpu_device_caps(t->dev)->vendor_id);
	g_free(data);
	/* Reuse it; then damaged files must be ignored, not trusted. */
	CHECK(gpu_pipelines_create(t->dev, path, &p) == 0);
	gpu_pipelines_destroy(p);
	CHECK(g_file_set_contents(path, "garbage", 7, NULL));
	CHECK(gpu_pipelines_create(t->dev, path, &p) == 0);
	gpu_pipelines_destroy(p);
	char fake[64];
	memset(fake, 0xab, sizeof fake);
	uint32_t fh[4] = { 32, VK_PIPELINE_CACHE_HEADER_VERSION_ONE, 0xdead, 0xbeef };
	memcpy(fake, fh, sizeof fh);
	CHECK(g_file_set_contents(path, fake, sizeof fake, NULL));
	CHECK(gpu_pipelines_create(t->dev, path, &p) == 0);
	gpu_pipelines_destroy(p);
	/* A directory that does not exist: no cache saved, pipelines still made. */
	char *nowhere = g_build_filename(dir, "missing", "pipelines.cache", NULL);
	CHECK(gpu_pipelines_create(t->dev, nowhere, &p) == 0);
	gpu_pipelines_destroy(p);
	g_remove(path);
	g_rmdir(dir);
	g_free(nowhere);
	g_free(path);
	g_free(dir);
}

static void test_dispatch_checks(struct gpu_test *t)
{
	float ones[64];
	for (int i = 0; i < 64; i++)
		ones[i] = 1.0f;
	struct gpu_tensor A = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 64, 1, ones);
	struct gpu_binding b[3];
	uint32_t off;
	CHECK(gpu_buffer_bind(t->dev, A.buffer, 0, 256, 4, false, &b[0], &off) == 0);
	b[1] = b[0];
	b[2] = b[0];
	b[2].write = true;
	const struct gpu_pipeline *pl = gpu_pipelines_get(t->pipes, GPU_PIPE_ADD_F32);
	struct gpu_push_add pc = { .ne0 = 64, .nrows = 1 };
	CHECK(gpu_recorder_dispatch(t->rec, pl, "idle", b, 3, &pc, sizeof pc, 1, 1, 1) == -EBUSY);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_recorder_begin(t->rec) == -EBUSY);
	CHECK(gpu_recorder_dispatch(t->rec, pl, "short push", b, 3, &pc, sizeof pc - 4, 1, 1, 1) ==
	      -EINVAL);
	CHECK(gpu_recorder_dispatch(t->rec, pl, "two bindings", b, 2, &pc, sizeof pc, 1, 1, 1) ==
	      -EINVAL);
	struct gpu_binding missing[3] = { b[0], { 0 }, b[2] };
	CHECK(gpu_recorder_dispatch(t->rec, pl, "hole", missing, 3, &pc, sizeof pc, 1, 1, 1) ==
	      -EINVAL);
	CHECK(gpu_recorder_dispatch(t->rec, pl, "huge grid", b, 3, &pc, sizeof pc,
				    gpu_device_caps(t->dev)->max_wg_count[0] + 1u, 1, 1) == -EINVAL);
	CHECK(gpu_recorder_dispatch(t->rec, pl, "ok", b, 3, &pc, sizeof pc, 1, 1, 1) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	float out[64];
	CHECK(gpu_test_read(t, &A, out) == 0);
	CHECK(out[0] == 2.0f && out[63] == 2.0f); /* in place: 1 + 1 */

	/* Shape and type errors of the typed ops. */
	struct gpu_tensor W = A;
	W.ne[0] = 32;
	W.ne[1] = 2;
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_mul_mat_vec(t->rec, "bad shape", &W, &A, &A) == -EINVAL);
	struct gpu_tensor Q = A;
	Q.type = TENSOR_Q5_K;
	CHECK(gpu_op_mul_mat_vec(t->rec, "no pipeline", &Q, &A, &A) == -ENOTSUP);
	struct gpu_tensor past = A;
	past.ne[1] = 2; /* larger than its buffer */
	CHECK(gpu_op_add(t->rec, "out of range", &past, &past, &past) == -EINVAL);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);

	/* A recorder sized for two dispatches refuses a third. */
	struct gpu_recorder *small;
	CHECK(gpu_recorder_create(t->dev, t->pipes, 2, &small) == 0);
	CHECK(gpu_recorder_begin(small) == 0);
	CHECK(gpu_op_add(small, "1", &A, &A, &A) == 0);
	CHECK(gpu_op_add(small, "2", &A, &A, &A) == 0);
	CHECK(gpu_op_add(small, "3", &A, &A, &A) == -ENOSPC);
	CHECK(gpu_recorder_submit(small) == 0);
	gpu_recorder_destroy(small); /* waits */
	gpu_recorder_destroy(NULL);
}

/* Barriers only between dependent dispatches, and the results are right. */
static void test_barriers(struct gpu_test *t)
{
	enum { K = 256 };
	float a[K], b[K], out[K];
	for (int i = 0; i < K; i++) {
		a[i] = (float)i;
		b[i] = 1000.0f + (float)i;
	}
	struct gpu_tensor A = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, 1, a);
	struct gpu_tensor B = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, 1, b);
	struct gpu_tensor C = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, 1, NULL);
	struct gpu_tensor D = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, 1, NULL);
	struct gpu_tensor E = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, 1, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_add(t->rec, "c = a + b", &A, &B, &C) == 0);
	CHECK(gpu_op_add(t->rec, "d = a + a", &A, &A, &D) == 0);  /* independent */
	CHECK(gpu_recorder_barrier_count(t->rec) == 0);
	CHECK(gpu_op_add(t->rec, "e = c + d", &C, &D, &E) == 0);  /* reads both: RAW */
	CHECK(gpu_recorder_barrier_count(t->rec) == 1);
	CHECK(gpu_op_add(t->rec, "a = b + b", &B, &B, &A) == 0);  /* A read before: no barrier since */
	CHECK(gpu_recorder_barrier_count(t->rec) == 1);
	CHECK(gpu_op_add(t->rec, "c = e + a", &E, &A, &C) == 0);  /* RAW on E and A */
	CHECK(gpu_recorder_barrier_count(t->rec) == 2);
	CHECK(gpu_recorder_dispatch_count(t->rec) == 5);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	CHECK(gpu_test_read(t, &C, out) == 0);
	int wrong = 0;
	for (int i = 0; i < K; i++) {
		float e = (a[i] + b[i]) + (a[i] + a[i]);
		wrong += out[i] != e + (b[i] + b[i]);
	}
	CHECK(wrong == 0);
}

/* Uploads larger than the ring, at odd offsets, through the ring. */
static void test_staging(struct gpu_test *t)
{
	struct gpu_staging *st;
	CHECK(gpu_staging_create(t->dev, 1 << 20, &st) == 0);
	size_t n = (5u << 20) + 12345;
	uint8_t *src = malloc(n), *dst = malloc(n);
	uint64_t rng = 7;
	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)(gpu_test_rand(&rng) >> 56);
	struct gpu_buffer *buf;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_WEIGHTS, n + 3, "weights", &buf) == 0);
	CHECK(gpu_staging_write(st, buf, 3, src, n) == 0);
	CHECK(gpu_staging_write(st, buf, n + 1, src, 4) == -EINVAL);
	memset(dst, 0, n);
	CHECK(gpu_staging_read(st, buf, 3, dst, n) == 0);
	CHECK(memcmp(src, dst, n) == 0);
	CHECK(gpu_staging_read(st, buf, n, dst, 4) == -EINVAL);
	gpu_buffer_destroy(buf);
	gpu_staging_destroy(st);
	gpu_staging_destroy(NULL);
	free(src);
	free(dst);
}

static void test_profile(void)
{
	struct gpu_device_config cfg = { .profile = true };
	gpu_device_config_from_env(&cfg);
	cfg.profile = true;
	cfg.validation = true;
	struct gpu_device *dev;
	struct gpu_pipelines *pipes;
	struct gpu_recorder *rec;
	struct gpu_buffer *buf;
	if (gpu_device_create(&cfg, &dev) < 0)
		return;
	if (!gpu_device_profiling(dev)) {
		fprintf(stderr, "note: no timestamps on this device, profile test not run\n");
		gpu_device_destroy(dev);
		return;
	}
	CHECK(gpu_pipelines_create(dev, NULL, &pipes) == 0);
	CHECK(gpu_recorder_create(dev, pipes, 8, &rec) == 0);
	CHECK(gpu_buffer_create(dev, GPU_MEM_SCRATCH, 4096, "p", &buf) == 0);
	struct gpu_tensor a = { buf, 0, TENSOR_F32, { 1024, 1 }, 0 };
	for (int rep = 0; rep < 2; rep++) {
		CHECK(gpu_recorder_begin(rec) == 0);
		CHECK(gpu_op_add(rec, "model.layers.0.residual", &a, &a, &a) == 0);
		CHECK(gpu_op_rms_norm(rec, "model.layers.0.operator_norm", &a, &a, 1e-5f, &a) == 0);
		CHECK(gpu_recorder_submit(rec) == 0);
		CHECK(gpu_recorder_wait(rec) == 0);
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	gpu_device_profile_print(dev, f);
	fclose(f);
	CHECK(strstr(text, "model.layers.0.residual") != NULL);
	CHECK(strstr(text, "model.layers.0.operator_norm") != NULL);
	fputs(text, stderr);
	free(text);
	CHECK(gpu_device_validation_errors(dev) == 0);
	gpu_buffer_destroy(buf);
	gpu_recorder_destroy(rec);
	gpu_pipelines_destroy(pipes);
	gpu_device_destroy(dev); /* prints the table again, as CAPTIOND_PROFILE=1 does */
}

int main(void)
{
	struct gpu_test t;
	test_results();
	test_spirv_reader();
	gpu_test_open(&t, 0);
	test_describe(&t);
	test_device_choice(gpu_device_caps(t.dev));
	test_bind(&t);
	test_pipeline_table(&t);
	test_pipeline_cache(&t);
	test_dispatch_checks(&t);
	test_barriers(&t);
	test_staging(&t);
	CHECK(gpu_test_close(&t) == 0);
	test_messenger_counts();
	test_profile();
	return check_report();
}
