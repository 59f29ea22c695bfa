/* propagation_test.c - W3C traceparent, tracestate and baggage: every grammar rule, the
 * limits, the W3C test suite's cases, and inject/extract through a header carrier. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sonde/propagation.h"

#define TP_TRACE "12345678901234567890123456789012"
#define TP_SPAN  "1234567890123456"
#define TP_VALID "00-" TP_TRACE "-" TP_SPAN "-01"

/* ---- helpers ---------------------------------------------------------------------- */

static sonde_span_context fresh(void)
{
	sonde_span_context c;
	memset(&c, 0, sizeof(c));
	return c;
}

static int tp_parse(const char *s, sonde_span_context *c)
{
	return sonde_traceparent_parse(s, strlen(s), c);
}

static void assert_tp_ok(const char *s)
{
	sonde_span_context c = fresh();
	int rc = tp_parse(s, &c);
	if (rc != 0)
		fail_msg("traceparent \"%s\": got %d, want 0", s, rc);
}

/* Invalid input must leave the context exactly as it was. */
static void assert_tp_bad(const char *s)
{
	sonde_span_context c, before;
	memset(&c, 0x5a, sizeof(c));
	before = c;
	int rc = tp_parse(s, &c);
	if (rc != -EINVAL)
		fail_msg("traceparent \"%s\": got %d, want -EINVAL", s, rc);
	if (memcmp(&c, &before, sizeof(c)) != 0)
		fail_msg("traceparent \"%s\": context changed by a failed parse", s);
}

static void assert_ts(const char *in, int want_rc, const char *want)
{
	sonde_span_context c = fresh();
	strcpy(c.trace_state, "old=1");
	c.trace_state_len = 5;
	int rc = sonde_tracestate_parse(in, strlen(in), &c);
	if (rc != want_rc)
		fail_msg("tracestate \"%s\": got %d, want %d", in, rc, want_rc);
	if (strcmp(c.trace_state, want) != 0 || c.trace_state_len != strlen(want))
		fail_msg("tracestate \"%s\": got \"%s\" (len %u), want \"%s\"", in, c.trace_state,
		         c.trace_state_len, want);
}

