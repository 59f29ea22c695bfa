/*
 * fuzz_csv_metrics.c - the CSV metrics reader and its sniffer: no input crashes them;
 * refused input leaves the batch empty; taken input gives gauges with finite points that
 * survive an Influx line protocol write and read.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "csv_metrics.h"
#include "influx.h"
#include "influx_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	sonde_csv_metrics_sniff(s, size);
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	if (!b)
		abort();
	if (sonde_csv_metrics_read(b, s, size, 0, &err) == 0) {
		for (size_t i = 0; i < b->metrics_count; i++) {
			const sonde_metric_data *m = &b->metrics[i];
			if (m->type != SONDE_METRIC_GAUGE || !m->points_count || !m->name.ptr)
				abort();
			for (uint32_t j = 0; j < m->points_count; j++)
				if (!isfinite(m->points[j].u.number.v.d))
					abort();
		}
		/* Names line protocol cannot carry (with NUL, newline, backslash, quote, or a '#'
		 * that makes the line a comment) are not round-tripped. */
		bool plain = true;
		for (size_t i = 0; i < b->metrics_count; i++) {
			plain &= b->metrics[i].name.len > 0 && b->metrics[i].name.ptr[0] != '#';
			/* Two columns of one name read back as one series. */
			for (size_t j = 0; j < i; j++)
				plain &= b->metrics[j].name.ptr != b->metrics[i].name.ptr;
		}
		for (size_t i = 0; i < b->metrics_count; i++)
			for (size_t k = 0; k < b->metrics[i].name.len; k++)
				plain &= b->metrics[i].name.ptr[k] != '\n' &&
				         b->metrics[i].name.ptr[k] != '\0' &&
				         b->metrics[i].name.ptr[k] != '\r' &&
				         b->metrics[i].name.ptr[k] != '\\' &&
				         b->metrics[i].name.ptr[k] != '"';
		sonde_buf out = SONDE_BUF_INIT;
		sonde_batch *c = sonde_batch_new();
		char why[256];
		if (plain && c && sonde_influx_write(b, &out) == 0) {
			if (sonde_influx_read(c, out.data ? out.data : "", out.len, 0, &err) != 0) {
				fprintf(stderr, "re-read failed: %zu %s: %s\n%s\n", err.line, err.field,
				        err.msg, out.data);
				abort();
			}
			if (!sonde_batch_equal(b, c, why, sizeof why)) {
				fprintf(stderr, "round trip differs: %s\n%s\n", why, out.data);
				abort();
			}
		}
		sonde_buf_release(&out);
		sonde_batch_free(c);
	} else if (b->metrics_count) {
		abort();
	}
	sonde_batch_free(b);
	return 0;
}
