/* vk/spirv.c — two passes over the instruction stream: collect type sizes,
 * struct members and decorations, then size the push-constant struct. */
#include "vk/spirv.h"

#include <errno.h>
#include <stdbool.h>

#include <glib.h>

enum {
	OP_TYPE_INT = 21,
	OP_TYPE_FLOAT = 22,
	OP_TYPE_VECTOR = 23,
	OP_TYPE_STRUCT = 30,
	OP_TYPE_POINTER = 32,
	OP_VARIABLE = 59,
	OP_DECORATE = 71,
	OP_MEMBER_DECORATE = 72,
	DEC_BINDING = 33,
	DEC_DESCRIPTOR_SET = 34,
	DEC_OFFSET = 35,
	SC_PUSH_CONSTANT = 9,
};

#define MAX_MEMBERS 64

int spirv_reflect(const uint32_t *w, size_t n, struct spirv_info *info)
{
	*info = (struct spirv_info){ 0 };
	if (n < 5 || w[0] != 0x07230203u)
		return -EBADMSG;
	uint32_t bound = w[3];
	if (bound == 0 || bound > (1u << 22))
		return -EBADMSG;
	/* Per id: byte size of scalar/vector types, pointee of pointers, word
	 * index of struct definitions, binding and set of variables. */
	uint32_t *size = g_new0(uint32_t, bound);
	uint32_t *pointee = g_new0(uint32_t, bound);
	size_t *struct_at = g_new0(size_t, bound);
	int32_t *binding = g_new(int32_t, bound);
	uint32_t *set = g_new0(uint32_t, bound);
	uint32_t push_struct = 0;
	uint32_t offsets[MAX_MEMBERS] = { 0 };
	int ret = 0;
	for (uint32_t i = 0; i < bound; i++)
		binding[i] = -1;

	for (int pass = 0; pass < 2 && ret == 0; pass++) {
		for (size_t i = 5; i < n;) {
			uint32_t count = w[i] >> 16, op = w[i] & 0xffff;
			if (count == 0 || count > n - i) {
				ret = -EBADMSG;
				break;
			}
			const uint32_t *a = w + i + 1; /* operands */
			uint32_t na = count - 1;
			bool id_ok = na >= 1 && a[0] < bound;
			if (pass == 0 && id_ok) {
				if ((op == OP_TYPE_INT || op == OP_TYPE_FLOAT) && na >= 2)
					size[a[0]] = a[1] / 8;
				else if (op == OP_TYPE_VECTOR && na >= 3 && a[1] < bound)
					size[a[0]] = size[a[1]] * a[2];
				else if (op == OP_TYPE_STRUCT)
					struct_at[a[0]] = i;
				else if (op == OP_TYPE_POINTER && na >= 3)
					pointee[a[0]] = a[2];
				else if (op == OP_DECORATE && na >= 3 && a[1] == DEC_BINDING)
					binding[a[0]] = (int32_t)a[2];
				else if (op == OP_DECORATE && na >= 3 && a[1] == DEC_DESCRIPTOR_SET)
					set[a[0]] = a[2];
				else if (op == OP_VARIABLE && na >= 3 && a[2] == SC_PUSH_CONSTANT)
					push_struct = pointee[a[0]];
			}
			if (pass == 1 && op == OP_MEMBER_DECORATE && na >= 4 && a[0] == push_struct &&
			    a[2] == DEC_OFFSET && a[1] < MAX_MEMBERS)
				offsets[a[1]] = a[3];
			i += count;
		}
	}
	if (ret == 0 && push_struct) {
		if (push_struct >= bound || !struct_at[push_struct]) {
			ret = -EBADMSG;
			goto out;
		}
		size_t at = struct_at[push_struct];
		uint32_t members = (w[at] >> 16) - 2;
		if (members > MAX_MEMBERS) {
			ret = -ENOTSUP;
			goto out;
		}
		for (uint32_t m = 0; m < members; m++) {
			uint32_t t = w[at + 2 + m];
			if (t >= bound || size[t] == 0) {
				ret = -ENOTSUP;
				goto out;
			}
			info->push_bytes = MAX(info->push_bytes, offsets[m] + size[t]);
		}
	}
	for (uint32_t id = 0; id < bound; id++)
		if (binding[id] >= 0 && binding[id] < 32 && set[id] == 0)
			info->binding_mask |= 1u << binding[id];
out:
	g_free(size);
	g_free(pointee);
	g_free(struct_at);
	g_free(binding);
	g_free(set);
	return ret;
}
