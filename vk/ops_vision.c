/* vk/ops_vision.c — the vision encoder's own ops (vk/ops_vision.h): shape
 * checks, binding windows, dispatches; and the two host-side tables (Pillow
 * resize weights, the resized position embedding). */
#define G_LOG_DOMAIN "gpu"
#include "vk/ops_vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vk/ops_internal.h"
#include "vk/push.h"

#define ATTN_MAX_HD 128 /* shaders/attn_enc.comp */
#define ATTN_QB 16      /* queries per workgroup */
#define ATTN_QT_CM 64   /* the same in shaders/attn_enc_cm.comp */
#define ATTN_MAX_HD_CM 96 /* shaders/attn_enc_cm.comp's MAX_HDP */
#define PATCH 16
#define PATCH_ELEMS (PATCH * PATCH * 3)

static int bad(const char *label, const char *what)
{
	g_warning("%s: %s", label, what);
	return -EINVAL;
}

static int bind_whole(struct gpu_device *dev, const char *label, const struct gpu_tensor *t,
		      bool write, struct gpu_binding *b, uint32_t *off)
{
	int ret = gpu_t_bind(dev, t, 0, t->ne[1], 0, gpu_t_row_bytes(t), write, b, off);
	if (ret == -E2BIG)
		g_warning("%s: a tensor does not fit one binding", label);
	return ret;
}

