/*
 * fuzz_format_detect.c - format detection (sonde_format_detect, formats.h), which
 * `sonde ingest` and `sonde convert` run on every input before any reader: no input
 * crashes it or reads past its end, and it answers the same for the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so that a read past the end is caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	const sonde_format *a = sonde_format_detect(buf, size);
	const sonde_format *b = sonde_format_detect(buf, size);
	if (a != b)
		abort();
	if (a && !a->read)
		abort(); /* only readable formats are detected */
	free(buf);
	return 0;
}
