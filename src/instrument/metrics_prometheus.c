/*
 * metrics_prometheus.c - the Prometheus pull endpoint: GET /metrics served by
 * libmicrohttpd's own thread, the exposition built by sonde_metrics_prometheus_text()
 * in the flavor the scraper's Accept header asks for.
 *
 * libmicrohttpd is started without MHD_USE_ERROR_LOG, so it never prints. In a fork child
 * the endpoint's thread does not exist: the child closes its copy of the listening socket
 * (so the parent alone answers on the port) and forgets the daemon without stopping it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter_internal.h"
#include "host_metrics_internal.h"
#include "metrics_internal.h"

static pthread_mutex_t prom_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *daemon_;
static uint16_t port_;
static pthread_once_t prom_once = PTHREAD_ONCE_INIT;

static const char ct_text[] = "text/plain; version=0.0.4; charset=utf-8";
static const char ct_om[] = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode, const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	static char not_found[] = "not found: the metrics are at /metrics\n";
	static char bad_method[] = "method not allowed: use GET\n";
	static char no_mem[] = "out of memory\n";
	if (*upload_data_size)
		*upload_data_size = 0;
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1,
		             MHD_RESPMEM_PERSISTENT, "text/plain");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, bad_method, sizeof(bad_method) - 1,
		             MHD_RESPMEM_PERSISTENT, "text/plain");
	const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	bool om = accept && strstr(accept, "application/openmetrics-text") != NULL;
	char *body;
	size_t len;
	if (sonde_metrics_prometheus_text(om, &body, &len) < 0)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, no_mem, sizeof(no_mem) - 1,
		             MHD_RESPMEM_PERSISTENT, "text/plain");
	return reply(conn, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE, om ? ct_om : ct_text);
}

/* Parses "a.b.c.d:port". */
static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || (size_t)(colon - addr) >= 64)
		return -EINVAL;
	char host[64];
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || port < 0 || port > 65535)
		return -EINVAL;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static void after_fork_child(void)
{
	pthread_mutex_init(&prom_mu, NULL);
	if (!daemon_)
		return;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_LISTEN_FD);
	if (info && info->listen_fd >= 0)
		close(info->listen_fd);
	daemon_ = NULL; /* its thread is the parent's; the memory is left as it is */
	port_ = 0;
}

static void prom_init(void)
{
	pthread_atfork(NULL, NULL, after_fork_child);
}

int sonde_metrics_prometheus_start(const char *addr)
{
	sonde__runtime_metrics_from_env();
	struct sockaddr_in sa;
	if (parse_addr(addr ? addr : "127.0.0.1:9464", &sa) < 0) {
		sonde__diag("metrics: bad Prometheus endpoint address \"%s\" (expected IPv4 host:port)",
		            addr);
		return -EINVAL;
	}
	pthread_once(&prom_once, prom_init);
	sonde_meter_get("sonde", NULL, NULL); /* the metrics runtime is up before any scrape */
	pthread_mutex_lock(&prom_mu);
	int rc = 0;
	if (daemon_) {
		rc = -EALREADY;
		goto out;
	}
	errno = 0;
	struct MHD_Daemon *d =
	        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, ntohs(sa.sin_port), NULL, NULL, handle,
	                         NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                         MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	if (!d) {
		rc = errno ? -errno : -EADDRINUSE;
		sonde__diag("metrics: cannot serve Prometheus metrics at %s: %s",
		            addr ? addr : "127.0.0.1:9464", strerror(-rc));
		goto out;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	daemon_ = d;
	port_ = info ? info->port : ntohs(sa.sin_port);
out:
	pthread_mutex_unlock(&prom_mu);
	return rc;
}

uint16_t sonde_metrics_prometheus_port(void)
{
	pthread_mutex_lock(&prom_mu);
	uint16_t p = port_;
	pthread_mutex_unlock(&prom_mu);
	return p;
}

void sonde_metrics_prometheus_stop(void)
{
	pthread_mutex_lock(&prom_mu);
	struct MHD_Daemon *d = daemon_;
	daemon_ = NULL;
	port_ = 0;
	pthread_mutex_unlock(&prom_mu);
	if (d)
		MHD_stop_daemon(d);
}
