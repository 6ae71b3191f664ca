/* tests/reference/ref-image.h — the contract's procedural test image and the
 * Pillow-exact antialiased bilinear resampler (spec §4.5, HF profile).
 *
 * RGB8 images, row-major, 3 bytes a pixel. Pure functions; the caller owns
 * every buffer. Errors: 0 or -EINVAL (zero or oversized dimensions), -ENOMEM.
 */
#ifndef CAPTIOND_TESTS_REF_IMAGE_H
#define CAPTIOND_TESTS_REF_IMAGE_H

#include <stdint.h>

/* Fill rgb [h][w][3] with the contract's image for (w, h, seed):
 * v(x,y,c) = (x·(c+1)·7 + y·(3−c)·5 + ((x/8) ^ (y/8))·23 + S·41 + (x·y)/64) mod 256. */
void ref_image_generate(uint8_t *rgb, uint32_t w, uint32_t h, uint32_t seed);

/* Resize src [sh][sw][3] to dst [dh][dw][3] exactly as Pillow's
 * Image.resize(BILINEAR) (libImaging/Resample.c, 8-bit, 22-bit fixed point):
 * horizontal pass first into a uint8 image, then vertical; a pass whose size
 * does not change is skipped. */
int ref_image_resize_pil_bilinear(const uint8_t *src, uint32_t sw, uint32_t sh,
				  uint8_t *dst, uint32_t dw, uint32_t dh);

#endif
