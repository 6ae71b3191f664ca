/* vk/device.c — instance, device choice, feature query, validation
 * messenger, per-label profile. */
#define G_LOG_DOMAIN "gpu"
#include "vk/device.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "vk/result.h"

struct profile_entry {
	uint64_t count;
	double total_ns;
	double max_ns;
};

struct gpu_device {
	VkInstance instance;
	VkDebugUtilsMessengerEXT messenger;
	VkPhysicalDevice phys;
	VkDevice dev;
	VkQueue queue;
	uint32_t queue_family;
	VkPhysicalDeviceMemoryProperties mem;
	struct gpu_caps caps;
	bool profile;
	uint32_t validation_errors;
	uint32_t validation_warnings;
	GHashTable *profile_table; /* label (owned) → struct profile_entry */
};

int gpu_vk_fail(const char *what, VkResult r)
{
	g_warning("%s failed: %s", what, gpu_result_string(r));
	return gpu_result_errno(r);
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

void gpu_device_config_from_env(struct gpu_device_config *cfg)
{
	const char *d = getenv("CAPTIOND_VK_DEVICE");
	if (d && *d)
		cfg->device = d;
	if (getenv("CAPTIOND_VK_VALIDATION"))
		cfg->validation = env_true("CAPTIOND_VK_VALIDATION");
	if (getenv("CAPTIOND_PROFILE"))
		cfg->profile = env_true("CAPTIOND_PROFILE");
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
					       VkDebugUtilsMessageTypeFlagsEXT types,
					       const VkDebugUtilsMessengerCallbackDataEXT *data,
					       void *user)
{
	struct gpu_device *dev = user;
	const char *msg = data && data->pMessage ? data->pMessage : "(no message)";
	if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
		dev->validation_errors++;
		g_warning("validation error: %s", msg);
	} else if (sev & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
		dev->validation_warnings++;
		g_message("validation warning: %s", msg);
	}
	return VK_FALSE;
}

static bool has_layer(const char *name)
{
	uint32_t n = 0;
	if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
		return false;
	VkLayerProperties *p = g_new0(VkLayerProperties, n);
	bool found = false;
	if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
		for (uint32_t i = 0; i < n && !found; i++)
			found = strcmp(p[i].layerName, name) == 0;
	g_free(p);
	return found;
}

static bool has_instance_ext(const char *name)
{
	uint32_t n = 0;
	if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0)
		return false;
	VkExtensionProperties *p = g_new0(VkExtensionProperties, n);
	bool found = false;
	if (vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
		for (uint32_t i = 0; i < n && !found; i++)
			found = strcmp(p[i].extensionName, name) == 0;
	g_free(p);
	return found;
}

static bool has_device_ext(VkPhysicalDevice pd, const char *name)
{
	uint32_t n = 0;
	if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0)
		return false;
	VkExtensionProperties *p = g_new0(VkExtensionProperties, n);
	bool found = false;
	if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
		for (uint32_t i = 0; i < n && !found; i++)
			found = strcmp(p[i].extensionName, name) == 0;
	g_free(p);
	return found;
}

