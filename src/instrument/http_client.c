/*
 * http_client.c - POST with retries over one kept-alive libcurl handle, for the OTLP/HTTP
 * and Zipkin exporters. The retry policy and the libcurl caveats are described in
 * http_client_internal.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "exporter_internal.h"
#include "http_client_internal.h"
#include "pbwire.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* splitmix64: jitter only needs to differ between processes, not to be unpredictable. */
static uint64_t next_random(sonde__http_client *c)
{
	uint64_t z = (c->rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	sonde__http_client *c = ud;
	size_t len = size * n;
	if (c->resp.len < SONDE_HTTP_MAX_RESPONSE) {
		size_t room = SONDE_HTTP_MAX_RESPONSE - c->resp.len;
		sonde_buf_append(&c->resp, p, len < room ? len : room);
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	static const char name[] = "retry-after:";
	sonde__http_client *c = ud;
	size_t len = size * n;
	/* A new status line starts a new response (after "100 Continue", say). */
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		c->retry_after[0] = '\0';
		return len;
	}
	if (len < sizeof(name) - 1 || strncasecmp(p, name, sizeof(name) - 1) != 0)
		return len;
	const char *v = p + sizeof(name) - 1, *e = p + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	size_t vn = (size_t)(e - v);
	if (vn >= sizeof(c->retry_after))
		vn = sizeof(c->retry_after) - 1;
	memcpy(c->retry_after, v, vn);
	c->retry_after[vn] = '\0';
	return len;
}

bool sonde__http_url_ok(const char *url)
{
	size_t skip;
	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (url[skip] == '\0' || url[skip] == '/')
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Sockets are opened close-on-exec (a program the application execs does not inherit
 * the exporter's connection) and remembered, so a child after fork() can drop its copies. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	sonde__http_client *c = ud;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	for (size_t i = 0; i < SONDE_HTTP_MAX_SOCKETS; i++) {
		int empty = -1;
		if (atomic_compare_exchange_strong(&c->sockets[i], &empty, fd))
			break;
	}
	return fd;
}

static int close_socket(void *ud, curl_socket_t fd)
{
	sonde__http_client *c = ud;
	/* Forgotten before it is closed, so a fork in between never sees a number that may
	 * already belong to another file. */
	for (size_t i = 0; i < SONDE_HTTP_MAX_SOCKETS; i++) {
		int mine = fd;
		if (atomic_compare_exchange_strong(&c->sockets[i], &mine, -1))
			break;
	}
	return close(fd);
}

/* Creates the easy handle with every option that does not change between requests: the
 * handle, and with it the connection, is reused by every export. */
static int open_handle(sonde__http_client *c)
{
	CURL *h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	CURLcode rc = CURLE_OK;
	rc |= curl_easy_setopt(h, CURLOPT_URL, c->url);
	rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
	rc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "sonde-libsonde/" SONDE_VERSION);
	rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	rc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	rc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	rc |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	rc |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, c);
	rc |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	rc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (rc != CURLE_OK) {
		sonde__diag("sonde: %s: libcurl refused an option", c->what);
		curl_easy_cleanup(h);
		return -EIO;
	}
	c->curl = h;
	return 0;
}

int sonde__http_client_init(sonde__http_client *c, const char *what, const char *url)
{
	memset(c, 0, sizeof(*c));
	c->what = what;
	for (size_t i = 0; i < SONDE_HTTP_MAX_SOCKETS; i++)
		atomic_init(&c->sockets[i], -1);
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		sonde__diag("sonde: %s: libcurl initialisation failed: %s", what,
		            curl_easy_strerror(global_rc));
		return -EIO;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 16) ^
	         (uintptr_t)c;
	c->url = strdup(url);
	int rc = c->url ? open_handle(c) : -ENOMEM;
	/* libcurl would otherwise ask large bodies "Expect: 100-continue" and wait up to a
	 * second for an answer that OTLP receivers never send. */
	if (rc == 0)
		rc = sonde__http_client_add_header(c, "Expect:");
	if (rc < 0)
		sonde__http_client_release(c);
	return rc;
}

int sonde__http_client_add_header(sonde__http_client *c, const char *line)
{
	struct curl_slist *l = curl_slist_append(c->headers, line);
	if (!l)
		return -ENOMEM;
	c->headers = l;
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	return 0;
}

void sonde__http_client_release(sonde__http_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	free(c->url);
	c->url = NULL;
	sonde_buf_release(&c->resp);
}

void sonde__http_client_after_fork(sonde__http_client *c)
{
	/* The parent's exporter thread may have been inside this handle when the process
	 * forked, so the child's copy is left as it is (leaked, never cleaned up: cleanup
	 * could talk TLS on the parent's connection). Closing the child's descriptors sends
	 * nothing; the parent's connections stay open through the parent's own. */
	for (size_t i = 0; i < SONDE_HTTP_MAX_SOCKETS; i++) {
		int fd = atomic_exchange(&c->sockets[i], -1);
		if (fd >= 0)
			close(fd);
	}
	c->curl = NULL;
	c->resp = (sonde_buf)SONDE_BUF_INIT;
}

static bool status_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Transport failures that retrying cannot fix; everything else (refused, reset, no reply,
 * timeouts, name resolution) may heal and is retried. */
static bool curl_permanent(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_FAILED_INIT:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED: return true;
	default: return false;
	}
}

