/*
 * lazy_libs.c - libcurl and libmicrohttpd for the sonde executable, loaded on first use
 * instead of at start-up.
 *
 * Only `sonde store` with a ClickHouse URL (libcurl) and `sonde serve` (libmicrohttpd)
 * use them, but linked normally they bring some 35 shared libraries (gnutls, openssl,
 * krb5, ldap, nghttp2, ...) whose loading, relocation and constructors cost every sonde
 * command about 5 ms of CPU before main(): as much as a short `sonde mem` recording's
 * whole overhead. So the executable defines the functions the CLI's code calls, each of
 * which resolves the real one with dlopen()/dlsym() on its first call and jumps to it;
 * linked with --as-needed (CMakeLists.txt), the executable then no longer lists the two
 * libraries as needed. The libraries (libsonde_store.a, libsonde_serve.a) and their tests
 * are unchanged and still link libcurl and libmicrohttpd directly; libsonde
 * (src/instrument, the OTLP exporter) is not part of the executable and is not affected.
 *
 * A function the CLI starts calling that is not listed here still links: the linker then
 * keeps the library as needed, which only costs the start-up time again (the definitions
 * here then forward to the same library). When a library cannot be loaded, sonde stops
 * with a message naming it (exit 2), as the dynamic loader would have at start-up.
 *
 * The variadic functions are forwarded with their argument's real type: curl_easy_setopt
 * by the option's type range (as libcurl itself reads it), curl_easy_getinfo always a
 * pointer, MHD_start_daemon through MHD_start_daemon_va, MHD_get_daemon_info without
 * extra arguments (the info types sonde asks for take none).
 */
#define _GNU_SOURCE
#define CURL_DISABLE_TYPECHECK /* plain prototypes, not the type-checking macros */
#include <curl/curl.h>
#include <dlfcn.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define CURL_SONAME "libcurl.so.4"
#define MHD_SONAME  "libmicrohttpd.so.12"

/* The address of name in soname, loaded on the first call; exits when it cannot be had. */
static void *lazy_sym(const char *soname, const char *name)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	void *f = h ? dlsym(h, name) : NULL;
	if (!f) {
		fprintf(stderr, "sonde: cannot load %s from %s: %s\n", name, soname, dlerror());
		exit(2);
	}
	return f;
}

/* Declares the pointer `real` of fn's type, resolved once (a race resolves it twice, to
 * the same address). */
