/* vk/staging.c — the staging ring. One command buffer collects copies;
 * flush submits it with a fence and waits, after which the ring is empty. */
#define G_LOG_DOMAIN "gpu"
#include "vk/staging.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "vk/result.h"

struct gpu_staging {
	struct gpu_device *dev;
	struct gpu_buffer *ring;
	uint8_t *ring_map;
	uint64_t ring_size, head;
	VkCommandPool pool;
	VkCommandBuffer cmd;
	VkFence fence;
	bool recording;
};

int gpu_staging_create(struct gpu_device *dev, uint64_t ring_bytes, struct gpu_staging **out)
{
	*out = NULL;
	struct gpu_staging *st = g_new0(struct gpu_staging, 1);
	st->dev = dev;
	VkDevice vkd = gpu_device_vk(dev);
	int ret = gpu_buffer_create(dev, GPU_MEM_UPLOAD, ring_bytes, "staging", &st->ring);
	if (ret < 0)
		goto fail;
	st->ring_map = gpu_buffer_map(st->ring);
	st->ring_size = ring_bytes;
	VkCommandPoolCreateInfo pci = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
		.queueFamilyIndex = gpu_device_queue_family(dev),
	};
	VkResult r = vkCreateCommandPool(vkd, &pci, NULL, &st->pool);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkCreateCommandPool", r);
		goto fail;
	}
	VkCommandBufferAllocateInfo cai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.commandPool = st->pool,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	r = vkAllocateCommandBuffers(vkd, &cai, &st->cmd);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkAllocateCommandBuffers", r);
		goto fail;
	}
	VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
	r = vkCreateFence(vkd, &fci, NULL, &st->fence);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkCreateFence", r);
		goto fail;
	}
	*out = st;
	return 0;
fail:
	gpu_staging_destroy(st);
	return ret;
}

void gpu_staging_destroy(struct gpu_staging *st)
{
	if (!st)
		return;
	VkDevice vkd = gpu_device_vk(st->dev);
	if (st->recording)
		gpu_staging_flush(st);
	if (st->fence)
		vkDestroyFence(vkd, st->fence, NULL);
	if (st->pool)
		vkDestroyCommandPool(vkd, st->pool, NULL);
	gpu_buffer_destroy(st->ring);
	g_free(st);
}

static int begin(struct gpu_staging *st)
{
	if (st->recording)
		return 0;
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
		.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
	};
	VkResult r = vkBeginCommandBuffer(st->cmd, &bi);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkBeginCommandBuffer", r);
	st->recording = true;
	return 0;
}

int gpu_staging_flush(struct gpu_staging *st)
{
	if (!st->recording)
		return 0;
	st->recording = false;
	st->head = 0;
	/* Copies done → visible to later compute (uploads) and to the host
	 * (reads). A barrier also orders commands of later submissions. */
	VkMemoryBarrier mb = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
		.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
				 VK_ACCESS_HOST_READ_BIT,
	};
	vkCmdPipelineBarrier(st->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
			     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
			     &mb, 0, NULL, 0, NULL);
	VkResult r = vkEndCommandBuffer(st->cmd);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkEndCommandBuffer", r);
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.commandBufferCount = 1,
		.pCommandBuffers = &st->cmd,
	};
	VkDevice vkd = gpu_device_vk(st->dev);
	r = vkQueueSubmit(gpu_device_queue(st->dev), 1, &si, st->fence);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkQueueSubmit (staging)", r);
	r = vkWaitForFences(vkd, 1, &st->fence, VK_TRUE, UINT64_MAX);
	VkResult r2 = vkResetFences(vkd, 1, &st->fence);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkWaitForFences (staging)", r);
	if (r2 != VK_SUCCESS)
		return gpu_vk_fail("vkResetFences", r2);
	r = vkResetCommandBuffer(st->cmd, 0);
	return r == VK_SUCCESS ? 0 : gpu_vk_fail("vkResetCommandBuffer", r);
}

int gpu_staging_write(struct gpu_staging *st, struct gpu_buffer *dst, uint64_t dst_offset,
		      const void *src, uint64_t size)
{
	uint64_t dsize = gpu_buffer_size(dst);
	if (dst_offset > dsize || size > dsize - dst_offset)
		return -EINVAL;
	uint8_t *map = gpu_buffer_map(dst);
	if (gpu_buffer_kind(dst) == GPU_MEM_UPLOAD) {
		/* Host-visible and coherent: direct. The submit of the dispatch
		 * that reads it makes it visible. Other kinds go through the ring
		 * even where their memory happens to be mapped (lavapipe), so the
		 * path a discrete GPU takes is the one tests run. */
		memcpy(map + dst_offset, src, size);
		return 0;
	}
	const uint8_t *p = src;
	while (size > 0) {
		if (st->head == st->ring_size) {
			int ret = gpu_staging_flush(st);
			if (ret < 0)
				return ret;
		}
		uint64_t n = MIN(size, st->ring_size - st->head);
		int ret = begin(st);
		if (ret < 0)
			return ret;
		memcpy(st->ring_map + st->head, p, n);
		VkBufferCopy c = { .srcOffset = st->head, .dstOffset = dst_offset, .size = n };
		vkCmdCopyBuffer(st->cmd, gpu_buffer_vk(st->ring), gpu_buffer_vk(dst), 1, &c);
		/* Keep copies 16-byte aligned in the ring. */
		st->head = MIN(st->ring_size, (st->head + n + 15) & ~(uint64_t)15);
		p += n;
		dst_offset += n;
		size -= n;
	}
	return 0;
}

int gpu_staging_read(struct gpu_staging *st, struct gpu_buffer *src, uint64_t src_offset,
		     void *dst, uint64_t size)
{
	uint64_t ssize = gpu_buffer_size(src);
	if (src_offset > ssize || size > ssize - src_offset)
		return -EINVAL;
	int ret = gpu_staging_flush(st);
	if (ret < 0)
		return ret;
	const uint8_t *map = gpu_buffer_map(src);
	if (gpu_buffer_kind(src) == GPU_MEM_READBACK || gpu_buffer_kind(src) == GPU_MEM_UPLOAD) {
		ret = gpu_buffer_invalidate(src);
		if (ret == 0)
			memcpy(dst, map + src_offset, size);
		return ret;
	}
	uint8_t *p = dst;
	while (size > 0) {
		uint64_t n = MIN(size, st->ring_size);
		ret = begin(st);
		if (ret < 0)
			return ret;
		VkBufferCopy c = { .srcOffset = src_offset, .dstOffset = 0, .size = n };
		vkCmdCopyBuffer(st->cmd, gpu_buffer_vk(src), gpu_buffer_vk(st->ring), 1, &c);
		ret = gpu_staging_flush(st);
		if (ret < 0)
			return ret;
		memcpy(p, st->ring_map, n);
		p += n;
		src_offset += n;
		size -= n;
	}
	return 0;
}
