#version 450
// shaders/sample.comp — the GPU half of sampling (spec §7.2) for a batch of
// sequences, one row of logits each.
// -DPENALTY: HF repetition penalty in place, z ← z·r if z < 0 else z / r,
//   for ids whose bit is set in the sequence's presence bitmap.
//   Workgroups: x over the vocabulary, y over sequences.
// -DARGMAX: ids[j] = the first index of the maximum of row j (torch.argmax).
//   One workgroup (1024 invocations where the device allows) per sequence.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_sample (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint n_vocab;
	uint n_seq;
	uint z_off;
	uint z_stride;
	uint i_off;    // ints: bitmap (PENALTY) or output ids (ARGMAX)
	uint i_stride; // ints between sequences' bitmaps (PENALTY)
	float penalty;
} pc;

#if defined(PENALTY)
layout(std430, binding = 0) buffer Z { float z[]; };
layout(std430, binding = 1) readonly buffer I { uint bits[]; };

void main()
{
	const uint v = gl_GlobalInvocationID.x;
	const uint j = gl_WorkGroupID.y;
	if (v >= pc.n_vocab || j >= pc.n_seq)
		return;
	if (((bits[pc.i_off + j * pc.i_stride + (v >> 5)] >> (v & 31u)) & 1u) == 0u)
		return;
	const uint zi = pc.z_off + j * pc.z_stride + v;
	const float x = z[zi];
	z[zi] = x < 0.0 ? x * pc.penalty : x / pc.penalty;
}
#elif defined(ARGMAX)
layout(std430, binding = 0) readonly buffer Z { float z[]; };
layout(std430, binding = 0) readonly buffer Z4 { vec4 z4[]; };
layout(std430, binding = 1) writeonly buffer I { int ids[]; };

#define ARGMAX_LOADS 8u

shared float red_v[gl_WorkGroupSize.x];
shared uint red_i[gl_WorkGroupSize.x];

void main()
{
	const uint j = gl_WorkGroupID.x;
	const uint tid = gl_LocalInvocationID.x;
	if (j >= pc.n_seq)
		return;
	const uint zb = pc.z_off + j * pc.z_stride;
	// Each invocation visits increasing indices, so a strict > keeps its
	// first maximum; ties between invocations go to the smaller index.
	// The row is read ARGMAX_LOADS loads at a time per invocation, all issued
	// before any is compared: one workgroup covers the whole row, so the
	// loads in flight (not bandwidth) set its speed (78 us for 65536 logits
	// on the H200 with one load at a time; 8.8 us on the H100 with vec4
	// loads, 1024 invocations and the logits in device memory).
	float best = -1.0 / 0.0;
	uint best_i = 0xffffffffu;
	const uint wg = gl_WorkGroupSize.x, step = ARGMAX_LOADS * wg;
	// As vec4 where every row starts at a multiple of 4 floats: a quarter of
	// the loads, so a 65536-entry row is two rounds of loads per invocation.
	uint tail = 0u;
	if (((pc.z_off | pc.z_stride) & 3u) == 0u) {
		const uint n4 = pc.n_vocab / 4u, b4 = zb / 4u;
		uint v0 = tid;
		for (; v0 + (ARGMAX_LOADS - 1u) * wg < n4; v0 += step) {
			vec4 xs[ARGMAX_LOADS];
			[[unroll]] for (uint k = 0; k < ARGMAX_LOADS; k++)
				xs[k] = z4[b4 + v0 + k * wg];
			[[unroll]] for (uint k = 0; k < ARGMAX_LOADS; k++)
				[[unroll]] for (uint e = 0; e < 4u; e++)
					if (xs[k][e] > best || best_i == 0xffffffffu) {
						best = xs[k][e];
						best_i = 4u * (v0 + k * wg) + e;
					}
		}
		for (uint v = v0; v < n4; v += wg) {
			const vec4 x4 = z4[b4 + v];
			[[unroll]] for (uint e = 0; e < 4u; e++)
				if (x4[e] > best || best_i == 0xffffffffu) {
					best = x4[e];
					best_i = 4u * v + e;
				}
		}
		tail = 4u * n4;
	}
	uint v0 = tail + tid;
	for (; v0 + (ARGMAX_LOADS - 1u) * wg < pc.n_vocab; v0 += step) {
		float xs[ARGMAX_LOADS];
		[[unroll]] for (uint k = 0; k < ARGMAX_LOADS; k++)
			xs[k] = z[zb + v0 + k * wg];
		[[unroll]] for (uint k = 0; k < ARGMAX_LOADS; k++)
			if (xs[k] > best || best_i == 0xffffffffu) {
				best = xs[k];
				best_i = v0 + k * wg;
			}
	}
	for (uint v = v0; v < pc.n_vocab; v += wg) { // the tail, in the same order
		const float x = z[zb + v];
		if (x > best || best_i == 0xffffffffu) {
			best = x;
			best_i = v;
		}
	}
	float mx = subgroupMax(best);
	uint mi = subgroupMin(best == mx ? best_i : 0xffffffffu);
	if (subgroupElect()) {
		red_v[gl_SubgroupID] = mx;
		red_i[gl_SubgroupID] = mi;
	}
	barrier();
	if (tid == 0) {
		float bv = red_v[0];
		uint bi = red_i[0];
		for (uint g = 1; g < gl_NumSubgroups; g++)
			if (red_v[g] > bv || (red_v[g] == bv && red_i[g] < bi)) {
				bv = red_v[g];
				bi = red_i[g];
			}
		ids[pc.i_off + j] = int(bi);
	}
}
#else
#error "define PENALTY or ARGMAX"
#endif
