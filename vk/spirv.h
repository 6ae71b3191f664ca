/* vk/spirv.h — the little SPIR-V reflection the runtime needs: the size of
 * the push-constant block and which descriptor bindings a module uses, so a
 * C push struct that drifted from its GLSL twin fails at start-up, by name.
 * Input is our own build output, still checked word by word. Pure. */
#ifndef CAPTIOND_VK_SPIRV_H
#define CAPTIOND_VK_SPIRV_H

#include <stddef.h>
#include <stdint.h>

struct spirv_info {
	uint32_t push_bytes;    /* 0 when the module has no push constants */
	uint32_t binding_mask;  /* bit b: set 0, binding b is used (b < 32) */
};

/* Returns 0, -EBADMSG (not SPIR-V, truncated instruction), -ENOTSUP (a push
 * block member of a type this reader does not size). */
int spirv_reflect(const uint32_t *words, size_t n_words, struct spirv_info *info);

#endif
