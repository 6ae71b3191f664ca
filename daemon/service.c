/* daemon/service.c — sd_notify over $NOTIFY_SOCKET (see service.h). */
#include "daemon/service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

struct service {
	int fd;                   /* -1: no notification socket */
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t watchdog_usec;
};

struct service *service_create(void)
{
	struct service *svc = g_new0(struct service, 1);
	svc->fd = -1;
	const char *path = g_getenv("NOTIFY_SOCKET");
	size_t len = path ? strlen(path) : 0;
	if (len >= 2 && len < sizeof svc->addr.sun_path && (path[0] == '/' || path[0] == '@')) {
		svc->addr.sun_family = AF_UNIX;
		memcpy(svc->addr.sun_path, path, len);
		if (path[0] == '@')
			svc->addr.sun_path[0] = '\0'; /* abstract namespace */
		svc->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
		svc->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	}
	const char *wd = g_getenv("WATCHDOG_USEC"), *pid = g_getenv("WATCHDOG_PID");
	if (wd && (!pid || strtol(pid, NULL, 10) == (long)getpid()))
		svc->watchdog_usec = g_ascii_strtoull(wd, NULL, 10);
	return svc;
}

void service_destroy(struct service *svc)
{
	if (!svc)
		return;
	if (svc->fd >= 0)
		close(svc->fd);
	g_free(svc);
}

int service_notify(struct service *svc, const char *message)
{
	if (!svc || svc->fd < 0)
		return 0;
	ssize_t n = sendto(svc->fd, message, strlen(message), MSG_NOSIGNAL, (const struct sockaddr *)&svc->addr,
			   svc->addr_len);
	return n < 0 ? -errno : 0;
}

int service_status(struct service *svc, const char *fmt, ...)
{
	if (!svc || svc->fd < 0)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	char *text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	char *msg = g_strconcat("STATUS=", text, NULL);
	int ret = service_notify(svc, msg);
	g_free(msg);
	g_free(text);
	return ret;
}

uint64_t service_watchdog_usec(const struct service *svc)
{
	return svc ? svc->watchdog_usec : 0;
}
