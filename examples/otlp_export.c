/*
 * otlp_export.c - libsonde configured entirely by the OpenTelemetry environment
 * variables: with no exporter in the config, spans and log records go to OTLP/HTTP at
 * OTEL_EXPORTER_OTLP_ENDPOINT (protocol, compression, headers and timeout from the other
 * OTEL_EXPORTER_OTLP_* variables). It sends TRACES small traces - a server span with a
 * database call and a payment call that fails every fifth time, and a log record inside
 * each - flushes, and prints the ids of the traces it sent, one per line, on stdout.
 *
 *     otlp_export [TRACES]          (default 20)
 *
 * With `sonde serve` listening on 127.0.0.1:4318:
 *     OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=orders ./otlp_export
 *     sonde traces --service orders
 */
#include <stdio.h>
#include <stdlib.h>

#include "sonde/log.h"
#include "sonde/propagation.h"
#include "sonde/trace.h"

int main(int argc, char **argv)
{
	int traces = argc > 1 ? atoi(argv[1]) : 20;
	if (sonde_trace_init(NULL) != 0) {
		fprintf(stderr, "otlp_export: cannot start tracing (see the OTEL_* variables)\n");
		return 1;
	}
	sonde_tracer *tracer = sonde_tracer_get("otlp_export", "1.0.0", NULL);
	for (int i = 0; i < traces; i++) {
		sonde_span_opts o = {.kind = SONDE_SPAN_KIND_SERVER};
		sonde_span *req = sonde_span_start_ex(tracer, "POST /orders", &o);
		sonde_span_set_int(req, "order.id", i);
		{
			SONDE_SPAN_SCOPE(db, tracer, "SELECT orders");
			sonde_span_set_str(db, "db.system", "postgresql");
			sonde_span_set_str(db, "db.statement", "SELECT * FROM orders WHERE id = ?");
		}
		{
			SONDE_SPAN_SCOPE(pay, tracer, "charge card");
			if (i % 5 == 0)
				sonde_span_set_status(pay, SONDE_STATUS_ERROR, "card declined");
		}
		sonde_logf(SONDE_LOG_INFO, "order %d processed", i);
		sonde_span_context ctx;
		sonde_span_context_get(req, &ctx);
		sonde_span_end(req);
		for (int k = 0; k < 16; k++)
			printf("%02x", ctx.trace_id[k]);
		putchar('\n');
	}
	int rc = sonde_trace_shutdown(10000);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	fprintf(stderr, "otlp_export: %d traces, %llu spans exported, %llu dropped, %llu failed\n", traces,
	        (unsigned long long)st.spans_exported, (unsigned long long)st.spans_dropped,
	        (unsigned long long)st.spans_failed);
	return rc == 0 && st.spans_dropped == 0 && st.spans_failed == 0 ? 0 : 1;
}