static int create_instance(struct gpu_device *dev, const struct gpu_device_config *cfg)
{
	const char *layers[1];
	uint32_t n_layers = 0;
	const char *exts[1];
	uint32_t n_exts = 0;

	if (cfg->validation) {
		if (has_layer("VK_LAYER_KHRONOS_validation")) {
			layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
			dev->caps.validation = true;
		} else {
			g_message("validation asked for but VK_LAYER_KHRONOS_validation is not installed");
		}
	}
	/* debug_utils gives dispatch labels to tools (RenderDoc, the layer). */
	if (has_instance_ext(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
		exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
		dev->caps.debug_utils = true;
	}
	uint32_t loader_version = volkGetInstanceVersion();
	VkApplicationInfo app = {
		.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
		.pApplicationName = "captiond",
		.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3
								  : VK_API_VERSION_1_2,
	};
	if (loader_version < VK_API_VERSION_1_2) {
		g_warning("the Vulkan loader supports only %u.%u; captiond needs 1.2",
			  VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
		return -ENODEV;
	}
	/* With the layer, also check synchronization: the recorder leaves out
	 * barriers between independent dispatches, and this proves it right. */
	VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
	VkValidationFeaturesEXT vf = {
		.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
		.enabledValidationFeatureCount = 1,
		.pEnabledValidationFeatures = &sync,
	};
	VkInstanceCreateInfo ici = {
		.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
		.pNext = dev->caps.validation ? &vf : NULL,
		.pApplicationInfo = &app,
		.enabledLayerCount = n_layers,
		.ppEnabledLayerNames = layers,
		.enabledExtensionCount = n_exts,
		.ppEnabledExtensionNames = exts,
	};
	VkResult r = vkCreateInstance(&ici, NULL, &dev->instance);
	if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
		g_message("no Vulkan driver (VK_ERROR_INCOMPATIBLE_DRIVER; check VK_DRIVER_FILES)");
		return -ENODEV;
	}
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkCreateInstance", r);
	/* Device-level calls go through the loader's dispatch (no volkLoadDevice):
	 * volk's pointers are process-wide, and two devices must coexist. */
	volkLoadInstance(dev->instance);

	if (dev->caps.validation && dev->caps.debug_utils) {
		VkDebugUtilsMessengerCreateInfoEXT mci = {
			.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
			.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
					   VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
			.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
				       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
				       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
			.pfnUserCallback = debug_cb,
			.pUserData = dev,
		};
		r = vkCreateDebugUtilsMessengerEXT(dev->instance, &mci, NULL, &dev->messenger);
		if (r != VK_SUCCESS)
			return gpu_vk_fail("vkCreateDebugUtilsMessengerEXT", r);
	}
	return 0;
}

static int type_rank(VkPhysicalDeviceType t)
{
	switch (t) {
	case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
	case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
	case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
	case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
	default: return 0;
	}
}

static const char *type_name(VkPhysicalDeviceType t)
{
	switch (t) {
	case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
	case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
	case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
	case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
	default: return "other";
	}
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static int pick_device(struct gpu_device *dev, const char *want)
{
	uint32_t n = 0;
	VkResult r = vkEnumeratePhysicalDevices(dev->instance, &n, NULL);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkEnumeratePhysicalDevices", r);
	if (n == 0) {
		g_message("no Vulkan device (no ICD, or VK_DRIVER_FILES points nowhere)");
		return -ENODEV;
	}
	VkPhysicalDevice *pds = g_new0(VkPhysicalDevice, n);
	int ret = 0;
	r = vkEnumeratePhysicalDevices(dev->instance, &n, pds);
	if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
		ret = gpu_vk_fail("vkEnumeratePhysicalDevices", r);
		goto out;
	}
	int best = -1, best_rank = -1;
	for (uint32_t i = 0; i < n; i++) {
		VkPhysicalDeviceProperties p;
		vkGetPhysicalDeviceProperties(pds[i], &p);
		if (want && all_digits(want)) {
			if (strtoul(want, NULL, 10) == i)
				best = (int)i;
			continue;
		}
		if (want) {
			if (strcasestr(p.deviceName, want) && best < 0)
				best = (int)i;
			continue;
		}
		if (type_rank(p.deviceType) > best_rank) {
			best_rank = type_rank(p.deviceType);
			best = (int)i;
		}
	}
	if (best < 0) {
		g_warning("no Vulkan device matches \"%s\" (%u devices; CAPTIOND_VK_DEVICE takes an "
			  "index or a name substring)", want, n);
		ret = -ENOENT;
		goto out;
	}
	dev->phys = pds[best];
out:
	g_free(pds);
	return ret;
}

/* Query limits and features into caps; check what we cannot run without. */
static int query_caps(struct gpu_device *dev)
{
	struct gpu_caps *c = &dev->caps;
	VkPhysicalDevice pd = dev->phys;

	VkPhysicalDeviceSubgroupProperties sg = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
	};
	VkPhysicalDeviceProperties2 p2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
		.pNext = &sg,
	};
	VkPhysicalDeviceShaderIntegerDotProductProperties dotp = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES,
	};
	VkPhysicalDeviceProperties base;
	vkGetPhysicalDeviceProperties(pd, &base);
	bool has_dot = base.apiVersion >= VK_API_VERSION_1_3 ||
		       has_device_ext(pd, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
	if (has_dot)
		sg.pNext = &dotp;
	vkGetPhysicalDeviceProperties2(pd, &p2);
	const VkPhysicalDeviceLimits *l = &p2.properties.limits;

	g_strlcpy(c->name, p2.properties.deviceName, sizeof c->name);
	c->type = p2.properties.deviceType;
	c->api_version = p2.properties.apiVersion;
	c->vendor_id = p2.properties.vendorID;
	c->device_id = p2.properties.deviceID;
	c->subgroup_size = sg.subgroupSize;
	c->subgroup_shuffle = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
			      (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
	c->subgroup_arithmetic = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
				 (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
				 /* shuffle-xor: the row sums of shaders/mul_mat_vec.glsl */
				 (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
	c->max_shared_bytes = l->maxComputeSharedMemorySize;
	c->max_storage_range = l->maxStorageBufferRange;
	c->storage_align = (uint32_t)l->minStorageBufferOffsetAlignment;
	c->max_push_bytes = l->maxPushConstantsSize;
	for (int i = 0; i < 3; i++)
		c->max_wg_count[i] = l->maxComputeWorkGroupCount[i];
	c->max_wg_size_x = l->maxComputeWorkGroupSize[0];
	c->max_wg_invocations = l->maxComputeWorkGroupInvocations;
	c->timestamp_period_ns = l->timestampPeriod;
	c->int8_dot_accelerated = has_dot && dotp.integerDotProduct4x8BitPackedSignedAccelerated;

	VkPhysicalDeviceMaintenance3Properties m3 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
	};
	VkPhysicalDeviceProperties2 p2b = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
		.pNext = &m3,
	};
	vkGetPhysicalDeviceProperties2(pd, &p2b);
	c->max_alloc_bytes = m3.maxMemoryAllocationSize;

	VkPhysicalDeviceShaderIntegerDotProductFeatures dotf = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES,
	};
	VkPhysicalDeviceCooperativeMatrixFeaturesNV cmnv = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
	};
	VkPhysicalDeviceVulkan12Features f12 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
	};
	VkPhysicalDeviceVulkan11Features f11 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
		.pNext = &f12,
	};
	VkPhysicalDeviceFeatures2 f2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
		.pNext = &f11,
	};
	void **tail = &f12.pNext;
	if (has_dot) {
		*tail = &dotf;
		tail = &dotf.pNext;
	}
	bool nv_ext = has_device_ext(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
	if (nv_ext) {
		*tail = &cmnv;
		tail = &cmnv.pNext;
	}
	if (c->api_version >= VK_API_VERSION_1_2)
		vkGetPhysicalDeviceFeatures2(pd, &f2);
	c->fp16_arith = f12.shaderFloat16;
	c->int16_arith = f2.features.shaderInt16;
	c->int8_arith = f12.shaderInt8;
	c->storage_16bit = f11.storageBuffer16BitAccess;
	c->storage_8bit = f12.storageBuffer8BitAccess;
	c->int8_dot = has_dot && dotf.shaderIntegerDotProduct;
	c->coopmat_nv = nv_ext && cmnv.cooperativeMatrix;
	c->memory_model = f12.vulkanMemoryModel;
	/* Our headers (1.3.239) predate VK_KHR_cooperative_matrix: name only. */
	c->coopmat_khr = has_device_ext(pd, "VK_KHR_cooperative_matrix");

	vkGetPhysicalDeviceMemoryProperties(pd, &dev->mem);
	for (uint32_t i = 0; i < dev->mem.memoryHeapCount; i++)
		if ((dev->mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
		    dev->mem.memoryHeaps[i].size > c->device_local_bytes)
			c->device_local_bytes = dev->mem.memoryHeaps[i].size;

	if (c->api_version < VK_API_VERSION_1_2) {
		g_warning("%s: Vulkan %u.%u, captiond needs 1.2", c->name,
			  VK_API_VERSION_MAJOR(c->api_version), VK_API_VERSION_MINOR(c->api_version));
		return -ENOTSUP;
	}
	if (!c->storage_16bit || !c->storage_8bit || !c->subgroup_arithmetic) {
		g_warning("%s lacks a required feature:%s%s%s", c->name,
			  c->storage_16bit ? "" : " storageBuffer16BitAccess",
			  c->storage_8bit ? "" : " storageBuffer8BitAccess",
			  c->subgroup_arithmetic ? "" : " subgroup arithmetic in compute");
		return -ENOTSUP;
	}
	return 0;
}

static int create_logical(struct gpu_device *dev)
{
	uint32_t n = 0;
	vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &n, NULL);
	VkQueueFamilyProperties *qf = g_new0(VkQueueFamilyProperties, n);
	vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &n, qf);
	/* Prefer a compute family without graphics: on desktop GPUs it is the
	 * async compute queue, free of the display's work. */
	int fam = -1;
	for (uint32_t i = 0; i < n; i++) {
		if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
			continue;
		if (fam < 0 || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
			fam = (int)i;
		if (!(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
			break;
	}
	if (fam < 0) {
		g_free(qf);
		g_warning("%s has no compute queue", dev->caps.name);
		return -ENOTSUP;
	}
	dev->queue_family = (uint32_t)fam;
	dev->caps.timestamps = qf[fam].timestampValidBits > 0;
	g_free(qf);

	float prio = 1.0f;
	VkDeviceQueueCreateInfo qci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
		.queueFamilyIndex = dev->queue_family,
		.queueCount = 1,
		.pQueuePriorities = &prio,
	};
	VkPhysicalDeviceVulkan12Features f12 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
		.storageBuffer8BitAccess = VK_TRUE,
		.shaderFloat16 = dev->caps.fp16_arith,
		.shaderInt8 = dev->caps.int8_arith,
		/* glslang emits the VulkanMemoryModel capability for the cooperative-
		 * matrix shaders; the device must enable the feature they declare. */
		.vulkanMemoryModel = dev->caps.memory_model,
	};
	VkPhysicalDeviceVulkan11Features f11 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
		.pNext = &f12,
		.storageBuffer16BitAccess = VK_TRUE,
	};
	VkPhysicalDeviceFeatures2 f2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
		.pNext = &f11,
		/* 16-bit weight loads (16-bit storage) may make glslang declare
		 * the Int16 capability; enable it wherever the device has it. */
		.features.shaderInt16 = dev->caps.int16_arith,
	};
	/* mul_mat's tensor-core kernel (vk/ops_matmul.c) needs the NV extension. */
	VkPhysicalDeviceCooperativeMatrixFeaturesNV cmnv = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
		.cooperativeMatrix = VK_TRUE,
	};
	const char *exts[] = { VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME };
	if (dev->caps.coopmat_nv)
		f12.pNext = &cmnv;
	VkDeviceCreateInfo dci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
		.pNext = &f2,
		.queueCreateInfoCount = 1,
		.pQueueCreateInfos = &qci,
		.enabledExtensionCount = dev->caps.coopmat_nv ? 1 : 0,
		.ppEnabledExtensionNames = exts,
	};
	VkResult r = vkCreateDevice(dev->phys, &dci, NULL, &dev->dev);
	if (r != VK_SUCCESS)
		return gpu_vk_fail("vkCreateDevice", r);
	vkGetDeviceQueue(dev->dev, dev->queue_family, 0, &dev->queue);
	return 0;
}