int gpu_op_layer_norm(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *x,
		      const struct gpu_tensor *w, const struct gpu_tensor *bt, float eps,
		      const struct gpu_tensor *y)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(gpu_recorder_pipelines(rec), GPU_PIPE_LAYER_NORM_F32);
	int ret;
	if ((ret = gpu_t_check(label, "x", x, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "weight", w, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "bias", bt, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "y", y, TENSOR_F32)) < 0)
		return ret;
	if (w->ne[0] != x->ne[0] || bt->ne[0] != x->ne[0] || y->ne[0] != x->ne[0] ||
	    y->ne[1] != x->ne[1] || !(eps >= 0.0f))
		return bad(label, "layer_norm: shapes or eps do not fit");
	struct gpu_binding b[4];
	uint32_t w_off, b_off, x_off, y_off;
	if ((ret = gpu_t_bind(dev, w, 0, 1, 0, gpu_t_row_bytes(w), false, &b[1], &w_off)) < 0 ||
	    (ret = gpu_t_bind(dev, bt, 0, 1, 0, gpu_t_row_bytes(bt), false, &b[2], &b_off)) < 0)
		return ret;
	uint64_t room = gpu_t_room(caps, 4);
	uint64_t piece = MIN((uint64_t)caps->max_wg_count[0],
			     room / MAX(gpu_t_stride(x), gpu_t_stride(y)));
	if (piece == 0)
		return bad(label, "layer_norm: one row does not fit a binding");
	if (piece < x->ne[1]) {
		uint64_t st[] = { gpu_t_stride(x), gpu_t_stride(y) };
		piece = gpu_t_align_piece(caps, (uint32_t)piece, st, 2);
	}
	for (uint32_t r0 = 0; r0 < x->ne[1]; r0 += (uint32_t)piece) {
		uint32_t nr = (uint32_t)MIN(piece, (uint64_t)(x->ne[1] - r0));
		if ((ret = gpu_t_bind(dev, x, r0, nr, 0, gpu_t_row_bytes(x), false, &b[0],
				      &x_off)) < 0 ||
		    (ret = gpu_t_bind(dev, y, r0, nr, 0, gpu_t_row_bytes(y), true, &b[3], &y_off)) < 0)
			return ret;
		struct gpu_push_layer_norm pc = {
			.ne0 = x->ne[0], .nrows = nr,
			.x_off = x_off, .x_stride = (uint32_t)(gpu_t_stride(x) / 4),
			.w_off = w_off, .b_off = b_off,
			.y_off = y_off, .y_stride = (uint32_t)(gpu_t_stride(y) / 4),
			.eps = eps,
		};
		ret = gpu_recorder_dispatch(rec, pl, label, b, 4, &pc, sizeof pc, nr, 1, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

bool gpu_attention_encoder_uses_coopmat(const struct gpu_recorder *rec, uint32_t hd)
{
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(gpu_recorder_pipelines(rec), GPU_PIPE_ATTN_ENC_CM_F32);
	return hd <= ATTN_MAX_HD_CM && gpu_pipeline_vk(pl) != VK_NULL_HANDLE;
}

int gpu_op_attention_encoder(struct gpu_recorder *rec, const char *label,
			     const struct gpu_tensor *q, const struct gpu_tensor *k,
			     const struct gpu_tensor *v, uint32_t n_head,
			     const struct gpu_attn_segs *segs, uint32_t flags,
			     const struct gpu_tensor *o)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipelines *pipes = gpu_recorder_pipelines(rec);
	int ret;
	if ((ret = gpu_t_check(label, "q", q, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "k", k, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "v", v, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "o", o, TENSOR_F32)) < 0)
		return ret;
	const uint32_t D = q->ne[0], n = q->ne[1];
	if (n_head == 0 || D % n_head != 0 || D / n_head > ATTN_MAX_HD)
		return bad(label, "attention: width is not n_head heads of at most 128");
	if (k->ne[0] != D || v->ne[0] != D || o->ne[0] != D || k->ne[1] != n || v->ne[1] != n ||
	    o->ne[1] != n)
		return bad(label, "attention: q, k, v, o shapes differ");
	const uint32_t hd = D / n_head;
	const bool cm = !(flags & GPU_ATTN_ENC_PLAIN) && gpu_attention_encoder_uses_coopmat(rec, hd);
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(pipes, cm ? GPU_PIPE_ATTN_ENC_CM_F32 : GPU_PIPE_ATTN_ENC_F32);
	const uint32_t qt = cm ? ATTN_QT_CM : ATTN_QB;
	const uint32_t n_seg = segs ? segs->n_seg : 1, rows = segs ? segs->max_rows : n;
	if (segs && (!segs->buffer || segs->n_seg == 0 || segs->offset % 4 ||
		     segs->offset > gpu_buffer_size(segs->buffer) ||
		     ((uint64_t)segs->n_seg + 1) * 4 > gpu_buffer_size(segs->buffer) - segs->offset))
		return bad(label, "attention: bad segment table");
	const uint32_t gx = (MIN(rows, n) + qt - 1) / qt;
	if (gx == 0 || gx > caps->max_wg_count[0] || n_head > caps->max_wg_count[1] ||
	    n_seg > caps->max_wg_count[2])
		return bad(label, "attention: too many patches, heads or crops for one dispatch");
	struct gpu_binding b[5];
	uint32_t off[4], s_off = 0;
	const struct gpu_tensor *ts[4] = { q, k, v, o };
	for (int i = 0; i < 4; i++)
		if ((ret = bind_whole(dev, label, ts[i], i == 3, &b[i], &off[i])) < 0)
			return ret;
	if (segs) {
		if ((ret = gpu_buffer_bind(dev, segs->buffer, segs->offset,
					   ((uint64_t)segs->n_seg + 1) * 4, 4, false, &b[4], &s_off)) < 0)
			return ret;
	} else {
		b[4] = b[0]; /* unused by the shader; any read-only window */
	}
	struct gpu_push_attn_enc pc = {
		.n = n, .hd = hd,
		.q_off = off[0], .q_stride = (uint32_t)(gpu_t_stride(q) / 4),
		.k_off = off[1], .k_stride = (uint32_t)(gpu_t_stride(k) / 4),
		.v_off = off[2], .v_stride = (uint32_t)(gpu_t_stride(v) / 4),
		.o_off = off[3], .o_stride = (uint32_t)(gpu_t_stride(o) / 4),
		.s_off = s_off, .flags = segs ? 1u : 0u,
		.scale = (float)(1.0 / sqrt((double)hd)),
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 5, &pc, sizeof pc, gx, n_head, n_seg);
}

/* Single crop (ct NULL: gh × gw) or every crop of a table. */
static int unshuffle(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *x,
		     uint32_t gh, uint32_t gw, const struct gpu_crop_table *ct,
		     const struct gpu_tensor *u)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(gpu_recorder_pipelines(rec), GPU_PIPE_PIXEL_UNSHUFFLE_F32);
	int ret;
	if ((ret = gpu_t_check(label, "x", x, TENSOR_F32)) < 0 ||
	    (ret = gpu_t_check(label, "u", u, TENSOR_F32)) < 0)
		return ret;
	const uint32_t D = x->ne[0];
	if ((uint64_t)D * 4 != u->ne[0])
		return bad(label, "pixel_unshuffle: u must be 4 times as wide as x");
	if (!ct && (gh == 0 || gw == 0 || gh % 2 || gw % 2 || (uint64_t)gh * gw != x->ne[1] ||
		    (uint64_t)(gh / 2) * (gw / 2) != u->ne[1]))
		return bad(label, "pixel_unshuffle: shapes do not fit an even gh x gw grid");
	if (ct && (!ct->buffer || ct->n == 0 || ct->offset % 4 ||
		   ct->offset > gpu_buffer_size(ct->buffer) ||
		   (uint64_t)ct->n * 16 > gpu_buffer_size(ct->buffer) - ct->offset))
		return bad(label, "pixel_unshuffle: bad crop table");
	const uint32_t ntok = ct ? MIN(ct->max_tok, u->ne[1]) : u->ne[1], nz = ct ? ct->n : 1;
	const uint32_t gx = (4 * D + 255) / 256;
	if (ntok == 0 || ntok > caps->max_wg_count[1] || gx > caps->max_wg_count[0] ||
	    nz > caps->max_wg_count[2])
		return bad(label, "pixel_unshuffle: grid too large for one dispatch");
	struct gpu_binding b[3];
	uint32_t x_off, u_off, c_off = 0;
	if ((ret = bind_whole(dev, label, x, false, &b[0], &x_off)) < 0 ||
	    (ret = bind_whole(dev, label, u, true, &b[1], &u_off)) < 0)
		return ret;
	if (ct) {
		if ((ret = gpu_buffer_bind(dev, ct->buffer, ct->offset, (uint64_t)ct->n * 16, 4, false,
					   &b[2], &c_off)) < 0)
			return ret;
	} else {
		b[2] = b[0]; /* unused by the shader; any read-only window */
	}
	struct gpu_push_pixel_unshuffle pc = {
		.D = D, .gw = gw, .ntok = ntok, .tok0 = 0,
		.x_off = x_off, .x_stride = (uint32_t)(gpu_t_stride(x) / 4),
		.y_off = u_off, .y_stride = (uint32_t)(gpu_t_stride(u) / 4),
		.x_rows = x->ne[1], .y_rows = u->ne[1],
		.c_off = c_off, .flags = ct ? 1u : 0u,
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, gx, ntok, nz);
}

