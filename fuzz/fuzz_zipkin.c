/*
 * fuzz_zipkin.c - Zipkin v2 JSON: any input the reader takes must write, read back and
 * compare equal to what was read; input it refuses must leave the batch empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "zipkin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_batch *a = sonde_batch_new(), *b = sonde_batch_new();
	sonde_wire_error err;
	char why[256];
	if (!a || !b)
		abort();
	if (sonde_zipkin_read(a, (const char *)data, size, &err) == 0) {
		sonde_buf out = SONDE_BUF_INIT;
		if (sonde_zipkin_write(a, &out) != 0)
			abort();
		int rc = sonde_zipkin_read(b, out.data, out.len, &err);
		if (rc != 0) {
			fprintf(stderr, "re-read failed: %d at %zu %s: %s\n%s\n", rc, err.offset, err.field,
			        err.msg, out.data);
			abort();
		}
		if (b->spans_count != a->spans_count || !sonde_batch_equal(a, b, why, sizeof(why))) {
			fprintf(stderr, "round trip differs: %s\n%s\n", why, out.data);
			abort();
		}
		sonde_buf_release(&out);
	} else if (a->spans_count != 0) {
		abort();
	}
	sonde_batch_free(a);
	sonde_batch_free(b);
	return 0;
}
