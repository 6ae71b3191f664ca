/* daemon/service.h — the systemd notification protocol (sd_notify(3)):
 * datagrams of "KEY=VALUE" lines to the socket named by $NOTIFY_SOCKET.
 * Written here (twenty lines) rather than linking libsystemd for one call.
 *
 * Without $NOTIFY_SOCKET (run by hand, in tests) every call does nothing.
 * An abstract socket is written "@name" in the variable.
 *
 * Threads: service_notify is safe from any thread (one sendto per message,
 * datagrams are atomic); create/destroy on the main thread.
 */
#ifndef CAPTIOND_DAEMON_SERVICE_H
#define CAPTIOND_DAEMON_SERVICE_H

#include <stdint.h>

struct service;

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (honoured only when $WATCHDOG_PID
 * is absent or ours). Returns NULL only without memory. */
struct service *service_create(void);
void service_destroy(struct service *svc);

/* Send one message, e.g. "READY=1\nSTATUS=captioning 2 streams". Returns 0
 * (also when there is no socket) or a negative errno from sendto. */
int service_notify(struct service *svc, const char *message);

/* printf-style STATUS= line. */
int service_status(struct service *svc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The watchdog interval systemd asked for, microseconds; 0: none. Ping at
 * half of it. */
uint64_t service_watchdog_usec(const struct service *svc);

#endif