int gpu_op_pixel_unshuffle(struct gpu_recorder *rec, const char *label,
			   const struct gpu_tensor *x, uint32_t gh, uint32_t gw,
			   const struct gpu_tensor *u)
{
	return unshuffle(rec, label, x, gh, gw, NULL, u);
}

int gpu_op_pixel_unshuffle_crops(struct gpu_recorder *rec, const char *label,
				 const struct gpu_tensor *x, const struct gpu_crop_table *crops,
				 const struct gpu_tensor *u)
{
	return unshuffle(rec, label, x, 0, 0, crops, u);
}

static uint64_t image_stride(const struct gpu_image *im)
{
	return im->row_stride ? im->row_stride : (uint64_t)im->width * im->channels;
}

/* Valid channels, stride, and all rows inside the buffer; 32-bit offsets
 * suffice for the shaders' byte indices (checked). */
static int check_image(const char *label, const char *what, const struct gpu_image *im)
{
	uint64_t st = image_stride(im), row = (uint64_t)im->width * im->channels;
	if (!im->buffer || im->width == 0 || im->height == 0 ||
	    (im->channels != 3 && im->channels != 4) || st < row || st > UINT32_MAX ||
	    (uint64_t)(im->height - 1) * st + row > UINT32_MAX ||
	    im->offset > gpu_buffer_size(im->buffer) ||
	    (uint64_t)(im->height - 1) * st + row > gpu_buffer_size(im->buffer) - im->offset) {
		g_warning("%s: image %s (%ux%u, %u channels) is not usable here", label, what,
			  im->width, im->height, im->channels);
		return -EINVAL;
	}
	return 0;
}

