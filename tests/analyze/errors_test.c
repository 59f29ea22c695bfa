/*
 * errors_test.c - the error analysis on constructed records whose answer is known:
 * grouping of one failure across different ids, categories (built-in and a user rule,
 * and the rules file's errors), spike onset, periodicity, concentration, stack frames of
 * every language sonde reads (Python, Java, Go, Rust, gdb and `sonde dump`), the frames
 * common to a group, the order of a cascade across services (by time, and by traces), and
 * that two engines merged answer as one engine given all their records.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hash.h"
#include "logmine.h"
#include "sonde/status.h"
#include "stackparse.h"

#define S  1000000000ull
#define T0 (1699999200ull * S) /* a multiple of an hour */

/* ---- Building records ------------------------------------------------------------------ */

typedef struct fixture {
	sonde_batch *b;
	sonde_scope *scope;
	sonde_resource *res[8];
	const char *res_name[8];
	size_t nres;
} fixture;

static void fx_init(fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->b = sonde_batch_new();
	assert_non_null(f->b);
	f->scope = sonde_batch_new_scope(f->b);
	assert_non_null(f->scope);
}

static void fx_release(fixture *f)
{
	sonde_batch_free(f->b);
}

static void kv_str(sonde_batch *b, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = sonde_batch_intern(b, k, strlen(k));
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = sonde_batch_strdup(b, v, strlen(v));
}

/* The resource of service svc on host host (made once per pair). */
static const sonde_resource *res_of(fixture *f, const char *svc, const char *host)
{
	for (size_t i = 0; i < f->nres; i++)
		if (strcmp(f->res_name[i], svc) == 0)
			return f->res[i];
	assert_true(f->nres < 8);
	sonde_resource *r = sonde_batch_new_resource(f->b);
	r->attrs.items = sonde_batch_alloc(f->b, 2 * sizeof(sonde_kv));
	kv_str(f->b, &r->attrs.items[0], "service.name", svc);
	kv_str(f->b, &r->attrs.items[1], "host.name", host ? host : "host-1");
	r->attrs.count = 2;
	f->res[f->nres] = r;
	f->res_name[f->nres++] = svc;
	return r;
}

/* attrs: "key=value" strings, NULL-terminated. */
static sonde_attrs attrs_of(fixture *f, const char *const *kvs)
{
	sonde_attrs a = {0};
	size_t n = 0;
	while (kvs && kvs[n])
		n++;
	if (!n)
		return a;
	a.items = sonde_batch_alloc(f->b, n * sizeof(sonde_kv));
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(kvs[i], '=');
		assert_non_null(eq);
		char key[64];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kvs[i]), kvs[i]);
		kv_str(f->b, &a.items[i], key, eq + 1);
	}
	a.count = (uint32_t)n;
	return a;
}

static void add_log(sonde_errors *e, fixture *f, const char *svc, uint64_t t, int sev, const char *body,
                    const char *const *kvs)
{
	sonde_log_data lg = {0};
	lg.resource = res_of(f, svc, NULL);
	lg.scope = f->scope;
	lg.time_ns = t;
	lg.severity_number = sev;
	lg.body.kind = SONDE_VAL_STRING;
	lg.body.u.str = sonde_batch_strdup(f->b, body, strlen(body));
	lg.attrs = attrs_of(f, kvs);
	assert_int_equal(sonde_errors_add_log(e, &lg), 0);
}

static void add_span(sonde_errors *e, fixture *f, const char *svc, uint64_t end, uint8_t trace_byte,
                     const char *etype, const char *emsg)
{
	sonde_span_data sp = {0};
	sp.resource = res_of(f, svc, NULL);
	sp.scope = f->scope;
	sp.trace_id[0] = trace_byte;
	sp.trace_id[15] = 1;
	sp.span_id[0] = 1;
	sp.name = SONDE_STR_LIT("call");
	sp.start_ns = end - S / 10;
	sp.end_ns = end;
	sp.status_code = SONDE_STATUS_ERROR;
	sonde_span_event *ev = sonde_batch_alloc(f->b, sizeof(*ev));
	ev->name = SONDE_STR_LIT("exception");
	ev->time_ns = end;
	const char *kvs[3];
	char t[128], m[256];
	snprintf(t, sizeof(t), "exception.type=%s", etype);
	snprintf(m, sizeof(m), "exception.message=%s", emsg);
	kvs[0] = t;
	kvs[1] = m;
	kvs[2] = NULL;
	ev->attrs = attrs_of(f, kvs);
	sp.events = ev;
	sp.events_count = 1;
	assert_int_equal(sonde_errors_add_span(e, &sp), 0);
}

static const sonde_error_group *find_group(const sonde_errors_result *r, const char *template_text)
{
	for (size_t i = 0; i < r->groups_count; i++)
		if (strcmp(r->groups[i].template_text, template_text) == 0)
			return &r->groups[i];
	char all[4096] = "";
	for (size_t i = 0; i < r->groups_count; i++) {
		strncat(all, "\n  ", sizeof(all) - strlen(all) - 1);
		strncat(all, r->groups[i].template_text, sizeof(all) - strlen(all) - 1);
	}
	fail_msg("no group [%s]; groups:%s", template_text, all);
	return NULL;
}

/* ---- Templates and grouping -------------------------------------------------------- */

static void mask_is(const char *in, const char *want)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_errors_mask(in, strlen(in), &b);
	assert_false(b.oom);
	if (strcmp(b.len ? b.data : "", want) != 0)
		fail_msg("masking [%s]: got [%s], want [%s]", in, b.len ? b.data : "", want);
	sonde_buf_release(&b);
}

static void test_mask(void **state)
{
	(void)state;
	mask_is("user 42 not found", "user <*> not found");
	mask_is("connect to 10.0.0.12:5432 failed after 250ms", "connect to <*> failed after <*>");
	mask_is("order 3f2b8c1e-9d4a-4e5f-8a7b-123456789abc rejected", "order <*> rejected");
	mask_is("bad value 'abc def' for \"name\"", "bad value <*> for <*>");
	mask_is("ptr=0xdeadbeef id=req-8f3a", "ptr=<*> id=<*>");
	mask_is("GET /api/users/17/orders failed", "GET /api/users/<*>/orders failed");
	mask_is("can't open [fe80::1]:80", "can't open [<*>]<*>");
	mask_is("", "");
}

