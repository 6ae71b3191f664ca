/* vk/recorder.c — one command buffer, a descriptor pool reset per
 * recording, hazard tracking for barriers, optional timestamps. */
#define G_LOG_DOMAIN "gpu"
#include "vk/recorder.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "vk/result.h"

struct span {
	VkBuffer buffer;
	uint64_t start, end;
};

enum rec_state { REC_IDLE, REC_RECORDING, REC_SUBMITTED };

struct gpu_recorder {
	struct gpu_device *dev;
	const struct gpu_pipelines *pipes;
	uint32_t max_dispatches;
	VkCommandPool pool;
	VkCommandBuffer cmd;
	VkFence fence;
	VkDescriptorPool dpool;
	VkQueryPool queries;     /* max_dispatches + 1 timestamps, when profiling */
	struct gpu_buffer *dummy; /* bound to layout slots a shader does not use */
	char (*labels)[GPU_LABEL_MAX];
	uint64_t *stamps;        /* max_dispatches + 1 results, when profiling */
	GArray *reads, *writes;  /* struct span, since the last barrier */
	uint32_t n_dispatches, n_barriers;
	enum rec_state state;
};

int gpu_recorder_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
			uint32_t max_dispatches, struct gpu_recorder **out)
{
	*out = NULL;
	if (max_dispatches == 0 || max_dispatches > (1u << 20))
		return -EINVAL;
	struct gpu_recorder *rec = g_new0(struct gpu_recorder, 1);
	rec->dev = dev;
	rec->pipes = pipes;
	rec->max_dispatches = max_dispatches;
	rec->labels = g_malloc0_n(max_dispatches, GPU_LABEL_MAX);
	rec->reads = g_array_sized_new(FALSE, FALSE, sizeof(struct span), 4 * GPU_MAX_BINDINGS);
	rec->writes = g_array_sized_new(FALSE, FALSE, sizeof(struct span), 4 * GPU_MAX_BINDINGS);
	VkDevice vkd = gpu_device_vk(dev);
	VkResult r;
	int ret = gpu_buffer_create(dev, GPU_MEM_SCRATCH, 256, "dummy", &rec->dummy);
	if (ret < 0)
		goto fail;

	VkCommandPoolCreateInfo pci = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
		.queueFamilyIndex = gpu_device_queue_family(dev),
	};
	r = vkCreateCommandPool(vkd, &pci, NULL, &rec->pool);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkCreateCommandPool", r);
		goto fail;
	}
	VkCommandBufferAllocateInfo cai = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
		.commandPool = rec->pool,
		.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
		.commandBufferCount = 1,
	};
	r = vkAllocateCommandBuffers(vkd, &cai, &rec->cmd);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkAllocateCommandBuffers", r);
		goto fail;
	}
	VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
	r = vkCreateFence(vkd, &fci, NULL, &rec->fence);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkCreateFence", r);
		goto fail;
	}
	VkDescriptorPoolSize ps = { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
				    max_dispatches * GPU_MAX_BINDINGS };
	VkDescriptorPoolCreateInfo dpi = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
		.maxSets = max_dispatches,
		.poolSizeCount = 1,
		.pPoolSizes = &ps,
	};
	r = vkCreateDescriptorPool(vkd, &dpi, NULL, &rec->dpool);
	if (r != VK_SUCCESS) {
		ret = gpu_vk_fail("vkCreateDescriptorPool", r);
		goto fail;
	}
	if (gpu_device_profiling(dev)) {
		VkQueryPoolCreateInfo qpi = {
			.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
			.queryType = VK_QUERY_TYPE_TIMESTAMP,
			.queryCount = max_dispatches + 1,
		};
		r = vkCreateQueryPool(vkd, &qpi, NULL, &rec->queries);
		if (r != VK_SUCCESS) {
			ret = gpu_vk_fail("vkCreateQueryPool", r);
			goto fail;
		}
		rec->stamps = g_new0(uint64_t, max_dispatches + 1);
	}
	*out = rec;
	return 0;
fail:
	gpu_recorder_destroy(rec);
	return ret;
}

void gpu_recorder_destroy(struct gpu_recorder *rec)
{
	if (!rec)
		return;
	VkDevice vkd = gpu_device_vk(rec->dev);
	if (rec->state == REC_SUBMITTED)
		gpu_recorder_wait(rec);
	if (rec->queries)
		vkDestroyQueryPool(vkd, rec->queries, NULL);
	if (rec->dpool)
		vkDestroyDescriptorPool(vkd, rec->dpool, NULL);
	if (rec->fence)
		vkDestroyFence(vkd, rec->fence, NULL);
	if (rec->pool)
		vkDestroyCommandPool(vkd, rec->pool, NULL);
	gpu_buffer_destroy(rec->dummy);
	g_array_free(rec->reads, TRUE);
	g_array_free(rec->writes, TRUE);
	g_free(rec->labels);
	g_free(rec->stamps);
	g_free(rec);
}

