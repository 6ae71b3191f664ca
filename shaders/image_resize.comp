#version 450
// shaders/image_resize.comp — one axis of Pillow's antialiased bilinear
// resize on uint8 RGB (spec §4.5), bit-exact: the fixed-point weights (22
// bits) are computed on the host (vk/ops_vision.c) and applied here in
// integers, out = clamp((2^21 + Σ k_j·in_j) >> 22, 0, 255). The vertical
// pass reads the horizontal one's uint8 result, as Pillow does.
// Coefficient table: per output index o, ints [lo, count, k_0 .. k_ksize-1].
#extension GL_EXT_shader_8bit_storage : require

layout(local_size_x = 64) in;

// Mirror of struct gpu_push_image_resize (vk/push.h).
layout(push_constant) uniform Push {
	uint src_off, src_stride, src_ch; // bytes
	uint dst_off, dst_stride;         // bytes; 3 bytes a pixel
	uint out_w, out_h;
	uint horizontal;
	uint ksize;
	uint c_off;                       // ints
} pc;

layout(std430, binding = 0) readonly buffer Src { uint8_t src[]; };
layout(std430, binding = 1) readonly buffer Coef { int coef[]; };
layout(std430, binding = 2) writeonly buffer Dst { uint8_t dst[]; };

void main()
{
	const uint x = gl_GlobalInvocationID.x, y = gl_WorkGroupID.y;
	if (x >= pc.out_w || y >= pc.out_h)
		return;
	const uint o = pc.horizontal != 0u ? x : y;
	const uint cb = pc.c_off + o * (pc.ksize + 2);
	const uint lo = uint(coef[cb]), cnt = uint(coef[cb + 1]);
	for (uint c = 0; c < 3; c++) {
		int acc = 1 << 21;
		for (uint j = 0; j < cnt; j++) {
			const uint sx = pc.horizontal != 0u ? lo + j : x;
			const uint sy = pc.horizontal != 0u ? y : lo + j;
			acc += coef[cb + 2 + j] * int(uint(src[pc.src_off + sy * pc.src_stride +
							    sx * pc.src_ch + c]));
		}
		dst[pc.dst_off + y * pc.dst_stride + 3 * x + c] = uint8_t(clamp(acc >> 22, 0, 255));
	}
}
