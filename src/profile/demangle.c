/*
 * demangle.c - C++ and Rust demangling (see demangle.h).
 *
 * The C++ demangler is __cxa_demangle from libstdc++, looked up with dlopen once; when it
 * is missing, names stay mangled. Rust legacy symbols are Itanium-mangled paths whose last
 * element is a hash "h0123456789abcdef"; their elements escape characters that C++ names
 * cannot hold ($LT$ for '<', .. for "::", ...), which rust_unescape() undoes.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "demangle.h"

typedef char *(*cxa_demangle_fn)(const char *mangled, char *buf, size_t *n, int *status);

static cxa_demangle_fn cxa_demangle;
static pthread_once_t cxa_once = PTHREAD_ONCE_INIT;

static void cxa_load(void)
{
	void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
	if (h)
		cxa_demangle = (cxa_demangle_fn)dlsym(h, "__cxa_demangle");
}

bool sonde_demangle_available(void)
{
	pthread_once(&cxa_once, cxa_load);
	return cxa_demangle != NULL;
}

/* True for "...::h" followed by 16 hex digits at the end of s[0..n). */
static bool rust_hash_at_end(const char *s, size_t n)
{
	if (n < 19 || memcmp(s + n - 19, "::h", 3) != 0)
		return false;
	for (size_t i = n - 16; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const struct {
	const char *esc;
	char c;
} rust_escapes[] = {
        {"$SP$", '@'}, {"$BP$", '*'}, {"$RF$", '&'}, {"$LT$", '<'},
        {"$GT$", '>'}, {"$LP$", '('}, {"$RP$", ')'}, {"$C$", ','},
};

/* Decodes Rust's escapes in place: s only shrinks. */
static void rust_unescape(char *s)
{
	char *w = s;
	for (const char *r = s; *r;) {
		if (r[0] == '.' && r[1] == '.') {
			*w++ = ':';
			*w++ = ':';
			r += 2;
			continue;
		}
		if (*r == '$') {
			bool done = false;
			for (size_t i = 0; i < sizeof(rust_escapes) / sizeof(rust_escapes[0]); i++) {
				size_t n = strlen(rust_escapes[i].esc);
				if (strncmp(r, rust_escapes[i].esc, n) == 0) {
					*w++ = rust_escapes[i].c;
					r += n;
					done = true;
					break;
				}
			}
			if (!done && r[1] == 'u') { /* $u7e$: a code point in hex (ASCII only here) */
				char *end;
				unsigned long v = strtoul(r + 2, &end, 16);
				if (*end == '$' && end > r + 2 && v > 0 && v < 128) {
					*w++ = (char)v;
					r = end + 1;
					done = true;
				}
			}
			if (done)
				continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
}

char *sonde_demangle(const char *name)
{
	if (!name || strncmp(name, "_Z", 2) != 0)
		return NULL;
	pthread_once(&cxa_once, cxa_load);
	if (!cxa_demangle)
		return NULL;
	int status = 0;
	char *out = cxa_demangle(name, NULL, NULL, &status);
	if (status != 0 || !out) {
		free(out);
		return NULL;
	}
	size_t n = strlen(out);
	if (strncmp(name, "_ZN", 3) == 0 && rust_hash_at_end(out, n)) {
		out[n - 19] = '\0';
		rust_unescape(out);
	}
	return out;
}