static void test_grouping(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	assert_non_null(e);
	char body[128];
	for (int i = 0; i < 10; i++) {
		snprintf(body, sizeof(body), "payment %d for user u%d failed: card 4111%04d declined",
		         1000 + i, i, i * 7);
		char user[32];
		snprintf(user, sizeof(user), "user_id=u%d", i % 4);
		const char *kvs[] = {user, "http.route=/pay", NULL};
		add_log(e, &f, "billing", T0 + (uint64_t)i * S, 17, body, kvs);
	}
	add_log(e, &f, "billing", T0 + 20 * S, 21, "ledger locked by job 77", NULL);
	add_log(e, &f, "billing", T0 + 21 * S, 13, "a warning, not an error 5", NULL);
	add_log(e, &f, "billing", T0 + 22 * S, 9, "info 1", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_non_null(r);
	assert_int_equal(r->groups_count, 2);
	assert_int_equal(r->total, 11);
	const sonde_error_group *g = &r->groups[0]; /* most first */
	assert_string_equal(g->template_text, "payment <NUM> for user <*> failed: card <NUM> declined");
	assert_int_equal(g->count, 10);
	assert_int_equal(g->logs, 10);
	assert_int_equal(g->first_ns, T0);
	assert_int_equal(g->last_ns, T0 + 9 * S);
	assert_string_equal(g->example, "payment 1000 for user u0 failed: card 41110000 declined");
	assert_int_equal(g->services_count, 1);
	assert_string_equal(g->services[0], "billing");
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].distinct, 4);
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].with_value, 10);
	assert_string_equal(g->dims[SONDE_ERRDIM_USER].top[0].value, "u0");
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].top[0].count, 3);
	assert_string_equal(g->dims[SONDE_ERRDIM_ENDPOINT].top[0].value, "/pay");
	assert_string_equal(g->dims[SONDE_ERRDIM_HOST].top[0].value, "host-1");
	assert_string_equal(r->groups[1].template_text, "ledger locked by job <NUM>");
	sonde_errors_free(e);
	fx_release(&f);
}

static void test_span_errors(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	for (int i = 0; i < 3; i++) {
		char m[64];
		snprintf(m, sizeof(m), "timed out after %d ms", 100 * (i + 1));
		add_span(e, &f, "api", T0 + (uint64_t)i * S, (uint8_t)(i + 1), "TimeoutError", m);
	}
	/* A span that did not fail is not counted. */
	sonde_span_data ok = {0};
	ok.resource = res_of(&f, "api", NULL);
	ok.scope = f.scope;
	ok.status_code = SONDE_STATUS_OK;
	assert_int_equal(sonde_errors_add_span(e, &ok), 0);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->groups_count, 1);
	assert_int_equal(r->spans, 3);
	assert_string_equal(r->groups[0].template_text, "timed out after <NUM> ms");
	assert_string_equal(r->groups[0].error_type, "TimeoutError");
	assert_int_equal(r->groups[0].category, SONDE_ERRCAT_INFRA);
	sonde_errors_free(e);
	fx_release(&f);
}

/* A templater that groups by the first word only: the hook the log miner plugs into. */
static uint64_t first_word(void *ctx, const char *body, size_t len, const char **text)
{
	sonde_buf *b = ctx;
	size_t n = 0;
	while (n < len && body[n] != ' ')
		n++;
	sonde_buf_reset(b);
	sonde_buf_append(b, body, n);
	*text = b->data ? b->data : "";
	return n;
}

static void test_templater_hook(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_buf scratch = SONDE_BUF_INIT;
	sonde_errors_opts o = {.templater = {.template_of = first_word, .ctx = &scratch}};
	sonde_errors *e = sonde_errors_new(&o);
	add_log(e, &f, "a", T0, 17, "abc one", NULL);
	add_log(e, &f, "a", T0, 17, "xyz two", NULL); /* same length: same id */
	add_log(e, &f, "a", T0, 17, "four three", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->groups_count, 2);
	assert_int_equal(r->groups[0].count, 2);
	assert_string_equal(r->groups[0].template_text, "abc");
	sonde_errors_free(e);
	sonde_buf_release(&scratch);
	fx_release(&f);
}

/* ---- Categories ------------------------------------------------------------------------ */

static void category_is(const sonde_error_rules *user, const char *msg, const char *etype, const char *status,
                        sonde_error_category want)
{
	sonde_error_facts fa = {.message = msg, .error_type = etype, .status = status};
	const sonde_error_rule *r = sonde_error_rules_match(user, &fa);
	sonde_error_category got = r ? r->category : SONDE_ERRCAT_UNKNOWN;
	if (got != want)
		fail_msg("[%s]: got %s (rule '%s'), want %s", msg, sonde_error_category_name(got),
		         r ? r->pattern : "-", sonde_error_category_name(want));
}

