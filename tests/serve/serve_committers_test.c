/*
 * serve_committers_test.c - sonde serve with several committers (opts.committers): many
 * concurrent export requests over loopback are all answered 200, every span of them is in
 * the store afterwards, and sending them all again adds nothing. Runs on SQLite (which
 * keeps one committer whatever is asked) always, and on ClickHouse (three committers, each
 * on its own store handle) when SONDE_CH_URI names a server: tests/store/clickhouse_test.sh
 * starts one and runs this.
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "otlp_pb.h"
#include "serve.h"
#include "store.h"

enum { REQUESTS = 30, SPANS = 200 };

static const char *ch_uri;

/* Request seq: SPANS spans in 2 traces, ids of their own. */
static void make_body(size_t seq, sonde_buf *out)
{
	sonde_batch *b = sonde_batch_new();
	assert_non_null(b);
	sonde_resource *res = sonde_batch_new_resource(b);
	sonde_scope *sc = sonde_batch_new_scope(b);
	res->attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
	res->attrs.count = 1;
	res->attrs.items[0].key = SONDE_STR_LIT("service.name");
	res->attrs.items[0].value.kind = SONDE_VAL_STRING;
	res->attrs.items[0].value.u.str = SONDE_STR_LIT("committers");
	sc->name = SONDE_STR_LIT("t");
	for (size_t i = 0; i < SPANS; i++) {
		sonde_span_data *s = sonde_batch_add_span(b, res, sc);
		uint64_t trace = seq * 2 + i / (SPANS / 2) + 1, id = seq * 1000 + i + 1;
		memcpy(s->trace_id, &trace, 8);
		s->trace_id[15] = 0xc0;
		memcpy(s->span_id, &id, 8);
		s->name = SONDE_STR_LIT("op");
		s->start_ns = 1700000000000000000ull + seq * 1000000ull + i * 1000u;
		s->end_ns = s->start_ns + 500;
	}
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_TRACES, out), 0);
	sonde_batch_free(b);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* Sends every body at once (one connection each); returns how many were answered 200. */
static size_t post_all(const char *url, sonde_buf *bodies)
{
	CURLM *m = curl_multi_init();
	CURL *h[REQUESTS];
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	hdr = curl_slist_append(hdr, "Expect:");
	for (size_t i = 0; i < REQUESTS; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_URL, url);
		curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, bodies[i].data);
		curl_easy_setopt(h[i], CURLOPT_POSTFIELDSIZE, (long)bodies[i].len);
		curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard);
		curl_multi_add_handle(m, h[i]);
	}
	for (int running = 1; running;) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	size_t ok = 0;
	for (size_t i = 0; i < REQUESTS; i++) {
		long code = 0;
		curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &code);
		if (code == 200)
			ok++;
		else
			printf("request %zu: HTTP %ld\n", i, code);
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	curl_slist_free_all(hdr);
	curl_multi_cleanup(m);
	return ok;
}

static void run(const char *db, unsigned committers)
{
	sonde_buf bodies[REQUESTS];
	for (size_t i = 0; i < REQUESTS; i++) {
		bodies[i] = (sonde_buf)SONDE_BUF_INIT;
		make_body(i, &bodies[i]);
	}
	sonde_serve_opts o = {.host = "127.0.0.1",
	                      .db_uri = db,
	                      .committers = committers,
	                      .batch_records = 3 * SPANS,
	                      .queue_requests = 64};
	sonde_serve *srv;
	char err[256];
	int rc = sonde_serve_start(&o, &srv, err, sizeof err);
	if (rc != 0)
		printf("start: %s\n", err);
	assert_int_equal(rc, 0);
	char url[96];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/traces", (unsigned)sonde_serve_port(srv));
	assert_int_equal(post_all(url, bodies), REQUESTS);
	/* Every request again, as a client's retries: stored once. */
	assert_int_equal(post_all(url, bodies), REQUESTS);
	sonde_serve_totals t;
	assert_int_equal(sonde_serve_stop(srv, 5000, &t), 0);
	assert_int_equal(t.accepted, 2 * REQUESTS);
	assert_int_equal(t.spans, 2 * REQUESTS * SPANS);
	assert_true(t.batches >= 2 * REQUESTS * SPANS / (3 * SPANS + SPANS));

	sonde_store *s;
	assert_int_equal(sonde_store_open(db, SONDE_STORE_READONLY, &s, err, sizeof err), 0);
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.spans, REQUESTS * SPANS);
	sonde_store_close(s);
	for (size_t i = 0; i < REQUESTS; i++)
		sonde_buf_release(&bodies[i]);
}

static void test_sqlite(void **state)
{
	(void)state;
	char dir[] = "/tmp/serve_committers.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/t.db", dir);
	run(path, 4); /* SQLite takes one committer */
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_clickhouse(void **state)
{
	(void)state;
	run(ch_uri, 3);
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	const struct CMUnitTest sq[] = {cmocka_unit_test(test_sqlite)};
	int rc = cmocka_run_group_tests(sq, NULL, NULL);
	ch_uri = getenv("SONDE_CH_URI");
	if (ch_uri && ch_uri[0]) {
		const struct CMUnitTest ch[] = {cmocka_unit_test(test_clickhouse)};
		rc |= cmocka_run_group_tests(ch, NULL, NULL);
	}
	curl_global_cleanup();
	return rc;
}
