/*
 * term_report.h - the findings of the investigation verbs (traces, trace, latency,
 * queries) as terminal text (tables, the waterfall) and as JSON for scripts.
 *
 * Renderers take results the analyses made (investigate.h) and append bytes to a
 * sonde_buf; they never query the store. Times in JSON are integers in Unix epoch
 * nanoseconds and durations integers in nanoseconds (a "_ns" suffix says so); ids are
 * lower-case hex. Thread-safe as long as each call has its own buffer.
 */
#ifndef SONDE_TERM_REPORT_H
#define SONDE_TERM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "investigate.h"
#include "term.h"

/* `sonde traces`: one row per trace. */
int sonde_render_traces_text(const sonde_trace_list *l, const sonde_term_opts *o, sonde_buf *out);
int sonde_render_traces_json(const sonde_trace_list *l, sonde_buf *out);

/* `sonde trace`: the waterfall (at most max_rows spans; 0: all) and every finding. */
int sonde_render_trace_text(const sonde_trace_report *r, const sonde_term_opts *o, size_t max_rows,
                            sonde_buf *out);
/* The whole report, with every span (depth-first order) and the critical path as ordered
 * segments (span id, start, end, self time = end - start). */
int sonde_render_trace_json(const sonde_trace_report *r, sonde_buf *out);

/* `sonde latency`. window_ns is the time the spans cover (for throughput); downstream may
 * be NULL. by_name titles the first column ("service", "operation", an attribute). */
typedef struct sonde_latency_view {
	const sonde_latency_table *main, *ops, *downstream;
	const char *by_name;
	bool by_operation; /* main rows have key2 = operation */
	uint64_t window_ns;
	size_t top_ops; /* rows of the top-operations table; 0: 10 */
} sonde_latency_view;
int sonde_render_latency_text(const sonde_latency_view *v, const sonde_term_opts *o, sonde_buf *out);
int sonde_render_latency_json(const sonde_latency_view *v, sonde_buf *out);

/* `sonde queries`: at most limit statements (0: all). */
int sonde_render_queries_text(const sonde_queries *q, size_t limit, const sonde_term_opts *o, sonde_buf *out);
int sonde_render_queries_json(const sonde_queries *q, size_t limit, sonde_buf *out);

#endif