struct gpu_device *gpu_recorder_device(const struct gpu_recorder *rec) { return rec->dev; }
const struct gpu_pipelines *gpu_recorder_pipelines(const struct gpu_recorder *rec) { return rec->pipes; }
uint32_t gpu_recorder_dispatch_count(const struct gpu_recorder *rec) { return rec->n_dispatches; }
uint32_t gpu_recorder_barrier_count(const struct gpu_recorder *rec) { return rec->n_barriers; }

int gpu_recorder_begin(struct gpu_recorder *rec)
{
	if (rec->state == REC_RECORDING)
		return -EBUSY;
	if (rec->state == REC_SUBMITTED) {
		int ret = gpu_recorder_wait(rec);
		if (ret < 0)
			return ret;
	}
	VkDevice vkd = gpu_device_vk(rec->dev);
	VkResult r = vkResetDescriptorPool(vkd, rec->dpool, 0);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkResetDescriptorPool", r);
	r = vkResetCommandBuffer(rec->cmd, 0);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkResetCommandBuffer", r);
	VkCommandBufferBeginInfo bi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
		.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
	};
	r = vkBeginCommandBuffer(rec->cmd, &bi);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkBeginCommandBuffer", r);
	rec->n_dispatches = 0;
	rec->n_barriers = 0;
	g_array_set_size(rec->reads, 0);
	g_array_set_size(rec->writes, 0);
	if (rec->queries) {
		vkCmdResetQueryPool(rec->cmd, rec->queries, 0, rec->max_dispatches + 1);
		vkCmdWriteTimestamp(rec->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, rec->queries, 0);
	}
	rec->state = REC_RECORDING;
	return 0;
}

static bool overlaps(const GArray *spans, const struct gpu_binding *b)
{
	VkBuffer vb = gpu_buffer_vk(b->buffer);
	for (guint i = 0; i < spans->len; i++) {
		const struct span *s = &g_array_index(spans, struct span, i);
		if (s->buffer == vb && s->start < b->offset + b->range && b->offset < s->end)
			return true;
	}
	return false;
}

/* A barrier is needed before this dispatch if it reads or writes what an
 * earlier dispatch wrote (RAW, WAW), or writes what one read (WAR). */
static void track_hazards(struct gpu_recorder *rec, const struct gpu_binding *b, uint32_t n)
{
	bool hazard = false;
	for (uint32_t i = 0; i < n && !hazard; i++) {
		if (!b[i].buffer)
			continue;
		hazard = overlaps(rec->writes, &b[i]) || (b[i].write && overlaps(rec->reads, &b[i]));
	}
	if (hazard) {
		VkMemoryBarrier mb = {
			.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
			.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
			.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
		};
		vkCmdPipelineBarrier(rec->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
				     VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
		rec->n_barriers++;
		g_array_set_size(rec->reads, 0);
		g_array_set_size(rec->writes, 0);
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!b[i].buffer)
			continue;
		struct span s = { gpu_buffer_vk(b[i].buffer), b[i].offset, b[i].offset + b[i].range };
		g_array_append_val(b[i].write ? rec->writes : rec->reads, s);
	}
}