int gpu_device_create(const struct gpu_device_config *cfg, struct gpu_device **out)
{
	*out = NULL;
	VkResult r = volkInitialize();
	if (r != VK_SUCCESS) {
		g_message("no Vulkan loader (libvulkan.so.1): %s", gpu_result_string(r));
		return -ENODEV;
	}
	struct gpu_device *dev = g_new0(struct gpu_device, 1);
	int ret = create_instance(dev, cfg);
	if (ret < 0)
		goto fail;
	ret = pick_device(dev, cfg->device);
	if (ret < 0)
		goto fail;
	ret = query_caps(dev);
	if (ret < 0)
		goto fail;
	ret = create_logical(dev);
	if (ret < 0)
		goto fail;
	dev->caps.max_binding_bytes = dev->caps.max_storage_range;
	if (cfg->max_binding_bytes && cfg->max_binding_bytes < dev->caps.max_binding_bytes)
		dev->caps.max_binding_bytes = cfg->max_binding_bytes;
	dev->profile = cfg->profile && dev->caps.timestamps;
	if (cfg->profile && !dev->caps.timestamps)
		g_message("profiling asked for, but %s has no compute timestamps", dev->caps.name);
	dev->profile_table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	*out = dev;
	return 0;
fail:
	gpu_device_destroy(dev);
	return ret;
}