static void test_categories(void **state)
{
	(void)state;
	category_is(NULL, "request timed out after 30s", NULL, NULL, SONDE_ERRCAT_INFRA);
	category_is(NULL, "dial tcp 10.0.0.5:5432: connection refused", NULL, NULL, SONDE_ERRCAT_INFRA);
	category_is(NULL, "CUDA out of memory. Tried to allocate 2.00 GiB", NULL, NULL,
	            SONDE_ERRCAT_RESOURCE);
	category_is(NULL, "write /var/log/x: ENOSPC", NULL, NULL, SONDE_ERRCAT_RESOURCE);
	category_is(NULL, "invalid email address", NULL, NULL, SONDE_ERRCAT_INPUT);
	category_is(NULL, "request rejected", NULL, "400", SONDE_ERRCAT_INPUT);
	category_is(NULL, "upstream payments returned 429", NULL, NULL, SONDE_ERRCAT_THIRDPARTY);
	category_is(NULL, "model resnet50 failed to load weights", NULL, NULL, SONDE_ERRCAT_MODEL);
	category_is(NULL, "inference failed on batch 7", NULL, NULL, SONDE_ERRCAT_MODEL);
	category_is(NULL, "something odd happened", NULL, NULL, SONDE_ERRCAT_UNKNOWN);
	category_is(NULL, "boom", "java.lang.OutOfMemoryError", NULL, SONDE_ERRCAT_RESOURCE);
	/* Word boundaries: "400" inside a number, "model" inside a word do not count. */
	category_is(NULL, "order 14005 stuck", NULL, NULL, SONDE_ERRCAT_UNKNOWN);
	category_is(NULL, "remodel failed", NULL, NULL, SONDE_ERRCAT_UNKNOWN);

	/* A user rule: new keywords, and rules that win over the built-in ones. */
	sonde_error_rules u;
	sonde_error_rules_init(&u);
	const char *text = "# site rules\n"
	                   "\n"
	                   "infrastructure text flux capacitor\n"
	                   "third_party   text  \"stripe\"   \n"
	                   "third_party attr peer.service=geo*\n"
	                   "input-validation status 4xx\r\n";
	char err[256];
	assert_int_equal(sonde_error_rules_parse(&u, "site.rules", text, strlen(text), err, sizeof(err)), 0);
	assert_int_equal(u.count, 4);
	assert_string_equal(u.items[0].origin, "site.rules:3");
	assert_string_equal(u.items[1].pattern, "stripe");
	assert_string_equal(u.items[2].key, "peer.service");
	category_is(&u, "the flux capacitor broke", NULL, NULL, SONDE_ERRCAT_INFRA);
	category_is(&u, "Stripe charge timeout", NULL, NULL, SONDE_ERRCAT_THIRDPARTY); /* before "timeout" */
	category_is(&u, "no route", NULL, "404", SONDE_ERRCAT_INPUT);
	sonde_kv kv = {SONDE_STR_LIT("peer.service"), {.kind = SONDE_VAL_STRING}};
	kv.value.u.str = SONDE_STR_LIT("geocoder");
	sonde_attrs a = {&kv, 1};
	sonde_error_facts fa = {.message = "failed", .attrs = &a};
	const sonde_error_rule *m = sonde_error_rules_match(&u, &fa);
	assert_non_null(m);
	assert_int_equal(m->category, SONDE_ERRCAT_THIRDPARTY);
	assert_string_equal(m->origin, "site.rules:5");

	/* Bad lines are refused with the file and line, and the rules stay as they were. */
	static const struct {
		const char *text, *msg;
	} bad[] = {
	        {"flaky text x\n", "r:1: unknown category 'flaky'"},
	        {"# ok\ninfrastructure colour red\n", "r:2: unknown field 'colour'"},
	        {"infrastructure\n", "r:1: missing field"},
	        {"infrastructure text   \n", "r:1: missing pattern"},
	        {"third_party attr novalue\n", "r:1: attr rule needs KEY=PATTERN"},
	        {"infrastructure status 5x1\n", "r:1: status pattern '5x1'"},
	        {"unknown text a\ninfrastructure text b\nx\n", "r:3: unknown category 'x'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t before = u.count;
		int rc = sonde_error_rules_parse(&u, "r", bad[i].text, strlen(bad[i].text), err, sizeof(err));
		assert_int_equal(rc, SONDE_EFORMAT);
		assert_int_equal(u.count, before);
		if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("rules [%s]: got [%s], want [%s...]", bad[i].text, err, bad[i].msg);
	}
	sonde_error_rules_release(&u);
}

static void test_category_in_engine(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_error_rules u;
	sonde_error_rules_init(&u);
	const char *text = "model_inference service ranker\n";
	char err[128];
	assert_int_equal(sonde_error_rules_parse(&u, "x.rules", text, strlen(text), err, sizeof(err)), 0);
	sonde_errors_opts o = {.rules = &u};
	sonde_errors *e = sonde_errors_new(&o);
	add_log(e, &f, "ranker", T0, 17, "score for item 7 is NaN", NULL);
	add_log(e, &f, "web", T0, 17, "field 'email' is invalid", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	const sonde_error_group *g = find_group(r, "score for item <NUM> is NaN");
	assert_int_equal(g->category, SONDE_ERRCAT_MODEL);
	assert_string_equal(g->rule->origin, "x.rules:1");
	g = find_group(r, "field 'email' is invalid"); /* one message: the miner keeps its words */
	assert_int_equal(g->category, SONDE_ERRCAT_INPUT);
	assert_string_equal(g->rule->origin, "built-in");
	sonde_errors_free(e);
	sonde_error_rules_release(&u);
	fx_release(&f);
}

/* ---- Time ------------------------------------------------------------------------------- */

static void test_spike_onset(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* An hour: 2 errors a minute, then 40 a minute from minute 37 to 39. */
	for (uint64_t m = 0; m < 60; m++) {
		int n = m >= 37 && m < 40 ? 40 : 2;
		for (int k = 0; k < n; k++)
			add_log(e, &f, "api", T0 + m * 60 * S + (uint64_t)k * S, 17, "db pool empty", NULL);
	}
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	const sonde_error_series *s = &r->groups[0].series;
	assert_int_equal(s->bucket_ns, 60 * S);
	assert_int_equal(s->start_ns, T0);
	assert_int_equal(s->count, 60);
	assert_int_equal(s->counts[0], 2);
	assert_int_equal(s->counts[37], 40);
	assert_int_equal(s->spikes_count, 1);
	assert_int_equal(s->spikes[0].onset_ns, T0 + 37 * 60 * S);
	assert_int_equal(s->spikes[0].end_ns, T0 + 40 * 60 * S);
	assert_int_equal(s->spikes[0].peak, 40);
	assert_int_equal(r->groups[0].onset_ns, T0 + 37 * 60 * S);
	assert_int_equal(r->overall.spikes_count, 1);
	assert_int_equal(s->period_ns, 0);
	sonde_errors_free(e);
	fx_release(&f);
}

static void test_wide_window(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	/* Three days asked: hourly buckets, even though records come a second apart at first
	 * (the shared bucket width grows as the range does). */
	sonde_errors_opts o = {.since_ns = T0, .until_ns = T0 + 72 * 3600 * S};
	sonde_errors *e = sonde_errors_new(&o);
	for (uint64_t i = 0; i < 100; i++)
		add_log(e, &f, "api", T0 + i * S, 17, "x failed", NULL);
	for (uint64_t h = 1; h < 72; h++)
		add_log(e, &f, "api", T0 + h * 3600 * S + 5 * S, 17, "x failed", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_error_series *s = &sonde_errors_result_get(e)->groups[0].series;
	assert_int_equal(s->bucket_ns, 3600 * S);
	assert_int_equal(s->count, 72);
	assert_int_equal(s->counts[0], 100);
	assert_int_equal(s->counts[1], 1);
	assert_int_equal(s->counts[71], 1);
	assert_int_equal(s->spikes_count, 1);
	assert_int_equal(s->spikes[0].onset_ns, T0);
	sonde_errors_free(e);
	fx_release(&f);
}

static void test_periodicity(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* A cron job failing every 10 minutes for 3 hours, 3 errors each time, and a few
	 * errors at random minutes in between. */
	uint64_t rnd = 12345;
	for (uint64_t m = 0; m < 180; m++) {
		if (m % 10 == 3)
			for (int k = 0; k < 3; k++)
				add_log(e, &f, "cron", T0 + m * 60 * S + (uint64_t)k * S, 17,
				        "backup job failed", NULL);
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		if ((rnd >> 60) == 0)
			add_log(e, &f, "cron", T0 + m * 60 * S + 30 * S, 17, "backup job failed", NULL);
	}
	add_log(e, &f, "cron", T0 + 180 * 60 * S - 1, 17, "backup job failed", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_error_series *s = &sonde_errors_result_get(e)->groups[0].series;
	assert_int_equal(s->bucket_ns, 60 * S);
	assert_int_equal(s->period_ns, 600 * S);
	assert_true(s->period_acf >= 0.5);
	assert_int_equal(s->spikes_count, 0); /* 3 a time is under the spike minimum */

	/* Counts without a period have none. */
	uint64_t *c = calloc(100, sizeof(*c));
	for (size_t i = 0; i < 100; i++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		c[i] = rnd >> 61;
	}
	sonde_error_series s2;
	assert_int_equal(sonde_error_series_analyse(&s2, 0, S, c, 100), 0);
	assert_int_equal(s2.period_ns, 0);
	sonde_error_series_release(&s2);
	sonde_errors_free(e);
	fx_release(&f);
}

/* ---- Concentration ------------------------------------------------------------------ */

static void test_concentration(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* "quota": user alice has 14 of 20, across 5 users; endpoints spread evenly over 4.
	 * "render": 12 users one each. */
	for (int i = 0; i < 20; i++) {
		char u[32], ep[32];
		snprintf(u, sizeof(u), "enduser.id=%s",
		         i < 14 ? "alice" : (const char *[]){"bob", "carol", "dan", "erin"}[i % 4]);
		snprintf(ep, sizeof(ep), "http.route=/v%d", i % 4);
		const char *kvs[] = {u, ep, NULL};
		add_log(e, &f, "api", T0 + (uint64_t)i * S, 17, "quota check failed", kvs);
	}
	for (int i = 0; i < 12; i++) {
		char u[32];
		snprintf(u, sizeof(u), "user.id=user%c", 'a' + i);
		const char *kvs[] = {u, NULL};
		add_log(e, &f, "api", T0 + (uint64_t)i * S, 17, "render failed", kvs);
	}
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	const sonde_error_group *g = find_group(r, "quota check failed");
	const sonde_error_dim *d = &g->dims[SONDE_ERRDIM_USER];
	assert_true(d->concentrated);
	assert_string_equal(d->top[0].value, "alice");
	assert_int_equal(d->top[0].count, 14);
	assert_int_equal(d->distinct, 5);
	assert_false(g->dims[SONDE_ERRDIM_ENDPOINT].concentrated);
	assert_false(g->dims[SONDE_ERRDIM_HOST].concentrated); /* one host: nothing to compare */
	g = find_group(r, "render failed");
	assert_false(g->dims[SONDE_ERRDIM_USER].concentrated);
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].distinct, 12);
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].top_count, 5);
	sonde_errors_free(e);
	fx_release(&f);
}

