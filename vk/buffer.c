/* vk/buffer.c — one VkBuffer + one VkDeviceMemory per gpu_buffer. Few and
 * large: the model puts all its weights in a handful of buffers and finds
 * each tensor by offset. */
#define G_LOG_DOMAIN "gpu"
#include "vk/buffer.h"

#include <errno.h>
#include <inttypes.h>

#include <glib.h>

#include "vk/result.h"

struct gpu_buffer {
	struct gpu_device *dev;
	enum gpu_mem_kind kind;
	uint64_t size;
	char name[48];
	VkBuffer buffer;
	VkDeviceMemory memory;
	void *map;
	bool coherent;
};

int gpu_buffer_create(struct gpu_device *dev, enum gpu_mem_kind kind, uint64_t size_bytes,
		      const char *name, struct gpu_buffer **out)
{
	*out = NULL;
	const struct gpu_caps *caps = gpu_device_caps(dev);
	if (size_bytes == 0)
		return -EINVAL;
	if (size_bytes > caps->max_alloc_bytes) {
		g_warning("buffer %s: %" PRIu64 " bytes, more than one allocation may hold (%" PRIu64 ")",
			  name, size_bytes, caps->max_alloc_bytes);
		return -E2BIG;
	}
	VkDevice vkd = gpu_device_vk(dev);
	struct gpu_buffer *b = g_new0(struct gpu_buffer, 1);
	b->dev = dev;
	b->kind = kind;
	b->size = size_bytes;
	g_strlcpy(b->name, name ? name : "?", sizeof b->name);
	int ret;

	VkBufferCreateInfo bci = {
		.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
		.size = size_bytes,
		.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
			 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
		.sharingMode = VK_SHARING_MODE_EXCLUSIVE,
	};
	VkResult r = vkCreateBuffer(vkd, &bci, NULL, &b->buffer);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkCreateBuffer", r);
		goto fail;
	}
	VkMemoryRequirements req;
	vkGetBufferMemoryRequirements(vkd, b->buffer, &req);

	VkMemoryPropertyFlags need = 0, want = 0;
	switch (kind) {
	case GPU_MEM_WEIGHTS:
	case GPU_MEM_SCRATCH:
		want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
		break;
	case GPU_MEM_UPLOAD:
		need = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
		want = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
		break;
	case GPU_MEM_READBACK:
		need = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
		want = VK_MEMORY_PROPERTY_HOST_CACHED_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
		break;
	}
	int type = gpu_device_memory_type(dev, req.memoryTypeBits, need, want);
	if (type < 0 && kind == GPU_MEM_READBACK)
		type = gpu_device_memory_type(dev, req.memoryTypeBits, need,
					      VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
	if (type < 0) {
		g_warning("buffer %s: no memory type for this kind", b->name);
		ret = -ENOTSUP;
		goto fail;
	}
	VkMemoryAllocateInfo mai = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
		.allocationSize = req.size,
		.memoryTypeIndex = (uint32_t)type,
	};
	r = vkAllocateMemory(vkd, &mai, NULL, &b->memory);
	if (r != VK_SUCCESS) {
		g_warning("buffer %s: cannot allocate %" PRIu64 " bytes", b->name, (uint64_t)req.size);
		ret = gpu_vk_fail("vkAllocateMemory", r);
		goto fail;
	}
	r = vkBindBufferMemory(vkd, b->buffer, b->memory, 0);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkBindBufferMemory", r);
		goto fail;
	}
	VkPhysicalDeviceMemoryProperties mp;
	vkGetPhysicalDeviceMemoryProperties(gpu_device_vk_physical(dev), &mp);
	VkMemoryPropertyFlags flags = mp.memoryTypes[type].propertyFlags;
	b->coherent = flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
	if (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
		r = vkMapMemory(vkd, b->memory, 0, VK_WHOLE_SIZE, 0, &b->map);
		if (r != VK_SUCCESS) {
			ret = gpu_vk_fail("vkMapMemory", r);
			goto fail;
		}
	}
	*out = b;
	return 0;
fail:
	gpu_buffer_destroy(b);
	return ret;
}

void gpu_buffer_destroy(struct gpu_buffer *b)
{
	if (!b)
		return;
	VkDevice vkd = gpu_device_vk(b->dev);
	if (b->buffer)
		vkDestroyBuffer(vkd, b->buffer, NULL);
	if (b->memory)
		vkFreeMemory(vkd, b->memory, NULL); /* unmaps implicitly */
	g_free(b);
}

uint64_t gpu_buffer_size(const struct gpu_buffer *b) { return b->size; }
enum gpu_mem_kind gpu_buffer_kind(const struct gpu_buffer *b) { return b->kind; }
const char *gpu_buffer_name(const struct gpu_buffer *b) { return b->name; }
VkBuffer gpu_buffer_vk(const struct gpu_buffer *b) { return b->buffer; }
void *gpu_buffer_map(const struct gpu_buffer *b) { return b->map; }

int gpu_buffer_invalidate(struct gpu_buffer *b)
{
	if (!b->map || b->coherent)
		return 0;
	VkMappedMemoryRange mr = {
		.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
		.memory = b->memory,
		.size = VK_WHOLE_SIZE,
	};
	VkResult r = vkInvalidateMappedMemoryRanges(gpu_device_vk(b->dev), 1, &mr);
	return r == VK_SUCCESS ? 0 : gpu_vk_fail("vkInvalidateMappedMemoryRanges", r);
}

int gpu_buffer_bind(const struct gpu_device *dev, struct gpu_buffer *buf, uint64_t offset,
		    uint64_t size, uint32_t unit_bytes, bool write, struct gpu_binding *b,
		    uint32_t *elem_offset)
{
	const struct gpu_caps *caps = gpu_device_caps(dev);
	uint64_t align = caps->storage_align ? caps->storage_align : 1;
	if (unit_bytes == 0 || size == 0 || offset > buf->size || size > buf->size - offset)
		return -EINVAL;
	/* Step back whole elements until the start is aligned: the shader then
	 * indexes from element k of the binding. k < align always suffices when
	 * offset is reachable at all (e.g. an even offset for 18-byte blocks and
	 * a 16-byte alignment). */
	for (uint64_t k = 0; k < align && k * unit_bytes <= offset; k++) {
		uint64_t start = offset - k * unit_bytes;
		if (start % align)
			continue;
		uint64_t range = size + k * unit_bytes;
		if (range > caps->max_binding_bytes)
			return -E2BIG;
		*b = (struct gpu_binding){ buf, start, range, write };
		*elem_offset = (uint32_t)k;
		return 0;
	}
	g_warning("buffer %s: offset %" PRIu64 " cannot be bound in %u-byte elements at alignment %"
		  PRIu64, buf->name, offset, unit_bytes, align);
	return -EINVAL;
}
