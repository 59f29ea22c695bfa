/*
 * postmortem_test.c - the method's guard rails (postmortem.h): which root causes only
 * restate a symptom, the flags of an incident as recorded, and the detail reader; then
 * the post-mortem of a small constructed store, checked section by section (the golden
 * file of the whole document is tests/cli/incident_test.sh's).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "postmortem.h"
#include "store.h"

#include "../lib/store_tmpdir.h"

#define T0   1714557600000000000ull /* 2024-05-01T10:00:00Z */
#define S    1000000000ull
#define HOUR (3600 * S)

static bool restates(const char *text)
{
	char why[300];
	bool r = sonde_root_cause_restates_symptom(text, NULL, 0, why, sizeof why);
	assert_true(r == (why[0] != '\0'));
	return r;
}

static void test_symptom_only(void **state)
{
	(void)state;
	assert_true(restates("timeouts"));
	assert_true(restates("Slow responses and high latency"));
	assert_true(restates("the API returned 500 errors"));
	assert_true(restates("checkout service crashed"));
	assert_true(restates("Errors! Errors everywhere."));
	assert_true(restates("p99 latency spike on /checkout endpoint"));
}

static void test_mechanism(void **state)
{
	(void)state;
	assert_false(restates("timeouts because the connection pool was exhausted"));
	assert_false(restates("high latency due to a missing index on orders.user_id"));
	assert_false(restates("500 errors caused by an expired TLS certificate"));
	assert_false(restates("memory leak in the session cache"));
	assert_false(restates("release 2 introduced an N+1 query in the cart"));
	/* Mostly other words: says something beyond the symptom. */
	assert_false(restates("the payment provider rotated its API keys and ours were not updated"));
	assert_false(restates(""));
}

static void test_equals_evidence(void **state)
{
	(void)state;
	const char *sym[] = {"Checkout fails after release 2", "trace 0af7: 3 spans, 1 failed"};
	char why[300];
	assert_true(sonde_root_cause_restates_symptom("checkout FAILS after release 2.", sym, 2, why,
	                                              sizeof why));
	assert_non_null(strstr(why, "repeats a symptom"));
	assert_false(sonde_root_cause_restates_symptom("release 2 removed the retry on the payment call", sym,
	                                               2, why, sizeof why));
	assert_string_equal(why, "");
}

static void test_detail_get(void **state)
{
	(void)state;
	char v[16];
	const char *j = "{\"a\":{\"held\":false},\"held\":true,\"n\":12,\"s\":\"x\\\"y\",\"z\":null}";
	assert_true(sonde_incident_detail_get(j, "held", v, sizeof v));
	assert_string_equal(v, "true");
	assert_true(sonde_incident_detail_get(j, "n", v, sizeof v));
	assert_string_equal(v, "12");
	assert_true(sonde_incident_detail_get(j, "s", v, sizeof v));
	assert_string_equal(v, "x\"y");
	assert_false(sonde_incident_detail_get(j, "z", v, sizeof v));
	assert_false(sonde_incident_detail_get(j, "a", v, sizeof v));
	assert_false(sonde_incident_detail_get(j, "missing", v, sizeof v));
	assert_string_equal(v, "");
	assert_false(sonde_incident_detail_get("not json", "held", v, sizeof v));
	assert_false(sonde_incident_detail_get(NULL, "held", v, sizeof v));
	char small[3];
	assert_true(sonde_incident_detail_get("{\"k\":\"abcdef\"}", "k", small, sizeof small));
	assert_string_equal(small, "ab");
}

static void test_check(void **state)
{
	(void)state;
	sonde_incident_entry e[4] = {
	        {.seq = 1, .kind = SONDE_ENTRY_HYPOTHESIS, .text = "h", .detail_json = "{}"},
	        {.seq = 2,
	         .kind = SONDE_ENTRY_VERIFY,
	         .text = "t",
	         .ref = 1,
	         .detail_json = "{\"held\":false}"},
	        {.seq = 3, .kind = SONDE_ENTRY_ROOT_CAUSE, .text = "slow requests", .detail_json = "{}"},
	        {.seq = 4,
	         .kind = SONDE_ENTRY_VERIFY,
	         .text = "t2",
	         .ref = 1,
	         .detail_json = "{\"held\":true}"},
	};
	sonde_incident_record r = {.inc = {.title = "Checkout is slow"}, .entries = e, .count = 0};
	assert_int_equal(sonde_incident_check(&r), SONDE_PM_NO_VERIFIED_HYPOTHESIS | SONDE_PM_NO_ROOT_CAUSE);
	r.count = 2; /* tested, did not hold */
	assert_int_equal(sonde_incident_check(&r), SONDE_PM_NO_VERIFIED_HYPOTHESIS | SONDE_PM_NO_ROOT_CAUSE);
	r.count = 3;
	assert_int_equal(sonde_incident_check(&r),
	                 SONDE_PM_NO_VERIFIED_HYPOTHESIS | SONDE_PM_SYMPTOM_ROOT_CAUSE);
	r.count = 4;
	assert_int_equal(sonde_incident_check(&r), SONDE_PM_SYMPTOM_ROOT_CAUSE);
	e[2].text = "the pool was exhausted by a leak of connections";
	assert_int_equal(sonde_incident_check(&r), 0);
	e[2].text = "Checkout is slow";
	assert_int_equal(sonde_incident_check(&r), SONDE_PM_SYMPTOM_ROOT_CAUSE);
}