/* ---- Stack traces ---------------------------------------------------------------------- */

typedef struct want_frame {
	const char *function, *file;
	uint32_t line;
} want_frame;

static void frames_are(const char *text, sonde_stack_lang lang, const want_frame *w, size_t n)
{
	sonde_stack_frame fr[32];
	sonde_stack_lang got_lang;
	size_t got = sonde_stack_parse(text, strlen(text), fr, 32, &got_lang);
	if (got != n)
		fail_msg("%zu frames, want %zu, in:\n%s", got, n, text);
	assert_int_equal(got_lang, lang);
	for (size_t i = 0; i < n; i++) {
		if (fr[i].function_len != strlen(w[i].function) ||
		    memcmp(fr[i].function, w[i].function, fr[i].function_len) != 0 ||
		    fr[i].file_len != strlen(w[i].file) ||
		    memcmp(fr[i].file, w[i].file, fr[i].file_len) != 0 || fr[i].line != w[i].line)
			fail_msg("frame %zu: got %.*s %.*s:%u, want %s %s:%u", i, (int)fr[i].function_len,
			         fr[i].function, (int)fr[i].file_len, fr[i].file, fr[i].line, w[i].function,
			         w[i].file, w[i].line);
	}
	assert_int_equal(sonde_stack_has_trace(text, strlen(text)), 1);
}

static void message_is(const char *text, const char *want)
{
	size_t off, n;
	sonde_stack_message(text, strlen(text), &off, &n);
	if (n != strlen(want) || memcmp(text + off, want, n) != 0)
		fail_msg("message: got [%.*s], want [%s]", (int)n, text + off, want);
}

static const char py_trace[] = "Traceback (most recent call last):\n"
                               "  File \"/app/server.py\", line 88, in handle\n"
                               "    return self.process(req)\n"
                               "  File \"/app/orders.py\", line 42, in process\n"
                               "    qty = int(req['qty'])\n"
                               "ValueError: invalid literal for int() with base 10: 'x2'\n";

static void test_stack_python(void **state)
{
	(void)state;
	const want_frame w[] = {{"process", "/app/orders.py", 42}, {"handle", "/app/server.py", 88}};
	frames_are(py_trace, SONDE_STACK_PYTHON, w, 2);
	message_is(py_trace, "ValueError: invalid literal for int() with base 10: 'x2'");
}

static void test_stack_java(void **state)
{
	(void)state;
	const char *t = "java.lang.IllegalStateException: cart 9 is closed\n"
	                "\tat com.shop.Cart.add(Cart.java:42)\n"
	                "\tat com.shop.Api.post(Api.java:17)\n"
	                "\tat java.base/java.lang.Thread.run(Thread.java:833)\n"
	                "Caused by: java.io.IOException: reset\n"
	                "\tat sun.nio.ch.Net.poll(Native Method)\n"
	                "\t... 3 more\n";
	const want_frame w[] = {{"com.shop.Cart.add", "Cart.java", 42},
	                        {"com.shop.Api.post", "Api.java", 17},
	                        {"java.lang.Thread.run", "Thread.java", 833},
	                        {"sun.nio.ch.Net.poll", "", 0}};
	frames_are(t, SONDE_STACK_JAVA, w, 4);
	message_is(t, "java.lang.IllegalStateException: cart 9 is closed");
}

