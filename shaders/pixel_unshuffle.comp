#version 450
// shaders/pixel_unshuffle.comp — 2×2 patches → one token of 4D channels
// (spec §4.10): u[Y·gw/2 + X][dy·2D + dx·D + c] = x[(2Y+dy)·gw + 2X+dx][c].
// Workgroups: x over the 4D channels, y over the output tokens.

layout(local_size_x = 64) in;

// Mirror of struct gpu_push_pixel_unshuffle (vk/push.h).
layout(push_constant) uniform Push {
	uint D;
	uint gw;      // input grid columns (even)
	uint ntok;    // output tokens in this dispatch
	uint tok0;    // index of the first output token (for pieces)
	uint x_off, x_stride;
	uint y_off, y_stride;
} pc;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer U { float u[]; };

void main()
{
	const uint ch = gl_GlobalInvocationID.x, t = gl_WorkGroupID.y;
	if (ch >= 4 * pc.D || t >= pc.ntok)
		return;
	const uint tok = pc.tok0 + t, half_w = pc.gw / 2;
	const uint Y = tok / half_w, X = tok % half_w;
	const uint dy = ch / (2 * pc.D), dx = (ch / pc.D) % 2, c = ch % pc.D;
	const uint src = (2 * Y + dy) * pc.gw + 2 * X + dx;
	u[pc.y_off + t * pc.y_stride + ch] = x[pc.x_off + src * pc.x_stride + c];
}