static void assert_ts_bad(const char *in)
{
	assert_ts(in, -EINVAL, "");
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* ---- traceparent ---------------------------------------------------------------- */

static void traceparent_valid(void **state)
{
	(void)state;
	sonde_span_context c = fresh();
	assert_int_equal(tp_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), 0);
	static const uint8_t tid[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
	                                0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	static const uint8_t sid[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
	assert_memory_equal(c.trace_id, tid, 16);
	assert_memory_equal(c.span_id, sid, 8);
	assert_int_equal(c.trace_flags, SONDE_TRACE_FLAG_SAMPLED);
	assert_true(sonde_span_context_is_valid(&c));

	assert_int_equal(tp_parse("00-" TP_TRACE "-" TP_SPAN "-00", &c), 0);
	assert_int_equal(c.trace_flags, 0);
	assert_int_equal(tp_parse("00-" TP_TRACE "-" TP_SPAN "-03", &c), 0);
	assert_int_equal(c.trace_flags, SONDE_TRACE_FLAG_SAMPLED | SONDE_TRACE_FLAG_RANDOM);
	/* Unknown flag bits are kept. */
	assert_int_equal(tp_parse("00-" TP_TRACE "-" TP_SPAN "-f9", &c), 0);
	assert_int_equal(c.trace_flags, 0xf9);
	/* Length given explicitly: no NUL needed, the rest ignored. */
	assert_int_equal(sonde_traceparent_parse(TP_VALID "garbage", 55, &c), 0);
}

static void traceparent_ows(void **state)
{
	(void)state;
	assert_tp_ok(" " TP_VALID);
	assert_tp_ok("\t" TP_VALID);
	assert_tp_ok(TP_VALID " ");
	assert_tp_ok(TP_VALID "\t");
	assert_tp_ok("\t " TP_VALID " \t");
	/* Only spaces and tabs are OWS. */
	assert_tp_bad("\n" TP_VALID);
	assert_tp_bad(TP_VALID "\r");
}

static void traceparent_version(void **state)
{
	(void)state;
	assert_tp_bad("ff-" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad(".0-" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad("0.-" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad("000-" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad("0000-" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad("0-" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad("0A-" TP_TRACE "-" TP_SPAN "-01");
	/* Version 00 is exactly 55 characters. */
	assert_tp_bad(TP_VALID ".");
	assert_tp_bad(TP_VALID "-what-the-future-will-be-like");
	assert_tp_bad(TP_VALID "-");
	/* A future version may carry more fields after a '-'. */
	sonde_span_context c = fresh();
	assert_int_equal(tp_parse("cc-" TP_TRACE "-" TP_SPAN "-01", &c), 0);
	assert_int_equal(tp_parse("cc-" TP_TRACE "-" TP_SPAN "-01-what-the-future-will-be-like", &c), 0);
	assert_int_equal(c.trace_id[0], 0x12);
	assert_int_equal(c.trace_flags, 1);
	assert_int_equal(tp_parse("01-" TP_TRACE "-" TP_SPAN "-01-", &c), 0);
	assert_tp_bad("cc-" TP_TRACE "-" TP_SPAN "-01.what-the-future-will-be-like");
	/* ...but still its first four fields by the version-00 rules. */
	assert_tp_bad("cc-" TP_TRACE "-" TP_SPAN "-0X-future");
	assert_tp_bad("cc-00000000000000000000000000000000-" TP_SPAN "-01-future");
}

static void traceparent_trace_id(void **state)
{
	(void)state;
	assert_tp_bad("00-00000000000000000000000000000000-" TP_SPAN "-01");
	assert_tp_bad("00-.2345678901234567890123456789012-" TP_SPAN "-01");
	assert_tp_bad("00-1234567890123456789012345678901.-" TP_SPAN "-01");
	assert_tp_bad("00-123456789012345678901234567890123-" TP_SPAN "-01");
	assert_tp_bad("00-1234567890123456789012345678901-" TP_SPAN "-01");
	assert_tp_bad("00-0AF7651916CD43DD8448EB211C80319C-" TP_SPAN "-01");
	assert_tp_bad("00-0af7651916cd43dd8448eb211c80319C-" TP_SPAN "-01");
	assert_tp_bad("00-0af7651916cd43dd8448eb211c80319g-" TP_SPAN "-01");
}

static void traceparent_parent_id(void **state)
{
	(void)state;
	assert_tp_bad("00-" TP_TRACE "-0000000000000000-01");
	assert_tp_bad("00-" TP_TRACE "-.234567890123456-01");
	assert_tp_bad("00-" TP_TRACE "-123456789012345.-01");
	assert_tp_bad("00-" TP_TRACE "-12345678901234567-01");
	assert_tp_bad("00-" TP_TRACE "-123456789012345-01");
	assert_tp_bad("00-" TP_TRACE "-B7AD6B7169203331-01");
}

static void traceparent_flags_and_shape(void **state)
{
	(void)state;
	assert_tp_bad("00-" TP_TRACE "-" TP_SPAN "-.0");
	assert_tp_bad("00-" TP_TRACE "-" TP_SPAN "-0.");
	assert_tp_bad("00-" TP_TRACE "-" TP_SPAN "-001");
	assert_tp_bad("00-" TP_TRACE "-" TP_SPAN "-1");
	assert_tp_bad("00-" TP_TRACE "-" TP_SPAN "-0A");
	assert_tp_bad("00_" TP_TRACE "-" TP_SPAN "-01");
	assert_tp_bad("00-" TP_TRACE "_" TP_SPAN "-01");
	assert_tp_bad("00-" TP_TRACE "-" TP_SPAN "_01");
	assert_tp_bad("");
	assert_tp_bad("   ");
	assert_tp_bad("00");
	sonde_span_context c = fresh();
	assert_int_equal(sonde_traceparent_parse(NULL, 0, &c), -EINVAL);
	assert_int_equal(sonde_traceparent_parse(TP_VALID, 54, &c), -EINVAL);
}

static void traceparent_format(void **state)
{
	(void)state;
	sonde_span_context c = fresh();
	assert_int_equal(tp_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", &c), 0);
	char out[56];
	memset(out, 'x', sizeof(out));
	sonde_traceparent_format(&c, out);
	assert_string_equal(out, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03");
	/* Flags version 00 does not define are sent as zero. */
	c.trace_flags = 0xff;
	sonde_traceparent_format(&c, out);
	assert_string_equal(out, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03");
	c.trace_flags = 0x00;
	sonde_traceparent_format(&c, out);
	assert_string_equal(out, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
	/* A future version is sent back as version 00. */
	assert_int_equal(tp_parse("cc-" TP_TRACE "-" TP_SPAN "-01-more", &c), 0);
	sonde_traceparent_format(&c, out);
	assert_string_equal(out, TP_VALID);
}

static void span_context_validity(void **state)
{
	(void)state;
	sonde_span_context c = fresh();
	assert_false(sonde_span_context_is_valid(&c));
	c.trace_id[15] = 1;
	assert_false(sonde_span_context_is_valid(&c));
	c.span_id[0] = 1;
	assert_true(sonde_span_context_is_valid(&c));
	memset(c.trace_id, 0, 16);
	assert_false(sonde_span_context_is_valid(&c));
	assert_false(sonde_span_context_is_valid(NULL));
}

/* ---- tracestate ----------------------------------------------------------------- */

static void tracestate_basic(void **state)
{
	(void)state;
	assert_ts("foo=1,bar=2", 0, "foo=1,bar=2");
	assert_ts("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 0, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
	/* Several header values joined keep their order. */
	assert_ts("foo=1,bar=2,rojo=1,congo=2,baz=3", 0, "foo=1,bar=2,rojo=1,congo=2,baz=3");
	/* An empty header is valid and empty. */
	assert_ts("", 0, "");
}

static void tracestate_ows_and_empty_members(void **state)
{
	(void)state;
	assert_ts("foo=1 \t , \t bar=2, \t baz=3", 0, "foo=1,bar=2,baz=3");
	assert_ts("foo=1\t \t,\t \tbar=2,\t \tbaz=3", 0, "foo=1,bar=2,baz=3");
	assert_ts(" foo=1", 0, "foo=1");
	assert_ts("\tfoo=1", 0, "foo=1");
	assert_ts("foo=1 ", 0, "foo=1");
	assert_ts("foo=1\t", 0, "foo=1");
	assert_ts("\t foo=1 \t", 0, "foo=1");
	assert_ts(",foo=1,,, ,\t,bar=2,", 0, "foo=1,bar=2");
	assert_ts(" , ,", 0, "");
	/* Spaces inside a value are part of it; trailing ones are OWS. */
	assert_ts("foo= a b  ", 0, "foo= a b");
	/* A tab is OWS around a member but not allowed inside a value or around '='. */
	assert_ts_bad("foo=a\tb");
	assert_ts_bad("foo =1");
	assert_ts_bad("foo= ");
}

static void tracestate_all_allowed_characters(void **state)
{
	(void)state;
	const char *key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
	char key_vendor[128];
	snprintf(key_vendor, sizeof(key_vendor), "%s@a-z0-9_-*/", key);
	char value[128];
	size_t n = 0;
	for (int ch = 0x20; ch <= 0x7e; ch++) {
		if (ch != ',' && ch != '=')
			value[n++] = (char)ch;
	}
	value[n] = '\0';
	char in[512];
	sonde_span_context c = fresh();
	snprintf(in, sizeof(in), "%s=%s", key, value);
	assert_int_equal(sonde_tracestate_parse(in, strlen(in), &c), 0);
	assert_string_equal(c.trace_state, in);
	size_t len = 0;
	const char *v = sonde_tracestate_get(&c, key, &len);
	assert_non_null(v);
	assert_int_equal(len, n);
	assert_memory_equal(v, value, n);

	snprintf(in, sizeof(in), "%s=%s", key_vendor, value);
	assert_int_equal(sonde_tracestate_parse(in, strlen(in), &c), 0);
	v = sonde_tracestate_get(&c, key_vendor, &len);
	assert_non_null(v);
	assert_int_equal(len, n);
	assert_memory_equal(v, value, n);
}

static void tracestate_bad_keys(void **state)
{
	(void)state;
	assert_ts_bad("FOO=1");
	assert_ts_bad("foo.bar=1");
	assert_ts_bad("Foo=1,bar=2");
	assert_ts_bad("1foo=1");
	assert_ts_bad("_foo=1");
	assert_ts_bad("=1");
	assert_ts_bad("foo");
	assert_ts_bad("foo=1,bar");
	/* Multi-tenant keys. */
	assert_ts_bad("foo@=1,bar=2");
	assert_ts_bad("@foo=1,bar=2");
	assert_ts_bad("foo@@bar=1,bar=2");
	assert_ts_bad("foo@bar@baz=1,bar=2");
	assert_ts_bad("t@1sys=1");
	assert_ts_bad("t@Sys=1");
	assert_ts_bad("_t@sys=1");
	assert_ts("1tenant@sys=1", 0, "1tenant@sys=1");
	assert_ts("t_-*/9@s_-*/9=1", 0, "t_-*/9@s_-*/9=1");
}

static void tracestate_key_lengths(void **state)
{
	(void)state;
	char in[1024];
	char *z256 = repeat('z', 256), *z257 = repeat('z', 257);
	char *t241 = repeat('t', 241), *t242 = repeat('t', 242);
	char *v14 = repeat('v', 14), *v15 = repeat('v', 15);
	sonde_span_context c = fresh();

	snprintf(in, sizeof(in), "foo=1,%s=1", z256);
	assert_int_equal(sonde_tracestate_parse(in, strlen(in), &c), 0);
	assert_non_null(sonde_tracestate_get(&c, "foo", NULL));
	snprintf(in, sizeof(in), "foo=1,%s=1", z257);
	assert_ts_bad(in);
	snprintf(in, sizeof(in), "foo=1,%s@%s=1", t241, v14);
	assert_int_equal(sonde_tracestate_parse(in, strlen(in), &c), 0);
	assert_non_null(sonde_tracestate_get(&c, "foo", NULL));
	snprintf(in, sizeof(in), "foo=1,%s@v=1", t242);
	assert_ts_bad(in);
	snprintf(in, sizeof(in), "foo=1,t@%s=1", v15);
	assert_ts_bad(in);
	free(z256), free(z257), free(t241), free(t242), free(v14), free(v15);
}

static void tracestate_bad_values(void **state)
{
	(void)state;
	assert_ts_bad("foo=bar=baz");
	assert_ts_bad("foo=,bar=3");
	assert_ts_bad("foo=");
	assert_ts_bad("foo=a\x7f");
	assert_ts_bad("foo=\xc3\xa9");
	assert_ts_bad("foo=a\x01");
	char in[600];
	char *v256 = repeat('v', 256), *v257 = repeat('v', 257);
	snprintf(in, sizeof(in), "foo=%s", v256);
	assert_ts(in, 0, in);
	snprintf(in, sizeof(in), "foo=%s", v257);
	assert_ts_bad(in);
	free(v256), free(v257);
}

static void tracestate_duplicates(void **state)
{
	(void)state;
	assert_ts_bad("foo=1,foo=1");
	assert_ts_bad("foo=1,foo=2");
	assert_ts_bad("foo=1,bar=1,foo=2");
	assert_ts_bad("a@b=1,a@b=2");
	assert_ts("a@b=1,a@c=2,a=3", 0, "a@b=1,a@c=2,a=3");
}

static void tracestate_member_limit(void **state)
{
	(void)state;
	char in[1024];
	size_t n = 0;
	for (int i = 1; i <= 32; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%sbar%02d=%02d", i > 1 ? "," : "", i, i);
	assert_ts(in, 0, in);
	sonde_span_context c = fresh();
	assert_int_equal(sonde_tracestate_parse(in, n, &c), 0);
	size_t len;
	const char *v = sonde_tracestate_get(&c, "bar01", &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_memory_equal(v, "01", 2);
	snprintf(in + n, sizeof(in) - n, ",bar33=33");
	assert_ts_bad(in);
	/* Empty members do not count. */
	in[n] = '\0';
	strcat(in, ",,, ,");
	assert_int_equal(sonde_tracestate_parse(in, strlen(in), &c), 0);
}

static void tracestate_truncation(void **state)
{
	(void)state;
	char in[2048], want[1024];
	/* Small members only: whole members are dropped from the end until it fits. 32
	 * members of 20 characters take 671; 24 of them take 503. */
	size_t n = 0, wn = 0;
	for (int i = 0; i < 32; i++) {
		char m[32];
		snprintf(m, sizeof(m), "k%02d=%016d", i, i);
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%s%s", i ? "," : "", m);
		if (i < 24)
			wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "%s%s", i ? "," : "", m);
	}
	assert_int_equal(wn, 503);
	assert_ts(in, 0, want);

	/* Members over 128 characters go first, the last one first. */
	char *big = repeat('b', 196);
	snprintf(in, sizeof(in), "a=1,big1=%s,c=3,big2=%s,d=4,big3=%s", big, big, big);
	snprintf(want, sizeof(want), "a=1,big1=%s,c=3,big2=%s,d=4", big, big);
	assert_ts(in, 0, want); /* 3 + 201 + 3 + 201 + 3 + 4 separators = 415 */
	snprintf(in, sizeof(in), "a=1,big1=%s,c=3,big2=%s,d=4,big3=%s,e=5", big, big, big);
	snprintf(want, sizeof(want), "a=1,big1=%s,c=3,big2=%s,d=4,e=5", big, big);
	assert_ts(in, 0, want);
	/* Big ones go even when a small one at the end would have been enough. */
	char *mid = repeat('m', 120);
	snprintf(in, sizeof(in), "big1=%s,x=%s,big2=%s,y=%s", big, mid, big, mid);
	snprintf(want, sizeof(want), "big1=%s,x=%s,y=%s", big, mid, mid);
	assert_ts(in, 0, want);
	/* After the big ones, from the end. */
	char *m125 = repeat('m', 125);
	snprintf(in, sizeof(in), "a=%s,b=%s,big=%s,c=%s,d=%s,e=%s", m125, m125, big, m125, m125, m125);
	snprintf(want, sizeof(want), "a=%s,b=%s,c=%s,d=%s", m125, m125, m125, m125);
	assert_ts(in, 0, want);
	/* A single member over 512 characters cannot be kept at all. */
	char *huge = repeat('h', 256);
	char *hkey = repeat('k', 256);
	snprintf(in, sizeof(in), "%s=%s", hkey, huge);
	assert_ts(in, 0, "");
	free(big), free(mid), free(m125), free(huge), free(hkey);
}

static void tracestate_parse_in_place(void **state)
{
	(void)state;
	sonde_span_context c = fresh();
	strcpy(c.trace_state, " a=1 , ,b=2,\tc=3 ");
	c.trace_state_len = (uint16_t)strlen(c.trace_state);
	assert_int_equal(sonde_tracestate_parse(c.trace_state, c.trace_state_len, &c), 0);
	assert_string_equal(c.trace_state, "a=1,b=2,c=3");
	assert_int_equal(c.trace_state_len, 11);
}

static void tracestate_get_set_delete(void **state)
{
	(void)state;
	sonde_span_context c = fresh();
	assert_int_equal(sonde_tracestate_parse("foo=1,bar=22,a@b=x y", 20, &c), 0);
	size_t len = 99;
	const char *v = sonde_tracestate_get(&c, "bar", &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_memory_equal(v, "22", 2);
	v = sonde_tracestate_get(&c, "a@b", &len);
	assert_non_null(v);
	assert_int_equal(len, 3);
	assert_null(sonde_tracestate_get(&c, "fo", &len));
	assert_null(sonde_tracestate_get(&c, "ba", &len));
	assert_null(sonde_tracestate_get(&c, "nope", &len));
	assert_null(sonde_tracestate_get(&c, "", &len));

	/* A vendor's update moves its member first. */
	assert_int_equal(sonde_tracestate_set(&c, "bar", "3"), 0);
	assert_string_equal(c.trace_state, "bar=3,foo=1,a@b=x y");
	assert_int_equal(c.trace_state_len, strlen("bar=3,foo=1,a@b=x y"));
	assert_int_equal(sonde_tracestate_set(&c, "new", "v"), 0);
	assert_string_equal(c.trace_state, "new=v,bar=3,foo=1,a@b=x y");

	/* Bad keys and values leave c as it was. */
	assert_int_equal(sonde_tracestate_set(&c, "Bad", "v"), -EINVAL);
	assert_int_equal(sonde_tracestate_set(&c, "ok", "a,b"), -EINVAL);
	assert_int_equal(sonde_tracestate_set(&c, "ok", "a=b"), -EINVAL);
	assert_int_equal(sonde_tracestate_set(&c, "ok", ""), -EINVAL);
	assert_int_equal(sonde_tracestate_set(&c, "ok", "trailing "), -EINVAL);
	char *k256 = repeat('k', 256), *v256 = repeat('v', 256);
	assert_int_equal(sonde_tracestate_set(&c, k256, v256), -EINVAL); /* 513 characters */
	assert_string_equal(c.trace_state, "new=v,bar=3,foo=1,a@b=x y");

	assert_int_equal(sonde_tracestate_delete(&c, "foo"), 0);
	assert_string_equal(c.trace_state, "new=v,bar=3,a@b=x y");
	assert_int_equal(sonde_tracestate_delete(&c, "absent"), 0);
	assert_string_equal(c.trace_state, "new=v,bar=3,a@b=x y");
	assert_int_equal(sonde_tracestate_delete(&c, "new"), 0);
	assert_int_equal(sonde_tracestate_delete(&c, "a@b"), 0);
	assert_int_equal(sonde_tracestate_delete(&c, "bar"), 0);
	assert_string_equal(c.trace_state, "");
	assert_int_equal(c.trace_state_len, 0);
	assert_int_equal(sonde_tracestate_set(&c, "only", "1"), 0);
	assert_string_equal(c.trace_state, "only=1");
	free(k256), free(v256);
}

static void tracestate_set_limits(void **state)
{
	(void)state;
	sonde_span_context c = fresh();
	char in[1024];
	size_t n = 0;
	for (int i = 1; i <= 32; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%sm%02d=%02d", i > 1 ? "," : "", i, i);
	assert_int_equal(sonde_tracestate_parse(in, n, &c), 0);
	/* A 33rd member pushes the oldest (last) one out. */
	assert_int_equal(sonde_tracestate_set(&c, "new", "1"), 0);
	assert_non_null(sonde_tracestate_get(&c, "new", NULL));
	assert_non_null(sonde_tracestate_get(&c, "m31", NULL));
	assert_null(sonde_tracestate_get(&c, "m32", NULL));
	/* Updating an existing member of a full list drops nothing. */
	assert_int_equal(sonde_tracestate_set(&c, "m10", "x"), 0);
	assert_non_null(sonde_tracestate_get(&c, "m31", NULL));
	assert_non_null(sonde_tracestate_get(&c, "new", NULL));

	/* Past 512 characters, members are dropped from the end. */
	char *v200 = repeat('v', 200);
	c = fresh();
	assert_int_equal(sonde_tracestate_set(&c, "a", v200), 0);
	assert_int_equal(sonde_tracestate_set(&c, "b", v200), 0);
	assert_int_equal(c.trace_state_len, 2 * 202 + 1);
	assert_int_equal(sonde_tracestate_set(&c, "c", v200), 0);
	assert_non_null(sonde_tracestate_get(&c, "c", NULL));
	assert_non_null(sonde_tracestate_get(&c, "b", NULL));
	assert_null(sonde_tracestate_get(&c, "a", NULL));
	assert_true(c.trace_state_len <= SONDE_TRACESTATE_MAX_LEN);
	free(v200);
}

/* ---- baggage -------------------------------------------------------------------- */

static sonde_baggage *bag_new(void)
{
	sonde_baggage *b = malloc(sizeof(*b));
	sonde_baggage_init(b);
	return b;
}

static int bag_parse(sonde_baggage *b, const char *s)
{
	return sonde_baggage_parse(b, s, strlen(s));
}

static void assert_entry(const sonde_baggage *b, uint32_t i, const char *k, const char *v, const char *props)
{
	assert_true(i < b->count);
	assert_string_equal(b->entries[i].key, k);
	assert_string_equal(b->entries[i].value, v);
	assert_string_equal(b->entries[i].properties, props);
}

static void assert_format(const sonde_baggage *b, const char *want)
{
	char out[SONDE_BAGGAGE_MAX_LEN + 1];
	int n = sonde_baggage_format(b, out, sizeof(out));
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

static void baggage_w3c_examples(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	assert_int_equal(bag_parse(b, "key1=value1;property1;property2, key2 = value2, key3=value3; "
	                              "propertyKey=propertyValue"),
	                 0);
	assert_int_equal(b->count, 3);
	assert_entry(b, 0, "key1", "value1", "property1;property2");
	assert_entry(b, 1, "key2", "value2", "");
	assert_entry(b, 2, "key3", "value3", "propertyKey=propertyValue");
	assert_format(b, "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue");

	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, "userId=alice,serverNode=DF%2028,isProduction=false"), 0);
	assert_string_equal(sonde_baggage_get(b, "serverNode"), "DF 28");
	assert_string_equal(sonde_baggage_get(b, "userId"), "alice");
	assert_null(sonde_baggage_get(b, "userid"));
	assert_format(b, "userId=alice,serverNode=DF%2028,isProduction=false");

	/* Split over two headers, with spaces around names and values. */
	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, "userId =   alice"), 0);
	assert_int_equal(bag_parse(b, "serverNode = DF%2028, isProduction = false"), 0);
	assert_format(b, "userId=alice,serverNode=DF%2028,isProduction=false");
	free(b);
}

static void baggage_w3c_suite(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	assert_int_equal(bag_parse(b, "SomeKey \t = \t SomeValue \t ; \t SomeProp \t , \t SomeKey2 \t = \t "
	                              "SomeValue2 \t ; \t ValueProp \t = \t PropVal"),
	                 0);
	assert_entry(b, 0, "SomeKey", "SomeValue", "SomeProp");
	assert_entry(b, 1, "SomeKey2", "SomeValue2", "ValueProp=PropVal");

	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, "SomeKey=SomeValue=equals"), 0);
	assert_entry(b, 0, "SomeKey", "SomeValue=equals", "");

	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, "SomeKey=SomeValue;SomeProp;SecondProp=PropValue"), 0);
	assert_entry(b, 0, "SomeKey", "SomeValue", "SomeProp;SecondProp=PropValue");

	/* urllib.parse.quote("\t \"';=asdf!@#$%^&*()") */
	sonde_baggage_init(b);
	assert_int_equal(
	        bag_parse(b, "SomeKey \t = \t %09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29 \t "), 0);
	assert_entry(b, 0, "SomeKey", "\t \"';=asdf!@#$%^&*()", "");
	/* Encoded again, only what must be: CTLs, space, DQUOTE, ';' and '%'. */
	assert_format(b, "SomeKey=%09%20%22'%3B=asdf!@#$%25^&*()");
	free(b);
}

static void baggage_percent_round_trip(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new(), *b2 = bag_new();
	char all[256];
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	assert_int_equal(sonde_baggage_set(b, "all", all), 0);
	assert_int_equal(sonde_baggage_set(b, "utf8", "h\xc3\xa9llo w\xc3\xb6rld"), 0);
	assert_int_equal(sonde_baggage_set(b, "key with space,;\"", "v"), 0);
	assert_int_equal(sonde_baggage_set(b, "pct%", "100%"), 0);
	char out[SONDE_BAGGAGE_MAX_LEN + 1];
	int n = sonde_baggage_format(b, out, sizeof(out));
	assert_true(n > 0);
	/* Everything sent is in the grammar: no CTL, space, DQUOTE, backslash, non-ASCII. */
	for (int i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)out[i];
		assert_true(ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\');
	}
	assert_non_null(strstr(out, "utf8=h%C3%A9llo%20w%C3%B6rld"));
	assert_non_null(strstr(out, "pct%25=100%25"));
	assert_int_equal(sonde_baggage_parse(b2, out, (size_t)n), 0);
	assert_int_equal(b2->count, 4);
	assert_string_equal(sonde_baggage_get(b2, "all"), all);
	assert_string_equal(sonde_baggage_get(b2, "utf8"), "h\xc3\xa9llo w\xc3\xb6rld");
	assert_string_equal(sonde_baggage_get(b2, "key with space,;\""), "v");
	assert_string_equal(sonde_baggage_get(b2, "pct%"), "100%");
	/* Lower-case escapes decode too; a '%' without two hex digits stays as it is. */
	sonde_baggage_init(b2);
	assert_int_equal(bag_parse(b2, "a=%c3%a9,b=50%,c=%zz,d=%4"), 0);
	assert_string_equal(sonde_baggage_get(b2, "a"), "\xc3\xa9");
	assert_string_equal(sonde_baggage_get(b2, "b"), "50%");
	assert_string_equal(sonde_baggage_get(b2, "c"), "%zz");
	assert_string_equal(sonde_baggage_get(b2, "d"), "%4");
	assert_format(b2, "a=%C3%A9,b=50%25,c=%25zz,d=%254");
	free(b), free(b2);
}

static void baggage_invalid_members(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	/* Bad key (space, DQUOTE, '@' is no tchar), no '=', bad value characters, bad property,
	 * encoded NUL: each member is skipped and counted. */
	assert_int_equal(bag_parse(b, "good=1,bad key=2,noequals,k=v\"q,k2=a b,k3=\\x,@k=1,"
	                              "k4=1;bad prop,k5=1;p=\"q\",=v,k6=%00,also=3"),
	                 10);
	assert_int_equal(b->count, 2);
	assert_entry(b, 0, "good", "1", "");
	assert_entry(b, 1, "also", "3", "");
	/* Raw non-ASCII is not a baggage-octet. */
	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, "k=\xc3\xa9,ok=1"), 1);
	assert_int_equal(b->count, 1);
	/* Empty members are not errors; empty values are allowed. */
	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, ",a=1,, ,b=,\t"), 0);
	assert_entry(b, 1, "b", "", "");
	assert_format(b, "a=1,b=");
	/* Characters no header may hold reject the whole value. */
	sonde_baggage_init(b);
	assert_int_equal(bag_parse(b, "a=1\r\nb=2"), -EINVAL);
	assert_int_equal(sonde_baggage_parse(b, "a=1\0b=2", 7), -EINVAL);
	assert_int_equal(b->count, 0);
	assert_int_equal(sonde_baggage_parse(b, NULL, 3), -EINVAL);
	assert_int_equal(sonde_baggage_parse(b, "", 0), 0);
	free(b);
}

static void baggage_duplicates_and_set(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	assert_int_equal(bag_parse(b, "a=1;p,b=2,a=3"), 0);
	assert_int_equal(b->count, 2);
	assert_entry(b, 0, "a", "3", "");
	assert_entry(b, 1, "b", "2", "");
	assert_int_equal(sonde_baggage_set(b, "b", "two"), 0);
	assert_int_equal(sonde_baggage_set(b, "c", "3"), 0);
	assert_format(b, "a=3,b=two,c=3");
	assert_int_equal(sonde_baggage_set(b, "", "x"), -EINVAL);
	assert_int_equal(sonde_baggage_set(b, NULL, "x"), -EINVAL);
	assert_int_equal(sonde_baggage_set(b, "x", NULL), -EINVAL);
	assert_null(sonde_baggage_get(b, "x"));
	/* Values borrowed from the baggage itself survive a compaction. */
	char big[3000];
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 20; i++)
		assert_int_equal(sonde_baggage_set(b, "big", big), 0);
	assert_int_equal(sonde_baggage_set(b, "copy", sonde_baggage_get(b, "big")), 0);
	assert_string_equal(sonde_baggage_get(b, "copy"), big);
	assert_string_equal(sonde_baggage_get(b, "big"), big);
	assert_string_equal(sonde_baggage_get(b, "a"), "3");
	free(b);
}

static void baggage_storage_reuse(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	char v[200];
	/* Replacing a value many times never runs out: old strings are reclaimed. */
	for (int i = 0; i < 10000; i++) {
		snprintf(v, sizeof(v), "%0150d", i);
		assert_int_equal(sonde_baggage_set(b, "k", v), 0);
		assert_int_equal(sonde_baggage_set(b, "other", "1"), 0);
	}
	assert_string_equal(sonde_baggage_get(b, "k"), v);
	assert_int_equal(b->count, 2);
	free(b);
}

static void baggage_limits(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	char in[2048];
	size_t n = 0;
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "%skey%d=value", i ? "," : "", i);
	assert_int_equal(sonde_baggage_parse(b, in, n), 0);
	assert_int_equal(b->count, 64);
	char out[SONDE_BAGGAGE_MAX_LEN + 1];
	assert_int_equal(sonde_baggage_format(b, out, sizeof(out)), (int)n);
	assert_string_equal(out, in);
	/* A 65th member does not fit; a replaced one still does. */
	assert_int_equal(bag_parse(b, "key64=value"), -E2BIG);
	assert_int_equal(sonde_baggage_set(b, "key65", "v"), -E2BIG);
	assert_int_equal(bag_parse(b, "key0=new"), 0);
	assert_int_equal(b->count, 64);
	assert_string_equal(sonde_baggage_get(b, "key0"), "new");

	/* Storage: 8192 bytes for the decoded strings and their NULs. */
	sonde_baggage_init(b);
	char *val = malloc(SONDE_BAGGAGE_MAX_LEN + 1);
	memset(val, '0', 8189);
	val[8189] = '\0';
	assert_int_equal(sonde_baggage_set(b, "a", val), 0); /* 2 + 8190 bytes */
	assert_int_equal(sonde_baggage_set(b, "b", "1"), -E2BIG);
	assert_int_equal(b->count, 1);
	int len = sonde_baggage_format(b, out, sizeof(out));
	assert_int_equal(len, 8191);
	sonde_baggage_init(b);
	assert_int_equal(sonde_baggage_parse(b, out, (size_t)len), 0);
	assert_string_equal(sonde_baggage_get(b, "a"), val);
	/* Past the storage, -E2BIG, and what came before is kept. */
	sonde_baggage_init(b);
	char *hdr = malloc(2 * SONDE_BAGGAGE_MAX_LEN);
	snprintf(hdr, 2 * SONDE_BAGGAGE_MAX_LEN, "x=1,a=%s,y=2", val);
	assert_int_equal(bag_parse(b, hdr), -E2BIG);
	assert_string_equal(sonde_baggage_get(b, "x"), "1");
	assert_string_equal(sonde_baggage_get(b, "y"), "2");
	assert_null(sonde_baggage_get(b, "a"));
	free(val), free(hdr), free(b);
}

static void baggage_format_limits(void **state)
{
	(void)state;
	sonde_baggage *b = bag_new();
	/* 3000 bytes of non-ASCII encode to 9000: that member is left out, the rest sent. */
	char *wide = malloc(3001);
	memset(wide, '\xff', 3000);
	wide[3000] = '\0';
	assert_int_equal(sonde_baggage_set(b, "a", "1"), 0);
	assert_int_equal(sonde_baggage_set(b, "wide", wide), 0);
	assert_int_equal(sonde_baggage_set(b, "z", "2"), 0);
	assert_format(b, "a=1,z=2");
	/* Members that do not fit cap are left out; with none written, -E2BIG. */
	char out[8];
	assert_int_equal(sonde_baggage_format(b, out, 4), 3);
	assert_string_equal(out, "a=1");
	assert_int_equal(sonde_baggage_format(b, out, 3), -E2BIG);
	assert_int_equal(sonde_baggage_format(b, out, 0), -E2BIG);
	sonde_baggage_init(b);
	assert_int_equal(sonde_baggage_format(b, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	free(wide), free(b);
}

/* ---- carriers ------------------------------------------------------------------- */

typedef struct headers {
	int n;
	char name[8][32];
	char value[8][SONDE_BAGGAGE_MAX_LEN + 1];
	int fail_on_set; /* set returns -EIO for this header index, else -1 */
} headers;

static const char *hdr_get(void *ctx, const char *key)
{
	headers *h = ctx;
	for (int i = 0; i < h->n; i++) {
		if (strcasecmp(h->name[i], key) == 0)
			return h->value[i];
	}
	return NULL;
}

static int hdr_set(void *ctx, const char *key, const char *value)
{
	headers *h = ctx;
	if (h->n == h->fail_on_set)
		return -EIO;
	for (int i = 0; i < h->n; i++) {
		if (strcasecmp(h->name[i], key) == 0) {
			snprintf(h->value[i], sizeof(h->value[i]), "%s", value);
			return 0;
		}
	}
	snprintf(h->name[h->n], sizeof(h->name[0]), "%s", key);
	snprintf(h->value[h->n], sizeof(h->value[0]), "%s", value);
	h->n++;
	return 0;
}

static headers *hdrs_new(void)
{
	headers *h = calloc(1, sizeof(*h));
	h->fail_on_set = -1;
	return h;
}

static void hdr_add(headers *h, const char *k, const char *v)
{
	snprintf(h->name[h->n], sizeof(h->name[0]), "%s", k);
	snprintf(h->value[h->n], sizeof(h->value[0]), "%s", v);
	h->n++;
}

static void inject_extract(void **state)
{
	(void)state;
	headers *h = hdrs_new();
	sonde_carrier car = {.ctx = h, .get = hdr_get, .set = hdr_set};
	sonde_span_context c = fresh();
	assert_int_equal(tp_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", &c), 0);
	assert_int_equal(sonde_tracestate_parse("congo=t61rcWkgMzE", 17, &c), 0);
	sonde_baggage *bag = bag_new();
	assert_int_equal(sonde_baggage_set(bag, "user", "a b"), 0);
	assert_int_equal(sonde_propagation_inject(&car, &c, bag), 0);
	assert_int_equal(h->n, 3);
	assert_string_equal(hdr_get(h, "traceparent"),
	                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03");
	assert_string_equal(hdr_get(h, "tracestate"), "congo=t61rcWkgMzE");
	assert_string_equal(hdr_get(h, "baggage"), "user=a%20b");

	sonde_span_context got;
	memset(&got, 0x77, sizeof(got));
	sonde_baggage *bag2 = bag_new();
	assert_int_equal(sonde_propagation_extract(&car, &got, bag2), 0);
	assert_true(got.is_remote);
	assert_memory_equal(got.trace_id, c.trace_id, 16);
	assert_memory_equal(got.span_id, c.span_id, 8);
	assert_int_equal(got.trace_flags, 3);
	assert_string_equal(got.trace_state, "congo=t61rcWkgMzE");
	assert_string_equal(sonde_baggage_get(bag2, "user"), "a b");

	/* Without trace state or baggage, only traceparent is written. */
	free(h);
	h = hdrs_new();
	car.ctx = h;
	c.trace_state[0] = '\0';
	c.trace_state_len = 0;
	sonde_baggage_init(bag);
	assert_int_equal(sonde_propagation_inject(&car, &c, bag), 0);
	assert_int_equal(h->n, 1);
	assert_int_equal(sonde_propagation_inject(&car, &c, NULL), 0);
	assert_int_equal(h->n, 1);
	free(h), free(bag), free(bag2);
}

static void inject_errors(void **state)
{
	(void)state;
	headers *h = hdrs_new();
	sonde_carrier car = {.ctx = h, .get = hdr_get, .set = hdr_set};
	sonde_span_context c = fresh();
	assert_int_equal(tp_parse(TP_VALID, &c), 0);
	assert_int_equal(sonde_tracestate_parse("a=1", 3, &c), 0);
	h->fail_on_set = 1; /* the tracestate header */
	assert_int_equal(sonde_propagation_inject(&car, &c, NULL), -EIO);
	h->n = 0;
	h->fail_on_set = 0;
	assert_int_equal(sonde_propagation_inject(&car, &c, NULL), -EIO);
	/* An invalid context is not injected; baggage still is. */
	h->n = 0;
	h->fail_on_set = -1;
	sonde_span_context invalid = fresh();
	sonde_baggage *bag = bag_new();
	sonde_baggage_set(bag, "k", "v");
	assert_int_equal(sonde_propagation_inject(&car, &invalid, bag), 0);
	assert_int_equal(h->n, 1);
	assert_string_equal(h->name[0], "baggage");
	sonde_carrier no_set = {.ctx = h, .get = hdr_get};
	assert_int_equal(sonde_propagation_inject(&no_set, &c, NULL), -EINVAL);
	assert_int_equal(sonde_propagation_inject(NULL, &c, NULL), -EINVAL);
	free(h), free(bag);
}

static void extract_cases(void **state)
{
	(void)state;
	headers *h = hdrs_new();
	sonde_carrier car = {.ctx = h, .get = hdr_get, .set = hdr_set};
	sonde_span_context c;

	/* No traceparent: -ENOENT, and trace state alone is ignored. */
	hdr_add(h, "tracestate", "foo=1");
	assert_int_equal(sonde_propagation_extract(&car, &c, NULL), -ENOENT);
	assert_false(sonde_span_context_is_valid(&c));
	assert_string_equal(c.trace_state, "");

	/* Header names in any case. */
	h->n = 0;
	hdr_add(h, "TrAcEpArEnT", "00-" TP_TRACE "-" TP_SPAN "-00");
	hdr_add(h, "TRACESTATE", "foo=1, bar=2");
	assert_int_equal(sonde_propagation_extract(&car, &c, NULL), 0);
	assert_true(sonde_span_context_is_valid(&c));
	assert_true(c.is_remote);
	assert_int_equal(c.trace_flags, 0);
	assert_string_equal(c.trace_state, "foo=1,bar=2");

	/* An invalid traceparent: -EINVAL and an invalid context, tracestate discarded. */
	h->n = 0;
	hdr_add(h, "traceparent", "00-00000000000000000000000000000000-" TP_SPAN "-01");
	hdr_add(h, "tracestate", "foo=1");
	memset(&c, 0x11, sizeof(c));
	assert_int_equal(sonde_propagation_extract(&car, &c, NULL), -EINVAL);
	assert_false(sonde_span_context_is_valid(&c));
	assert_string_equal(c.trace_state, "");
	assert_int_equal(c.trace_state_len, 0);

	/* A valid traceparent with an invalid tracestate keeps the traceparent. */
	h->n = 0;
	hdr_add(h, "traceparent", TP_VALID);
	hdr_add(h, "tracestate", "foo=1,foo=2");
	assert_int_equal(sonde_propagation_extract(&car, &c, NULL), 0);
	assert_true(sonde_span_context_is_valid(&c));
	assert_string_equal(c.trace_state, "");

	/* A future version, with extra fields. */
	h->n = 0;
	hdr_add(h, "traceparent", "cc-" TP_TRACE "-" TP_SPAN "-01-what-the-future-will-be-like");
	assert_int_equal(sonde_propagation_extract(&car, &c, NULL), 0);
	assert_int_equal(c.trace_id[0], 0x12);

	/* Wrong header names are not ours. */
	h->n = 0;
	hdr_add(h, "trace-parent", TP_VALID);
	hdr_add(h, "trace.state", "foo=1");
	assert_int_equal(sonde_propagation_extract(&car, &c, NULL), -ENOENT);

	/* Baggage is read even without a traceparent. */
	h->n = 0;
	hdr_add(h, "Baggage", "k=v%21;p");
	sonde_baggage *bag = bag_new();
	assert_int_equal(sonde_propagation_extract(&car, &c, bag), -ENOENT);
	assert_string_equal(sonde_baggage_get(bag, "k"), "v!");
	assert_string_equal(bag->entries[0].properties, "p");

	sonde_carrier no_get = {.ctx = h, .set = hdr_set};
	assert_int_equal(sonde_propagation_extract(&no_get, &c, NULL), -EINVAL);
	free(h), free(bag);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(traceparent_valid),
	        cmocka_unit_test(traceparent_ows),
	        cmocka_unit_test(traceparent_version),
	        cmocka_unit_test(traceparent_trace_id),
	        cmocka_unit_test(traceparent_parent_id),
	        cmocka_unit_test(traceparent_flags_and_shape),
	        cmocka_unit_test(traceparent_format),
	        cmocka_unit_test(span_context_validity),
	        cmocka_unit_test(tracestate_basic),
	        cmocka_unit_test(tracestate_ows_and_empty_members),
	        cmocka_unit_test(tracestate_all_allowed_characters),
	        cmocka_unit_test(tracestate_bad_keys),
	        cmocka_unit_test(tracestate_key_lengths),
	        cmocka_unit_test(tracestate_bad_values),
	        cmocka_unit_test(tracestate_duplicates),
	        cmocka_unit_test(tracestate_member_limit),
	        cmocka_unit_test(tracestate_truncation),
	        cmocka_unit_test(tracestate_parse_in_place),
	        cmocka_unit_test(tracestate_get_set_delete),
	        cmocka_unit_test(tracestate_set_limits),
	        cmocka_unit_test(baggage_w3c_examples),
	        cmocka_unit_test(baggage_w3c_suite),
	        cmocka_unit_test(baggage_percent_round_trip),
	        cmocka_unit_test(baggage_invalid_members),
	        cmocka_unit_test(baggage_duplicates_and_set),
	        cmocka_unit_test(baggage_storage_reuse),
	        cmocka_unit_test(baggage_limits),
	        cmocka_unit_test(baggage_format_limits),
	        cmocka_unit_test(inject_extract),
	        cmocka_unit_test(inject_errors),
	        cmocka_unit_test(extract_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