static void test_stack_go(void **state)
{
	(void)state;
	const char *t = "panic: runtime error: index out of range [5] with length 3\n"
	                "\n"
	                "goroutine 7 [running]:\n"
	                "main.(*Server).handle(0xc000010000, {0x1, 0x2})\n"
	                "\t/app/server.go:42 +0x1d\n"
	                "main.main()\n"
	                "\t/app/main.go:10 +0x25\n"
	                "created by net/http.(*Server).Serve in goroutine 1\n"
	                "\t/usr/lib/go/src/net/http/server.go:3285 +0x4b4\n";
	const want_frame w[] = {{"main.(*Server).handle", "/app/server.go", 42},
	                        {"main.main", "/app/main.go", 10},
	                        {"net/http.(*Server).Serve", "/usr/lib/go/src/net/http/server.go", 3285}};
	frames_are(t, SONDE_STACK_GO, w, 3);
	message_is(t, "panic: runtime error: index out of range [5] with length 3");
}

static void test_stack_rust(void **state)
{
	(void)state;
	const char *t = "thread 'main' panicked at src/main.rs:5:5:\n"
	                "index out of bounds: the len is 3 but the index is 5\n"
	                "stack backtrace:\n"
	                "   0: rust_begin_unwind\n"
	                "             at /rustc/abc/library/std/src/panicking.rs:645:5\n"
	                "   1: core::panicking::panic_fmt\n"
	                "   2: shop::checkout::total\n"
	                "             at ./src/checkout.rs:27:9\n"
	                "   3:     0x55d5c1a7c3b4 - std::rt::lang_start\n";
	const want_frame w[] = {{"rust_begin_unwind", "/rustc/abc/library/std/src/panicking.rs", 645},
	                        {"core::panicking::panic_fmt", "", 0},
	                        {"shop::checkout::total", "./src/checkout.rs", 27},
	                        {"std::rt::lang_start", "", 0}};
	frames_are(t, SONDE_STACK_RUST, w, 4);
	message_is(t, "index out of bounds: the len is 3 but the index is 5");
	/* Numbered lines without a Rust header are not frames. */
	assert_int_equal(sonde_stack_has_trace("steps:\n 1: fetch\n 2: parse\n", 26), 0);
}

static void test_stack_native(void **state)
{
	(void)state;
	const char *gdb = "worker crashed\n"
	                  "#0  0x00007f3a12c4 in handle_request (req=0x55d0) at src/server.c:42\n"
	                  "#1  worker_loop (pool=0x1) at src/worker.c:9\n"
	                  "#2  0x00007f3a12c5 in ns::Queue::pop (this=0x2) at queue.cc:77\n"
	                  "#3  0x00007f3a0000 in start_thread () from /lib/x86_64-linux-gnu/libc.so.6\n";
	const want_frame w[] = {{"handle_request", "src/server.c", 42},
	                        {"worker_loop", "src/worker.c", 9},
	                        {"ns::Queue::pop", "queue.cc", 77},
	                        {"start_thread", "", 0}};
	frames_are(gdb, SONDE_STACK_NATIVE, w, 4);
	message_is(gdb, "worker crashed");
	/* `sonde dump` */
	const char *dump = "process 311 (shop): 1 thread, paused 0.12 ms\n"
	                   "\n"
	                   "thread 311 \"shop\" (S sleeping)\n"
	                   "  #0   epoll_wait [libc.so.6]\n"
	                   "  #1   std::vector<int>::push_back(int const&) (inlined) at vector.h:7 [shop]\n"
	                   "  #2   serve at src/main.c:120 [shop]\n";
	const want_frame wd[] = {{"epoll_wait", "", 0},
	                         {"std::vector<int>::push_back(int const&)", "vector.h", 7},
	                         {"serve", "src/main.c", 120}};
	frames_are(dump, SONDE_STACK_NATIVE, wd, 3);
	/* Text without a trace has no frames, and is its own message. */
	assert_int_equal(sonde_stack_parse("just text\nmore", 14, NULL, 0, NULL), 0);
	message_is("\n\nfirst line\nsecond", "first line");
}

static void test_common_frames(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* Four tracebacks of one failure: handle and parse_qty are in all of them, check_a in
	 * two (half: common), check_b in one (not). */
	const char *mid[] = {"check_a", "check_a", "check_b", NULL};
	for (int i = 0; i < 4; i++) {
		char body[1024];
		int k = snprintf(body, sizeof(body),
		                 "Traceback (most recent call last):\n"
		                 "  File \"/app/server.py\", line 88, in handle\n"
		                 "    x()\n");
		if (mid[i])
			k += snprintf(body + k, sizeof(body) - (size_t)k,
			              "  File \"/app/checks.py\", line %d, in %s\n    y()\n", 10 + i, mid[i]);
		snprintf(body + k, sizeof(body) - (size_t)k,
		         "  File \"/app/orders.py\", line 42, in parse_qty\n"
		         "    int(s)\n"
		         "ValueError: invalid literal for int() with base 10: 'q%d'\n",
		         i);
		add_log(e, &f, "orders", T0 + (uint64_t)i * S, 17, body, NULL);
	}
	/* The same failure from a log whose trace sits in exception.stacktrace. */
	const char *kvs[] = {"exception.type=ValueError",
	                     "exception.stacktrace=Traceback (most recent call last):\n"
	                     "  File \"/app/server.py\", line 88, in handle\n"
	                     "  File \"/app/orders.py\", line 42, in parse_qty\n"
	                     "ValueError: x",
	                     NULL};
	add_log(e, &f, "orders", T0 + 10 * S, 17, "ValueError: invalid literal for int() with base 10: 'z'",
	        kvs);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->groups_count, 1);
	const sonde_error_group *g = &r->groups[0];
	assert_string_equal(g->template_text, "ValueError: invalid literal for int() with base <NUM>: '<*>'");
	assert_string_equal(g->error_type, "ValueError");
	assert_int_equal(g->traces, 5);
	assert_int_equal(g->trace_lang, SONDE_STACK_PYTHON);
	assert_int_equal(g->common_count, 2); /* check_a is in 2 of 5: under half */
	assert_string_equal(g->common_frames[0].function, "parse_qty");
	assert_string_equal(g->common_frames[0].file, "/app/orders.py");
	assert_int_equal(g->common_frames[0].line, 42);
	assert_string_equal(g->common_frames[1].function, "handle");
	sonde_errors_free(e);
	fx_release(&f);
}