int gpu_recorder_dispatch(struct gpu_recorder *rec, const struct gpu_pipeline *pl,
			  const char *label, const struct gpu_binding *b, uint32_t n_bindings,
			  const void *push, size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz)
{
	const struct gpu_caps *caps = gpu_device_caps(rec->dev);
	const char *name = gpu_pipeline_name(pl);
	if (rec->state != REC_RECORDING)
		return -EBUSY;
	if (push_bytes != gpu_pipeline_push_bytes(pl)) {
		g_warning("%s (%s): push constants of %zu bytes, the pipeline takes %u", label, name,
			  push_bytes, gpu_pipeline_push_bytes(pl));
		return -EINVAL;
	}
	uint32_t mask = gpu_pipeline_binding_mask(pl);
	if (n_bindings > GPU_MAX_BINDINGS || (mask >> n_bindings) != 0) {
		g_warning("%s (%s): %u bindings given, the shader uses mask 0x%x", label, name,
			  n_bindings, mask);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n_bindings; i++) {
		if ((mask & (1u << i)) && (!b[i].buffer || b[i].range == 0 ||
					   b[i].range > caps->max_binding_bytes ||
					   b[i].offset % caps->storage_align != 0)) {
			g_warning("%s (%s): binding %u is missing, empty, too large or misaligned",
				  label, name, i);
			return -EINVAL;
		}
	}
	if (gx == 0 || gy == 0 || gz == 0)
		return 0; /* nothing to do */
	if (gx > caps->max_wg_count[0] || gy > caps->max_wg_count[1] || gz > caps->max_wg_count[2]) {
		g_warning("%s (%s): %u x %u x %u workgroups, over the device limit", label, name, gx,
			  gy, gz);
		return -EINVAL;
	}
	if (rec->n_dispatches >= rec->max_dispatches) {
		g_warning("%s: recorder full (%u dispatches)", label, rec->max_dispatches);
		return -ENOSPC;
	}
	VkDevice vkd = gpu_device_vk(rec->dev);
	VkDescriptorSetLayout sl = gpu_pipelines_set_layout(rec->pipes);
	VkDescriptorSetAllocateInfo ai = {
		.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
		.descriptorPool = rec->dpool,
		.descriptorSetCount = 1,
		.pSetLayouts = &sl,
	};
	VkDescriptorSet set;
	VkResult r = vkAllocateDescriptorSets(vkd, &ai, &set);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkAllocateDescriptorSets", r);
	VkDescriptorBufferInfo bi[GPU_MAX_BINDINGS];
	VkWriteDescriptorSet wr[GPU_MAX_BINDINGS];
	for (uint32_t i = 0; i < GPU_MAX_BINDINGS; i++) {
		bool used = i < n_bindings && b[i].buffer;
		bi[i] = (VkDescriptorBufferInfo){
			.buffer = gpu_buffer_vk(used ? b[i].buffer : rec->dummy),
			.offset = used ? b[i].offset : 0,
			.range = used ? b[i].range : VK_WHOLE_SIZE,
		};
		wr[i] = (VkWriteDescriptorSet){
			.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
			.dstSet = set,
			.dstBinding = i,
			.descriptorCount = 1,
			.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
			.pBufferInfo = &bi[i],
		};
	}
	vkUpdateDescriptorSets(vkd, GPU_MAX_BINDINGS, wr, 0, NULL);

	track_hazards(rec, b, n_bindings);
	g_strlcpy(rec->labels[rec->n_dispatches], label, GPU_LABEL_MAX);
	if (caps->debug_utils) {
		VkDebugUtilsLabelEXT dl = {
			.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_LABEL_EXT,
			.pLabelName = rec->labels[rec->n_dispatches],
		};
		vkCmdBeginDebugUtilsLabelEXT(rec->cmd, &dl);
	}
	vkCmdBindPipeline(rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, gpu_pipeline_vk(pl));
	vkCmdBindDescriptorSets(rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE,
				gpu_pipelines_layout(rec->pipes), 0, 1, &set, 0, NULL);
	if (push_bytes)
		vkCmdPushConstants(rec->cmd, gpu_pipelines_layout(rec->pipes),
				   VK_SHADER_STAGE_COMPUTE_BIT, 0, (uint32_t)push_bytes, push);
	vkCmdDispatch(rec->cmd, gx, gy, gz);
	if (caps->debug_utils)
		vkCmdEndDebugUtilsLabelEXT(rec->cmd);
	rec->n_dispatches++;
	if (rec->queries)
		vkCmdWriteTimestamp(rec->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, rec->queries,
				    rec->n_dispatches);
	return 0;
}

int gpu_recorder_submit(struct gpu_recorder *rec)
{
	if (rec->state != REC_RECORDING)
		return -EBUSY;
	/* Results go to the host (mapped readback) or to a staging copy. */
	VkMemoryBarrier mb = {
		.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
		.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
		.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT,
	};
	vkCmdPipelineBarrier(rec->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
			     VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0,
			     NULL, 0, NULL);
	rec->state = REC_IDLE;
	VkResult r = vkEndCommandBuffer(rec->cmd);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkEndCommandBuffer", r);
	VkSubmitInfo si = {
		.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
		.commandBufferCount = 1,
		.pCommandBuffers = &rec->cmd,
	};
	r = vkQueueSubmit(gpu_device_queue(rec->dev), 1, &si, rec->fence);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkQueueSubmit", r);
	rec->state = REC_SUBMITTED;
	return 0;
}

int gpu_recorder_wait(struct gpu_recorder *rec)
{
	if (rec->state != REC_SUBMITTED)
		return 0;
	VkDevice vkd = gpu_device_vk(rec->dev);
	rec->state = REC_IDLE;
	VkResult r = vkWaitForFences(vkd, 1, &rec->fence, VK_TRUE, UINT64_MAX);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkWaitForFences", r);
	r = vkResetFences(vkd, 1, &rec->fence);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkResetFences", r);
	if (rec->queries && rec->n_dispatches) {
		uint32_t n = rec->n_dispatches + 1;
		uint64_t *ts = rec->stamps;
		r = vkGetQueryPoolResults(vkd, rec->queries, 0, n, n * sizeof *ts, ts, sizeof *ts,
					  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
		if (r == VK_SUCCESS) {
			double period = gpu_device_caps(rec->dev)->timestamp_period_ns;
			for (uint32_t i = 0; i < rec->n_dispatches; i++)
				gpu_device_profile_add(rec->dev, rec->labels[i],
						       (double)(ts[i + 1] - ts[i]) * period);
		}
		if (r != VK_SUCCESS)
			return gpu_vk_fail("vkGetQueryPoolResults", r);
	}
	return 0;
}