#define LAZY(lib, fn)                                                                  \
	static _Atomic(__typeof__(&fn)) real_##fn;                                     \
	__typeof__(&fn) real = atomic_load_explicit(&real_##fn, memory_order_acquire); \
	if (__builtin_expect(real == NULL, 0)) {                                       \
		real = (__typeof__(&fn))lazy_sym(lib, #fn);                            \
		atomic_store_explicit(&real_##fn, real, memory_order_release);         \
	}

/* ---- libcurl ---- */

CURLcode curl_global_init(long flags)
{
	LAZY(CURL_SONAME, curl_global_init);
	return real(flags);
}

CURL *curl_easy_init(void)
{
	LAZY(CURL_SONAME, curl_easy_init);
	return real();
}

void curl_easy_cleanup(CURL *curl)
{
	LAZY(CURL_SONAME, curl_easy_cleanup);
	real(curl);
}

CURLcode curl_easy_perform(CURL *curl)
{
	LAZY(CURL_SONAME, curl_easy_perform);
	return real(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
	LAZY(CURL_SONAME, curl_easy_strerror);
	return real(code);
}

char *curl_easy_escape(CURL *curl, const char *s, int len)
{
	LAZY(CURL_SONAME, curl_easy_escape);
	return real(curl, s, len);
}

void curl_free(void *p)
{
	LAZY(CURL_SONAME, curl_free);
	real(p);
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	LAZY(CURL_SONAME, curl_easy_setopt);
	va_list ap;
	va_start(ap, option);
	CURLcode rc;
	if (option < CURLOPTTYPE_OBJECTPOINT) {
		rc = real(curl, option, va_arg(ap, long));
	} else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
		rc = real(curl, option, va_arg(ap, void *));
	} else if (option < CURLOPTTYPE_OFF_T) {
		rc = real(curl, option, va_arg(ap, void (*)(void)));
	} else if (option < CURLOPTTYPE_BLOB) {
		rc = real(curl, option, va_arg(ap, curl_off_t));
	} else {
		rc = real(curl, option, va_arg(ap, void *));
	}
	va_end(ap);
	return rc;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	LAZY(CURL_SONAME, curl_easy_getinfo);
	va_list ap;
	va_start(ap, info);
	CURLcode rc = real(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

curl_mime *curl_mime_init(CURL *curl)
{
	LAZY(CURL_SONAME, curl_mime_init);
	return real(curl);
}

void curl_mime_free(curl_mime *mime)
{
	LAZY(CURL_SONAME, curl_mime_free);
	real(mime);
}

curl_mimepart *curl_mime_addpart(curl_mime *mime)
{
	LAZY(CURL_SONAME, curl_mime_addpart);
	return real(mime);
}

CURLcode curl_mime_name(curl_mimepart *part, const char *name)
{
	LAZY(CURL_SONAME, curl_mime_name);
	return real(part, name);
}

CURLcode curl_mime_filename(curl_mimepart *part, const char *filename)
{
	LAZY(CURL_SONAME, curl_mime_filename);
	return real(part, filename);
}

CURLcode curl_mime_data(curl_mimepart *part, const char *data, size_t size)
{
	LAZY(CURL_SONAME, curl_mime_data);
	return real(part, data, size);
}

CURLM *curl_multi_init(void)
{
	LAZY(CURL_SONAME, curl_multi_init);
	return real();
}

CURLMcode curl_multi_cleanup(CURLM *multi)
{
	LAZY(CURL_SONAME, curl_multi_cleanup);
	return real(multi);
}

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *curl)
{
	LAZY(CURL_SONAME, curl_multi_add_handle);
	return real(multi, curl);
}

CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *curl)
{
	LAZY(CURL_SONAME, curl_multi_remove_handle);
	return real(multi, curl);
}

CURLMcode curl_multi_perform(CURLM *multi, int *running)
{
	LAZY(CURL_SONAME, curl_multi_perform);
	return real(multi, running);
}

CURLMcode curl_multi_poll(CURLM *multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds,
                          int timeout_ms, int *numfds)
{
	LAZY(CURL_SONAME, curl_multi_poll);
	return real(multi, extra_fds, extra_nfds, timeout_ms, numfds);
}

CURLMsg *curl_multi_info_read(CURLM *multi, int *msgs_in_queue)
{
	LAZY(CURL_SONAME, curl_multi_info_read);
	return real(multi, msgs_in_queue);
}

/* ---- libmicrohttpd ---- */

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
	LAZY(MHD_SONAME, MHD_start_daemon_va);
	va_list ap;
	va_start(ap, dh_cls);
	struct MHD_Daemon *d = real(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
	LAZY(MHD_SONAME, MHD_stop_daemon);
	real(daemon);
}

MHD_socket MHD_quiesce_daemon(struct MHD_Daemon *daemon)
{
	LAZY(MHD_SONAME, MHD_quiesce_daemon);
	return real(daemon);
}

const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon, enum MHD_DaemonInfoType info_type,
                                                ...)
{
	LAZY(MHD_SONAME, MHD_get_daemon_info);
	return real(daemon, info_type);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
	LAZY(MHD_SONAME, MHD_lookup_connection_value);
	return real(connection, kind, key);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
	LAZY(MHD_SONAME, MHD_queue_response);
	return real(connection, status_code, response);
}

void MHD_suspend_connection(struct MHD_Connection *connection)
{
	LAZY(MHD_SONAME, MHD_suspend_connection);
	real(connection);
}

void MHD_resume_connection(struct MHD_Connection *connection)
{
	LAZY(MHD_SONAME, MHD_resume_connection);
	real(connection);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
	LAZY(MHD_SONAME, MHD_create_response_from_buffer);
	return real(size, buffer, mode);
}

void MHD_destroy_response(struct MHD_Response *response)
{
	LAZY(MHD_SONAME, MHD_destroy_response);
	real(response);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
                                        const char *content)
{
	LAZY(MHD_SONAME, MHD_add_response_header);
	return real(response, header, content);
}