void gpu_device_destroy(struct gpu_device *dev)
{
	if (!dev)
		return;
	if (dev->profile && dev->profile_table && g_hash_table_size(dev->profile_table))
		gpu_device_profile_print(dev, stderr);
	if (dev->dev) {
		vkDeviceWaitIdle(dev->dev);
		vkDestroyDevice(dev->dev, NULL);
	}
	if (dev->messenger)
		vkDestroyDebugUtilsMessengerEXT(dev->instance, dev->messenger, NULL);
	if (dev->instance)
		vkDestroyInstance(dev->instance, NULL);
	if (dev->profile_table)
		g_hash_table_destroy(dev->profile_table);
	g_free(dev);
}

const struct gpu_caps *gpu_device_caps(const struct gpu_device *dev) { return &dev->caps; }
VkDevice gpu_device_vk(const struct gpu_device *dev) { return dev->dev; }
VkPhysicalDevice gpu_device_vk_physical(const struct gpu_device *dev) { return dev->phys; }
VkQueue gpu_device_queue(const struct gpu_device *dev) { return dev->queue; }
uint32_t gpu_device_queue_family(const struct gpu_device *dev) { return dev->queue_family; }
bool gpu_device_profiling(const struct gpu_device *dev) { return dev->profile; }
uint32_t gpu_device_validation_errors(const struct gpu_device *dev) { return dev->validation_errors; }

