/*
 * fuzz_zipkin.c - Zipkin v2 JSON: any input the reader takes must write, read back and
 * compare equal to what was read; input it refuses must leave the batch empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "zipkin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Written as Zipkin JSON and read back, a batch the reader took must compare equal. */
static void round_trip(fuzz_read_fn read, const sonde_batch *a, const uint8_t *data, size_t size)
{
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	char why[256];
	if (!b)
		abort();
	sonde_buf out = SONDE_BUF_INIT;
	int rc = fuzz_zipkin_reread(a, b, &out, &err);
	if (rc != 0) {
		fprintf(stderr, "re-read failed: %d at %zu %s: %s\n%s\n", rc, err.offset, err.field, err.msg,
		        out.data);
		abort();
	}
	if (b->spans_count != a->spans_count || !sonde_batch_equal(a, b, why, sizeof(why))) {
		fprintf(stderr, "round trip differs: %s\n%s\n", why, out.data);
		abort();
	}
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_read_input(sonde_zipkin_read, data, size, round_trip);
}
