/*
 * log_bench.c - what a log record costs the application thread, and how fast the
 * background thread redacts and encodes records into OTLP protobuf.
 *
 * Records are produced in bursts that fit a thread's slots (nothing is dropped, every
 * record measured is really exported), then flushed; only the producing loop is timed.
 * Redaction is on (the default): it runs on the background thread, so the producer's
 * figure is the copy into the buffer, and the exporter's figure includes redaction. Each
 * figure is the median of RUNS. Prints "name: value unit" lines.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "exporter_internal.h"
#include "otlp_pb.h"
#include "sonde/log.h"
#include "sonde/trace.h"

enum { RUNS = 15, BURST = 1536, BURSTS = 40 };

typedef struct pb_sink {
	sonde_exporter base;
	sonde_buf out;
	size_t logs, bytes;
} pb_sink;

static int sink_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline)
{
	pb_sink *s = (pb_sink *)e;
	(void)deadline;
	sonde_buf_reset(&s->out);
	int rc = sonde_otlp_pb_write(b, SONDE_SIGNAL_LOGS, &s->out);
	s->logs += b->logs_count;
	s->bytes += s->out.len;
	return rc;
}

static void sink_destroy(sonde_exporter *e)
{
	(void)e;
}

static const sonde_exporter_ops sink_ops = {
        .name = "pb-sink", .deliver = sink_export, .destroy = sink_destroy};
static pb_sink sink = {.base = {.ops = &sink_ops}};

typedef enum { K_ATTRS5, K_PRINTF, K_SITE, K_FILTERED } kind;

static double burst(kind k)
{
	double t0 = bench_now();
	for (int i = 0; i < BURST; i++) {
		switch (k) {
		case K_ATTRS5: {
			sonde_attr a[] = {SONDE_ATTR_STR("http.route", "/api/orders"),
			                  SONDE_ATTR_INT("order.id", i),
			                  SONDE_ATTR_STR("user", "ada@example.com"),
			                  SONDE_ATTR_DBL("amount", 12.5), SONDE_ATTR_BOOL("retry", false)};
			sonde_log(SONDE_LOG_WARN, "payment declined by the issuer", a, 5);
			break;
		}
		case K_PRINTF:
			sonde_logf(SONDE_LOG_WARN, "payment for order %d declined: %s", i,
			           "insufficient funds");
			break;
		case K_SITE:
			SONDE_LOG(SONDE_LOG_WARN, "payment declined by the issuer",
			          SONDE_ATTR_INT("order.id", i), SONDE_ATTR_STR("http.route", "/api/orders"));
			break;
		case K_FILTERED: SONDE_LOG(SONDE_LOG_DEBUG, "cache probe", SONDE_ATTR_INT("slot", i)); break;
		}
	}
	return bench_now() - t0;
}

static double run(kind k)
{
	double busy = 0;
	for (int b = 0; b < BURSTS; b++) {
		busy += burst(k);
		sonde_trace_force_flush(10000);
	}
	return busy * 1e9 / (BURST * BURSTS);
}

static double measure(kind k)
{
	double v[RUNS];
	run(k); /* warm-up: page in slots, settle the exporter */
	for (int i = 0; i < RUNS; i++)
		v[i] = run(k);
	return bench_median(v, RUNS);
}

int main(void)
{
	sonde_trace_config cfg = {.service_name = "bench"};
	cfg.exporters[0] = &sink.base;
	cfg.exporters_count = 1;
	cfg.logs.rate_limit = UINT32_MAX; /* the site figure is the limiter's bookkeeping, not drops */
	if (sonde_trace_init(&cfg) != 0) {
		fprintf(stderr, "log_bench: init failed\n");
		return 1;
	}
	printf("log_record_5attrs_redaction_on: %.1f ns/op\n", measure(K_ATTRS5));
	printf("log_record_printf: %.1f ns/op\n", measure(K_PRINTF));
	printf("log_site_2attrs: %.1f ns/op\n", measure(K_SITE));
	printf("log_filtered_by_level: %.2f ns/op\n", measure(K_FILTERED));
	sonde_trace_shutdown(10000);

	/* Rate-limited site at the default limit: the bookkeeping of a site that is over its
	 * budget (what a log storm costs once the limit kicks in). */
	cfg.logs.rate_limit = 0;
	sonde_trace_init(&cfg);
	printf("log_site_over_limit: %.1f ns/op\n", measure(K_SITE));
	sonde_trace_shutdown(10000);

	/* Exporter throughput: records decoded, redacted and encoded per second of wall time
	 * spent waiting for the flush after each burst. */
	cfg.logs.rate_limit = UINT32_MAX;
	sonde_trace_init(&cfg);
	double wait = 0;
	size_t logs0 = sink.logs, bytes0 = sink.bytes;
	for (int r = 0; r < 20; r++) {
		burst(K_ATTRS5);
		double t0 = bench_now();
		sonde_trace_force_flush(10000);
		wait += bench_now() - t0;
	}
	size_t logs = sink.logs - logs0;
	sonde_log_stats st;
	sonde_log_stats_get(&st);
	printf("log_exporter_pb: %.0f records/s (%.1f MB/s of OTLP protobuf, redaction on; %zu records)\n",
	       (double)logs / wait, (double)(sink.bytes - bytes0) / wait / 1e6, logs);
	printf("log_dropped: %llu\n", (unsigned long long)st.dropped);
	sonde_trace_shutdown(10000);
	sonde_buf_release(&sink.out);
	return 0;
}
