/* tests/test-gpu-vision-ops.c — the vision encoder's ops (vk/ops_vision.h)
 * against plain-C references: tests/reference (Pillow resize, position
 * table) where they exist, small double-precision ones here for the rest
 * (formulas of spec §4.6–§4.10).
 *
 * Bounds:
 *   layer_norm      NMSE 1e-10 (f32 statistics vs double; measured ~1e-14)
 *   attention       NMSE 1e-10 (f32 softmax and sums vs double); 2e-5 on the
 *                   cooperative-matrix kernel (f16 operands); crops of a batch
 *                   in one dispatch through the segment table
 *   pixel_unshuffle exact (a copy)
 *   image_patches   |error| <= 1e-6 (one division's rounding; values in [-1, 1])
 *   image_resize    exact, byte for byte, against ref_image_resize_pil_bilinear
 *   pos_embd table  exact against ref_pos_embd_resize (same f32 order)
 *   patch embedding NMSE 1e-9 (image_patches + mul_mat with bias and the
 *                   position table as residual, vs double; tiled kernel;
 *                   2e-5 on the cooperative-matrix kernel)
 *
 * argv[1]: "norm-attn" (layer norm, unshuffle), "attn" (attention, both
 * kernels where the device has the tensor-core one) or "image" (each well
 * under 30 s on lavapipe).
 */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"
#include "tests/reference/ref-image.h"
#include "tests/reference/ref-lfm2vl.h"
#include "vk/ops_matmul.h"
#include "vk/ops_vision.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static float *rand_floats(size_t n, float lo, float hi, uint64_t *rng)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = gpu_test_uniform(rng, lo, hi);
	return v;
}

static void run(struct gpu_test *t)
{
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
}

static void test_layer_norm(struct gpu_test *t, uint32_t D, uint32_t n, float eps, bool in_place,
			    uint64_t seed)
{
	uint64_t rng = seed;
	/* an offset mean and a spread like the residual stream's */
	float *x = rand_floats((size_t)D * n, -3, 5, &rng);
	float *w = rand_floats(D, 0.5f, 1.5f, &rng), *b = rand_floats(D, -0.2f, 0.2f, &rng);
	float *y = malloc((size_t)D * n * sizeof *y);
	double *ref = malloc((size_t)D * n * sizeof *ref);
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, x);
	struct gpu_tensor W = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, D, 1, w);
	struct gpu_tensor B = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, D, 1, b);
	struct gpu_tensor Y = in_place ? X : gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_layer_norm(t->rec, "layer_norm", &X, &W, &B, eps, &Y) == 0);
	run(t);
	CHECK(gpu_test_read(t, &Y, y) == 0);
	for (uint32_t r = 0; r < n; r++) {
		const float *xr = x + (size_t)r * D;
		double mean = 0, var = 0;
		for (uint32_t i = 0; i < D; i++)
			mean += xr[i];
		mean /= D;
		for (uint32_t i = 0; i < D; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		var /= D;
		for (uint32_t i = 0; i < D; i++)
			ref[(size_t)r * D + i] = (xr[i] - mean) / sqrt(var + eps) * w[i] + b[i];
	}
	double e = gpu_test_nmse(y, ref, (size_t)D * n);
	CHECKF(e < 1e-10, "layer_norm D=%u n=%u: nmse %.3g", D, n, e);
	fprintf(stderr, "layer_norm D=%-5u n=%-5u eps %g in-place %d: nmse %.2e\n", D, n, eps,
		in_place, e);
	free(x);
	free(w);
	free(b);
	free(y);
	free(ref);
}