/* ---- The miner's templates ------------------------------------------------------------ */

static void test_miner_final_templates(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* While the store is read, each user name is a template of its own (a word differs);
	 * at the end refinement finds four names at one place, a variable: one group, with
	 * everything the four groups had. */
	const char *users[] = {"alice", "bob", "carol", "dave"};
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 3; k++) {
			char body[96], u[32];
			snprintf(body, sizeof(body), "login failed for %s from gateway", users[i]);
			snprintf(u, sizeof(u), "user_id=%s", users[i]);
			const char *kvs[] = {u, NULL};
			add_log(e, &f, i == 3 ? "admin" : "auth", T0 + (uint64_t)(10 * i + k) * S, 17, body,
			        kvs);
		}
	/* Capitalised states are events: they stay apart. */
	add_log(e, &f, "vm", T0 + 50 * S, 17, "VM Stopped unexpectedly", NULL);
	add_log(e, &f, "vm", T0 + 51 * S, 17, "VM Paused unexpectedly", NULL);
	add_log(e, &f, "vm", T0 + 52 * S, 17, "VM Crashed unexpectedly", NULL);
	/* Many messages of one shape with fresh ids: the cache answers after the first few,
	 * and they are one group whose template generalised over their values. */
	for (int i = 0; i < 3000; i++) {
		char body[96];
		snprintf(body, sizeof(body), "retry %d of %d for job %d", i % 5, 3 + i % 2, 1000 + i * 7);
		add_log(e, &f, "batch", T0 + 60 * S + (uint64_t)i * S / 100, 17, body, NULL);
	}
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->total, 12 + 3 + 3000);
	assert_int_equal(r->groups_count, 1 + 3 + 1);
	const sonde_error_group *g = find_group(r, "login failed for <*> from gateway");
	assert_int_equal(g->count, 12);
	assert_int_equal(g->first_ns, T0);
	assert_int_equal(g->last_ns, T0 + 32 * S);
	assert_string_equal(g->example, "login failed for alice from gateway");
	assert_int_equal(g->services_count, 2);
	assert_string_equal(g->services[0], "auth");
	assert_string_equal(g->services[1], "admin");
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].distinct, 4);
	assert_int_equal(g->dims[SONDE_ERRDIM_USER].with_value, 12);
	const char *t = "login failed for <*> from gateway";
	assert_true(g->template_id == sonde_logmine_id(t, strlen(t)));
	uint64_t sum = 0;
	for (size_t i = 0; i < g->series.count; i++)
		sum += g->series.counts[i];
	assert_int_equal(sum, 12);
	assert_int_equal(find_group(r, "VM Stopped unexpectedly")->count, 1);
	assert_int_equal(find_group(r, "VM Crashed unexpectedly")->count, 1);
	g = find_group(r, "retry <NUM> of <NUM> for job <NUM>");
	assert_int_equal(g->count, 3000);
	assert_string_equal(g->example, "retry 0 of 3 for job 1000");
	assert_true(r->groups[0].count == 3000);
	sonde_errors_free(e);
	fx_release(&f);
}

/* The masker is still on offer as a simple templater. */
static void test_mask_templater(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_buf scratch = SONDE_BUF_INIT;
	sonde_errors_opts o = {.templater = sonde_errors_mask_templater(&scratch)};
	sonde_errors *e = sonde_errors_new(&o);
	add_log(e, &f, "api", T0, 17, "user 42 not found", NULL);
	add_log(e, &f, "api", T0 + S, 17, "user 7 not found", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->groups_count, 1);
	assert_string_equal(r->groups[0].template_text, "user <*> not found");
	sonde_errors_free(e);
	sonde_buf_release(&scratch);
	fx_release(&f);
	/* Shapes: words holding digits are one word; other words and the spaces count. */
	assert_true(sonde_errors_shape("job 12 failed", 13) == sonde_errors_shape("job 709 failed", 14));
	/* what else than digits a word holds counts: a hex id of digits only is a number */
	assert_true(sonde_errors_shape("job 12 failed", 13) != sonde_errors_shape("job 7x9 failed", 14));
	assert_true(sonde_errors_shape("id 5bec25a986aa6fc8", 19) !=
	            sonde_errors_shape("id 5123256986336108", 19));
	assert_true(sonde_errors_shape("id 5bec25a986aa6fc8", 19) ==
	            sonde_errors_shape("id 0e1fc49bd63b809e", 19));
	assert_true(sonde_errors_shape("job 12 failed", 13) != sonde_errors_shape("job 12  failed", 14));
	assert_true(sonde_errors_shape("field 'a' bad", 13) != sonde_errors_shape("field 'b' bad", 13));
	assert_true(sonde_errors_shape("", 0) != 0);
}

