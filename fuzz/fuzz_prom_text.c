/*
 * fuzz_prom_text.c - libFuzzer target for the Prometheus text / OpenMetrics reader and
 * writer (prom_text.h).
 *
 * Reads the input; when it reads, writes it in both flavors (with and without
 * timestamps) and reads that back, which must succeed. The writer normalizes names and
 * label order, so the first output need not read back equal to the input; from there on
 * it must be stable: writing the re-read batch gives the same text, and reading that
 * gives an equal batch. The default time is 0 ("unknown"), as an explicit timestamp of 0
 * reads as; the Influx writer runs on every batch read too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "influx.h"
#include "prom_text.h"

static sonde_batch *must_read(const sonde_buf *t)
{
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	if (!b)
		abort();
	if (sonde_prom_text_read(b, t->data ? t->data : "", t->len, 0, &err) != 0) {
		fprintf(stderr, "re-read failed: line %zu field %s: %s\n--- text:\n%.*s\n", err.line,
		        err.field, err.msg, (int)t->len, t->data ? t->data : "");
		abort();
	}
	return b;
}

static void must_write(const sonde_batch *b, const sonde_prom_write_opts *o, sonde_buf *out)
{
	sonde_buf_reset(out);
	if (sonde_prom_text_write_opts(b, o, out) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	if (!b)
		return 0;
	if (sonde_prom_text_read(b, (const char *)data, size, 0, &err) != 0) {
		sonde_batch_free(b);
		return 0;
	}
	sonde_buf t1 = SONDE_BUF_INIT, t2 = SONDE_BUF_INIT;
	if (sonde_influx_write(b, &t1) != 0)
		abort();
	for (int i = 0; i < 4; i++) {
		sonde_prom_write_opts o = {.flavor = (sonde_prom_flavor)(i & 1), .timestamps = i >= 2};
		must_write(b, &o, &t1);
		sonde_batch *b2 = must_read(&t1);
		must_write(b2, &o, &t2);
		if (t1.len != t2.len || (t1.len && memcmp(t1.data, t2.data, t1.len) != 0)) {
			fprintf(stderr, "unstable text\n--- first:\n%s\n--- second:\n%s\n", t1.data, t2.data);
			abort();
		}
		sonde_batch *b3 = must_read(&t2);
		char why[256];
		if (!sonde_batch_equal(b2, b3, why, sizeof(why))) {
			fprintf(stderr, "unstable batch: %s\n--- text:\n%s\n", why, t2.data);
			abort();
		}
		sonde_batch_free(b2);
		sonde_batch_free(b3);
	}
	sonde_buf_release(&t1);
	sonde_buf_release(&t2);
	sonde_batch_free(b);
	return 0;
}
