/*
 * http_client_internal.h - the HTTP POST both HTTP exporters (OTLP/HTTP, Zipkin) share:
 * one libcurl easy handle kept alive across exports, every attempt bounded by the export's
 * deadline, and the retry policy of the OTLP specification.
 *
 * Retry policy. Responses 429, 502, 503 and 504 and transport failures (refused or reset
 * connections, a peer that hangs up without answering, timeouts of one attempt) are
 * retried; any other status is final, redirects included (they are not followed). Before
 * retry n (n = 1, 2, ...) the client waits what the response's Retry-After said
 * (delta-seconds or an HTTP-date), or else a random time in
 * [0, min(5 s, 250 ms * 2^(n-1))] ("full jitter": exponential growth, capped, spread so
 * that clients restarted together do not retry together). When the next attempt would
 * start at or after the deadline, post returns -ETIMEDOUT at once instead of sleeping.
 *
 * libcurl. The first client initialises libcurl once per process (pthread_once around
 * curl_global_init). curl_global_init is not thread-safe before libcurl 7.84 (and is not on
 * builds without CURL_VERSION_THREADSAFE): an application that calls it, or
 * curl_global_cleanup, on another thread at the same moment as the first exporter is
 * created can race with it. libsonde never calls curl_global_cleanup, so the application's
 * own use of libcurl is never torn down under it. Every handle sets CURLOPT_NOSIGNAL, so
 * libcurl installs no signal handler and raises no SIGALRM (on Linux it sends with
 * MSG_NOSIGNAL, so a reset connection raises no SIGPIPE either); proxies follow libcurl's
 * defaults (the http_proxy / https_proxy / no_proxy variables). Only http and https URLs
 * are allowed.
 *
 * Thread-safety: a client belongs to one thread at a time (the exporter thread).
 */
#ifndef SONDE_HTTP_CLIENT_INTERNAL_H
#define SONDE_HTTP_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"

/* First retry waits up to this long; each further one doubles it, up to the cap. */
#define SONDE_HTTP_BACKOFF_INITIAL_NS 250000000ull
#define SONDE_HTTP_BACKOFF_MAX_NS     5000000000ull
/* Response bodies are kept up to this size; the rest is read and dropped. */
#define SONDE_HTTP_MAX_RESPONSE       65536u
/* Open sockets remembered for sonde__http_client_after_fork; one is the usual count. */
#define SONDE_HTTP_MAX_SOCKETS        4

typedef struct sonde__http_client {
	CURL *curl;                   /* owned; NULL after release */
	struct curl_slist *headers;   /* owned */
	char *url;                    /* owned */
	const char *what;             /* exporter name for diagnostics; static */
	sonde_buf resp;               /* body of the last response, truncated to the cap */
	char content_type[128];       /* Content-Type of the last response, "" when none */
	char retry_after[64];         /* Retry-After of the last response, "" when none */
	long status;                  /* HTTP status of the last response, 0 when none */
	uint64_t rng;                 /* state of the jitter generator */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's message about the last failure */
	/* The handle's open sockets, -1 for none; atomic because a fork may come at any time. */
	_Atomic int sockets[SONDE_HTTP_MAX_SOCKETS];
} sonde__http_client;

/* Prepares c to POST to url (copied) with the User-Agent "sonde-libsonde/<version>".
 * libcurl keeps pointers into c, so c must stay where it is until released. what names
 * the exporter in diagnostics ("otlp-http"). Returns 0, -ENOMEM, or -EIO when
 * libcurl cannot be initialised (reported). On failure c needs no release. */
int sonde__http_client_init(sonde__http_client *c, const char *what, const char *url);

/* Adds a request header line "Name: value" (copied). Returns 0 or -ENOMEM. */
int sonde__http_client_add_header(sonde__http_client *c, const char *line);

/* Closes the connection and frees everything c holds. Safe to call twice. */
void sonde__http_client_release(sonde__http_client *c);

/* In the child after fork(): forgets the handle inherited from the parent (leaking it,
 * since the parent's exporter thread may have been using it) and closes the child's copies
 * of its sockets, which sends nothing to the peer. The next post opens a new connection.
 * Calls only close(): safe in a pthread_atfork child handler. */
void sonde__http_client_after_fork(sonde__http_client *c);

/*
 * POSTs body[0..len) (borrowed for the call) until a response that is final or the
 * deadline (CLOCK_MONOTONIC ns), following the retry policy above; *retries is incremented
 * for each retried request.
 *
 * Returns 0 when the peer answered 2xx (c->status, c->resp and c->content_type describe the
 * answer); -ETIMEDOUT when the deadline came first; -EPROTO for any other HTTP status;
 * -ENOMEM; or -EIO for a transport failure that retrying cannot fix (a malformed URL, an
 * unsupported scheme, a TLS certificate problem). Every failure is reported through
 * sonde__diag with the URL, the status or libcurl's message, and a snippet of the body.
 */
int sonde__http_post(sonde__http_client *c, const void *body, size_t len, uint64_t deadline_ns,
                     uint64_t *retries);

/* Checks that url is absolute http:// or https:// (any case) with a host. */
bool sonde__http_url_ok(const char *url);

#endif
