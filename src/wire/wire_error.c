/* wire_error.c - error reports of readers (see wire_error.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sonde/status.h"
#include "wire_error.h"

int sonde_wire_fail(sonde_wire_error *err, size_t offset, size_t line, const char *field, const char *fmt,
                    ...)
{
	if (!err)
		return SONDE_EPARSE;
	err->offset = offset;
	err->line = line;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return SONDE_EPARSE;
}

size_t sonde_wire_line_of(const char *buf, size_t len, size_t offset)
{
	if (offset > len)
		offset = len;
	size_t line = 1;
	const char *p = buf, *end = buf + offset;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p++;
	}
	return line;
}
