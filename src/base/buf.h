/*
 * buf.h - growable byte buffer, the output side of every writer.
 *
 * A sonde_buf owns a heap block that doubles as it fills. Writers append to it; the
 * caller takes the bytes (data, len) and releases the buffer. Appends report failure
 * through a sticky flag, so a writer may append many times and check buf.oom once.
 * Not thread-safe.
 */
#ifndef SONDE_BUF_H
#define SONDE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sonde_buf {
	char *data; /* owned; NUL-terminated after every append when cap > 0 */
	size_t len; /* bytes in use, not counting the terminating NUL */
	size_t cap; /* bytes allocated */
	bool oom;   /* sticky: set when an append could not grow the buffer */
} sonde_buf;

#define SONDE_BUF_INIT            \
	{                         \
		NULL, 0, 0, false \
	}

void sonde_buf_init(sonde_buf *b);
/* Frees the memory; the buffer is empty and usable again. NULL is a no-op. */
void sonde_buf_release(sonde_buf *b);
/* Forgets the contents but keeps the memory. */
static inline void sonde_buf_reset(sonde_buf *b)
{
	b->len = 0;
	if (b->cap)
		b->data[0] = '\0';
}

/* Ensures room for n more bytes plus a NUL. Returns 0 or -ENOMEM (and sets oom). */
int sonde_buf_grow(sonde_buf *b, size_t n);
/* Slow path of the inline appenders below. */
void sonde_buf_append_slow(sonde_buf *b, const void *p, size_t n);

static inline void sonde_buf_append(sonde_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len > n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	sonde_buf_append_slow(b, p, n);
}
static inline void sonde_buf_putc(sonde_buf *b, char c)
{
	if (b->cap - b->len > 1) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return;
	}
	sonde_buf_append_slow(b, &c, 1);
}
static inline void sonde_buf_puts(sonde_buf *b, const char *s)
{
	sonde_buf_append(b, s, strlen(s));
}
/* printf-style append. */
void sonde_buf_printf(sonde_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes ownership of the bytes: returns data (caller frees) and leaves b empty. */
char *sonde_buf_detach(sonde_buf *b, size_t *len_out);

#endif
