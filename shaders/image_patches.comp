#version 450
// shaders/image_patches.comp — an RGB(A) uint8 crop → normalised 16×16
// patches, (pixel/255 − mean)/std per channel, one row per patch in the
// order of v.patch_embd.weight's rows, (c, ky, kx): element c·256 + ky·16 +
// kx, so gpu_op_mul_mat with that weight as [768, D] is the patch embedding.
// One workgroup (256) per patch; invocation = (ky, kx).
#extension GL_EXT_shader_8bit_storage : require

layout(local_size_x = 256) in;

// Mirror of struct gpu_push_image_patches (vk/push.h).
layout(push_constant) uniform Push {
	uint img_off;    // bytes to pixel (0, 0) of the crop
	uint img_stride; // bytes between pixel rows
	uint channels;   // bytes per pixel: 3 or 4
	uint gw;         // patches per row of the crop
	uint npatch;     // patches in this dispatch
	uint patch0;     // index of the first
	uint p_off, p_stride;
	float mean0, mean1, mean2;
	float std0, std1, std2;
} pc;

layout(std430, binding = 0) readonly buffer Img { uint8_t img[]; };
layout(std430, binding = 1) writeonly buffer P { float p[]; };

void main()
{
	const uint t = gl_WorkGroupID.x;
	if (t >= pc.npatch)
		return;
	const uint pi = pc.patch0 + t;
	const uint py = pi / pc.gw, px = pi % pc.gw;
	const uint ky = gl_LocalInvocationID.x / 16, kx = gl_LocalInvocationID.x % 16;
	const uint src = pc.img_off + (16 * py + ky) * pc.img_stride + (16 * px + kx) * pc.channels;
	const float mean[3] = float[3](pc.mean0, pc.mean1, pc.mean2);
	const float sd[3] = float[3](pc.std0, pc.std1, pc.std2);
	for (uint c = 0; c < 3; c++)
		p[pc.p_off + t * pc.p_stride + c * 256 + gl_LocalInvocationID.x] =
			(float(uint(img[src + c])) / 255.0 - mean[c]) / sd[c];
}