/* Attention of each segment (crop) over itself: double-precision softmax. */
static void ref_attention(const float *q, const float *k, const float *v, uint32_t D, uint32_t H,
			  uint32_t r0, uint32_t n, double *ref)
{
	const uint32_t hd = D / H;
	const double scale = 1.0 / sqrt((double)hd);
	double *p = malloc(n * sizeof *p);
	for (uint32_t h = 0; h < H; h++)
		for (uint32_t i = r0; i < r0 + n; i++) {
			const float *qi = q + (size_t)i * D + h * hd;
			double mx = -INFINITY, sum = 0;
			for (uint32_t j = 0; j < n; j++) {
				const float *kj = k + (size_t)(r0 + j) * D + h * hd;
				double s = 0;
				for (uint32_t d = 0; d < hd; d++)
					s += (double)qi[d] * kj[d];
				p[j] = s * scale;
				mx = p[j] > mx ? p[j] : mx;
			}
			for (uint32_t j = 0; j < n; j++) {
				p[j] = exp(p[j] - mx);
				sum += p[j];
			}
			for (uint32_t d = 0; d < hd; d++) {
				double acc = 0;
				for (uint32_t j = 0; j < n; j++)
					acc += p[j] * v[(size_t)(r0 + j) * D + h * hd + d];
				ref[(size_t)i * D + h * hd + d] = acc / sum;
			}
		}
	free(p);
}

/* Attention over n_seg crops of the given lengths in one dispatch (one
 * crop without a table when n_seg is 0: lens[0] rows). fused: q, k, v are
 * views into one [3D, n] tensor (rows q | k | v). flags: GPU_ATTN_ENC_*.
 * Bounds: the plain f32 kernel NMSE 1e-10 against double; the
 * cooperative-matrix one 2e-5 (f16 Q, K, V and P: ~1e-6 expected). */
static void test_attention(struct gpu_test *t, uint32_t D, uint32_t H, const uint32_t *lens,
			   uint32_t n_seg, bool fused, uint32_t flags, uint64_t seed)
{
	uint64_t rng = seed;
	const uint32_t hd = D / H;
	uint32_t n = 0, max_rows = 0, segs_n = n_seg ? n_seg : 1;
	int32_t *starts = malloc((segs_n + 1) * sizeof *starts);
	for (uint32_t i = 0; i < segs_n; i++) {
		starts[i] = (int32_t)n;
		n += lens[i];
		max_rows = lens[i] > max_rows ? lens[i] : max_rows;
	}
	starts[segs_n] = (int32_t)n;
	float *qkv = rand_floats((size_t)3 * D * n, -2, 2, &rng); /* [n][3D] */
	float *o = malloc((size_t)D * n * sizeof *o);
	double *ref = malloc((size_t)D * n * sizeof *ref);
	float *q = malloc((size_t)D * n * sizeof *q), *k = malloc((size_t)D * n * sizeof *k);
	float *v = malloc((size_t)D * n * sizeof *v);
	for (uint32_t r = 0; r < n; r++) {
		memcpy(q + (size_t)r * D, qkv + (size_t)r * 3 * D, D * sizeof *q);
		memcpy(k + (size_t)r * D, qkv + (size_t)r * 3 * D + D, D * sizeof *k);
		memcpy(v + (size_t)r * D, qkv + (size_t)r * 3 * D + 2 * D, D * sizeof *v);
	}
	struct gpu_tensor Q, K, V;
	if (fused) {
		struct gpu_tensor QKV = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 3 * D, n, qkv);
		Q = (struct gpu_tensor){ QKV.buffer, 0, TENSOR_F32, { D, n }, (uint64_t)12 * D };
		K = Q;
		K.offset = (uint64_t)4 * D;
		V = Q;
		V.offset = (uint64_t)8 * D;
	} else {
		Q = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, q);
		K = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, k);
		V = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, v);
	}
	struct gpu_tensor O = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, NULL);
	struct gpu_attn_segs S = { 0 };
	if (n_seg) {
		/* the table after 12 bytes of something else: a non-zero offset */
		struct gpu_buffer *sb;
		CHECK(gpu_buffer_create(t->dev, GPU_MEM_UPLOAD, (segs_n + 4) * 4, "segs", &sb) == 0);
		memcpy((uint8_t *)gpu_buffer_map(sb) + 12, starts, (segs_n + 1) * 4);
		CHECK(t->n_bufs < (int)(sizeof t->bufs / sizeof t->bufs[0]));
		t->bufs[t->n_bufs++] = sb;
		S = (struct gpu_attn_segs){ sb, 12, n_seg, max_rows };
	}
	CHECK(gpu_recorder_begin(t->rec) == 0);
	double t0 = gpu_test_now();
	CHECK(gpu_op_attention_encoder(t->rec, "attn", &Q, &K, &V, H, n_seg ? &S : NULL, flags, &O) == 0);
	run(t);
	double t1 = gpu_test_now();
	CHECK(gpu_test_read(t, &O, o) == 0);
	for (uint32_t i = 0; i < segs_n; i++)
		ref_attention(q, k, v, D, H, (uint32_t)starts[i], lens[i], ref);
	const bool cm = !(flags & GPU_ATTN_ENC_PLAIN) && gpu_attention_encoder_uses_coopmat(t->rec, hd);
	const double bound = cm ? 2e-5 : 1e-10;
	double e = gpu_test_nmse(o, ref, (size_t)D * n);
	CHECKF(e < bound, "attention D=%u H=%u n=%u crops %u %s: nmse %.3g", D, H, n, n_seg,
	       cm ? "coopmat" : "plain", e);
	fprintf(stderr, "attention D=%-5u hd=%-3u n=%-5u crops %-2u fused %d %-7s: nmse %.2e, %.1f ms\n",
		D, hd, n, n_seg, fused, cm ? "coopmat" : "plain", e, (t1 - t0) * 1e3);
	free(starts);
	free(qkv);
	free(o);
	free(ref);
	free(q);
	free(k);
	free(v);
}

