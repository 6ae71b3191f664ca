// shaders/types.glsl — block layouts of model/quant.h, field by field.
// Needs GL_EXT_shader_16bit_storage and GL_EXT_shader_8bit_storage; std430
// arrays of these structs have the C sizes (18, 34, 210 bytes) because
// every member is at most 2-byte aligned.

#define QK4_0 32
#define QK8_0 32
#define QK_K 256

struct block_q4_0 {
	float16_t d;
	uint8_t qs[QK4_0 / 2]; // low nibbles: elements 0..15, high: 16..31
};

struct block_q8_0 {
	float16_t d;
	int8_t qs[QK8_0];
};

struct block_q6_K {
	uint8_t ql[QK_K / 2];  // low 4 bits
	uint8_t qh[QK_K / 4];  // high 2 bits
	int8_t scales[QK_K / 16];
	float16_t d;
};