/* The shape as docs/errors.md says it, a byte at a time: the reference for the fast one. */
static uint64_t shape_ref(const char *s, size_t n)
{
	static const char delims[] = " \t\n\r,;()[]{}<>=/\"'";
	char tmp[4096];
	size_t o = 0;
	assert_true(n <= 2048);
	for (size_t i = 0; i < n;) {
		if (s[i] && strchr(delims, s[i])) {
			tmp[o++] = s[i++];
			continue;
		}
		size_t j = i;
		bool digit = false;
		unsigned flags = 0;
		for (; j < n && !(s[j] && strchr(delims, s[j])); j++) {
			unsigned char c = (unsigned char)s[j];
			if (c >= '0' && c <= '9')
				digit = true;
			else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
				flags |= 1;
			else if ((c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z'))
				flags |= 2;
			else
				flags |= c == '.' ? 4 : 8;
		}
		if (digit) {
			tmp[o++] = 1;
			tmp[o++] = (char)(0x40 | flags | (j - i >= 8 ? 16 : 0));
		} else {
			for (size_t k = i; k < j; k++)
				tmp[o++] = s[k];
		}
		i = j;
	}
	return n ? sonde_hash_bytes(tmp, o, 0x5ba9e) | 1 : 0x5ba9e | 1;
}

static void test_shape_random(void **state)
{
	(void)state;
	static const char alphabet[] = "ab Z9 0:-._=/()'\"\t,x\x01\xc3\xa9\xb5"
	                               "F7g@\x0e";
	uint64_t r = 0x2545f4914f6cdd1dull;
	char msg[300];
	for (int t = 0; t < 20000; t++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		size_t n = (size_t)(r % sizeof(msg));
		for (size_t i = 0; i < n; i++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			msg[i] = alphabet[r % (sizeof(alphabet) - 1)];
		}
		if (sonde_errors_shape(msg, n) != shape_ref(msg, n))
			fail_msg("shape of [%.*s] (%zu bytes) differs from the reference", (int)n, msg, n);
	}
}

/* ---- Cascades -------------------------------------------------------------------------- */

static void burst(sonde_errors *e, fixture *f, const char *svc, uint64_t at, const char *msg)
{
	for (int k = 0; k < 10; k++)
		add_log(e, f, svc, at + (uint64_t)k * S / 2, 17, msg, NULL);
}

static void test_cascade_by_time(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* db fails at +10 min, api 20 s later, web 40 s after api; 30 minutes later an
	 * unrelated failure in one service. */
	uint64_t t = T0 + 600 * S;
	burst(e, &f, "web", t + 60 * S, "upstream api returned 502");
	burst(e, &f, "api", t + 20 * S, "query failed: connection refused");
	burst(e, &f, "db", t, "too many connections");
	burst(e, &f, "batch", t + 1800 * S, "job 12 failed");
	add_log(e, &f, "batch", T0, 17, "job 1 failed", NULL);
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->clusters_count, 1);
	const sonde_error_cluster *c = &r->clusters[0];
	assert_int_equal(c->services_count, 3);
	assert_string_equal(c->services[0], "db");
	assert_string_equal(c->services[1], "api");
	assert_string_equal(c->services[2], "web");
	assert_string_equal(c->origin_service, "db");
	assert_false(c->origin_by_traces);
	assert_int_equal(c->start_ns, t);
	assert_int_equal(c->end_ns, t + 60 * S);
	assert_int_equal(c->groups_count, 3);
	assert_string_equal(r->groups[c->groups[0]].template_text, "too many connections");
	assert_string_equal(r->groups[c->groups[2]].template_text, "upstream api returned <NUM>");
	sonde_errors_free(e);
	fx_release(&f);
}

static void test_cascade_origin_in_bucket(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* An hour of data (minute buckets), each service failing now and then all along;
	 * then within one minute payments fails (at :05), orders (at :20), frontend (at :40),
	 * frontend the most. The three spikes share a minute: the cascade still begins in
	 * payments, and runs payments -> orders -> frontend. */
	uint64_t inc = T0 + 30 * 60 * S;
	for (uint64_t m = 0; m < 60; m += 6) {
		add_log(e, &f, "frontend", T0 + m * 60 * S + 7 * S, 17,
		        "checkout failed for cart 11: orders returned 502", NULL);
		add_log(e, &f, "orders", T0 + m * 60 * S + 9 * S, 17,
		        "charge failed for order 5: payments returned 504", NULL);
		add_log(e, &f, "payments", T0 + m * 60 * S + 11 * S, 17,
		        "card processor timed out after 3000 ms", NULL);
	}
	for (int k = 0; k < 40; k++) {
		char body[96];
		snprintf(body, sizeof(body), "card processor timed out after %d ms", 3000 + k);
		add_log(e, &f, "payments", inc + 5 * S + (uint64_t)k * S / 2, 17, body, NULL);
		snprintf(body, sizeof(body), "charge failed for order %d: payments returned 504", 100 + k);
		add_log(e, &f, "orders", inc + 20 * S + (uint64_t)k * S / 2, 17, body, NULL);
		for (int j = 0; j < 2; j++) {
			snprintf(body, sizeof(body), "checkout failed for cart %d: orders returned 502",
			         900 + 2 * k + j);
			add_log(e, &f, "frontend", inc + 40 * S + (uint64_t)k * S / 4 + (uint64_t)j, 17, body,
			        NULL);
		}
	}
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->overall.bucket_ns, 60 * S);
	assert_int_equal(r->clusters_count, 1);
	const sonde_error_cluster *c = &r->clusters[0];
	assert_string_equal(c->origin_service, "payments");
	assert_false(c->origin_by_traces);
	assert_int_equal(c->services_count, 3);
	assert_string_equal(c->services[0], "payments");
	assert_string_equal(c->services[1], "orders");
	assert_string_equal(c->services[2], "frontend");
	assert_int_equal(r->groups[c->groups[0]].series.spikes_count, 1);
	assert_true(r->groups[c->groups[0]].onset_ns >= inc &&
	            r->groups[c->groups[0]].onset_ns <= inc + 5 * S);
	assert_true(r->groups[c->groups[2]].onset_ns >= inc + 40 * S - 5 * S);
	sonde_errors_free(e);
	fx_release(&f);
}

static void test_cascade_by_traces(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *e = sonde_errors_new(NULL);
	/* The gateway logs its errors first (its first ones carry no trace), but in every
	 * trace that links services the inventory span fails before the checkout and
	 * gateway spans: the cascade began in inventory. */
	uint64_t t = T0 + 300 * S;
	add_log(e, &f, "gateway", t, 17, "request failed", NULL);
	for (uint8_t i = 1; i <= 6; i++) {
		uint64_t at = t + 5 * S + i * S;
		add_span(e, &f, "gateway", at + 300000000, i, "HTTPError", "checkout returned 500");
		add_span(e, &f, "inventory", at, i, "StockError", "sku 12 missing");
		add_span(e, &f, "checkout", at + 200000000, i, "HTTPError", "inventory returned 500");
	}
	assert_int_equal(sonde_errors_finish(e), 0);
	const sonde_errors_result *r = sonde_errors_result_get(e);
	assert_int_equal(r->clusters_count, 1);
	const sonde_error_cluster *c = &r->clusters[0];
	assert_string_equal(c->services[0], "gateway"); /* earliest onset */
	assert_string_equal(c->origin_service, "inventory");
	assert_true(c->origin_by_traces);
	assert_int_equal(c->linked_traces, 6);
	sonde_errors_free(e);
	fx_release(&f);
}

