// shaders/mul_mat_epilogue.glsl — bias, activation, residual of mul_mat*.comp
// (order of vk/ops_matmul.h). Needs `pc` (flags, b_off, r_off, r_stride)
// and bindings 3 (bias) and 4 (residual).

#define MM_BIAS 1u
#define MM_RESIDUAL 2u
#define MM_ACT_SHIFT 2u // 2 bits: enum gpu_act

layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) readonly buffer Res { float res[]; };

// erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): GLSL has no erf.
float erf_as(float x)
{
	const float t = 1.0 / (1.0 + 0.3275911 * abs(x));
	const float p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 +
			t * (-1.453152027 + t * 1.061405429))));
	const float r = 1.0 - p * exp(-x * x);
	return x < 0.0 ? -r : r;
}

float mm_epilogue(float v, uint m, uint n)
{
	if ((pc.flags & MM_BIAS) != 0u)
		v += bias[pc.b_off + m];
	const uint act = (pc.flags >> MM_ACT_SHIFT) & 3u;
	if (act == 1u) {
		// tanh argument clamped: some tanh() overflow to NaN far out
		const float u = clamp(0.7978845608 * (v + 0.044715 * v * v * v), -15.0, 15.0);
		v = 0.5 * v * (1.0 + tanh(u));
	} else if (act == 2u) {
		v = 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752));
	}
	if ((pc.flags & MM_RESIDUAL) != 0u)
		v += res[pc.r_off + n * pc.r_stride + m];
	return v;
}
