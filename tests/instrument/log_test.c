/*
 * log_test.c - libsonde's logs end to end through the runtime: trace correlation, the
 * level filter, attributes, redaction and truncation on the background thread, per-site
 * rate limiting with the suppressed count, printf bodies, drops when buffers are full,
 * many threads, fork, and the JSON-lines sink read back by sonde's own log reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hex.h"
#include "logline.h"
#include "sonde/log.h"
#include "sonde/trace.h"

#include "capture_exporter.h"

static capture cap;

static void start(const sonde_log_config *logs)
{
	sonde_trace_config cfg = {.service_name = "log-test"};
	if (logs)
		cfg.logs = *logs;
	cfg.exporters[0] = &cap.base;
	cfg.exporters_count = 1;
	capture_init(&cap);
	assert_int_equal(sonde_trace_init(&cfg), 0);
}

static void stop(void)
{
	assert_int_equal(sonde_trace_shutdown(5000), 0);
}

static void flush(void)
{
	assert_int_equal(sonde_trace_force_flush(5000), 0);
}

/* The captured record whose body starts with prefix. */
static const sonde_log_data *find(const char *prefix)
{
	for (size_t i = 0; i < cap.got->logs_count; i++) {
		const sonde_value *b = &cap.got->logs[i].body;
		if (b->kind == SONDE_VAL_STRING && strncmp(b->u.str.ptr, prefix, strlen(prefix)) == 0)
			return &cap.got->logs[i];
	}
	return NULL;
}

static const char *str_attr(const sonde_log_data *lg, const char *key)
{
	const sonde_value *v = sonde_attrs_get(&lg->attrs, key);
	return v && v->kind == SONDE_VAL_STRING ? v->u.str.ptr : NULL;
}

static void test_correlation_and_attributes(void **state)
{
	(void)state;
	start(NULL);
	sonde_tracer *t = sonde_tracer_get("logs", NULL, NULL);
	sonde_log(SONDE_LOG_INFO, "outside any span", NULL, 0);
	sonde_span *s = sonde_span_start(t, "request");
	sonde_span_context ctx;
	sonde_span_context_get(s, &ctx);
	sonde_attr attrs[] = {SONDE_ATTR_STR("user", "ada"), SONDE_ATTR_INT("items", 3),
	                      SONDE_ATTR_DBL("ratio", 0.5), SONDE_ATTR_BOOL("cached", true)};
	sonde_log(SONDE_LOG_WARN, "inside the span", attrs, 4);
	sonde_logf(SONDE_LOG_ERROR, "order %d failed: %s", 42, "declined");
	sonde_span_end(s);
	flush();
	pthread_mutex_lock(&cap.mu);
	const sonde_log_data *out = find("outside");
	assert_non_null(out);
	assert_true(sonde_id_is_zero(out->trace_id, 16));
	assert_int_equal(out->severity_number, 9);
	assert_string_equal(out->severity_text.ptr, "INFO");
	const sonde_log_data *in = find("inside the span");
	assert_non_null(in);
	assert_memory_equal(in->trace_id, ctx.trace_id, 16);
	assert_memory_equal(in->span_id, ctx.span_id, 8);
	assert_int_equal(in->flags & 0xff, ctx.trace_flags);
	assert_string_equal(in->severity_text.ptr, "WARN");
	assert_string_equal(str_attr(in, "user"), "ada");
	assert_int_equal(sonde_attrs_get(&in->attrs, "items")->u.i, 3);
	assert_true(sonde_attrs_get(&in->attrs, "cached")->u.b);
	assert_true(in->time_ns > 1700000000000000000ull);
	const sonde_log_data *f = find("order 42");
	assert_non_null(f);
	assert_string_equal(f->body.u.str.ptr, "order 42 failed: declined");
	assert_int_equal(f->severity_number, 17);
	const sonde_value *svc = sonde_attrs_get(&f->resource->attrs, "service.name");
	assert_string_equal(svc->u.str.ptr, "log-test");
	pthread_mutex_unlock(&cap.mu);
	sonde_log_stats st;
	sonde_log_stats_get(&st);
	assert_int_equal(st.recorded, 3);
	assert_int_equal(st.exported, 3);
	stop();
	/* After shutdown nothing is recorded, and nothing crashes. */
	sonde_log(SONDE_LOG_FATAL, "after shutdown", NULL, 0);
	assert_false(sonde_log_enabled(SONDE_LOG_FATAL));
}