/* Retry-After as a wait: delta-seconds, or an HTTP-date (IMF-fixdate and the two obsolete
 * forms RFC 9110 still asks recipients to accept; curl_getdate reads all three). */
static bool retry_after_ns(const char *v, uint64_t *out)
{
	if (!*v)
		return false;
	if (v[strspn(v, "0123456789")] == '\0') {
		uint64_t secs = 0;
		for (const char *p = v; *p && secs < 1000000; p++)
			secs = secs * 10 + (uint64_t)(*p - '0');
		*out = secs * 1000000000ull;
		return true;
	}
	time_t t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t d = ((int64_t)t - (int64_t)now.tv_sec) * 1000000000ll - now.tv_nsec;
	*out = d > 0 ? (uint64_t)d : 0;
	return true;
}

static uint64_t backoff_ns(sonde__http_client *c, unsigned retry)
{
	unsigned shift = retry > 6 ? 5 : retry - 1;
	uint64_t cap = SONDE_HTTP_BACKOFF_INITIAL_NS << shift;
	if (cap > SONDE_HTTP_BACKOFF_MAX_NS)
		cap = SONDE_HTTP_BACKOFF_MAX_NS;
	return next_random(c) % (cap + 1);
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = {(time_t)(mono_ns / 1000000000u), (long)(mono_ns % 1000000000u)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* What the peer said, for a diagnostic: google.rpc.Status.message when the body is
 * protobuf (the OTLP failure body), else the body's printable start. */
static void body_snippet(const sonde__http_client *c, char *out, size_t cap)
{
	const char *p = c->resp.data ? c->resp.data : "";
	size_t n = c->resp.len;
	if (strncasecmp(c->content_type, "application/x-protobuf", 22) == 0) {
		sonde_pb_reader r;
		uint32_t field, wt;
		sonde_pb_reader_init(&r, p, n);
		const char *msg = NULL;
		size_t msg_len = 0;
		while (sonde_pb_next_field(&r, &field, &wt) > 0) {
			if (field == 2 && wt == SONDE_PB_LEN) {
				const uint8_t *s;
				if (sonde_pb_read_bytes(&r, &s, &msg_len) < 0)
					break;
				msg = (const char *)s;
			} else if (sonde_pb_skip(&r, wt) < 0) {
				break;
			}
		}
		if (msg) {
			p = msg;
			n = msg_len;
		}
	}
	size_t o = 0;
	for (size_t i = 0; i < n && o + 4 < cap; i++)
		out[o++] = (unsigned char)p[i] < ' ' || p[i] == 0x7f ? ' ' : p[i];
	if (o + 4 >= cap && n > o)
		memcpy(out + o, "...", 3), o += 3;
	out[o] = '\0';
}

static int report_status(const sonde__http_client *c)
{
	char snippet[200];
	body_snippet(c, snippet, sizeof(snippet));
	sonde__diag("sonde: %s: POST %s: HTTP %ld, not retried%s%s", c->what, c->url, c->status,
	            snippet[0] ? ": " : "", snippet);
	return -EPROTO;
}

int sonde__http_post(sonde__http_client *c, const void *body, size_t len, uint64_t deadline_ns,
                     uint64_t *retries)
{
	if (!c->curl && (!c->url || open_handle(c) < 0))
		return -EIO;
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	char last[160] = "";
	unsigned attempts = 0;
	for (;;) {
		uint64_t now = sonde__mono_ns();
		if (now >= deadline_ns)
			break;
		long remaining_ms = (long)((deadline_ns - now + 999999u) / 1000000u);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, remaining_ms);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, remaining_ms);
		sonde_buf_reset(&c->resp);
		c->content_type[0] = c->retry_after[0] = c->errbuf[0] = '\0';
		c->status = 0;
		attempts++;

		CURLcode rc = curl_easy_perform(h);
		uint64_t wait_ns;
		if (rc == CURLE_OK) {
			char *ct = NULL;
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
			if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
				strncpy(c->content_type, ct, sizeof(c->content_type) - 1);
				c->content_type[sizeof(c->content_type) - 1] = '\0';
			}
			if (c->resp.oom)
				return -ENOMEM;
			if (c->status >= 200 && c->status < 300)
				return 0;
			if (!status_retryable(c->status))
				return report_status(c);
			snprintf(last, sizeof(last), "HTTP %ld", c->status);
			if (!retry_after_ns(c->retry_after, &wait_ns))
				wait_ns = backoff_ns(c, attempts);
		} else {
			snprintf(last, sizeof(last), "%.150s",
			         c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
			if (rc == CURLE_OUT_OF_MEMORY)
				return -ENOMEM;
			if (curl_permanent(rc)) {
				sonde__diag("sonde: %s: POST %s: %s, not retried", c->what, c->url, last);
				return -EIO;
			}
			wait_ns = backoff_ns(c, attempts);
		}
		now = sonde__mono_ns();
		if (now >= deadline_ns || wait_ns >= deadline_ns - now)
			break;
		sleep_until(now + wait_ns);
		__atomic_fetch_add(retries, 1, __ATOMIC_RELAXED); /* read by sonde_tracer_stats_get */
	}
	sonde__diag("sonde: %s: POST %s: deadline reached after %u attempt(s)%s%s", c->what, c->url, attempts,
	            last[0] ? "; last: " : "", last);
	return -ETIMEDOUT;
}