static int bind_image(struct gpu_device *dev, const char *label, const struct gpu_image *im,
		      bool write, struct gpu_binding *b, uint32_t *off)
{
	uint64_t st = image_stride(im);
	uint64_t size = (uint64_t)(im->height - 1) * st + (uint64_t)im->width * im->channels;
	int ret = gpu_buffer_bind(dev, im->buffer, im->offset, size, 1, write, b, off);
	if (ret == -E2BIG)
		g_warning("%s: image does not fit one binding", label);
	return ret;
}

int gpu_op_image_patches(struct gpu_recorder *rec, const char *label,
			 const struct gpu_image *img, const float mean[3], const float std[3],
			 const struct gpu_tensor *patches)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(gpu_recorder_pipelines(rec), GPU_PIPE_IMAGE_PATCHES_U8);
	int ret;
	if ((ret = check_image(label, "crop", img)) < 0 ||
	    (ret = gpu_t_check(label, "patches", patches, TENSOR_F32)) < 0)
		return ret;
	if (img->width % PATCH || img->height % PATCH)
		return bad(label, "image_patches: crop sides must be multiples of 16");
	const uint32_t gw = img->width / PATCH, np = gw * (img->height / PATCH);
	if (patches->ne[0] != PATCH_ELEMS || patches->ne[1] != np)
		return bad(label, "image_patches: patches must be [768, (h/16)(w/16)]");
	if (np > caps->max_wg_count[0])
		return bad(label, "image_patches: too many patches for one dispatch");
	for (int c = 0; c < 3; c++)
		if (!(std[c] != 0.0f) || !isfinite(mean[c]) || !isfinite(std[c]))
			return bad(label, "image_patches: bad mean/std");
	struct gpu_binding b[2];
	uint32_t i_off, p_off;
	if ((ret = bind_image(dev, label, img, false, &b[0], &i_off)) < 0 ||
	    (ret = bind_whole(dev, label, patches, true, &b[1], &p_off)) < 0)
		return ret;
	struct gpu_push_image_patches pc = {
		.img_off = i_off, .img_stride = (uint32_t)image_stride(img),
		.channels = img->channels, .gw = gw, .npatch = np, .patch0 = 0,
		.p_off = p_off, .p_stride = (uint32_t)(gpu_t_stride(patches) / 4),
		.mean = { mean[0], mean[1], mean[2] },
		.std = { std[0], std[1], std[2] },
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 2, &pc, sizeof pc, np, 1, 1);
}

#define RESIZE_MAX_SIDE (1u << 15)
#define PIL_PRECISION_BITS 22

int gpu_resize_coeffs_size(uint32_t n_in, uint32_t n_out, uint32_t *ksize, size_t *words)
{
	if (n_in == 0 || n_out == 0 || n_in > RESIZE_MAX_SIDE || n_out > RESIZE_MAX_SIDE)
		return -EINVAL;
	double scale = (double)n_in / n_out, support = scale < 1.0 ? 1.0 : scale;
	*ksize = (uint32_t)ceil(support) * 2 + 1;
	*words = (size_t)n_out * (*ksize + 2);
	return 0;
}

