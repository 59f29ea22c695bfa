/*
 * fuzz_influx_read.c - the Influx line protocol reader and its sniffer: no input crashes
 * them; refused input leaves the batch empty; taken input writes (influx.h) and reads
 * back to the same metrics.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "influx.h"
#include "influx_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	sonde_influx_sniff(s, size);
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	if (!b)
		abort();
	/* A backslash ending a name is ambiguous in line protocol (it escapes what follows
	 * once written), so such input is only read, not round-tripped. */
	bool backslash = memchr(s, '\\', size) != NULL;
	int rc = sonde_influx_read(b, s, size, 7, &err);
	if (rc != 0 && b->metrics_count)
		abort();
	if (rc == 0 && !backslash) {
		sonde_buf out = SONDE_BUF_INIT;
		sonde_batch *c = sonde_batch_new();
		if (!c || sonde_influx_write(b, &out) != 0)
			abort();
		if (sonde_influx_read(c, out.data ? out.data : "", out.len, 7, &err) != 0) {
			fprintf(stderr, "re-read failed: %zu %s: %s\n%s\n", err.line, err.field, err.msg,
			        out.data);
			abort();
		}
		size_t pa = 0, pc = 0;
		for (size_t i = 0; i < b->metrics_count; i++)
			pa += b->metrics[i].points_count;
		for (size_t i = 0; i < c->metrics_count; i++)
			pc += c->metrics[i].points_count;
		if (pa != pc) {
			fprintf(stderr, "round trip: %zu points, then %zu\n%s\n", pa, pc, out.data);
			abort();
		}
		sonde_buf_release(&out);
		sonde_batch_free(c);
	}
	sonde_batch_free(b);
	return 0;
}