static void test_level_filter(void **state)
{
	(void)state;
	setenv("SONDE_LOG_LEVEL", "warn", 1);
	start(NULL);
	unsetenv("SONDE_LOG_LEVEL");
	assert_false(sonde_log_enabled(SONDE_LOG_INFO));
	assert_true(sonde_log_enabled(SONDE_LOG_WARN));
	sonde_log(SONDE_LOG_INFO, "filtered info", NULL, 0);
	sonde_log(SONDE_LOG_ERROR, "kept error", NULL, 0);
	SONDE_LOG(SONDE_LOG_DEBUG, "filtered debug site", SONDE_ATTR_INT("n", 1));
	sonde_log_set_level(SONDE_LOG_DEBUG); /* programmatic wins from now on */
	SONDE_LOG(SONDE_LOG_DEBUG, "kept debug site", SONDE_ATTR_INT("n", 2));
	SONDE_LOG(SONDE_LOG_INFO, "kept site without attributes");
	flush();
	pthread_mutex_lock(&cap.mu);
	assert_null(find("filtered"));
	assert_non_null(find("kept error"));
	assert_non_null(find("kept debug site"));
	assert_non_null(find("kept site without"));
	assert_int_equal(cap.got->logs_count, 3);
	pthread_mutex_unlock(&cap.mu);
	stop();
	sonde_log_set_level(SONDE_LOG_INFO);
}

static void test_redaction_and_truncation(void **state)
{
	(void)state;
	sonde_log_config lc = {.max_value_length = 64, .redact_keys = "pin"};
	start(&lc);
	const char *jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
	                  "XgL0n3I9PlFUP0THsR8U";
	char body[256];
	snprintf(body, sizeof body, "login with %s", jwt);
	sonde_attr attrs[] = {SONDE_ATTR_STR("password", "hunter2"),
	                      SONDE_ATTR_STR("Authorization", "Basic Zm9vOmJhcg=="),
	                      SONDE_ATTR_STR("card", "4111 1111 1111 1111"),
	                      SONDE_ATTR_STR("order_id", "4111111111111112"),
	                      SONDE_ATTR_INT("pin", 1234),
	                      SONDE_ATTR_STR("note", "fine")};
	sonde_log(SONDE_LOG_INFO, body, attrs, 6);
	char big[300];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	sonde_attr long_attr = SONDE_ATTR_STR("blob", big);
	sonde_log(SONDE_LOG_INFO, big, &long_attr, 1);
	flush();
	pthread_mutex_lock(&cap.mu);
	const sonde_log_data *lg = find("login with");
	assert_non_null(lg);
	assert_null(strstr(lg->body.u.str.ptr, "eyJhbGci"));
	assert_non_null(strstr(lg->body.u.str.ptr, "[redacted: jwt]"));
	assert_null(strstr(str_attr(lg, "password"), "hunter2"));
	assert_non_null(strstr(str_attr(lg, "password"), "redacted"));
	assert_null(strstr(str_attr(lg, "Authorization"), "Zm9v"));
	assert_null(strstr(str_attr(lg, "card"), "4111 1111"));
	/* A 16-digit order id that fails the Luhn check stays. */
	assert_string_equal(str_attr(lg, "order_id"), "4111111111111112");
	/* A user-added key loses its value whatever its type. */
	assert_non_null(strstr(str_attr(lg, "pin"), "redacted"));
	assert_string_equal(str_attr(lg, "note"), "fine");
	const sonde_log_data *cut = find("xxxx");
	assert_non_null(cut);
	assert_non_null(strstr(cut->body.u.str.ptr, "[truncated from 299 bytes]"));
	assert_int_equal(strspn(cut->body.u.str.ptr, "x"), 64);
	assert_non_null(strstr(str_attr(cut, "blob"), "[truncated from 299 bytes]"));
	pthread_mutex_unlock(&cap.mu);
	sonde_log_stats st;
	sonde_log_stats_get(&st);
	assert_true(st.redacted >= 6);
	stop();

	/* Redaction off keeps the values (truncation still applies). */
	sonde_log_config off = {.redact_off = true};
	start(&off);
	sonde_log(SONDE_LOG_INFO, body, attrs, 1);
	flush();
	pthread_mutex_lock(&cap.mu);
	lg = find("login with");
	assert_non_null(lg);
	assert_non_null(strstr(lg->body.u.str.ptr, "eyJhbGci"));
	assert_string_equal(str_attr(lg, "password"), "hunter2");
	pthread_mutex_unlock(&cap.mu);
	stop();
}