/* Every attention case on the plain kernel, and on the tensor-core one
 * where this device has it. */
static void test_attention_all(struct gpu_test *t)
{
	static const uint32_t one256[] = { 256 }, one161[] = { 161 }, one7[] = { 7 }, one33[] = { 33 };
	/* crops of a mixed batch: 512x288 (576), a thumbnail 16x24 (384), 5 rows */
	static const uint32_t mixed[] = { 576, 384, 5, 64 };
	const bool has_cm = gpu_attention_encoder_uses_coopmat(t->rec, 64);
	for (int path = 0; path < (has_cm ? 2 : 1); path++) {
		const uint32_t fl = path == 0 ? GPU_ATTN_ENC_PLAIN : 0;
		test_attention(t, 768, 12, one256, 0, false, fl, 21);  /* B/16: hd 64 */
		test_attention(t, 1152, 16, one161, 0, true, fl, 22);  /* so400m: hd 72, fused QKV */
		test_attention(t, 1152, 16, one7, 0, false, fl, 23);   /* fewer keys than a block */
		test_attention(t, 128, 1, one33, 0, true, fl, 24);     /* hd 128, the largest */
		test_attention(t, 768, 12, mixed, 4, true, fl, 25);    /* a batch of crops */
		test_attention(t, 1152, 16, mixed + 1, 2, false, fl, 26);
	}
	if (!has_cm)
		fprintf(stderr, "attention: no cooperative-matrix kernel on this device; plain kernel only\n");
}

static void test_unshuffle(struct gpu_test *t, uint32_t D, uint32_t gh, uint32_t gw,
			   uint64_t seed)
{
	uint64_t rng = seed;
	const uint32_t n = gh * gw, nt = n / 4;
	float *x = rand_floats((size_t)D * n, -1, 1, &rng);
	float *u = malloc((size_t)4 * D * nt * sizeof *u);
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, x);
	struct gpu_tensor U = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 4 * D, nt, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_pixel_unshuffle(t->rec, "unshuffle", &X, gh, gw, &U) == 0);
	run(t);
	CHECK(gpu_test_read(t, &U, u) == 0);
	size_t wrong = 0;
	for (uint32_t Y = 0; Y < gh / 2; Y++)
		for (uint32_t Xc = 0; Xc < gw / 2; Xc++)
			for (uint32_t dy = 0; dy < 2; dy++)
				for (uint32_t dx = 0; dx < 2; dx++)
					for (uint32_t c = 0; c < D; c++) {
						size_t tok = (size_t)Y * (gw / 2) + Xc;
						size_t src = (size_t)(2 * Y + dy) * gw + 2 * Xc + dx;
						wrong += u[tok * 4 * D + dy * 2 * D + dx * D + c] !=
							 x[src * D + c];
					}
	CHECKF(wrong == 0, "pixel_unshuffle D=%u %ux%u: %zu wrong", D, gh, gw, wrong);
	fprintf(stderr, "pixel_unshuffle D=%u grid %ux%u: %zu wrong\n", D, gh, gw, wrong);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_pixel_unshuffle(t->rec, "odd", &X, gh, gw + 1, &U) == -EINVAL);
	run(t);
	free(x);
	free(u);
}

