/* buf.c - growable byte buffer (see buf.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"

void sonde_buf_init(sonde_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void sonde_buf_release(sonde_buf *b)
{
	if (!b)
		return;
	free(b->data);
	sonde_buf_init(b);
}

int sonde_buf_grow(sonde_buf *b, size_t n)
{
	if (b->oom)
		return -ENOMEM;
	if (b->cap - b->len > n)
		return 0;
	size_t want = b->len + n + 1;
	if (want < n) {
		b->oom = true;
		return -ENOMEM;
	}
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want) {
		if (cap > SIZE_MAX / 2) {
			cap = want;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p) {
		b->oom = true;
		return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void sonde_buf_append_slow(sonde_buf *b, const void *p, size_t n)
{
	if (sonde_buf_grow(b, n) < 0)
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void sonde_buf_printf(sonde_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		sonde_buf_append(b, small, (size_t)n);
		return;
	}
	if (sonde_buf_grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *sonde_buf_detach(sonde_buf *b, size_t *len_out)
{
	char *p = b->data;
	if (len_out)
		*len_out = b->len;
	if (!p) {
		p = malloc(1);
		if (p)
			p[0] = '\0';
	}
	sonde_buf_init(b);
	return p;
}