static void emit_storm(int n)
{
	for (int i = 0; i < n; i++)
		SONDE_LOGF(SONDE_LOG_WARN, "storm %d", i);
}

static void test_rate_limit_per_site(void **state)
{
	(void)state;
	sonde_log_config lc = {.rate_limit = 5};
	start(&lc);
	emit_storm(50); /* one site, well within one second on any machine */
	for (int i = 0; i < 3; i++)
		SONDE_LOGF(SONDE_LOG_WARN, "other site %d", i); /* another site has its own budget */
	flush();
	pthread_mutex_lock(&cap.mu);
	size_t storm = 0, other = 0;
	for (size_t i = 0; i < cap.got->logs_count; i++) {
		const char *b = cap.got->logs[i].body.u.str.ptr;
		storm += strncmp(b, "storm", 5) == 0;
		other += strncmp(b, "other", 5) == 0;
	}
	/* The storm may straddle a second boundary on a slow machine: at most two windows. */
	assert_true(storm >= 5 && storm <= 10);
	assert_int_equal(other, 3);
	pthread_mutex_unlock(&cap.mu);
	sonde_log_stats st;
	sonde_log_stats_get(&st);
	assert_int_equal(st.suppressed, 50 - storm);
	/* The next record of the site, a second later, reports how many it lost. */
	sleep(1);
	emit_storm(1);
	flush();
	pthread_mutex_lock(&cap.mu);
	const sonde_log_data *last = &cap.got->logs[cap.got->logs_count - 1];
	assert_string_equal(last->body.u.str.ptr, "storm 0");
	const sonde_value *sup = sonde_attrs_get(&last->attrs, "sonde.log.suppressed");
	assert_non_null(sup);
	assert_true(sup->u.i >= 1 && (uint64_t)sup->u.i <= st.suppressed);
	pthread_mutex_unlock(&cap.mu);
	stop();
}

static void test_full_buffers_drop_and_count(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.service_name = "log-test"};
	cfg.exporters[0] = &cap.base;
	cfg.exporters_count = 1;
	cfg.batch.max_queue_size = 256;
	cfg.logs.rate_limit = UINT32_MAX;
	capture_init(&cap);
	atomic_store(&cap.hang, 1); /* the exporter never returns: buffers fill */
	assert_int_equal(sonde_trace_init(&cfg), 0);
	for (int i = 0; i < 5000; i++)
		sonde_logf(SONDE_LOG_INFO, "record %d", i);
	sonde_log_stats st;
	sonde_log_stats_get(&st);
	assert_int_equal(st.recorded + st.dropped, 5000);
	assert_true(st.dropped > 0);
	atomic_store(&cap.hang, 0);
	stop();
}

enum { THREADS = 8, PER_THREAD = 2000 };

static void *writer(void *arg)
{
	sonde_tracer *t = sonde_tracer_get("logs", NULL, NULL);
	intptr_t k = (intptr_t)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		sonde_span *s = sonde_span_start(t, "work");
		sonde_attr a[] = {SONDE_ATTR_INT("thread", k), SONDE_ATTR_INT("i", i)};
		sonde_log(SONDE_LOG_INFO, "tick", a, 2);
		sonde_span_end(s);
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	(void)state;
	start(NULL);
	pthread_t th[THREADS];
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	flush();
	sonde_log_stats st;
	sonde_log_stats_get(&st);
	assert_int_equal(st.recorded + st.dropped, THREADS * PER_THREAD);
	sonde_tracer_stats ts;
	sonde_tracer_stats_get(&ts);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->logs_count, st.recorded);
	/* Every record carries the trace of the span it was written in. The one exception is a
	 * span the runtime dropped at its start for want of a free slot (under this load it
	 * can happen): it never became the thread's current span, so a record written in it
	 * has no context, and there are at most as many such records as dropped spans. */
	uint64_t zero = 0;
	for (size_t i = 0; i < cap.got->logs_count; i++)
		zero += sonde_id_is_zero(cap.got->logs[i].trace_id, 16);
	pthread_mutex_unlock(&cap.mu);
	assert_true(zero <= ts.spans_dropped);
	stop();
}