int gpu_resize_coeffs_fill(uint32_t n_in, uint32_t n_out, int32_t *dst, size_t words)
{
	uint32_t ksize;
	size_t need;
	if (gpu_resize_coeffs_size(n_in, n_out, &ksize, &need) < 0 || words < need)
		return -EINVAL;
	double *w = malloc(ksize * sizeof *w);
	if (!w)
		return -ENOMEM;
	/* Pillow's precompute_coeffs (bilinear, support 1, widened by the
	 * scale when shrinking) and its 8-bit normalisation to 22-bit ints. */
	const double scale = (double)n_in / n_out, fs = scale < 1.0 ? 1.0 : scale;
	for (uint32_t o = 0; o < n_out; o++) {
		const double center = (o + 0.5) * scale;
		long lo = (long)(center - fs + 0.5), hi = (long)(center + fs + 0.5);
		lo = lo < 0 ? 0 : lo;
		hi = hi > (long)n_in ? (long)n_in : hi;
		long cnt = hi - lo;
		cnt = cnt < 0 ? 0 : cnt > (long)ksize ? (long)ksize : cnt;
		double sum = 0.0;
		for (long j = 0; j < cnt; j++) {
			double t = fabs((j + lo - center + 0.5) / fs);
			w[j] = t < 1.0 ? 1.0 - t : 0.0;
			sum += w[j];
		}
		int32_t *row = dst + (size_t)o * (ksize + 2);
		row[0] = (int32_t)lo;
		row[1] = (int32_t)cnt;
		for (uint32_t j = 0; j < ksize; j++) {
			if ((long)j >= cnt) {
				row[2 + j] = 0;
				continue;
			}
			double f = (sum != 0.0 ? w[j] / sum : w[j]) * (1 << PIL_PRECISION_BITS);
			row[2 + j] = (int32_t)(f < 0 ? f - 0.5 : f + 0.5);
		}
	}
	free(w);
	return 0;
}

int gpu_op_image_resize(struct gpu_recorder *rec, const char *label, const struct gpu_image *src,
			const struct gpu_resize_coeffs *c, int horizontal,
			const struct gpu_image *dst)
{
	struct gpu_device *dev = gpu_recorder_device(rec);
	const struct gpu_caps *caps = gpu_device_caps(dev);
	const struct gpu_pipeline *pl =
		gpu_pipelines_get(gpu_recorder_pipelines(rec), GPU_PIPE_IMAGE_RESIZE_U8);
	int ret;
	if ((ret = check_image(label, "src", src)) < 0 || (ret = check_image(label, "dst", dst)) < 0)
		return ret;
	uint32_t ksize;
	size_t words;
	if (dst->channels != 3 || !c->buffer || c->offset % 4 ||
	    gpu_resize_coeffs_size(c->n_in, c->n_out, &ksize, &words) < 0 || ksize != c->ksize ||
	    c->offset > gpu_buffer_size(c->buffer) ||
	    words * 4 > gpu_buffer_size(c->buffer) - c->offset)
		return bad(label, "image_resize: bad coefficient table or dst not RGB");
	bool h = horizontal != 0;
	if ((h && (c->n_in != src->width || c->n_out != dst->width || src->height != dst->height)) ||
	    (!h && (c->n_in != src->height || c->n_out != dst->height || src->width != dst->width)))
		return bad(label, "image_resize: sizes do not match the coefficient table");
	const uint32_t gx = (dst->width + 63) / 64;
	if (gx > caps->max_wg_count[0] || dst->height > caps->max_wg_count[1])
		return bad(label, "image_resize: image too large for one dispatch");
	struct gpu_binding b[3];
	uint32_t s_off, c_off, d_off;
	if ((ret = bind_image(dev, label, src, false, &b[0], &s_off)) < 0 ||
	    (ret = gpu_buffer_bind(dev, c->buffer, c->offset, words * 4, 4, false, &b[1],
				   &c_off)) < 0 ||
	    (ret = bind_image(dev, label, dst, true, &b[2], &d_off)) < 0)
		return ret;
	struct gpu_push_image_resize pc = {
		.src_off = s_off, .src_stride = (uint32_t)image_stride(src), .src_ch = src->channels,
		.dst_off = d_off, .dst_stride = (uint32_t)image_stride(dst),
		.out_w = dst->width, .out_h = dst->height,
		.horizontal = h ? 1u : 0u, .ksize = ksize, .c_off = c_off,
	};
	return gpu_recorder_dispatch(rec, pl, label, b, 3, &pc, sizeof pc, gx, dst->height, 1);
}

