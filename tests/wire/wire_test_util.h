/*
 * wire_test_util.h - assertions the tests of the trace format readers share: attributes,
 * strings, ids, and the errors a reader reports.
 *
 * Header-only (static inline) cmocka helpers; each fails the running test with a message
 * that shows both sides.
 */
#ifndef SONDE_WIRE_TEST_UTIL_H
#define SONDE_WIRE_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "hex.h"
#include "sonde/status.h"
#include "telemetry.h"
#include "wire_error.h"

/* A format reader, as sonde_zipkin_read(), sonde_jaeger_read(), ... */
typedef int (*wire_read_fn)(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);

/* The value of attribute key in a (borrowed from a); fails the test when there is none. */
static inline const sonde_value *attr(const sonde_attrs *a, const char *key)
{
	const sonde_value *v = sonde_attrs_get(a, key);
	if (!v)
		fail_msg("no attribute %s", key);
	return v;
}

/* Fails the test unless s is exactly want. */
static inline void assert_str(sonde_str s, const char *want)
{
	if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
		fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
}

/* Fails the test unless the n-byte id (n <= 16) is, in lower-case hex, exactly hex. */
static inline void assert_id(const uint8_t *id, size_t n, const char *hex)
{
	char got[33];
	sonde_hex_encode(got, id, n);
	got[2 * n] = '\0';
	assert_string_equal(got, hex);
}

/* Reads in with read into b; fails the test, naming the error, unless that succeeds. */
static inline void expect_read_ok(wire_read_fn read, sonde_batch *b, const char *in)
{
	sonde_wire_error err = {0};
	int rc = read(b, in, strlen(in), &err);
	if (rc != 0)
		fail_msg("read: %d at %zu %s: %s", rc, err.offset, err.field, err.msg);
}

/* Reads good with read into a new batch, which must succeed with one span; then in, which
 * must fail with SONDE_EPARSE, leave the batch as it was, and report the offset of the
 * first occurrence of at in in (the end of in when at is NULL), the field field and a
 * message that contains msg_part. Returns the error, for further checks. */
static inline sonde_wire_error expect_read_error(wire_read_fn read, const char *good, const char *in,
                                                 const char *at, const char *field, const char *msg_part)
{
	sonde_batch *b = sonde_batch_new();
	assert_int_equal(read(b, good, strlen(good), NULL), 0);
	sonde_wire_error err = {0};
	int rc = read(b, in, strlen(in), &err);
	if (rc != SONDE_EPARSE)
		fail_msg("%s: rc %d", in, rc);
	assert_int_equal(b->spans_count, 1);                           /* left as it was */
	size_t want = at ? (size_t)(strstr(in, at) - in) : strlen(in); /* NULL: the end */
	if (err.offset != want || strcmp(err.field, field) != 0 || !strstr(err.msg, msg_part))
		fail_msg("%s: got offset %zu field '%s' msg '%s'; want %zu '%s' '%s'", in, err.offset,
		         err.field, err.msg, want, field, msg_part);
	sonde_batch_free(b);
	return err;
}

#endif