/* Crops of several grids unshuffled in one dispatch through a crop table;
 * the tokens go to u in crop order, as the vision graph places them. */
static void test_unshuffle_crops(struct gpu_test *t, uint32_t D, const uint32_t (*grids)[2],
				 uint32_t n, uint64_t seed)
{
	uint64_t rng = seed;
	uint32_t np = 0, nt = 0, max_tok = 0;
	int32_t *tab = malloc((size_t)n * 16);
	for (uint32_t i = 0; i < n; i++) {
		const uint32_t gh = grids[i][0], gw = grids[i][1], tok = gh * gw / 4;
		tab[4 * i] = (int32_t)np;
		tab[4 * i + 1] = (int32_t)nt;
		tab[4 * i + 2] = (int32_t)gw;
		tab[4 * i + 3] = (int32_t)tok;
		np += gh * gw;
		nt += tok;
		max_tok = tok > max_tok ? tok : max_tok;
	}
	float *x = rand_floats((size_t)D * np, -1, 1, &rng);
	float *u = malloc((size_t)4 * D * nt * sizeof *u);
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, np, x);
	struct gpu_tensor U = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 4 * D, nt, NULL);
	struct gpu_buffer *tb;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_UPLOAD, (uint64_t)n * 16 + 8, "crops", &tb) == 0);
	memcpy((uint8_t *)gpu_buffer_map(tb) + 8, tab, (size_t)n * 16);
	CHECK(t->n_bufs < (int)(sizeof t->bufs / sizeof t->bufs[0]));
	t->bufs[t->n_bufs++] = tb;
	struct gpu_crop_table T = { tb, 8, n, max_tok };
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_pixel_unshuffle_crops(t->rec, "unshuffle", &X, &T, &U) == 0);
	run(t);
	CHECK(gpu_test_read(t, &U, u) == 0);
	size_t wrong = 0;
	for (uint32_t i = 0; i < n; i++) {
		const uint32_t gw = grids[i][1], p0 = (uint32_t)tab[4 * i], t0 = (uint32_t)tab[4 * i + 1];
		for (uint32_t Y = 0; Y < grids[i][0] / 2; Y++)
			for (uint32_t Xc = 0; Xc < gw / 2; Xc++)
				for (uint32_t dy = 0; dy < 2; dy++)
					for (uint32_t dx = 0; dx < 2; dx++)
						for (uint32_t c = 0; c < D; c++) {
							size_t tok = t0 + (size_t)Y * (gw / 2) + Xc;
							size_t src = p0 + (size_t)(2 * Y + dy) * gw + 2 * Xc + dx;
							wrong += u[tok * 4 * D + dy * 2 * D + dx * D + c] !=
								 x[src * D + c];
						}
	}
	CHECKF(wrong == 0, "pixel_unshuffle of %u crops: %zu wrong", n, wrong);
	fprintf(stderr, "pixel_unshuffle D=%u, %u crops in one dispatch: %zu wrong\n", D, n, wrong);
	free(tab);
	free(x);
	free(u);
}

