/* tests/test-quant.c — tensor types: the type table and half conversions. */
#include "model/quant.h"
#include "tests/check.h"

#include <math.h>
#include <string.h>

static void test_type_table(void)
{
	CHECK(tensor_type_info(TENSOR_Q4_0)->block_bytes == 18);
	CHECK(tensor_type_info(TENSOR_Q6_K)->block_elems == 256);
	CHECK(tensor_type_info(4) == NULL); /* retired id */
	CHECK(tensor_type_info(9) == NULL); /* Q8_1 is runtime-only */
	CHECK(tensor_type_info(1000) == NULL);
	uint64_t bytes = 0;
	CHECK(tensor_row_bytes(TENSOR_Q4_0, 64, &bytes) == 0 && bytes == 36);
	CHECK(tensor_row_bytes(TENSOR_Q4_0, 48, &bytes) < 0);
	CHECK(tensor_row_bytes(TENSOR_F16, 3, &bytes) == 0 && bytes == 6);
}

static void test_fp16_round_trip(void)
{
	/* Every finite half converts to f32 and back unchanged. */
	int mismatches = 0;
	for (uint32_t h = 0; h < 0x10000; h++) {
		if (((h >> 10) & 0x1f) == 0x1f)
			continue;
		if (f32_to_fp16(fp16_to_f32((uint16_t)h)) != h)
			mismatches++;
	}
	CHECK(mismatches == 0);
	CHECK(fp16_to_f32(0x3c00) == 1.0f);
	CHECK(fp16_to_f32(0xc000) == -2.0f);
	CHECK(fp16_to_f32(0x0001) == 5.9604644775390625e-08f);
	CHECK(isinf(fp16_to_f32(0x7c00)));
	CHECK(isnan(fp16_to_f32(0x7e00)));
	CHECK(f32_to_fp16(65520.0f) == 0x7c00);     /* overflows to inf */
	CHECK(f32_to_fp16(65504.0f) == 0x7bff);     /* largest half */
	CHECK(f32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even, down */
	CHECK(f32_to_fp16(1.0f + 3.0f / 2048) == 0x3c02); /* tie to even, up */
	CHECK(f32_to_fp16(2.98023223876953125e-08f) == 0x0000); /* 2^-25 tie: to even 0 */
	CHECK(f32_to_fp16(-0.0f) == 0x8000);
	CHECK((f32_to_fp16(NAN) & 0x7c00) == 0x7c00 && (f32_to_fp16(NAN) & 0x3ff) != 0);
}

static void test_bf16(void)
{
	CHECK(bf16_to_f32(0x3f80) == 1.0f);
	CHECK(f32_to_bf16(1.0f) == 0x3f80);
	CHECK(f32_to_bf16(1.00390625f) == 0x3f80); /* tie to even */
	CHECK(isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

int main(void)
{
	test_type_table();
	test_fp16_round_trip();
	test_bf16();
	return check_report();
}