/* Antialiased bilinear weights n → m (align_corners false), dense [m][n]. */
static void pos_weights(float *w, uint32_t n, uint32_t m)
{
	const double scale = (double)n / m, support = scale > 1.0 ? scale : 1.0, inv = 1.0 / support;
	memset(w, 0, (size_t)m * n * sizeof *w);
	for (uint32_t o = 0; o < m; o++) {
		const double center = (o + 0.5) * scale;
		long lo = (long)(center - support + 0.5), hi = (long)(center + support + 0.5);
		lo = lo < 0 ? 0 : lo;
		hi = hi > (long)n ? (long)n : hi;
		double sum = 0.0;
		for (long j = lo; j < hi; j++) {
			double t = fabs((j - center + 0.5) * inv);
			sum += t < 1.0 ? 1.0 - t : 0.0;
		}
		for (long j = lo; j < hi; j++) {
			double t = fabs((j - center + 0.5) * inv);
			w[(size_t)o * n + (size_t)j] = (float)((t < 1.0 ? 1.0 - t : 0.0) / sum);
		}
	}
}

int gpu_vision_pos_embd_resize(const float *P0, uint32_t n, uint32_t D, uint32_t gh,
			       uint32_t gw, float *P)
{
	if (n == 0 || n > 64 || D == 0 || gh == 0 || gw == 0 || gh > 4096 || gw > 4096)
		return -EINVAL;
	if (gh == n && gw == n) {
		memcpy(P, P0, (size_t)n * n * D * sizeof *P);
		return 0;
	}
	float *wx = malloc((size_t)gw * n * sizeof *wx), *wy = malloc((size_t)gh * n * sizeof *wy);
	float *tmp = malloc((size_t)n * gw * D * sizeof *tmp); /* [n][gw][D] after the width pass */
	int ret = 0;
	if (!wx || !wy || !tmp) {
		ret = -ENOMEM;
		goto out;
	}
	pos_weights(wx, n, gw);
	pos_weights(wy, n, gh);
	for (uint32_t j = 0; j < n; j++)
		for (uint32_t x = 0; x < gw; x++) {
			float *t = tmp + ((size_t)j * gw + x) * D;
			for (uint32_t c = 0; c < D; c++)
				t[c] = 0.0f;
			for (uint32_t i = 0; i < n; i++) {
				const float wi = wx[(size_t)x * n + i];
				const float *p = P0 + ((size_t)j * n + i) * D;
				for (uint32_t c = 0; c < D; c++)
					t[c] += wi * p[c];
			}
		}
	for (uint32_t y = 0; y < gh; y++)
		for (uint32_t x = 0; x < gw; x++) {
			float *p = P + ((size_t)y * gw + x) * D;
			for (uint32_t c = 0; c < D; c++)
				p[c] = 0.0f;
			for (uint32_t j = 0; j < n; j++) {
				const float wj = wy[(size_t)y * n + j];
				const float *t = tmp + ((size_t)j * gw + x) * D;
				for (uint32_t c = 0; c < D; c++)
					p[c] += wj * t[c];
			}
		}
out:
	free(wx);
	free(wy);
	free(tmp);
	return ret;
}
