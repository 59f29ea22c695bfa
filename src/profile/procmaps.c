/*
 * procmaps.c - the /proc/PID/maps reader (see procmaps.h).
 *
 * A line is "START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]", numbers in hex but the
 * inode in decimal, the path running to the end of the line (it may hold spaces). The
 * kernel pads the path column with spaces; we skip them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procmaps.h"

typedef struct cursor {
	const char *p, *end, *buf;
	size_t line;
} cursor;

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads a number of at most 16 hex digits (base 16) or 20 decimal digits (base 10). */
static int read_num(cursor *c, int base, uint64_t *out, const char *field, sonde_wire_error *err)
{
	uint64_t v = 0;
	const char *start = c->p;
	while (c->p < c->end) {
		int d = base == 16 ? hexval(*c->p) : (*c->p >= '0' && *c->p <= '9' ? *c->p - '0' : -1);
		if (d < 0)
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return sonde_wire_fail(err, (size_t)(start - c->buf), c->line, field,
			                       "number does not fit in 64 bits");
		v = v * (uint64_t)base + (uint64_t)d;
		c->p++;
	}
	if (c->p == start)
		return sonde_wire_fail(err, (size_t)(start - c->buf), c->line, field, "expected a %s number",
		                       base == 16 ? "hexadecimal" : "decimal");
	*out = v;
	return 0;
}

static int expect_char(cursor *c, char ch, const char *field, sonde_wire_error *err)
{
	if (c->p >= c->end || *c->p != ch)
		return sonde_wire_fail(err, (size_t)(c->p - c->buf), c->line, field, "expected '%c'", ch);
	c->p++;
	return 0;
}

static void skip_spaces(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static int parse_line(cursor *c, const char *eol, sonde_map_fn fn, void *ctx, sonde_wire_error *err)
{
	sonde_map_entry e;
	uint64_t major, minor;
	char path[PATH_MAX + 16];
	int rc;
	memset(&e, 0, sizeof(e));
	c->end = eol;
	if ((rc = read_num(c, 16, &e.start, "start", err)) != 0 ||
	    (rc = expect_char(c, '-', "start", err)) != 0)
		return rc;
	const char *end_at = c->p;
	if ((rc = read_num(c, 16, &e.end, "end", err)) != 0 || (rc = expect_char(c, ' ', "end", err)) != 0)
		return rc;
	if (e.end < e.start)
		return sonde_wire_fail(err, (size_t)(end_at - c->buf), c->line, "end",
		                       "end lies before start");
	if (eol - c->p < 4)
		return sonde_wire_fail(err, (size_t)(c->p - c->buf), c->line, "perms",
		                       "expected 4 permission letters");
	static const char letters[] = "rwxp";
	for (int i = 0; i < 4; i++) {
		char ch = c->p[i];
		if (i == 3 && ch == 's')
			e.prot |= SONDE_MAP_SHARED;
		else if (ch == letters[i] && i < 3)
			e.prot |= 1u << i;
		else if (ch != '-' && !(i == 3 && ch == 'p'))
			return sonde_wire_fail(err, (size_t)(c->p + i - c->buf), c->line, "perms",
			                       "expected '%c' or '-'", letters[i]);
	}
	c->p += 4;
	if ((rc = expect_char(c, ' ', "perms", err)) != 0 ||
	    (rc = read_num(c, 16, &e.pgoff, "offset", err)) != 0 ||
	    (rc = expect_char(c, ' ', "offset", err)) != 0 ||
	    (rc = read_num(c, 16, &major, "dev", err)) != 0 || (rc = expect_char(c, ':', "dev", err)) != 0 ||
	    (rc = read_num(c, 16, &minor, "dev", err)) != 0 || (rc = expect_char(c, ' ', "dev", err)) != 0 ||
	    (rc = read_num(c, 10, &e.inode, "inode", err)) != 0)
		return rc;
	if (major > UINT32_MAX || minor > UINT32_MAX)
		return sonde_wire_fail(err, (size_t)(c->p - c->buf), c->line, "dev",
		                       "device number too large");
	e.dev_major = (uint32_t)major;
	e.dev_minor = (uint32_t)minor;
	if (c->p < eol && *c->p != ' ')
		return sonde_wire_fail(err, (size_t)(c->p - c->buf), c->line, "inode",
		                       "expected a space or end of line");
	skip_spaces(c);
	size_t n = (size_t)(eol - c->p);
	if (n > PATH_MAX)
		return sonde_wire_fail(err, (size_t)(c->p - c->buf), c->line, "path",
		                       "path longer than %d bytes", PATH_MAX);
	if (memchr(c->p, '\0', n))
		return sonde_wire_fail(err, (size_t)((const char *)memchr(c->p, '\0', n) - c->buf), c->line,
		                       "path", "path holds a NUL byte");
	memcpy(path, c->p, n);
	path[n] = '\0';
	static const char deleted[] = " (deleted)";
	if (n >= sizeof(deleted) - 1 &&
	    memcmp(path + n - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1) == 0) {
		e.deleted = 1;
		n -= sizeof(deleted) - 1;
		path[n] = '\0';
	}
	e.path = path;
	e.path_len = n;
	return fn(ctx, &e);
}

int sonde_procmaps_parse(const char *buf, size_t len, sonde_map_fn fn, void *ctx, sonde_wire_error *err)
{
	cursor c = {buf, buf + len, buf, 0};
	const char *end = buf + len;
	while (c.p < end) {
		const char *eol = memchr(c.p, '\n', (size_t)(end - c.p));
		if (!eol)
			eol = end;
		c.line++;
		if (eol > c.p) {
			int rc = parse_line(&c, eol, fn, ctx, err);
			if (rc != 0)
				return rc;
		}
		c.p = eol < end ? eol + 1 : end;
	}
	return 0;
}

int sonde_procmaps_load(pid_t pid, char **buf, size_t *len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 16384, n = 0;
	char *b = malloc(cap);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (cap - n < 4096) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				close(fd);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t got = read(fd, b + n, cap - n - 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			free(b);
			close(fd);
			return e;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}