int gpu_device_memory_type(const struct gpu_device *dev, uint32_t type_bits,
			   VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred)
{
	int fallback = -1;
	for (uint32_t i = 0; i < dev->mem.memoryTypeCount; i++) {
		VkMemoryPropertyFlags f = dev->mem.memoryTypes[i].propertyFlags;
		if (!(type_bits & (1u << i)) || (f & required) != required)
			continue;
		if ((f & preferred) == preferred)
			return (int)i;
		if (fallback < 0)
			fallback = (int)i;
	}
	return fallback;
}

static const char *yes(bool b) { return b ? "yes" : "no"; }

void gpu_device_describe(const struct gpu_device *dev, FILE *f)
{
	const struct gpu_caps *c = &dev->caps;
	fprintf(f, "device: %s\n", c->name);
	fprintf(f, "type: %s\n", type_name(c->type));
	fprintf(f, "vulkan: %u.%u.%u\n", VK_API_VERSION_MAJOR(c->api_version),
		VK_API_VERSION_MINOR(c->api_version), VK_API_VERSION_PATCH(c->api_version));
	fprintf(f, "vendor_id: 0x%04x\ndevice_id: 0x%04x\n", c->vendor_id, c->device_id);
	fprintf(f, "subgroup_size: %u\n", c->subgroup_size);
	fprintf(f, "subgroup_arithmetic: %s\n", yes(c->subgroup_arithmetic));
	fprintf(f, "subgroup_shuffle: %s\n", yes(c->subgroup_shuffle));
	fprintf(f, "fp16_arithmetic: %s\n", yes(c->fp16_arith));
	fprintf(f, "int8_arithmetic: %s\n", yes(c->int8_arith));
	fprintf(f, "storage_16bit: %s\nstorage_8bit: %s\n", yes(c->storage_16bit), yes(c->storage_8bit));
	fprintf(f, "int8_dot_product: %s%s\n", yes(c->int8_dot),
		c->int8_dot_accelerated ? " (accelerated)" : "");
	fprintf(f, "cooperative_matrix_khr: %s\ncooperative_matrix_nv: %s\n", yes(c->coopmat_khr),
		yes(c->coopmat_nv));
	fprintf(f, "max_shared_bytes: %u\n", c->max_shared_bytes);
	fprintf(f, "max_storage_buffer_range: %" PRIu64 "\n", c->max_storage_range);
	fprintf(f, "max_binding_bytes: %" PRIu64 "\n", c->max_binding_bytes);
	fprintf(f, "max_allocation_bytes: %" PRIu64 "\n", c->max_alloc_bytes);
	fprintf(f, "device_local_bytes: %" PRIu64 "\n", c->device_local_bytes);
	fprintf(f, "storage_offset_alignment: %u\n", c->storage_align);
	fprintf(f, "max_push_constant_bytes: %u\n", c->max_push_bytes);
	fprintf(f, "max_workgroup_count: %u %u %u\n", c->max_wg_count[0], c->max_wg_count[1],
		c->max_wg_count[2]);
	fprintf(f, "max_workgroup_size_x: %u\nmax_workgroup_invocations: %u\n", c->max_wg_size_x,
		c->max_wg_invocations);
	fprintf(f, "timestamps: %s (period %.3g ns)\n", yes(c->timestamps), c->timestamp_period_ns);
	fprintf(f, "validation: %s\n", yes(c->validation));
}

