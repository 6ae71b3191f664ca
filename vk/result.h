/* vk/result.h — VkResult to text and to the project's negative errno.
 *
 * VK_ERROR_DEVICE_LOST maps to -ENODEV: a lost device is an error a caller
 * can act on (rebuild or stop), never a reason to abort. Pure functions,
 * thread-safe.
 */
#ifndef CAPTIOND_VK_RESULT_H
#define CAPTIOND_VK_RESULT_H

#include <volk.h>

/* "VK_ERROR_DEVICE_LOST"; "VkResult(-13)" style text for unknown codes is
 * not possible without a buffer, so unknown codes read "VK_UNKNOWN_RESULT". */
const char *gpu_result_string(VkResult r);

/* 0 for VK_SUCCESS and the other non-negative codes, else a negative errno:
 * -ENODEV (device lost), -ENOMEM (host or device memory), -ENOTSUP (missing
 * layer, extension, feature or format), -ETIMEDOUT, -EIO (anything else). */
int gpu_result_errno(VkResult r);

#endif
