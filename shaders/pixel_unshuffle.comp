#version 450
// shaders/pixel_unshuffle.comp — 2×2 patches → one token of 4D channels
// (spec §4.10): u[Y·gw/2 + X][dy·2D + dx·D + c] = x[(2Y+dy)·gw + 2X+dx][c].
// Every crop of a batch in one dispatch when CROPS is set: workgroup z is
// crop z of the table at binding 2 (per crop: first patch, first token,
// gw, tokens); otherwise one crop (gw, ntok from the push constants).
// Workgroups: x over the 4D channels, 4 per invocation; y over a crop's
// tokens (those past its count exit).

layout(local_size_x = 64) in;

// Mirror of struct gpu_push_pixel_unshuffle (vk/push.h).
layout(push_constant) uniform Push {
	uint D;
	uint gw;      // input grid columns (even), without CROPS
	uint ntok;    // output tokens, without CROPS
	uint tok0;    // index of the first output token (for pieces)
	uint x_off, x_stride;
	uint y_off, y_stride;
	uint x_rows, y_rows; // rows the bindings hold (the table is clamped to them)
	uint c_off;   // first uint of the crop table
	uint flags;   // CROPS
} pc;

#define CROPS 1u

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer U { float u[]; };
layout(std430, binding = 2) readonly buffer C { uint crop[]; };

void main()
{
	const uint ch0 = gl_GlobalInvocationID.x * 4, t = gl_WorkGroupID.y;
	uint p0 = 0, t0 = 0, gw = pc.gw, ntok = pc.ntok;
	if ((pc.flags & CROPS) != 0u) {
		const uint c = pc.c_off + 4 * gl_WorkGroupID.z;
		p0 = crop[c];
		t0 = crop[c + 1];
		gw = crop[c + 2];
		ntok = crop[c + 3];
	}
	if (t >= ntok || gw < 2)
		return;
	const uint tok = pc.tok0 + t, half_w = gw / 2;
	const uint Y = tok / half_w, X = tok % half_w;
	const uint src_row = p0 + (2 * Y) * gw + 2 * X, dst_row = t0 + t;
	if (src_row + gw + 1 >= pc.x_rows || dst_row >= pc.y_rows)
		return;
	for (uint ch = ch0; ch < min(ch0 + 4, 4 * pc.D); ch++) {
		const uint dy = ch / (2 * pc.D), dx = (ch / pc.D) % 2, c = ch % pc.D;
		const uint src = src_row + dy * gw + dx;
		u[pc.y_off + dst_row * pc.y_stride + ch] = x[pc.x_off + src * pc.x_stride + c];
	}
}