/* ---- The document over a constructed store ------------------------------------------------ */

static sonde_store *st;

static sonde_resource *resource(sonde_batch *b, const char *service, const char *version)
{
	sonde_resource *r = sonde_batch_new_resource(b);
	r->attrs.items = sonde_batch_alloc(b, 2 * sizeof(sonde_kv));
	r->attrs.count = 2;
	r->attrs.items[0].key = sonde_batch_intern(b, "service.name", 12);
	r->attrs.items[0].value.kind = SONDE_VAL_STRING;
	r->attrs.items[0].value.u.str = sonde_batch_intern(b, service, strlen(service));
	r->attrs.items[1].key = sonde_batch_intern(b, "service.version", 15);
	r->attrs.items[1].value.kind = SONDE_VAL_STRING;
	r->attrs.items[1].value.u.str = sonde_batch_intern(b, version, strlen(version));
	return r;
}

/* One request a minute from 09:00 to 10:59; from 10:05 to 10:19 version 2 answers and
 * every second request fails (user u<i%3>, route /pay). */
static int setup_store(void **state)
{
	(void)state;
	if (tmpdir_make("pm") < 0)
		return -1;
	char msg[256];
	if (sonde_store_open(path, 0, &st, msg, sizeof msg) < 0)
		return -1;
	sonde_batch *b = sonde_batch_new();
	sonde_resource *v1 = resource(b, "api", "1"), *v2 = resource(b, "api", "2");
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (unsigned i = 0; i < 120; i++) {
		uint64_t t = T0 - HOUR + (uint64_t)i * 60 * S;
		bool bad = t >= T0 + 5 * 60 * S && t < T0 + 20 * 60 * S;
		sonde_span_data *sp = sonde_batch_add_span(b, bad ? v2 : v1, sc);
		sp->trace_id[0] = 1;
		sp->trace_id[15] = (uint8_t)i;
		sp->span_id[7] = (uint8_t)(i + 1);
		sp->name = sonde_batch_intern(b, "POST /pay", 9);
		sp->kind = SONDE_SPAN_KIND_SERVER;
		sp->start_ns = t;
		sp->end_ns = t + 20000000;
		sp->attrs.items = sonde_batch_alloc(b, 2 * sizeof(sonde_kv));
		sp->attrs.count = 2;
		sp->attrs.items[0].key = sonde_batch_intern(b, "http.route", 10);
		sp->attrs.items[0].value.kind = SONDE_VAL_STRING;
		sp->attrs.items[0].value.u.str = sonde_batch_intern(b, "/pay", 4);
		char u[8];
		snprintf(u, sizeof u, "u%u", i % 3);
		sp->attrs.items[1].key = sonde_batch_intern(b, "enduser.id", 10);
		sp->attrs.items[1].value.kind = SONDE_VAL_STRING;
		sp->attrs.items[1].value.u.str = sonde_batch_intern(b, u, strlen(u));
		if (bad && i % 2 == 0)
			sp->status_code = SONDE_STATUS_ERROR;
	}
	int rc = sonde_store_append(st, b, NULL, NULL);
	sonde_batch_free(b);
	return rc;
}

static int teardown_store(void **state)
{
	(void)state;
	sonde_store_close(st);
	return tmpdir_remove();
}