static void test_fork(void **state)
{
	(void)state;
	start(NULL);
	sonde_log(SONDE_LOG_INFO, "before fork", NULL, 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sonde_batch_clear(cap.got);
		sonde_log(SONDE_LOG_INFO, "in child", NULL, 0);
		int rc = sonde_trace_force_flush(5000);
		int bad = rc != 0 || cap.got->logs_count != 1 || !find("in child");
		_exit(bad ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	flush();
	pthread_mutex_lock(&cap.mu);
	assert_non_null(find("before fork"));
	assert_null(find("in child"));
	pthread_mutex_unlock(&cap.mu);
	stop();
}

static void test_json_lines_sink(void **state)
{
	(void)state;
	char path[] = "/tmp/sonde-log-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	sonde_trace_config cfg = {.service_name = "sink-test"};
	cfg.exporters[0] = sonde_exporter_log_json_new(path, -1);
	assert_non_null(cfg.exporters[0]);
	cfg.exporters_count = 1;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	sonde_tracer *t = sonde_tracer_get("logs", NULL, NULL);
	sonde_span *s = sonde_span_start(t, "request");
	sonde_span_context ctx;
	sonde_span_context_get(s, &ctx);
	sonde_attr a[] = {SONDE_ATTR_STR("route", "/orders"), SONDE_ATTR_STR("api_key", "sk_live_abcdef")};
	sonde_log(SONDE_LOG_ERROR, "payment \"declined\"\n", a, 2);
	sonde_span_end(s);
	stop();
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[2048];
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	unlink(path);
	char hex[33];
	sonde_hex_encode(hex, ctx.trace_id, 16);
	hex[32] = 0;
	assert_non_null(strstr(line, "\"severity_text\":\"ERROR\""));
	assert_non_null(strstr(line, hex));
	char flags[32];
	snprintf(flags, sizeof flags, "\"trace_flags\":\"%02x\"", ctx.trace_flags);
	assert_true(ctx.trace_flags & SONDE_TRACE_FLAG_SAMPLED);
	assert_non_null(strstr(line, flags));
	assert_null(strstr(line, "sk_live"));
	/* sonde's reader of JSON-lines logs takes it back whole. */
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	assert_int_equal(sonde_logjson_read(b, line, strlen(line), 0, &err), 0);
	assert_int_equal(b->logs_count, 1);
	assert_memory_equal(b->logs[0].trace_id, ctx.trace_id, 16);
	assert_memory_equal(b->logs[0].span_id, ctx.span_id, 8);
	assert_int_equal(b->logs[0].severity_number, 17);
	assert_string_equal(b->logs[0].body.u.str.ptr, "payment \"declined\"\n");
	assert_string_equal(sonde_attrs_get(&b->logs[0].attrs, "route")->u.str.ptr, "/orders");
	assert_string_equal(sonde_attrs_get(&b->logs[0].resource->attrs, "service.name")->u.str.ptr,
	                    "sink-test");
	sonde_batch_free(b);
}

/* A failed test must fail, not leave the next one waiting: free the capture's mutex and
 * stop a runtime it left running (a no-op after a test that stopped it). */
static int after_test(void **state)
{
	(void)state;
	capture_after_test(&cap);
	atomic_store(&cap.hang, 0);
	sonde_trace_shutdown(5000);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_correlation_and_attributes, after_test),
	        cmocka_unit_test_teardown(test_level_filter, after_test),
	        cmocka_unit_test_teardown(test_redaction_and_truncation, after_test),
	        cmocka_unit_test_teardown(test_rate_limit_per_site, after_test),
	        cmocka_unit_test_teardown(test_full_buffers_drop_and_count, after_test),
	        cmocka_unit_test_teardown(test_many_threads, after_test),
	        cmocka_unit_test_teardown(test_fork, after_test),
	        cmocka_unit_test_teardown(test_json_lines_sink, after_test),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
