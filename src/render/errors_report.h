/*
 * errors_report.h - the findings of `sonde errors` (errors.h) as terminal text and as
 * JSON for scripts.
 *
 * Renderers append to a sonde_buf and never query the store. Times in JSON are integers
 * in Unix epoch nanoseconds ("_ns"), template ids 16 lower-case hex digits. Thread-safe
 * as long as each call has its own buffer.
 */
#ifndef SONDE_ERRORS_REPORT_H
#define SONDE_ERRORS_REPORT_H

#include <stddef.h>

#include "buf.h"
#include "errors.h"
#include "term.h"

/* The report: the overall rate, then at most limit groups (0: all), most errors first,
 * each with its category, hypothesis and checks, rate and spikes, concentrations and
 * common frames; then the cascades. cascade_window_ns is quoted in the cascades' title.
 * Returns 0 or -ENOMEM. */
int sonde_render_errors_text(const sonde_errors_result *r, size_t limit, uint64_t cascade_window_ns,
                             const sonde_term_opts *o, sonde_buf *out);
/* Everything above as one JSON document (at most limit groups; 0: all). Returns 0 or
 * -ENOMEM. */
int sonde_render_errors_json(const sonde_errors_result *r, size_t limit, uint64_t cascade_window_ns,
                             sonde_buf *out);

#endif