/* An RGB image as an RGB(A) GPU image with padded rows. */
static struct gpu_image upload_image(struct gpu_test *t, const uint8_t *rgb, uint32_t w,
				     uint32_t h, uint32_t ch, uint32_t pad)
{
	uint64_t stride = (uint64_t)w * ch + pad, off = 5; /* unaligned start */
	uint64_t bytes = off + stride * h;
	uint8_t *buf = calloc(bytes, 1);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			memcpy(buf + off + y * stride + (uint64_t)x * ch, rgb + ((size_t)y * w + x) * 3, 3);
			if (ch == 4)
				buf[off + y * stride + (uint64_t)x * ch + 3] = 0x5a;
		}
	struct gpu_buffer *gb;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_UPLOAD, bytes, "image", &gb) == 0);
	memcpy(gpu_buffer_map(gb), buf, bytes);
	free(buf);
	t->bufs[t->n_bufs++] = gb;
	return (struct gpu_image){ gb, off, w, h, ch, stride };
}

static struct gpu_resize_coeffs upload_coeffs(struct gpu_test *t, uint32_t n_in, uint32_t n_out)
{
	uint32_t ksize;
	size_t words;
	CHECK(gpu_resize_coeffs_size(n_in, n_out, &ksize, &words) == 0);
	struct gpu_buffer *gb;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_UPLOAD, words * 4 + 8, "coeffs", &gb) == 0);
	CHECK(gpu_resize_coeffs_fill(n_in, n_out, (int32_t *)((uint8_t *)gpu_buffer_map(gb) + 8),
				     words) == 0);
	t->bufs[t->n_bufs++] = gb;
	return (struct gpu_resize_coeffs){ gb, 8, n_in, n_out, ksize };
}

static struct gpu_image readback_image(struct gpu_test *t, uint32_t w, uint32_t h)
{
	struct gpu_buffer *gb;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_READBACK, (uint64_t)w * h * 3, "out", &gb) == 0);
	t->bufs[t->n_bufs++] = gb;
	return (struct gpu_image){ gb, 0, w, h, 3, 0 };
}

static void test_resize(struct gpu_test *t, uint32_t sw, uint32_t sh, uint32_t dw, uint32_t dh,
			uint32_t ch, uint32_t seed)
{
	uint8_t *src = malloc((size_t)sw * sh * 3), *ref = malloc((size_t)dw * dh * 3);
	ref_image_generate(src, sw, sh, seed);
	CHECK(ref_image_resize_pil_bilinear(src, sw, sh, ref, dw, dh) == 0);
	struct gpu_image in = upload_image(t, src, sw, sh, ch, 7);
	struct gpu_image out = readback_image(t, dw, dh);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	if (sw != dw && sh != dh) {
		struct gpu_buffer *mb;
		CHECK(gpu_buffer_create(t->dev, GPU_MEM_SCRATCH, (uint64_t)dw * sh * 3, "mid", &mb) == 0);
		t->bufs[t->n_bufs++] = mb;
		struct gpu_image mid = { mb, 0, dw, sh, 3, 0 };
		struct gpu_resize_coeffs cx = upload_coeffs(t, sw, dw), cy = upload_coeffs(t, sh, dh);
		CHECK(gpu_op_image_resize(t->rec, "resize.h", &in, &cx, 1, &mid) == 0);
		CHECK(gpu_op_image_resize(t->rec, "resize.v", &mid, &cy, 0, &out) == 0);
	} else if (sw != dw) {
		struct gpu_resize_coeffs cx = upload_coeffs(t, sw, dw);
		CHECK(gpu_op_image_resize(t->rec, "resize.h", &in, &cx, 1, &out) == 0);
	} else {
		struct gpu_resize_coeffs cy = upload_coeffs(t, sh, dh);
		CHECK(gpu_op_image_resize(t->rec, "resize.v", &in, &cy, 0, &out) == 0);
	}
	run(t);
	CHECK(gpu_buffer_invalidate(out.buffer) == 0);
	const uint8_t *got = gpu_buffer_map(out.buffer);
	size_t wrong = 0;
	for (size_t i = 0; i < (size_t)dw * dh * 3; i++)
		wrong += got[i] != ref[i];
	CHECKF(wrong == 0, "resize %ux%u -> %ux%u (%u ch): %zu bytes differ", sw, sh, dw, dh, ch,
	       wrong);
	fprintf(stderr, "image_resize %ux%u -> %ux%u, %u channels: %zu of %zu bytes differ\n", sw,
		sh, dw, dh, ch, wrong, (size_t)dw * dh * 3);
	free(src);
	free(ref);
}

