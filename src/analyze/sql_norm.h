/*
 * sql_norm.h - database statements reduced to their shape, so that calls differing only
 * in literal values group together (`sonde queries`, N+1 detection).
 *
 * Normalisation: string literals ('...', E'...', N'...', X'...', dollar-quoted) and
 * numbers (decimal, exponent, hex; a sign that cannot be a binary minus goes with them)
 * become `?`; comments go; runs of whitespace become one space, and there is none after
 * `(` or before `)` and `,`; a list of placeholders after IN (`?`, `$1`, `:name`, `@p1`)
 * becomes `(?)`, and repeated tuples after VALUES become one. Identifiers, quoted
 * identifiers ("x", `x`, [x]) and keywords are kept as written. The normaliser is a
 * lexer, not a parser: any bytes are accepted and something sensible comes out.
 * Thread-safe (no state).
 */
#ifndef SONDE_SQL_NORM_H
#define SONDE_SQL_NORM_H

#include <stddef.h>

#include "buf.h"
#include "telemetry.h"

/* Appends the normalised form of s[0..n) to out. Out of memory shows as out->oom. */
void sonde_sql_normalize(const char *s, size_t n, sonde_buf *out);

/* The statement of a database span: attribute db.query.text or db.statement (a string),
 * when the span also has db.system or db.system.name. Returns false when the span is not
 * a database span. *stmt and *system are borrowed from the span. */
bool sonde_span_db_statement(const sonde_span_data *s, sonde_str *stmt, sonde_str *system);

#endif