void gpu_device_profile_add(struct gpu_device *dev, const char *label, double ns)
{
	struct profile_entry *e = g_hash_table_lookup(dev->profile_table, label);
	if (!e) {
		e = g_new0(struct profile_entry, 1);
		g_hash_table_insert(dev->profile_table, g_strdup(label), e);
	}
	e->count++;
	e->total_ns += ns;
	if (ns > e->max_ns)
		e->max_ns = ns;
}

void gpu_device_profile_reset(struct gpu_device *dev)
{
	if (dev->profile_table)
		g_hash_table_remove_all(dev->profile_table);
}

static gint by_total_desc(gconstpointer a, gconstpointer b, gpointer table)
{
	const struct profile_entry *ea = g_hash_table_lookup(table, *(char *const *)a);
	const struct profile_entry *eb = g_hash_table_lookup(table, *(char *const *)b);
	return (ea->total_ns < eb->total_ns) - (ea->total_ns > eb->total_ns);
}

void gpu_device_profile_print(const struct gpu_device *dev, FILE *f)
{
	guint n = 0;
	gpointer *keys = g_hash_table_get_keys_as_array(dev->profile_table, &n);
	g_qsort_with_data(keys, (gint)n, sizeof *keys, by_total_desc, dev->profile_table);
	double all = 0;
	for (guint i = 0; i < n; i++)
		all += ((struct profile_entry *)g_hash_table_lookup(dev->profile_table, keys[i]))->total_ns;
	fprintf(f, "%-48s %8s %12s %10s %10s %6s\n", "label", "count", "total_us", "mean_us",
		"max_us", "share");
	for (guint i = 0; i < n; i++) {
		const struct profile_entry *e = g_hash_table_lookup(dev->profile_table, keys[i]);
		fprintf(f, "%-48s %8" PRIu64 " %12.1f %10.2f %10.2f %5.1f%%\n", (const char *)keys[i],
			e->count, e->total_ns / 1e3, e->total_ns / 1e3 / (double)e->count,
			e->max_ns / 1e3, all > 0 ? 100.0 * e->total_ns / all : 0.0);
	}
	g_free(keys);
}