/* Crop → patches → patch embedding with bias and the position table, the
 * weight in GGUF's [16, 16, 3, D] layout (row o: (c, ky, kx)). */
static void test_patch_embed(struct gpu_test *t, uint32_t w, uint32_t h, uint32_t D, uint32_t ch,
			     uint32_t seed)
{
	const uint32_t gw = w / 16, gh = h / 16, n = gw * gh;
	uint64_t rng = seed;
	uint8_t *rgb = malloc((size_t)w * h * 3);
	ref_image_generate(rgb, w, h, seed);
	float *wt = rand_floats((size_t)768 * D, -0.05f, 0.05f, &rng);
	float *bias = rand_floats(D, -0.1f, 0.1f, &rng);
	float *P0 = rand_floats((size_t)256 * D, -1, 1, &rng), *P = malloc((size_t)n * D * sizeof *P);
	float *patches = malloc((size_t)768 * n * sizeof *patches);
	float *e = malloc((size_t)n * D * sizeof *e);
	double *ref = malloc((size_t)n * D * sizeof *ref);
	CHECK(gpu_vision_pos_embd_resize(P0, 16, D, gh, gw, P) == 0);

	struct gpu_image img = upload_image(t, rgb, w, h, ch, 0);
	struct gpu_tensor Pt = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 768, n, NULL);
	struct gpu_tensor W = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, 768, D, wt);
	struct gpu_tensor B = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, D, 1, bias);
	struct gpu_tensor Pos = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, D, n, P);
	struct gpu_tensor E = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, n, NULL);
	const float mean[3] = { 0.5f, 0.5f, 0.5f }, sd[3] = { 0.5f, 0.5f, 0.5f };
	struct gpu_mul_mat_epilogue ep = { .bias = &B, .residual = &Pos };
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_image_patches(t->rec, "v.patches", &img, mean, sd, &Pt) == 0);
	CHECK(gpu_op_mul_mat(t->rec, "v.patch_embd", &W, &Pt, &E, &ep) == 0);
	run(t);
	CHECK(gpu_test_read(t, &Pt, patches) == 0);
	CHECK(gpu_test_read(t, &E, e) == 0);

	/* patches: spec §4.6 formula in f32 */
	double worst = 0;
	for (uint32_t py = 0; py < gh; py++)
		for (uint32_t px = 0; px < gw; px++)
			for (uint32_t c = 0; c < 3; c++)
				for (uint32_t ky = 0; ky < 16; ky++)
					for (uint32_t kx = 0; kx < 16; kx++) {
						uint8_t pix = rgb[((size_t)(16 * py + ky) * w + 16 * px + kx) * 3 + c];
						float r = (pix / 255.0f - 0.5f) / 0.5f;
						float g = patches[((size_t)py * gw + px) * 768 + c * 256 + ky * 16 + kx];
						double d = fabs((double)g - r);
						worst = d > worst ? d : worst;
					}
	CHECKF(worst <= 1e-6, "image_patches %ux%u: max error %.3g", w, h, worst);
	/* embedding: e[n][o] = b[o] + Σ_{c,ky,kx} K[kx,ky,c,o]·x + P[n][o] (spec §4.7, §4.8) */
	for (uint32_t py = 0; py < gh; py++)
		for (uint32_t px = 0; px < gw; px++)
			for (uint32_t o = 0; o < D; o++) {
				double s = bias[o];
				for (uint32_t c = 0; c < 3; c++)
					for (uint32_t ky = 0; ky < 16; ky++)
						for (uint32_t kx = 0; kx < 16; kx++) {
							uint8_t pix = rgb[((size_t)(16 * py + ky) * w + 16 * px + kx) * 3 + c];
							double xv = (pix / 255.0 - 0.5) / 0.5;
							s += (double)wt[(((size_t)o * 3 + c) * 16 + ky) * 16 + kx] * xv;
						}
				size_t tok = (size_t)py * gw + px;
				ref[tok * D + o] = s + P[tok * D + o];
			}
	double bound = gpu_mul_mat_uses_coopmat(t->rec) ? 2e-5 : 1e-9;
	double err = gpu_test_nmse(e, ref, (size_t)n * D);
	CHECKF(err < bound, "patch embedding %ux%u: nmse %.3g", w, h, err);
	fprintf(stderr, "patches %ux%u (%u ch): max error %.2e; patch embedding D=%u: nmse %.2e\n",
		w, h, ch, worst, D, err);
	free(rgb);
	free(wt);
	free(bias);
	free(P0);
	free(P);
	free(patches);
	free(e);
	free(ref);
}

