/*
 * journal_test.c - incidents, entries and events through journal.h on a fresh SQLite
 * store: numbering, round trips of every field, validation of ids, kinds, JSON details
 * and hypothesis references, resolution, event filters, a store that never held a
 * journal (empty reads, read-only), and the refusal of the ClickHouse backend.
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
#include "sonde/status.h"
#include "store.h"

#include "../lib/store_tmpdir.h"

#define T0 1714557600000000000ull /* 2024-05-01T10:00:00Z */
#define S  1000000000ull

static sonde_store *st;

static int setup(void **state)
{
	(void)state;
	if (tmpdir_make("journal") < 0)
		return -1;
	char msg[256];
	return sonde_store_open(path, 0, &st, msg, sizeof msg);
}

static int teardown(void **state)
{
	(void)state;
	sonde_store_close(st);
	st = NULL;
	return tmpdir_remove();
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(sonde_incident_severity_parse("high"), SONDE_SEV_HIGH);
	assert_int_equal(sonde_incident_severity_parse("CRITICAL"), SONDE_SEV_CRITICAL);
	assert_int_equal(sonde_incident_severity_parse("urgent"), -1);
	assert_string_equal(sonde_incident_severity_name(SONDE_SEV_LOW), "LOW");
	for (int k = 0; k < SONDE_ENTRY_KIND_COUNT; k++)
		assert_int_equal(sonde_entry_kind_parse(sonde_entry_kind_name((sonde_entry_kind)k)), k);
	assert_int_equal(sonde_entry_kind_parse("rootcause"), -1);
	int64_t n = 0;
	assert_int_equal(sonde_incident_id_parse("INC-12", &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(sonde_incident_id_parse("inc-3", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(sonde_incident_id_parse("7", &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(sonde_incident_id_parse("INC-0", &n), -EINVAL);
	assert_int_equal(sonde_incident_id_parse("INC-", &n), -EINVAL);
	assert_int_equal(sonde_incident_id_parse("INC-1x", &n), -EINVAL);
	assert_int_equal(sonde_incident_id_parse("INC-99999999999999999999", &n), -EINVAL);
	assert_int_equal(sonde_incident_id_parse(NULL, &n), -EINVAL);
}

static void test_empty_store(void **state)
{
	(void)state;
	sonde_incident_list l;
	assert_int_equal(sonde_incident_list_all(st, &l), 0);
	sonde_incident_list_release(&l);
	sonde_event_list ev;
	assert_int_equal(sonde_store_events(st, NULL, &ev), 0);
	sonde_event_list_release(&ev);
	sonde_incident_record r;
	assert_int_equal(sonde_incident_get(st, "INC-1", &r), -ENOENT);
	assert_non_null(strstr(sonde_store_errmsg(st), "no incident INC-1"));
	sonde_incident_record_release(&r);
	sonde_incident_entry e = {.kind = SONDE_ENTRY_NOTE, .text = "x"};
	assert_int_equal(sonde_incident_add_entry(st, "INC-1", &e, NULL), -ENOENT);
}

static void test_incident_round_trip(void **state)
{
	(void)state;
	char id[24];
	assert_int_equal(
	        sonde_incident_create(st, "Checkout fails", SONDE_SEV_HIGH, T0, "alice", id, sizeof id), 0);
	assert_string_equal(id, "INC-1");
	char id2[24];
	assert_int_equal(
	        sonde_incident_create(st, "Slow search", SONDE_SEV_LOW, T0 + 5 * S, "bob", id2, sizeof id2),
	        0);
	assert_string_equal(id2, "INC-2");

	sonde_incident_entry h = {.kind = SONDE_ENTRY_HYPOTHESIS,
	                          .time_ns = T0 + S,
	                          .author = "alice",
	                          .text = "the v2 query lacks an index"};
	int64_t seq = 0;
	assert_int_equal(sonde_incident_add_entry(st, id, &h, &seq), 0);
	assert_int_equal(seq, 1);
	sonde_incident_entry ev = {.kind = SONDE_ENTRY_EVIDENCE,
	                           .time_ns = T0 + 2 * S,
	                           .author = "alice",
	                           .text = "trace 0af7 failed",
	                           .source = "trace",
	                           .detail_json = "{\"trace_id\":\"0af7\",\"spans\":3}"};
	assert_int_equal(sonde_incident_add_entry(st, id, &ev, &seq), 0);
	assert_int_equal(seq, 2);
	/* The second incident numbers its entries from 1. */
	sonde_incident_entry n2 = {.kind = SONDE_ENTRY_NOTE, .time_ns = T0 + 6 * S, .text = "other"};
	assert_int_equal(sonde_incident_add_entry(st, "inc-2", &n2, &seq), 0);
	assert_int_equal(seq, 1);
	sonde_incident_entry v = {.kind = SONDE_ENTRY_VERIFY,
	                          .time_ns = T0 + 3 * S,
	                          .text = "added the index",
	                          .ref = 1,
	                          .detail_json = "{\"held\":true}"};
	assert_int_equal(sonde_incident_add_entry(st, id, &v, &seq), 0);
	assert_int_equal(seq, 3);

	sonde_incident_record r;
	assert_int_equal(sonde_incident_get(st, "INC-1", &r), 0);
	assert_string_equal(r.inc.id, "INC-1");
	assert_string_equal(r.inc.title, "Checkout fails");
	assert_int_equal(r.inc.severity, SONDE_SEV_HIGH);
	assert_false(r.inc.resolved);
	assert_int_equal(r.inc.created_ns, T0);
	assert_string_equal(r.inc.author, "alice");
	assert_int_equal(r.count, 3);
	assert_int_equal(r.entries[0].kind, SONDE_ENTRY_HYPOTHESIS);
	assert_string_equal(r.entries[0].detail_json, "{}");
	assert_string_equal(r.entries[0].source, "");
	assert_int_equal(r.entries[1].kind, SONDE_ENTRY_EVIDENCE);
	assert_int_equal(r.entries[1].seq, 2);
	assert_int_equal(r.entries[1].time_ns, T0 + 2 * S);
	assert_string_equal(r.entries[1].source, "trace");
	assert_string_equal(r.entries[1].detail_json, "{\"trace_id\":\"0af7\",\"spans\":3}");
	assert_int_equal(r.entries[2].ref, 1);
	sonde_incident_record_release(&r);

	assert_int_equal(sonde_incident_resolve(st, id, T0 + 60 * S), 0);
	assert_int_equal(sonde_incident_resolve(st, id, T0 + 90 * S), 0); /* keeps the first time */
	sonde_incident_list l;
	assert_int_equal(sonde_incident_list_all(st, &l), 2);
	assert_true(l.items[0].resolved);
	assert_int_equal(l.items[0].resolved_ns, T0 + 60 * S);
	assert_int_equal(l.items[0].entries, 3);
	assert_false(l.items[1].resolved);
	assert_string_equal(l.items[1].id, "INC-2");
	assert_int_equal(l.items[1].entries, 1);
	sonde_incident_list_release(&l);
}

static void test_validation(void **state)
{
	(void)state;
	char id[24];
	assert_int_equal(sonde_incident_create(st, "", SONDE_SEV_HIGH, T0, NULL, id, sizeof id), -EINVAL);
	assert_int_equal(sonde_incident_create(st, "x", (sonde_incident_severity)9, T0, NULL, id, sizeof id),
	                 -EINVAL);
	assert_int_equal(sonde_incident_create(st, "x", SONDE_SEV_LOW, T0, NULL, id, sizeof id), 0);
	sonde_incident_entry bad_json = {.kind = SONDE_ENTRY_NOTE, .text = "x", .detail_json = "[1]"};
	assert_int_equal(sonde_incident_add_entry(st, id, &bad_json, NULL), -EINVAL);
	assert_non_null(strstr(sonde_store_errmsg(st), "not a JSON object"));
	bad_json.detail_json = "{\"a\":";
	assert_int_equal(sonde_incident_add_entry(st, id, &bad_json, NULL), -EINVAL);
	sonde_incident_entry v = {.kind = SONDE_ENTRY_VERIFY, .text = "t", .ref = 1};
	assert_int_equal(sonde_incident_add_entry(st, id, &v, NULL), -EINVAL);
	assert_non_null(strstr(sonde_store_errmsg(st), "no hypothesis 1"));
	sonde_incident_entry k = {.kind = SONDE_ENTRY_KIND_COUNT, .text = "t"};
	assert_int_equal(sonde_incident_add_entry(st, id, &k, NULL), -EINVAL);
	sonde_incident_entry n = {.kind = SONDE_ENTRY_NOTE, .text = "t"};
	assert_int_equal(sonde_incident_add_entry(st, "INC-x", &n, NULL), -EINVAL);
	assert_int_equal(sonde_incident_add_entry(st, "INC-5", &n, NULL), -ENOENT);
	sonde_event e = {.time_ns = T0};
	assert_int_equal(sonde_store_event_add(st, &e, NULL), -EINVAL);
	e.kind = "canary";
	e.incident_id = "INC-9";
	assert_int_equal(sonde_store_event_add(st, &e, NULL), -ENOENT);
	/* Nothing of the failed calls was stored. */
	sonde_incident_record r;
	assert_int_equal(sonde_incident_get(st, id, &r), 0);
	assert_int_equal(r.count, 0);
	sonde_incident_record_release(&r);
	sonde_event_list l;
	assert_int_equal(sonde_store_events(st, NULL, &l), 0);
	sonde_event_list_release(&l);
}

static void test_events(void **state)
{
	(void)state;
	char id[24];
	assert_int_equal(sonde_incident_create(st, "x", SONDE_SEV_MEDIUM, T0, NULL, id, sizeof id), 0);
	const sonde_event evs[] = {
	        {.time_ns = T0 + 30 * S,
	         .kind = "canary",
	         .source = "sonde canary",
	         .summary = "fail",
	         .detail_json = "{\"score\":12}",
	         .incident_id = id},
	        {.time_ns = T0 + 10 * S, .kind = "deploy", .source = "ci", .summary = "api v2"},
	        {.time_ns = T0 + 10 * S, .kind = "compare", .summary = "regression"},
	        {.time_ns = T0 + 50 * S, .kind = "canary", .summary = "pass"},
	};
	for (size_t i = 0; i < 4; i++) {
		int64_t eid = 0;
		assert_int_equal(sonde_store_event_add(st, &evs[i], &eid), 0);
		assert_int_equal(eid, (int64_t)i + 1);
	}
	sonde_event_list l;
	assert_int_equal(sonde_store_events(st, NULL, &l), 4);
	/* By time, then by id. */
	assert_string_equal(l.items[0].kind, "deploy");
	assert_string_equal(l.items[1].kind, "compare");
	assert_string_equal(l.items[1].source, "");
	assert_string_equal(l.items[1].detail_json, "{}");
	assert_string_equal(l.items[2].summary, "fail");
	assert_string_equal(l.items[2].incident_id, "INC-1");
	assert_string_equal(l.items[2].detail_json, "{\"score\":12}");
	assert_string_equal(l.items[3].incident_id, "");
	sonde_event_list_release(&l);

	sonde_event_query q = {.kind = "canary"};
	assert_int_equal(sonde_store_events(st, &q, &l), 2);
	sonde_event_list_release(&l);
	q = (sonde_event_query){.since_ns = T0 + 10 * S, .until_ns = T0 + 50 * S};
	assert_int_equal(sonde_store_events(st, &q, &l), 3);
	sonde_event_list_release(&l);
	q = (sonde_event_query){.incident_id = "INC-1"};
	assert_int_equal(sonde_store_events(st, &q, &l), 1);
	assert_int_equal(l.items[0].id, 1);
	sonde_event_list_release(&l);
	q = (sonde_event_query){.limit = 1};
	assert_int_equal(sonde_store_events(st, &q, &l), 1);
	assert_string_equal(l.items[0].kind, "deploy");
	sonde_event_list_release(&l);
}

static void test_readonly(void **state)
{
	(void)state;
	char id[24];
	assert_int_equal(sonde_incident_create(st, "x", SONDE_SEV_MEDIUM, T0, NULL, id, sizeof id), 0);
	sonde_store *ro;
	char msg[256];
	assert_int_equal(sonde_store_open(path, SONDE_STORE_READONLY, &ro, msg, sizeof msg), 0);
	sonde_incident_list l;
	assert_int_equal(sonde_incident_list_all(ro, &l), 1);
	sonde_incident_list_release(&l);
	sonde_incident_entry n = {.kind = SONDE_ENTRY_NOTE, .text = "t"};
	assert_int_equal(sonde_incident_add_entry(ro, id, &n, NULL), -EROFS);
	assert_non_null(strstr(sonde_store_errmsg(ro), "read-only"));
	sonde_store_close(ro);
}

static void test_readonly_without_tables(void **state)
{
	(void)state;
	sonde_store *ro;
	char msg[256];
	assert_int_equal(sonde_store_open(path, SONDE_STORE_READONLY, &ro, msg, sizeof msg), 0);
	sonde_event_list l;
	assert_int_equal(sonde_store_events(ro, NULL, &l), 0);
	sonde_event_list_release(&l);
	char id[24];
	assert_int_equal(sonde_incident_create(ro, "x", SONDE_SEV_LOW, T0, NULL, id, sizeof id), -EROFS);
	sonde_store_close(ro);
}

static void test_not_sqlite(void **state)
{
	(void)state;
	/* Opening a ClickHouse URI needs no server; if the build lacks the backend or refuses
	 * the URI, the journal's own check is still covered by a NULL store. */
	char id[24];
	assert_int_equal(sonde_incident_create(NULL, "x", SONDE_SEV_LOW, T0, NULL, id, sizeof id),
	                 SONDE_EUNSUPPORTED);
	sonde_incident_list l;
	assert_int_equal(sonde_incident_list_all(NULL, &l), SONDE_EUNSUPPORTED);
	sonde_incident_list_release(&l);
	sonde_store *ch = NULL;
	char msg[256];
	if (sonde_store_open("clickhouse://127.0.0.1:1/none", 0, &ch, msg, sizeof msg) == 0) {
		assert_int_equal(sonde_incident_create(ch, "x", SONDE_SEV_LOW, T0, NULL, id, sizeof id),
		                 SONDE_EUNSUPPORTED);
		assert_non_null(strstr(sonde_store_errmsg(ch), "incidents need the SQLite store"));
		sonde_store_close(ch);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_names),
	        T(test_empty_store),
	        T(test_incident_round_trip),
	        T(test_validation),
	        T(test_events),
	        T(test_readonly),
	        T(test_readonly_without_tables),
	        T(test_not_sqlite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
