#version 450
// shaders/shortconv.comp — LFM2 gated short convolution (spec §3.5),
// L_cache = 3: y[t] = C[t] ⊙ (w0·s[t−2] + w1·s[t−1] + w2·s[t]), s = B ⊙ x.
// One invocation per (channel, sequence) walks that sequence's tokens in
// order, so prefill is causal across the batch with the slot's state as
// left context, and writes the last two s back into the state.
// Workgroups: x over channels, y over sequences.

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_shortconv (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint d;        // channels
	uint n_tok;    // rows of z and y
	uint n_slots;  // rows of the state
	uint n_seq;
	uint z_off;
	uint z_stride;
	uint w_off;    // conv weight [d][3]
	uint s_off;
	uint s_stride;
	uint seqs_off; // ints; 4 per sequence: tok0, n_tok, slot, n_past
	uint y_off;
	uint y_stride;
} pc;

layout(std430, binding = 0) readonly buffer Z { float z[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) buffer S { float st[]; };
layout(std430, binding = 3) readonly buffer Seqs { int seqs[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };

void main()
{
	const uint ch = gl_GlobalInvocationID.x;
	const uint j = gl_WorkGroupID.y;
	if (ch >= pc.d || j >= pc.n_seq)
		return;
	const int tok0 = seqs[pc.seqs_off + 4u * j];
	const int nt = seqs[pc.seqs_off + 4u * j + 1u];
	const int slot = seqs[pc.seqs_off + 4u * j + 2u];
	if (tok0 < 0 || nt <= 0 || slot < 0 || uint(slot) >= pc.n_slots ||
	    uint(nt) > pc.n_tok - min(uint(tok0), pc.n_tok))
		return;
	const uint wb = pc.w_off + 3u * ch;
	const float w0 = w[wb], w1 = w[wb + 1u], w2 = w[wb + 2u];
	const uint sb = pc.s_off + uint(slot) * pc.s_stride + ch;
	float s2 = st[sb], s1 = st[sb + pc.d]; // s[t−2], s[t−1]
	for (uint t = uint(tok0); t < uint(tok0 + nt); t++) {
		const uint zb = pc.z_off + t * pc.z_stride + ch;
		const float s = z[zb] * z[zb + 2u * pc.d];
		const float c = w0 * s2 + w1 * s1 + w2 * s;
		y[pc.y_off + t * pc.y_stride + ch] = z[zb + pc.d] * c;
		s2 = s1;
		s1 = s;
	}
	st[sb] = s2;
	st[sb + pc.d] = s1;
}