static void test_document(void **state)
{
	(void)state;
	char id[24];
	assert_int_equal(sonde_incident_create(st, "payments fail", SONDE_SEV_HIGH, T0 + 10 * 60 * S, "alice",
	                                       id, sizeof id),
	                 0);
	sonde_incident_entry a1 = {.kind = SONDE_ENTRY_ACTION,
	                           .time_ns = T0 + 40 * 60 * S,
	                           .text = "later",
	                           .detail_json =
	                                   "{\"priority\":\"P3\",\"owner\":\"bob\",\"due\":\"2024-06-01\"}"};
	sonde_incident_entry a2 = {.kind = SONDE_ENTRY_ACTION,
	                           .time_ns = T0 + 41 * 60 * S,
	                           .text = "first",
	                           .detail_json =
	                                   "{\"priority\":\"P0\",\"owner\":\"eve\",\"due\":\"2024-05-02\"}"};
	assert_int_equal(sonde_incident_add_entry(st, id, &a1, NULL), 0);
	assert_int_equal(sonde_incident_add_entry(st, id, &a2, NULL), 0);
	/* A canary verdict in the window, and one linked to the incident from long after. */
	sonde_event canary = {.time_ns = T0 + 8 * 60 * S,
	                      .kind = "canary",
	                      .source = "sonde canary",
	                      .summary = "fail: error rate 50% > 5%"};
	assert_int_equal(sonde_store_event_add(st, &canary, NULL), 0);
	sonde_event late = {.time_ns = T0 + 48 * HOUR,
	                    .kind = "review",
	                    .summary = "post-mortem reviewed",
	                    .incident_id = id};
	assert_int_equal(sonde_store_event_add(st, &late, NULL), 0);
	sonde_buf out = SONDE_BUF_INIT;
	unsigned flags = 0;
	char err[256];
	sonde_postmortem_opts o = {.now_ns = T0 + 2 * HOUR};
	assert_int_equal(sonde_postmortem_markdown(st, id, &o, &out, &flags, err, sizeof err), 0);
	sonde_buf_putc(&out, '\0');
	const char *md = out.data;
	assert_int_equal(flags, SONDE_PM_NO_VERIFIED_HYPOTHESIS | SONDE_PM_NO_ROOT_CAUSE);
	/* The first failure is at 10:06 (i = 66), the last at 10:18 (i = 78); recovery is the
	 * next minute with a request that is back at the baseline (0%): 10:19. */
	if (!strstr(md,
	            "From 2024-05-01 10:06:00Z to 2024-05-01 10:19:00Z (13m 00s), 7 of 13 requests failed"))
		fail_msg("summary not found in:\n%s", md);
	assert_non_null(strstr(md, "for 3 users on 1 endpoint."));
	assert_non_null(strstr(md, "| /pay | 7 | 13 | 53.8% |"));
	assert_non_null(strstr(md, "Version change: api runs version 2 (was 1)"));
	const char *c = strstr(
	        md, "| 2024-05-01 10:08:00Z | canary: fail: error rate 50% > 5% (sonde canary) | journal |");
	const char *l = strstr(md, "| 2024-05-03 10:00:00Z | review: post-mortem reviewed | journal |");
	if (!c || !l)
		fail_msg("journal events missing from:\n%s", md);
	assert_true(c < l);
	assert_non_null(strstr(md, "api version 2 went live 1m 00s before the first error"));
	/* Action items by priority. */
	const char *p0 = strstr(md, "| P0 | first | eve | 2024-05-02 | open |");
	const char *p3 = strstr(md, "| P3 | later | bob | 2024-06-01 | open |");
	assert_non_null(p0);
	assert_non_null(p3);
	assert_true(p0 < p3);
	assert_non_null(strstr(md, "**No hypothesis was verified**"));
	sonde_buf_release(&out);
	/* A window given by hand. */
	o.since_ns = T0;
	o.until_ns = T0 + 10 * 60 * S;
	sonde_buf_init(&out);
	assert_int_equal(sonde_postmortem_markdown(st, id, &o, &out, &flags, err, sizeof err), 0);
	sonde_buf_putc(&out, '\0');
	assert_non_null(strstr(out.data, "2 of 10 requests failed"));
	assert_non_null(strstr(out.data, "start given with --since, end given with --until"));
	sonde_buf_release(&out);
	sonde_buf_init(&out);
	assert_int_equal(sonde_postmortem_markdown(st, "INC-7", &o, &out, &flags, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "no incident INC-7"));
	sonde_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_symptom_only),
	        cmocka_unit_test(test_mechanism),
	        cmocka_unit_test(test_equals_evidence),
	        cmocka_unit_test(test_detail_get),
	        cmocka_unit_test(test_check),
	        cmocka_unit_test_setup_teardown(test_document, setup_store, teardown_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