static void test_pos_table(uint32_t D, uint32_t gh, uint32_t gw, uint64_t seed)
{
	uint64_t rng = seed;
	float *P0 = rand_floats((size_t)256 * D, -1, 1, &rng);
	float *a = malloc((size_t)gh * gw * D * sizeof *a), *b = malloc((size_t)gh * gw * D * sizeof *b);
	CHECK(gpu_vision_pos_embd_resize(P0, 16, D, gh, gw, a) == 0);
	CHECK(ref_pos_embd_resize(P0, 16, D, gh, gw, b) == 0);
	size_t wrong = 0;
	for (size_t i = 0; i < (size_t)gh * gw * D; i++)
		wrong += a[i] != b[i];
	CHECKF(wrong == 0, "pos table %ux%u: %zu values differ", gh, gw, wrong);
	fprintf(stderr, "pos_embd_resize 16x16 -> %ux%u: %zu values differ\n", gh, gw, wrong);
	free(P0);
	free(a);
	free(b);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "norm-attn";
	struct gpu_test t;
	gpu_test_open(&t, 0);
	if (strcmp(what, "norm-attn") == 0) {
		test_layer_norm(&t, 768, 1024, 1e-6f, false, 11);   /* SigLIP-B ln1/ln2 */
		test_layer_norm(&t, 1152, 37, 1e-6f, true, 12);     /* so400m, in place */
		test_layer_norm(&t, 3072, 64, 1e-5f, false, 13);    /* projector input_norm */
		test_unshuffle(&t, 768, 18, 32, 31);                /* 512x288 crop */
		test_unshuffle(&t, 1152, 32, 32, 32);               /* a 512x512 tile */
		{
			/* tiles, a thumbnail and a 512x288 frame's crop in one batch */
			static const uint32_t grids[][2] = { { 32, 32 }, { 32, 32 }, { 18, 32 }, { 24, 16 } };
			test_unshuffle_crops(&t, 64, grids, 4, 33);
		}
	} else if (strcmp(what, "attn") == 0) {
		test_attention_all(&t);
	} else if (strcmp(what, "image") == 0) {
		test_resize(&t, 640, 480, 576, 416, 3, 1);   /* spec §4.11 single crop */
		test_resize(&t, 640, 480, 576, 416, 4, 2);   /* RGBA frame */
		test_resize(&t, 1280, 720, 672, 384, 4, 3);  /* thumbnail of a 720p frame */
		test_resize(&t, 300, 200, 512, 288, 3, 4);   /* upscale */
		test_resize(&t, 512, 300, 512, 288, 3, 5);   /* vertical pass only */
		test_resize(&t, 530, 288, 512, 288, 4, 6);   /* horizontal pass only */
		test_pos_table(768, 18, 32, 41);
		test_pos_table(1152, 14, 14, 42);
		test_pos_table(64, 32, 32, 43);
		test_pos_table(64, 16, 16, 44);
		test_patch_embed(&t, 64, 48, 768, 4, 51);
		test_patch_embed(&t, 512, 288, 64, 3, 52);
	} else {
		fprintf(stderr, "unknown group %s\n", what);
		return 2;
	}
	CHECK(gpu_test_close(&t) == 0);
	return check_report();
}