/* ---- Merging ------------------------------------------------------------------------- */

/* Feeds a mix of everything above to e: records i with (i % parts == part) only. */
static void feed_mix(sonde_errors *e, fixture *f, int part, int parts)
{
	int i = 0;
#define MINE (i++ % parts == part)
	for (uint64_t m = 0; m < 120; m++) {
		int n = m >= 70 && m < 73 ? 30 : 2;
		for (int k = 0; k < n; k++) {
			char u[32], body[64];
			snprintf(u, sizeof(u), "user_id=u%d", k % 3 == 0 ? 0 : (int)(m % 7));
			snprintf(body, sizeof(body), "pool %d exhausted after %d ms", k, (int)m);
			const char *kvs[] = {u, "http.route=/a", NULL};
			if (MINE)
				add_log(e, f, m < 60 ? "api" : "web", T0 + m * 60 * S + (uint64_t)k * S, 17,
				        body, kvs);
		}
		if (m % 10 == 0 && MINE)
			add_log(e, f, "cron", T0 + m * 60 * S, 17, py_trace, NULL);
	}
	for (uint8_t t = 1; t <= 8; t++) {
		uint64_t at = T0 + 70 * 60 * S + t * S;
		if (MINE)
			add_span(e, f, "db", at, t, "DBError", "lock wait timeout");
		if (MINE)
			add_span(e, f, "api", at + 100000000, t, "HTTPError", "db returned 500");
	}
#undef MINE
}

static void same_result(const sonde_errors_result *x, const sonde_errors_result *y)
{
	assert_int_equal(x->total, y->total);
	assert_int_equal(x->groups_count, y->groups_count);
	assert_int_equal(x->since_ns, y->since_ns);
	assert_int_equal(x->overall.count, y->overall.count);
	for (size_t i = 0; i < x->overall.count; i++)
		assert_int_equal(x->overall.counts[i], y->overall.counts[i]);
	for (size_t i = 0; i < x->groups_count; i++) {
		const sonde_error_group *a = &x->groups[i], *b = &y->groups[i];
		assert_string_equal(a->template_text, b->template_text);
		assert_string_equal(a->example, b->example);
		assert_int_equal(a->count, b->count);
		assert_int_equal(a->first_ns, b->first_ns);
		assert_int_equal(a->last_ns, b->last_ns);
		assert_int_equal(a->onset_ns, b->onset_ns);
		assert_int_equal(a->services_count, b->services_count);
		assert_int_equal(a->category, b->category);
		assert_int_equal(a->series.spikes_count, b->series.spikes_count);
		assert_int_equal(a->series.period_ns, b->series.period_ns);
		assert_int_equal(a->traces, b->traces);
		assert_int_equal(a->common_count, b->common_count);
		for (int d = 0; d < SONDE_ERRDIM_COUNT; d++) {
			assert_int_equal(a->dims[d].distinct, b->dims[d].distinct);
			assert_int_equal(a->dims[d].with_value, b->dims[d].with_value);
			assert_int_equal(a->dims[d].concentrated, b->dims[d].concentrated);
			for (size_t k = 0; k < a->dims[d].top_count; k++) {
				assert_string_equal(a->dims[d].top[k].value, b->dims[d].top[k].value);
				assert_int_equal(a->dims[d].top[k].count, b->dims[d].top[k].count);
			}
		}
	}
	assert_int_equal(x->clusters_count, y->clusters_count);
	for (size_t c = 0; c < x->clusters_count; c++) {
		assert_string_equal(x->clusters[c].origin_service, y->clusters[c].origin_service);
		assert_int_equal(x->clusters[c].origin_by_traces, y->clusters[c].origin_by_traces);
		assert_int_equal(x->clusters[c].linked_traces, y->clusters[c].linked_traces);
		assert_int_equal(x->clusters[c].services_count, y->clusters[c].services_count);
	}
}

static void test_merge(void **state)
{
	(void)state;
	fixture f;
	fx_init(&f);
	sonde_errors *all = sonde_errors_new(NULL);
	feed_mix(all, &f, 0, 1);
	/* Two engines, each with every other record (so each sees every group, service and
	 * trace in part), merged: the same answer as one engine with everything. */
	sonde_errors *a = sonde_errors_new(NULL), *b = sonde_errors_new(NULL);
	feed_mix(a, &f, 0, 2);
	feed_mix(b, &f, 1, 2);
	assert_int_equal(sonde_errors_merge(a, b), 0);
	sonde_errors_free(b);
	assert_int_equal(sonde_errors_finish(all), 0);
	assert_int_equal(sonde_errors_finish(a), 0);
	const sonde_errors_result *x = sonde_errors_result_get(all), *y = sonde_errors_result_get(a);
	assert_true(x->clusters_count >= 1);
	assert_int_equal(find_group(x, "pool <NUM> exhausted after <NUM> ms")->series.spikes_count, 1);
	same_result(x, y);
	/* A finished engine takes no more. */
	assert_int_equal(sonde_errors_merge(a, all), -EINVAL);
	sonde_errors_free(a);
	sonde_errors_free(all);
	fx_release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mask),
	        cmocka_unit_test(test_grouping),
	        cmocka_unit_test(test_span_errors),
	        cmocka_unit_test(test_templater_hook),
	        cmocka_unit_test(test_miner_final_templates),
	        cmocka_unit_test(test_mask_templater),
	        cmocka_unit_test(test_shape_random),
	        cmocka_unit_test(test_categories),
	        cmocka_unit_test(test_category_in_engine),
	        cmocka_unit_test(test_spike_onset),
	        cmocka_unit_test(test_wide_window),
	        cmocka_unit_test(test_periodicity),
	        cmocka_unit_test(test_concentration),
	        cmocka_unit_test(test_stack_python),
	        cmocka_unit_test(test_stack_java),
	        cmocka_unit_test(test_stack_go),
	        cmocka_unit_test(test_stack_rust),
	        cmocka_unit_test(test_stack_native),
	        cmocka_unit_test(test_common_frames),
	        cmocka_unit_test(test_cascade_by_time),
	        cmocka_unit_test(test_cascade_by_traces),
	        cmocka_unit_test(test_cascade_origin_in_bucket),
	        cmocka_unit_test(test_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
