#version 450
// shaders/attn_enc.comp — bidirectional multi-head attention over the n
// patches of one crop (SigLIP encoder: no mask, no RoPE): for query i and
// head h, o_i = Σ_j softmax_j(scale·q_i·k_j) v_j over dims [h·hd, (h+1)·hd).
// A workgroup takes QB queries of one head and walks the keys in blocks of
// KB through shared memory with a running (online) softmax, so K and V are
// read once per QB queries, not once per query. hd ≤ MAX_HD.
// Several crops in one dispatch: workgroup z is a segment of the patch
// rows (binding 4: rows [seg[z], seg[z+1]) when SEGS is set), each
// attending only to itself; x walks its queries (extra x exit early).
// The plain kernel, for devices without cooperative matrices (lavapipe);
// attn_enc_cm.comp is the tensor-core one.

layout(local_size_x = 128) in;

#define QB 16
#define KB 16
#define MAX_HD 128
#define WG 128
#define PER_THREAD (QB * MAX_HD / WG) // output elements an invocation owns

// Mirror of struct gpu_push_attn_enc (vk/push.h).
layout(push_constant) uniform Push {
	uint n;        // rows of q, k, v, o (queries = keys without SEGS)
	uint hd;       // head dim
	uint q_off, q_stride;
	uint k_off, k_stride;
	uint v_off, v_stride;
	uint o_off, o_stride;
	uint s_off;    // first entry of this dispatch's segment table
	uint flags;    // SEGS: segments from binding 4
	float scale;
} pc;

#define SEGS 1u

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer S { uint seg[]; };

shared float qs[QB * MAX_HD];       // [query][d], pre-scaled
shared float ks[KB * (MAX_HD + 1)]; // [key][d], padded against bank conflicts
shared float vs[KB * MAX_HD];       // [key][d]
shared float sc[QB * KB];           // scores, then probabilities
shared float alpha[QB];             // rescale of the running sums this block
shared float lsum[QB];              // running softmax denominators

const float NEG = -3.402823466e38;

void main()
{
	uint base = 0, n = pc.n;
	if ((pc.flags & SEGS) != 0u) { // clamped to the n rows bound
		base = min(seg[pc.s_off + gl_WorkGroupID.z], pc.n);
		n = min(seg[pc.s_off + gl_WorkGroupID.z + 1], pc.n);
		n = n > base ? n - base : 0;
	}
	const uint q0 = gl_WorkGroupID.x * QB, h0 = gl_WorkGroupID.y * pc.hd;
	if (q0 >= n)
		return; // uniform: the whole workgroup
	const uint tid = gl_LocalInvocationID.x, hd = pc.hd;
	const uint qo = pc.q_off + base * pc.q_stride, ko = pc.k_off + base * pc.k_stride;
	const uint vo = pc.v_off + base * pc.v_stride, oo = pc.o_off + base * pc.o_stride;
	for (uint e = tid; e < QB * hd; e += WG) {
		const uint qi = e / hd, d = e % hd;
		qs[qi * hd + d] = q0 + qi < n ?
			q[qo + (q0 + qi) * pc.q_stride + h0 + d] * pc.scale : 0.0;
	}
	float run_max = NEG; // per query, held by invocation tid < QB
	if (tid < QB)
		lsum[tid] = 0.0;
	float acc[PER_THREAD];
	for (uint r = 0; r < PER_THREAD; r++)
		acc[r] = 0.0;

	for (uint j0 = 0; j0 < n; j0 += KB) {
		barrier(); // the previous block's ks/vs/sc are consumed
		for (uint e = tid; e < KB * hd; e += WG) {
			const uint kj = e / hd, d = e % hd;
			const bool ok = j0 + kj < n;
			ks[kj * (MAX_HD + 1) + d] = ok ? k[ko + (j0 + kj) * pc.k_stride + h0 + d] : 0.0;
			vs[kj * MAX_HD + d] = ok ? v[vo + (j0 + kj) * pc.v_stride + h0 + d] : 0.0;
		}
		barrier();
		for (uint e = tid; e < QB * KB; e += WG) {
			const uint qi = e / KB, kj = e % KB;
			float s = NEG;
			if (j0 + kj < n) {
				s = 0.0;
				for (uint d = 0; d < hd; d++)
					s += qs[qi * hd + d] * ks[kj * (MAX_HD + 1) + d];
			}
			sc[e] = s;
		}
		barrier();
		if (tid < QB) {
			float m = run_max;
			for (uint kj = 0; kj < KB; kj++)
				m = max(m, sc[tid * KB + kj]);
			float l = 0.0;
			for (uint kj = 0; kj < KB; kj++) {
				const float p = j0 + kj < n ? exp(sc[tid * KB + kj] - m) : 0.0;
				sc[tid * KB + kj] = p;
				l += p;
			}
			const float a = exp(run_max - m); // 0 on the first block
			alpha[tid] = a;
			lsum[tid] = lsum[tid] * a + l;
			run_max = m;
		}
		barrier();
		for (uint r = 0; r < PER_THREAD; r++) {
			const uint e = tid + r * WG;
			if (e >= QB * hd)
				break;
			const uint qi = e / hd, d = e % hd;
			float s = acc[r] * alpha[qi];
			for (uint kj = 0; kj < KB; kj++)
				s += sc[qi * KB + kj] * vs[kj * MAX_HD + d];
			acc[r] = s;
		}
	}
	barrier();
	for (uint r = 0; r < PER_THREAD; r++) {
		const uint e = tid + r * WG;
		if (e >= QB * hd)
			break;
		const uint qi = e / hd, d = e % hd;
		if (q0 + qi < n)
			o[oo + (q0 + qi) * pc.o_stride + h0 + d] = acc[r] / lsum[qi];
	}
}
