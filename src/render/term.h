/*
 * term.h - text for a terminal: tables with aligned columns, unicode sparklines, and the
 * trace waterfall (the span tree with a time bar per span).
 *
 * Everything renders into a sonde_buf; nothing here prints, queries the store or looks
 * at the terminal: the caller says whether to use colour and how wide to draw. Widths
 * count display columns (UTF-8 code points; ANSI colour sequences count zero), so cells
 * may hold sparklines and colour. Text from telemetry is written with control characters
 * escaped, so a span name cannot move the cursor. Not thread-safe per object.
 */
#ifndef SONDE_TERM_H
#define SONDE_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "trace_tree.h"

typedef struct sonde_term_opts {
	bool color; /* ANSI colours (the CLI sets this only on a terminal) */
	int width;  /* columns available; 0: 120 */
} sonde_term_opts;

/* ANSI sequences, or "" when colour is off. */
const char *sonde_term_sgr(const sonde_term_opts *o, const char *seq);
#define SONDE_SGR_RESET  "0"
#define SONDE_SGR_BOLD   "1"
#define SONDE_SGR_DIM    "2"
#define SONDE_SGR_RED    "31"
#define SONDE_SGR_YELLOW "33"
#define SONDE_SGR_CYAN   "36"

/* Appends s[0..n) with control characters escaped (\n, \t, \xHH). */
void sonde_term_text(sonde_buf *out, const char *s, size_t n);
/* Display columns of s[0..n): code points, less ANSI sequences. */
size_t sonde_term_columns(const char *s, size_t n);
/* Appends a duration: "812ns", "3.20us", "12.5ms", "1.204s" (as text_write.h). */
void sonde_term_duration(sonde_buf *out, uint64_t ns);
/* Appends one sparkline character per value, scaled to the largest: ' ' for 0, then
 * U+2581 .. U+2588. */
void sonde_term_sparkline(sonde_buf *out, const uint64_t *v, size_t n);

/* ---- Tables -------------------------------------------------------------------------- */

typedef struct sonde_table {
	size_t ncols;
	const char *const *headers; /* borrowed; ncols entries */
	const char *align;          /* borrowed; one 'l' or 'r' per column */
	char **cells;               /* rows * ncols, in the arena */
	size_t ncells, cap;
	sonde_arena arena;
	sonde_buf scratch;
	bool oom;
} sonde_table;

/* headers and align are borrowed until sonde_table_release(). */
void sonde_table_init(sonde_table *t, size_t ncols, const char *const *headers, const char *align);
void sonde_table_release(sonde_table *t);
/* Appends the next cell (rows fill left to right, then wrap). The text is copied and
 * taken as display text as it is (escape telemetry text with sonde_term_text first). */
void sonde_table_cell(sonde_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the next cell from n bytes, escaping control characters. */
void sonde_table_cell_text(sonde_table *t, const char *s, size_t n);
size_t sonde_table_rows(const sonde_table *t);
/* Renders header and rows, columns separated by two spaces, the last column not padded.
 * Returns 0 or -ENOMEM. */
int sonde_table_render(const sonde_table *t, const sonde_term_opts *o, sonde_buf *out);

/* ---- Waterfall ----------------------------------------------------------------------- */

/* Renders the trace as a tree in depth-first order, one row per span: the tree branches
 * and span name, its service, its duration, and a bar across the trace's time window in
 * which the stretches the span holds on the critical path are drawn solid ('█') and the
 * rest of the span light ('─'). Error spans are marked '!', follows-from spans '~'. At
 * most max_rows rows (0: all); a last line says how many were left out. Returns 0 or
 * -ENOMEM. */
int sonde_term_waterfall(const sonde_trace_tree *t, const sonde_term_opts *o, size_t max_rows,
                         sonde_buf *out);

#endif
