#version 450
// shaders/sample_candidates.comp — the min-p candidates of each logits row
// (model/sampling.h, sampler_pick_candidates), so the host reads a few
// hundred bytes per sequence instead of the whole row.
// One workgroup per row j:
//  1. p_v = z_v penalized (z·r if z < 0 else z / r where the sequence's
//     presence bit is set), zmax = max p_v; a NaN anywhere marks the row.
//  2. lo = t·(zmax/t + ln min_p) minus a slack 8x sampler_pick's (2^-9
//     relative + 2^-9), so rounding here (the division) never drops an id
//     the host keeps; every v with p_v >= lo goes out as (v, raw z_v),
//     the first cap of them in invocation order (the host sorts by id).
//  3. out[0] = the count (may exceed cap), or 0xffffffff for a NaN row; for
//     such rows and for count > cap the raw row is also copied to full[]
//     (the host's fallback reads it); other rows write nothing there.
// Layout of out per row: [count, id_0, z_0, id_1, z_1, ...] (z as bits).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_candidates (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint n_vocab;
	uint n_seq;
	uint z_off;
	uint z_stride;
	uint b_off;
	uint b_stride; // words between sequences' bitmaps
	uint o_off;
	uint o_stride; // ints between rows of out (>= 1 + 2·cap)
	uint f_off;
	uint f_stride;
	uint cap;
	float penalty; // 1: none
	float t;
	float log_min_p;
} pc;

layout(std430, binding = 0) readonly buffer Z { float z[]; };
layout(std430, binding = 1) readonly buffer B { uint bits[]; };
layout(std430, binding = 2) writeonly buffer O { uint o[]; };
layout(std430, binding = 3) writeonly buffer F { float full[]; };

shared float red_v[gl_WorkGroupSize.x];
shared uint red_nan[gl_WorkGroupSize.x];
shared uint red_c[gl_WorkGroupSize.x];

float penalized(uint zb, uint bb, uint v)
{
	const float x = z[zb + v];
	if (pc.penalty == 1.0 || ((bits[bb + (v >> 5)] >> (v & 31u)) & 1u) == 0u)
		return x;
	return x < 0.0 ? x * pc.penalty : x / pc.penalty;
}

void main()
{
	const uint j = gl_WorkGroupID.x;
	const uint tid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
	if (j >= pc.n_seq)
		return;
	const uint zb = pc.z_off + j * pc.z_stride;
	const uint bb = pc.b_off + j * pc.b_stride;
	float best = -1.0 / 0.0;
	bool nan_seen = false;
	for (uint v = tid; v < pc.n_vocab; v += wg) {
		const float p = penalized(zb, bb, v);
		nan_seen = nan_seen || isnan(p);
		if (p > best)
			best = p;
	}
	float mx = subgroupMax(best);
	bool sn = subgroupAny(nan_seen);
	if (subgroupElect()) {
		red_v[gl_SubgroupID] = mx;
		red_nan[gl_SubgroupID] = sn ? 1u : 0u;
	}
	barrier();
	float zmax = red_v[0];
	bool any_nan = red_nan[0] != 0u;
	for (uint g = 1; g < gl_NumSubgroups; g++) {
		zmax = max(zmax, red_v[g]);
		any_nan = any_nan || red_nan[g] != 0u;
	}
	float lo = pc.t * (zmax / pc.t + pc.log_min_p);
	lo -= abs(lo) * (1.0 / 512.0) + (1.0 / 512.0);
	const uint ob = pc.o_off + j * pc.o_stride;
	// Count, then an exclusive prefix over the invocations gives each its
	// first output index (no atomics: deterministic, and shared-memory
	// atomics need device scope under the Vulkan memory model here).
	uint cnt = 0u;
	if (!any_nan)
		for (uint v = tid; v < pc.n_vocab; v += wg)
			cnt += penalized(zb, bb, v) >= lo ? 1u : 0u;
	const uint ex = subgroupExclusiveAdd(cnt), tot = subgroupAdd(cnt);
	if (subgroupElect())
		red_c[gl_SubgroupID] = tot;
	barrier();
	uint k = ex, n = 0u;
	for (uint g = 0; g < gl_NumSubgroups; g++) {
		k += g < gl_SubgroupID ? red_c[g] : 0u;
		n += red_c[g];
	}
	if (cnt > 0u)
		for (uint v = tid; v < pc.n_vocab && k < pc.cap; v += wg) {
			if (!(penalized(zb, bb, v) >= lo))
				continue;
			o[ob + 1u + 2u * k] = v;
			o[ob + 2u + 2u * k] = floatBitsToUint(z[zb + v]);
			k++;
		}
	// Rows the host cannot pick from candidates: it reads them whole.
	const bool whole = any_nan || n == 0u || isinf(zmax / pc.t) || isinf(zmax);
	if (tid == 0u)
		o[ob] = whole ? 0xffffffffu : n;
	if (whole || n > pc.cap) {
		const uint fb = pc.f_off + j * pc.f_stride;
		for (uint v = tid; v < pc.n_vocab; v += wg)
			full[fb + v] = z[zb + v];
	}
}
