/*
 * trace_test.c - libsonde's tracing runtime end to end, with an exporter that captures
 * what the background thread delivers: parentage, attributes of every type, events,
 * links, status, long values spanning slots, limits, the duration filter, threads,
 * detached spans, slots recycled through the fast start, drops under a stalled exporter,
 * shutdown with a hung exporter, fork.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exporter_internal.h"
#include "hex.h"
#include "otlp_json.h"
#include "sonde/metrics.h"
#include "sonde/trace.h"
#include "telemetry.h"

#include "capture_exporter.h"
#include "clock.h"

static capture cap;

static void start(const sonde_trace_config *extra)
{
	sonde_trace_config cfg = {0};
	if (extra)
		cfg = *extra;
	cfg.service_name = "trace-test";
	cfg.exporters[0] = &cap.base;
	cfg.exporters_count = 1;
	capture_init(&cap);
	assert_int_equal(sonde_trace_init(&cfg), 0);
}

static void stop(void)
{
	assert_int_equal(sonde_trace_shutdown(5000), 0);
}

static const sonde_span_data *find(const char *name)
{
	for (size_t i = 0; i < cap.got->spans_count; i++)
		if (strcmp(cap.got->spans[i].name.ptr, name) == 0)
			return &cap.got->spans[i];
	return NULL;
}

static const sonde_value *attr(const sonde_span_data *s, const char *key)
{
	return sonde_attrs_get(&s->attrs, key);
}

/* ---- Tests ----------------------------------------------------------------------- */

static void test_tree_attributes_events_links(void **state)
{
	(void)state;
	setenv("OTEL_RESOURCE_ATTRIBUTES", " deployment.environment = prod ,team=a%2Cb,broken", 1);
	start(NULL);
	unsetenv("OTEL_RESOURCE_ATTRIBUTES");
	sonde_tracer *t = sonde_tracer_get("checkout", "1.2.3", NULL);
	assert_ptr_equal(t, sonde_tracer_get("checkout", "1.2.3", NULL));
	sonde_span_opts o = {.kind = SONDE_SPAN_KIND_SERVER};
	sonde_span *root = sonde_span_start_ex(t, "GET /cart", &o);
	assert_true(sonde_span_is_recording(root));
	assert_ptr_equal(sonde_span_current(), root);
	sonde_span_set_str(root, "http.route", "/cart");
	sonde_span_set_int(root, "http.status_code", 200);
	sonde_span_set_double(root, "load", 0.75);
	sonde_span_set_bool(root, "cached", true);
	sonde_span_set_int(root, "http.status_code", 503); /* a later set replaces */
	const char *tags[] = {"a", "bb", ""};
	int64_t ints[] = {1, -2, INT64_MAX};
	double dbls[] = {0.5, -1e300};
	bool bools[] = {true, false};
	sonde_attr arrays[] = {
	        {.key = "tags", .type = SONDE_ATTR_STRING_ARRAY, .v.array = {tags, 3}},
	        {.key = "ints", .type = SONDE_ATTR_INT_ARRAY, .v.array = {ints, 3}},
	        {.key = "dbls", .type = SONDE_ATTR_DOUBLE_ARRAY, .v.array = {dbls, 2}},
	        {.key = "bools", .type = SONDE_ATTR_BOOL_ARRAY, .v.array = {bools, 2}},
	};
	sonde_span_set_attrs(root, arrays, 4);
	{
		SONDE_SPAN_SCOPE(child, t, "SELECT cart");
		assert_ptr_equal(sonde_span_current(), child);
		sonde_span_set_str(child, "db.system", "postgresql");
		sonde_attr ea[] = {SONDE_ATTR_INT("rows", 3)};
		sonde_span_add_event_at(child, "fetched", 1700000000123456789ull, ea, 1);
		sonde_span *grand = sonde_span_start(t, "decode row");
		sonde_span_record_exception(grand, "ValueError", "bad row", "at decode_row (cart.c:12)");
		sonde_span_end(grand);
	}
	assert_ptr_equal(sonde_span_current(), root);
	sonde_span_context other = {.trace_flags = 1};
	memset(other.trace_id, 0xab, 16);
	memset(other.span_id, 0xcd, 8);
	strcpy(other.trace_state, "vendor=x");
	other.trace_state_len = 8;
	sonde_attr la[] = {SONDE_ATTR_STR("reason", "batch")};
	sonde_span_add_link(root, &other, la, 1);
	sonde_span_set_status(root, SONDE_STATUS_OK, NULL);
	sonde_span_set_status(root, SONDE_STATUS_ERROR, "too late"); /* OK is final */
	sonde_span_end(root);
	assert_null(sonde_span_current());
	assert_int_equal(sonde_trace_force_flush(5000), 0);

	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count, 3);
	const sonde_span_data *r = find("GET /cart"), *c = find("SELECT cart"), *g = find("decode row");
	assert_non_null(r);
	assert_non_null(c);
	assert_non_null(g);
	assert_int_equal(r->kind, SONDE_SPAN_KIND_SERVER);
	assert_int_equal(c->kind, SONDE_SPAN_KIND_INTERNAL);
	assert_true(sonde_id_is_zero(r->parent_span_id, 8));
	assert_memory_equal(c->parent_span_id, r->span_id, 8);
	assert_memory_equal(g->parent_span_id, c->span_id, 8);
	assert_memory_equal(c->trace_id, r->trace_id, 16);
	assert_memory_equal(g->trace_id, r->trace_id, 16);
	assert_true(r->start_ns <= c->start_ns && c->end_ns <= r->end_ns);
	assert_true(c->start_ns <= g->start_ns && g->end_ns <= c->end_ns);
	/* Times are epoch nanoseconds close to now. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	assert_true(r->start_ns > now_ns - 60ull * 1000000000ull && r->end_ns <= now_ns + 1000000000ull);
	assert_string_equal(attr(r, "http.route")->u.str.ptr, "/cart");
	assert_int_equal(attr(r, "http.status_code")->u.i, 503);
	assert_true(attr(r, "load")->u.d == 0.75);
	assert_true(attr(r, "cached")->u.b);
	assert_int_equal(r->attrs.count, 8);
	const sonde_value *v = attr(r, "tags");
	assert_int_equal(v->kind, SONDE_VAL_ARRAY);
	assert_int_equal(v->u.array.count, 3);
	assert_string_equal(v->u.array.items[1].u.str.ptr, "bb");
	assert_int_equal(attr(r, "ints")->u.array.items[2].u.i, INT64_MAX);
	assert_true(attr(r, "dbls")->u.array.items[1].u.d == -1e300);
	assert_false(attr(r, "bools")->u.array.items[1].u.b);
	assert_int_equal(r->status_code, SONDE_STATUS_OK);
	assert_int_equal(r->status_message.len, 0);
	assert_int_equal(r->links_count, 1);
	assert_memory_equal(r->links[0].trace_id, other.trace_id, 16);
	assert_string_equal(r->links[0].trace_state.ptr, "vendor=x");
	assert_string_equal(sonde_attrs_get(&r->links[0].attrs, "reason")->u.str.ptr, "batch");
	assert_int_equal(c->events_count, 1);
	assert_string_equal(c->events[0].name.ptr, "fetched");
	assert_true(c->events[0].time_ns == 1700000000123456789ull);
	assert_int_equal(sonde_attrs_get(&c->events[0].attrs, "rows")->u.i, 3);
	assert_int_equal(g->status_code, SONDE_STATUS_ERROR);
	assert_string_equal(g->status_message.ptr, "bad row");
	assert_string_equal(g->events[0].name.ptr, "exception");
	assert_string_equal(sonde_attrs_get(&g->events[0].attrs, "exception.type")->u.str.ptr, "ValueError");
	/* Resource and scope. */
	assert_string_equal(sonde_attrs_get(&r->resource->attrs, "service.name")->u.str.ptr, "trace-test");
	assert_string_equal(sonde_attrs_get(&r->resource->attrs, "deployment.environment")->u.str.ptr,
	                    "prod");
	assert_string_equal(sonde_attrs_get(&r->resource->attrs, "team")->u.str.ptr, "a,b");
	assert_null(sonde_attrs_get(&r->resource->attrs, "broken"));
	assert_int_equal(sonde_attrs_get(&r->resource->attrs, "process.pid")->u.i, getpid());
	assert_string_equal(r->scope->name.ptr, "checkout");
	assert_string_equal(r->scope->version.ptr, "1.2.3");
	pthread_mutex_unlock(&cap.mu);
	stop();
}

static void test_remote_parent_and_long_values(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.limits.attribute_count = 4};
	start(&cfg);
	sonde_tracer *t = sonde_tracer_get("rpc", NULL, NULL);
	sonde_span_context parent = {.trace_flags = SONDE_TRACE_FLAG_SAMPLED, .is_remote = true};
	for (int i = 0; i < 16; i++)
		parent.trace_id[i] = (uint8_t)(i + 1);
	memset(parent.span_id, 7, 8);
	strcpy(parent.trace_state, "congo=t61rcWkgMzE");
	parent.trace_state_len = (uint16_t)strlen(parent.trace_state);
	sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CONSUMER, .parent = &parent};
	sonde_span *s = sonde_span_start_ex(t, "consume", &o);
	/* A 5000-byte value runs through several slots. */
	char *big = malloc(5001);
	for (int i = 0; i < 5000; i++)
		big[i] = (char)('a' + i % 26);
	big[5000] = '\0';
	sonde_span_set_str(s, "db.statement", big);
	sonde_span_set_strn(s, "prefix", big, 10);
	sonde_span_set_int(s, "n3", 3);
	sonde_span_set_int(s, "n4", 4);
	sonde_span_set_int(s, "n5", 5); /* over the limit of 4 */
	sonde_span_set_int(s, "n6", 6);
	sonde_span_context got;
	sonde_span_context_get(s, &got);
	assert_memory_equal(got.trace_id, parent.trace_id, 16);
	assert_string_equal(got.trace_state, "congo=t61rcWkgMzE");
	/* A child of a local span inherits the trace state too. */
	sonde_span *child = sonde_span_start(t, "handle");
	sonde_span_context_get(child, &got);
	assert_string_equal(got.trace_state, "congo=t61rcWkgMzE");
	sonde_span_end(child);
	sonde_span_end(s);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	const sonde_span_data *d = find("consume");
	assert_non_null(d);
	assert_memory_equal(d->trace_id, parent.trace_id, 16);
	assert_memory_equal(d->parent_span_id, parent.span_id, 8);
	assert_int_equal(d->flags & 0x300, 0x300); /* parent is remote, and that is known */
	assert_int_equal(find("handle")->flags & 0x300, 0x100);
	assert_string_equal(d->trace_state.ptr, "congo=t61rcWkgMzE");
	assert_int_equal(attr(d, "db.statement")->u.str.len, 5000);
	assert_memory_equal(attr(d, "db.statement")->u.str.ptr, big, 5000);
	assert_string_equal(attr(d, "prefix")->u.str.ptr, "abcdefghij");
	assert_int_equal(d->attrs.count, 4);
	assert_int_equal(d->dropped_attrs_count, 2);
	pthread_mutex_unlock(&cap.mu);
	free(big);
	stop();
}

static void test_min_duration_filter(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.min_duration_ns = 50 * 1000000ull};
	start(&cfg);
	sonde_tracer *t = sonde_tracer_get("filter", NULL, NULL);
	sonde_span *slow = sonde_span_start(t, "slow");
	sonde_span *fast = sonde_span_start(t, "fast");
	sonde_span_end(fast);
	sonde_span *failed = sonde_span_start(t, "fast but failed");
	sonde_span_set_status(failed, SONDE_STATUS_ERROR, "boom");
	sonde_span_end(failed);
	struct timespec ts = {0, 60 * 1000000L};
	nanosleep(&ts, NULL);
	sonde_span_end(slow);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count, 2);
	assert_non_null(find("slow"));
	assert_non_null(find("fast but failed"));
	assert_null(find("fast"));
	/* The kept error span still names its (exported) parent; nothing is invented. */
	assert_memory_equal(find("fast but failed")->parent_span_id, find("slow")->span_id, 8);
	pthread_mutex_unlock(&cap.mu);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	assert_true(st.spans_filtered >= 1);
	stop();
}

enum { THREADS = 8, PER_THREAD = 5000 };

static sonde_span *handoff;

static void *worker(void *arg)
{
	sonde_tracer *t = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		sonde_span *s = sonde_span_start(t, "work");
		sonde_span_set_int(s, "i", i);
		sonde_span *c = sonde_span_start(t, "inner");
		sonde_span_end(c);
		sonde_span_end(s);
	}
	return NULL;
}

static void *finisher(void *arg)
{
	(void)arg;
	sonde_span_set_str(handoff, "finished.by", "other thread");
	sonde_span_end(handoff);
	return NULL;
}

static void test_threads_and_detached(void **state)
{
	(void)state;
	start(NULL);
	sonde_tracer *t = sonde_tracer_get("threads", NULL, NULL);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, t), 0);
	sonde_span_opts o = {.flags = SONDE_SPAN_DETACHED};
	handoff = sonde_span_start_ex(t, "async job", &o);
	assert_null(sonde_span_current()); /* detached spans are not current */
	pthread_t f;
	assert_int_equal(pthread_create(&f, NULL, finisher, NULL), 0);
	pthread_join(f, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(sonde_trace_force_flush(10000), 0);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	pthread_mutex_lock(&cap.mu);
	size_t expect = (size_t)THREADS * PER_THREAD * 2 + 1;
	/* Eight producers can outrun the exporter on a small machine: whatever was not
	 * exported must have been counted as dropped, never lost silently. */
	assert_int_equal(cap.got->spans_count + st.spans_dropped, expect);
	assert_true(cap.got->spans_count > 0);
	const sonde_span_data *a = find("async job");
	assert_true(a != NULL || st.spans_dropped > 0);
	if (a)
		assert_string_equal(attr(a, "finished.by")->u.str.ptr, "other thread");
	/* Span ids are unique. */
	uint64_t *ids = malloc(cap.got->spans_count * sizeof(uint64_t));
	for (size_t i = 0; i < cap.got->spans_count; i++)
		memcpy(&ids[i], cap.got->spans[i].span_id, 8);
	for (size_t i = 0; i < cap.got->spans_count; i++)
		for (size_t j = i + 1; j < cap.got->spans_count && j < i + 64; j++)
			assert_true(ids[i] != ids[j]);
	free(ids);
	pthread_mutex_unlock(&cap.mu);
	stop();
}

static void test_stalled_exporter_drops_never_blocks(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.batch = {.max_queue_size = 256, .max_export_batch_size = 64}};
	start(&cfg);
	atomic_store(&cap.stall_ms, 300);
	sonde_tracer *t = sonde_tracer_get("drops", NULL, NULL);
	const int total = 20000;
	for (int i = 0; i < total; i++)
		sonde_span_end(sonde_span_start(t, "burst"));
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	assert_true(st.spans_dropped > 0);
	atomic_store(&cap.stall_ms, 0);
	assert_int_equal(sonde_trace_force_flush(10000), 0);
	sonde_tracer_stats_get(&st);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count + st.spans_dropped, (size_t)total);
	pthread_mutex_unlock(&cap.mu);
	/* The drops are libsonde's own metrics too, as OpenTelemetry's SDK metrics name them. */
	char *text;
	size_t len;
	assert_int_equal(sonde_metrics_prometheus_text(false, &text, &len), 0);
	char want[160];
	snprintf(want, sizeof(want),
	         "otel_sdk_processor_span_processed_total{error_type=\"queue_full\",otel_scope_name="
	         "\"libsonde\"");
	const char *line = strstr(text, want);
	if (!line)
		fail_msg("no %s in\n%s", want, text);
	const char *value = strchr(strchr(line, '}'), ' ');
	assert_non_null(value);
	assert_int_equal(strtoull(value + 1, NULL, 10), st.spans_dropped);
	snprintf(want, sizeof(want), "otel_sdk_exporter_span_exported_total{otel_scope_name=\"libsonde\"");
	line = strstr(text, want);
	if (!line)
		fail_msg("no %s in\n%s", want, text);
	assert_int_equal(strtoull(strchr(strchr(line, '}'), ' ') + 1, NULL, 10), st.spans_exported);
	free(text);
	stop();
}

static void test_shutdown_with_hung_exporter_returns(void **state)
{
	(void)state;
	start(NULL);
	sonde_tracer *t = sonde_tracer_get("hang", NULL, NULL);
	atomic_store(&cap.hang, 1);
	sonde_span_end(sonde_span_start(t, "stuck"));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = sonde_trace_shutdown(300);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(rc, -ETIMEDOUT);
	/* Behaviour, not speed: it came back instead of waiting for the hung peer. */
	assert_true(secs < 30.0);
	atomic_store(&cap.hang, 0);
	usleep(100000);
	/* Tracing is off after shutdown: spans are no-ops. */
	assert_false(sonde_span_is_recording(sonde_span_start(t, "after")));
}

static void test_fork_child_exports_its_own(void **state)
{
	(void)state;
	start(NULL);
	sonde_tracer *t = sonde_tracer_get("fork", NULL, NULL);
	sonde_span *open = sonde_span_start(t, "open across fork");
	sonde_span_end(sonde_span_start(t, "before fork"));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Child: its exporter thread starts anew; only its own spans are exported. */
		sonde_batch_clear(cap.got);
		sonde_span *c = sonde_span_start(t, "in child");
		sonde_span_end(c);
		sonde_span_end(open); /* recording in the parent only */
		int rc = sonde_trace_force_flush(5000);
		int bad = rc != 0 || cap.got->spans_count != 1 || !find("in child") ||
		          sonde_attrs_get(&cap.got->spans[0].resource->attrs, "process.pid")->u.i != getpid();
		_exit(bad ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sonde_span_end(open);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	assert_non_null(find("before fork"));
	assert_non_null(find("open across fork"));
	assert_null(find("in child"));
	assert_int_equal(cap.got->spans_count, 2);
	pthread_mutex_unlock(&cap.mu);
	stop();
}

static void test_disabled_is_noop(void **state)
{
	(void)state;
	/* Not initialised: everything is a cheap no-op and nothing crashes. */
	sonde_tracer *t = sonde_tracer_get("off", NULL, NULL);
	sonde_span *s = sonde_span_start(t, "nothing");
	assert_false(sonde_span_is_recording(s));
	sonde_span_set_str(s, "k", "v");
	sonde_span_add_event(s, "e", NULL, 0);
	sonde_span_end(s);
	assert_null(sonde_span_current());
	assert_int_equal(sonde_trace_force_flush(10), 0);
}

/* Samplers through the runtime: the fast start path and the general one must agree. */
static void test_samplers_in_the_runtime(void **state)
{
	(void)state;
	/* AlwaysOff: nothing records, children share the unsampled context, the current-span
	 * stack unwinds exactly, nothing is exported. */
	sonde_trace_config off = {.sampler = sonde_sampler_always_off()};
	start(&off);
	sonde_tracer *t = sonde_tracer_get("sampling", NULL, NULL);
	sonde_span *root = sonde_span_start(t, "root");
	assert_false(sonde_span_is_recording(root));
	assert_ptr_equal(sonde_span_current(), root);
	sonde_span_context rc, cc;
	sonde_span_context_get(root, &rc);
	assert_false(rc.trace_flags & SONDE_TRACE_FLAG_SAMPLED);
	/* Its ids are made when first asked for, and then stay. */
	assert_true(sonde_span_context_is_valid(&rc));
	sonde_span_context again;
	sonde_span_context_get(root, &again);
	assert_memory_equal(again.trace_id, rc.trace_id, 16);
	assert_memory_equal(again.span_id, rc.span_id, 8);
	sonde_span *child = sonde_span_start(t, "child");
	sonde_span *grandchild = sonde_span_start(t, "grandchild");
	assert_false(sonde_span_is_recording(grandchild));
	sonde_span_set_int(grandchild, "ignored", 1);
	sonde_span_context_get(grandchild, &cc);
	assert_memory_equal(cc.trace_id, rc.trace_id, 16);
	assert_false(cc.trace_flags & SONDE_TRACE_FLAG_SAMPLED);
	sonde_span_end(grandchild);
	sonde_span_end(child);
	assert_ptr_equal(sonde_span_current(), root);
	sonde_span_end(root);
	assert_null(sonde_span_current());
	/* A detached child and an explicit-context child take the general path. */
	sonde_span *r2 = sonde_span_start(t, "root2");
	sonde_span_opts det = {.flags = SONDE_SPAN_DETACHED};
	sonde_span *d = sonde_span_start_ex(t, "detached", &det);
	assert_false(sonde_span_is_recording(d));
	sonde_span_context r2c, dc;
	sonde_span_context_get(d, &dc);
	sonde_span_context_get(r2, &r2c);
	assert_true(sonde_span_context_is_valid(&dc));
	assert_memory_equal(dc.trace_id, r2c.trace_id, 16);
	assert_memory_not_equal(dc.span_id, r2c.span_id, 8);
	assert_ptr_equal(sonde_span_current(), r2);
	sonde_span_end(r2);
	sonde_span_end(d);
	assert_null(sonde_span_current());
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	assert_int_equal(st.spans_started, 0);
	assert_int_equal(cap.got->spans_count, 0);
	stop();

	/* ParentBased(TraceIdRatioBased(0.5)): about half the roots; a child exactly when its
	 * root; every sampled trace id above the threshold. */
	sonde_trace_config half = {.sampler = sonde_sampler_parent_based(sonde_sampler_trace_id_ratio(0.5),
	                                                                 NULL, NULL, NULL, NULL)};
	start(&half);
	t = sonde_tracer_get("sampling", NULL, NULL);
	enum { N = 400 };
	int sampled_roots = 0;
	for (int i = 0; i < N; i++) {
		sonde_span *r = sonde_span_start(t, "ratio-root");
		sonde_span *c = sonde_span_start(t, "ratio-child");
		assert_int_equal(sonde_span_is_recording(r), sonde_span_is_recording(c));
		sampled_roots += sonde_span_is_recording(r);
		sonde_span_end(c);
		sonde_span_end(r);
		assert_null(sonde_span_current());
	}
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	/* Binomial(400, 0.5): 140..260 is more than 6 standard deviations wide. */
	assert_in_range(sampled_roots, 140, 260);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count, 2 * (size_t)sampled_roots);
	for (size_t i = 0; i < cap.got->spans_count; i++) {
		const uint8_t *id = cap.got->spans[i].trace_id;
		/* The 56 random bits, big-endian, at or above 2^55 for ratio 0.5. */
		assert_true(id[9] >= 0x80);
	}
	pthread_mutex_unlock(&cap.mu);
	stop();
}

/* The fast start's side paths. A thread whose few slots run out and come back from the
 * exporter many times over: nothing is lost, parentage holds, a long name is copied whole.
 * A child started on another thread under a pushed, lazily identified unsampled root: it
 * takes the ids the root then reports. */
enum { RECYCLE_ROUNDS = 12, RECYCLE_PAIRS = 100 };
static char long_name[201];

static void *recycler(void *arg)
{
	sonde_tracer *t = arg;
	for (int round = 0; round < RECYCLE_ROUNDS; round++) {
		for (int i = 0; i < RECYCLE_PAIRS; i++) {
			sonde_span *p = sonde_span_start(t, "recycled parent");
			sonde_span *c = sonde_span_start(t, i == 0 ? long_name : "recycled child");
			sonde_span_set_int(c, "round", round);
			sonde_span_end(c);
			sonde_span_end(p);
		}
		if (sonde_trace_force_flush(10000) != 0)
			return (void *)1;
	}
	return NULL;
}

static sonde_span *lazy_root;
static sonde_span_context lazy_child_ctx;

static void *adopter(void *arg)
{
	sonde_tracer *t = arg;
	sonde_span_push(lazy_root);
	sonde_span *c = sonde_span_start(t, "adopted child");
	sonde_span_context_get(c, &lazy_child_ctx);
	sonde_span_end(c);
	sonde_span_pop();
	return NULL;
}

static void test_fast_start_slot_recycling_and_lazy_parent(void **state)
{
	(void)state;
	/* 256 slots per new thread; each round takes 200 of them. */
	sonde_trace_config small = {.batch = {.max_queue_size = 256}};
	start(&small);
	sonde_tracer *t = sonde_tracer_get("recycling", NULL, NULL);
	memset(long_name, 'n', sizeof long_name - 1);
	pthread_t th;
	void *rc = NULL;
	assert_int_equal(pthread_create(&th, NULL, recycler, t), 0);
	pthread_join(th, &rc);
	assert_null(rc);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	assert_int_equal(st.spans_dropped, 0);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count, 2 * RECYCLE_ROUNDS * RECYCLE_PAIRS);
	size_t children = 0, long_names = 0;
	for (size_t i = 0; i < cap.got->spans_count; i++) {
		const sonde_span_data *c = &cap.got->spans[i];
		if (strcmp(c->name.ptr, "recycled parent") == 0)
			continue;
		children++;
		long_names += strcmp(c->name.ptr, long_name) == 0;
		assert_non_null(attr(c, "round"));
		/* Its parent was exported, with the same trace id. */
		size_t parents = 0;
		for (size_t j = 0; j < cap.got->spans_count; j++) {
			const sonde_span_data *p = &cap.got->spans[j];
			if (memcmp(p->span_id, c->parent_span_id, 8) == 0) {
				assert_string_equal(p->name.ptr, "recycled parent");
				assert_memory_equal(p->trace_id, c->trace_id, 16);
				parents++;
			}
		}
		assert_int_equal(parents, 1);
	}
	assert_int_equal(children, RECYCLE_ROUNDS * RECYCLE_PAIRS);
	assert_int_equal(long_names, RECYCLE_ROUNDS);
	pthread_mutex_unlock(&cap.mu);

	/* Ids nothing asked for while the span ran are made by the exporter thread: valid,
	 * distinct, roots without a parent; a context read while it ran is what is exported. */
	capture_init(&cap);
	enum { LONE = 64 };
	for (int i = 0; i < LONE; i++)
		sonde_span_end(sonde_span_start(t, "lone"));
	sonde_span *seen = sonde_span_start(t, "seen");
	sonde_span_context seen_ctx;
	sonde_span_context_get(seen, &seen_ctx);
	sonde_span_end(seen);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count, LONE + 1);
	static const uint8_t zero[16];
	for (size_t i = 0; i < cap.got->spans_count; i++) {
		const sonde_span_data *a = &cap.got->spans[i];
		assert_memory_not_equal(a->trace_id, zero, 16);
		assert_memory_not_equal(a->span_id, zero, 8);
		assert_memory_equal(a->parent_span_id, zero, 8);
		assert_int_equal(a->flags & 0xff, SONDE_TRACE_FLAG_SAMPLED | SONDE_TRACE_FLAG_RANDOM);
		for (size_t j = 0; j < i; j++) {
			assert_memory_not_equal(a->trace_id, cap.got->spans[j].trace_id, 16);
			assert_memory_not_equal(a->span_id, cap.got->spans[j].span_id, 8);
		}
	}
	const sonde_span_data *sd = find("seen");
	assert_non_null(sd);
	assert_memory_equal(sd->trace_id, seen_ctx.trace_id, 16);
	assert_memory_equal(sd->span_id, seen_ctx.span_id, 8);
	pthread_mutex_unlock(&cap.mu);
	stop();

	/* AlwaysOff roots get their ids lazily; a child on another thread (which cannot share
	 * the root) asks for them first. */
	sonde_trace_config off = {.sampler = sonde_sampler_always_off()};
	start(&off);
	t = sonde_tracer_get("recycling", NULL, NULL);
	lazy_root = sonde_span_start(t, "lazy root");
	assert_int_equal(pthread_create(&th, NULL, adopter, t), 0);
	pthread_join(th, NULL);
	sonde_span_context rc2;
	sonde_span_context_get(lazy_root, &rc2);
	assert_true(sonde_span_context_is_valid(&rc2));
	assert_true(sonde_span_context_is_valid(&lazy_child_ctx));
	assert_memory_equal(lazy_child_ctx.trace_id, rc2.trace_id, 16);
	assert_memory_not_equal(lazy_child_ctx.span_id, rc2.span_id, 8);
	assert_false(lazy_child_ctx.trace_flags & SONDE_TRACE_FLAG_SAMPLED);
	sonde_span_end(lazy_root);
	assert_null(sonde_span_current());
	stop();

	/* Without an invariant TSC, start and end are stamped by clock_gettime (forced here,
	 * before init as on such a machine, where the clock is calibrated first: ticks are
	 * then epoch nanoseconds, which sonde_clock_to_ns passes through). */
	bool tsc = sonde__clock_use_tsc;
	sonde__clock_use_tsc = false;
	start(NULL);
	t = sonde_tracer_get("recycling", NULL, NULL);
	uint64_t before = sonde_clock_realtime_ns();
	sonde_span *g = sonde_span_start(t, "gettime span");
	sonde_span_set_int(g, "n", 1);
	sonde_span_end(g);
	sonde_span_opts server = {.kind = SONDE_SPAN_KIND_SERVER}; /* the general start */
	sonde_span_end(sonde_span_start_ex(t, "gettime general", &server));
	uint64_t after = sonde_clock_realtime_ns();
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	sonde__clock_use_tsc = tsc;
	pthread_mutex_lock(&cap.mu);
	const sonde_span_data *gs = find("gettime span");
	assert_non_null(gs);
	assert_true(gs->start_ns >= before && gs->start_ns <= gs->end_ns && gs->end_ns <= after);
	gs = find("gettime general");
	assert_non_null(gs);
	assert_true(gs->start_ns >= before && gs->start_ns <= gs->end_ns && gs->end_ns <= after);
	pthread_mutex_unlock(&cap.mu);
	stop();

	/* An ordered clock (opt-in): spans are stamped on the general path, nest, and take at
	 * least the time slept inside them; an event's time lies within its span. */
	sonde_trace_config ordered = {.ordered_clock = true};
	start(&ordered);
	t = sonde_tracer_get("recycling", NULL, NULL);
	before = sonde_clock_realtime_ns();
	sonde_span *outer = sonde_span_start(t, "ordered outer");
	sonde_span *inner = sonde_span_start(t, "ordered inner");
	struct timespec ms = {0, 2000000};
	nanosleep(&ms, NULL);
	sonde_span_add_event(inner, "halfway", NULL, 0);
	sonde_span_end(inner);
	sonde_span_end(sonde_span_start_ex(t, "ordered general", &server));
	sonde_span_end(outer);
	after = sonde_clock_realtime_ns();
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	const sonde_span_data *os = find("ordered outer"), *is = find("ordered inner");
	assert_non_null(os);
	assert_non_null(is);
	assert_memory_equal(is->parent_span_id, os->span_id, 8);
	assert_true(os->start_ns >= before && os->end_ns <= after);
	assert_true(is->start_ns >= os->start_ns && is->end_ns <= os->end_ns);
	assert_true(is->end_ns - is->start_ns >= 2000000);
	assert_int_equal(is->events_count, 1);
	assert_true(is->events[0].time_ns >= is->start_ns && is->events[0].time_ns <= is->end_ns);
	gs = find("ordered general");
	assert_non_null(gs);
	assert_true(gs->start_ns >= is->end_ns && gs->end_ns <= os->end_ns);
	pthread_mutex_unlock(&cap.mu);
	stop();
}

/* Unsampled roots take the thread's root slot (no ordinary slot, no clock): their context
 * is still valid, stable while they run and new for each root; children share it;
 * it propagates (traceparent, an explicit-context child on another thread) unsampled; a
 * second root while one is open is a different span; a root ended on another thread is
 * handed back; nothing is counted or exported. Ratio rejects likewise, with the trace id
 * the sampler decided on. */
static sonde_span *foreign_root;
static sonde_span_context foreign_child_ctx;

static void *foreign_ender(void *arg)
{
	sonde_tracer *t = arg;
	sonde_span_context rc;
	sonde_span_context_get(foreign_root, &rc);
	sonde_span_opts o = {.parent = &rc};
	sonde_span *c = sonde_span_start_ex(t, "explicit child", &o);
	sonde_span_context_get(c, &foreign_child_ctx);
	sonde_span_end(c);
	sonde_span_end(foreign_root); /* not this thread's span */
	return NULL;
}

/* Slots freed dirty - by the exporter thread (recording spans with every kind of item,
 * chained slots, drops, a status) and by their owner (non-recording spans of the general
 * path that hold a trace state) - come back clean: the fast start writes only what
 * differs per span, so nothing of a slot's last use may show in its next span. */
enum { DIRTY = 40, DIRTY_OFF = 20, CLEAN_PAIRS = 120 };

static void *dirty_then_clean(void *arg)
{
	sonde_tracer *t = arg;
	char big[450]; /* with the name and the other attributes: two slots a span */
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	sonde_span_context link = {.trace_id = {1}, .span_id = {2}, .trace_flags = 1};
	sonde_attr ea = SONDE_ATTR_INT("e", 1);
	for (int i = 0; i < DIRTY; i++) {
		sonde_span_opts o = {.kind = SONDE_SPAN_KIND_SERVER};
		sonde_span *s = sonde_span_start_ex(t, "dirty", &o);
		sonde_span_set_str(s, "k0", big);
		for (int k = 1; k < 6; k++) { /* the limit is 4: 2 dropped */
			char key[8];
			snprintf(key, sizeof key, "k%d", k);
			sonde_span_set_str(s, key, "x");
		}
		sonde_span_add_event(s, "ev", &ea, 1);
		sonde_span_add_event(s, "ev2", NULL, 0);
		sonde_span_add_link(s, &link, &ea, 1);
		sonde_span_set_status(s, SONDE_STATUS_ERROR, "bad");
		sonde_span_end(s);
	}
	/* Non-recording (a remote unsampled parent) with a trace state, all open at once, then
	 * freed by their owner onto its free stack. */
	sonde_span_context remote = {.trace_id = {3}, .span_id = {4}, .is_remote = true};
	strcpy(remote.trace_state, "vendor=abc");
	remote.trace_state_len = (uint16_t)strlen(remote.trace_state);
	sonde_span *off[DIRTY_OFF];
	for (int i = 0; i < DIRTY_OFF; i++) {
		sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CLIENT, .parent = &remote};
		off[i] = sonde_span_start_ex(t, "unsampled", &o);
		if (sonde_span_is_recording(off[i]))
			return (void *)1;
	}
	for (int i = DIRTY_OFF; i-- > 0;)
		sonde_span_end(off[i]);
	if (sonde_trace_force_flush(10000) != 0)
		return (void *)2;
	capture_init(&cap);
	/* 240 slots of the thread's 256: past the never-used ones into those given back. */
	for (int i = 0; i < CLEAN_PAIRS; i++) {
		sonde_span *p = sonde_span_start(t, "clean root");
		sonde_span_end(sonde_span_start(t, "clean child"));
		sonde_span_end(p);
	}
	if (sonde_trace_force_flush(10000) != 0)
		return (void *)3;
	return NULL;
}

static void test_recycled_slots_start_clean(void **state)
{
	(void)state;
	/* 256 slots per new thread: the clean spans reuse the dirty ones' slots. */
	sonde_trace_config small = {.batch = {.max_queue_size = 256}, .limits = {.attribute_count = 4}};
	start(&small);
	sonde_tracer *t = sonde_tracer_get("clean", NULL, NULL);
	pthread_t th;
	void *rc = NULL;
	assert_int_equal(pthread_create(&th, NULL, dirty_then_clean, t), 0);
	pthread_join(th, &rc);
	assert_null(rc);
	pthread_mutex_lock(&cap.mu);
	assert_int_equal(cap.got->spans_count, 2 * CLEAN_PAIRS);
	static const uint8_t zero[8];
	for (size_t i = 0; i < cap.got->spans_count; i++) {
		const sonde_span_data *c = &cap.got->spans[i];
		bool root = strcmp(c->name.ptr, "clean root") == 0;
		assert_true(root || strcmp(c->name.ptr, "clean child") == 0);
		assert_int_equal(c->kind, SONDE_SPAN_KIND_INTERNAL);
		assert_int_equal(c->attrs.count, 0);
		assert_int_equal(c->dropped_attrs_count, 0);
		assert_int_equal(c->events_count, 0);
		assert_int_equal(c->dropped_events_count, 0);
		assert_int_equal(c->links_count, 0);
		assert_int_equal(c->dropped_links_count, 0);
		assert_int_equal(c->status_code, SONDE_STATUS_UNSET);
		assert_int_equal(c->status_message.len, 0);
		assert_int_equal(c->trace_state.len, 0);
		if (root)
			assert_memory_equal(c->parent_span_id, zero, 8);
		else
			assert_memory_not_equal(c->parent_span_id, zero, 8);
	}
	pthread_mutex_unlock(&cap.mu);
	stop();
}

/* An unsampled span shares itself with up to 65535 nested unsampled children on its
 * thread (its 16-bit nest count); deeper ones take slots of their own. All carry the
 * trace, and every end balances a start: the parent ends last, and the stack is empty
 * after. */
static void test_unsampled_nesting_past_the_share_bound(void **state)
{
	(void)state;
	sonde_trace_config off = {.sampler = sonde_sampler_always_off(), .batch = {.max_queue_size = 256}};
	start(&off);
	sonde_tracer *t = sonde_tracer_get("nest", NULL, NULL);
	enum { DEEP = UINT16_MAX + 100 };
	static sonde_span *spans[DEEP];
	sonde_span *root = sonde_span_start(t, "root");
	sonde_span_context rc, cc;
	sonde_span_context_get(root, &rc);
	for (int i = 0; i < DEEP; i++)
		spans[i] = sonde_span_start(t, "child");
	assert_ptr_equal(spans[0], root);              /* shared */
	assert_ptr_equal(spans[UINT16_MAX - 1], root); /* the last one shared */
	assert_ptr_not_equal(spans[UINT16_MAX], root); /* past the bound: a slot of its own */
	sonde_span_context_get(spans[DEEP - 1], &cc);
	assert_memory_equal(cc.trace_id, rc.trace_id, 16);
	assert_false(sonde_span_is_recording(spans[DEEP - 1]));
	for (int i = DEEP; i-- > 0;) {
		assert_ptr_equal(sonde_span_current(), i >= UINT16_MAX ? spans[i] : root);
		sonde_span_end(spans[i]);
	}
	assert_ptr_equal(sonde_span_current(), root);
	sonde_span_end(root);
	assert_null(sonde_span_current());
	stop();
}

static void test_unsampled_root_slot(void **state)
{
	(void)state;
	sonde_trace_config off = {
	        .sampler = sonde_sampler_parent_based(sonde_sampler_always_off(), NULL, NULL, NULL, NULL)};
	start(&off);
	sonde_tracer *t = sonde_tracer_get("root-slot", NULL, NULL);

	/* One root after another: each a new, valid, unsampled trace. */
	enum { ROOTS = 8 };
	sonde_span_context prev[ROOTS];
	for (int i = 0; i < ROOTS; i++) {
		sonde_span *r = sonde_span_start(t, "root");
		assert_false(sonde_span_is_recording(r));
		assert_ptr_equal(sonde_span_current(), r);
		sonde_span_context_get(r, &prev[i]);
		assert_true(sonde_span_context_is_valid(&prev[i]));
		assert_int_equal(prev[i].trace_flags, SONDE_TRACE_FLAG_RANDOM);
		sonde_span_context again;
		sonde_span_context_get(r, &again);
		assert_memory_equal(again.trace_id, prev[i].trace_id, 16);
		assert_memory_equal(again.span_id, prev[i].span_id, 8);
		for (int j = 0; j < i; j++)
			assert_memory_not_equal(prev[j].trace_id, prev[i].trace_id, 16);
		/* Children share it; attributes and events on it are ignored. */
		sonde_span *c = sonde_span_start(t, "child");
		sonde_span_set_int(c, "ignored", 1);
		sonde_span_add_event(r, "ignored", NULL, 0);
		sonde_span_context cc;
		sonde_span_context_get(c, &cc);
		assert_memory_equal(cc.trace_id, prev[i].trace_id, 16);
		sonde_span_end(c);
		assert_ptr_equal(sonde_span_current(), r);
		/* What crosses a process boundary: the root's ids, unsampled. */
		char tp[56];
		sonde_traceparent_format(&prev[i], tp);
		sonde_span_context parsed;
		assert_int_equal(sonde_traceparent_parse(tp, strlen(tp), &parsed), 0);
		assert_memory_equal(parsed.trace_id, prev[i].trace_id, 16);
		assert_memory_equal(parsed.span_id, prev[i].span_id, 8);
		assert_int_equal(parsed.trace_flags & SONDE_TRACE_FLAG_SAMPLED, 0);
		assert_int_equal(strncmp(tp + 53, "02", 2), 0); /* random, not sampled */
		sonde_span_end(r);
		assert_null(sonde_span_current());
	}

	/* A second root while the first is open (popped off the stack): a different span with
	 * its own trace; either may end first. */
	sonde_span *a = sonde_span_start(t, "first");
	sonde_span_pop();
	assert_null(sonde_span_current());
	sonde_span *b = sonde_span_start(t, "second");
	assert_ptr_not_equal(a, b);
	assert_false(sonde_span_is_recording(b));
	sonde_span_context ac, bc;
	sonde_span_context_get(a, &ac);
	sonde_span_context_get(b, &bc);
	assert_true(sonde_span_context_is_valid(&bc));
	assert_memory_not_equal(ac.trace_id, bc.trace_id, 16);
	sonde_span_end(a);
	assert_ptr_equal(sonde_span_current(), b);
	sonde_span_end(b);
	assert_null(sonde_span_current());

	/* Ended on another thread (after an explicit-context child there): handed back by the
	 * exporter thread, so a later root on this thread takes the same slot again. */
	foreign_root = sonde_span_start(t, "hops threads");
	sonde_span_context fc;
	sonde_span_context_get(foreign_root, &fc);
	sonde_span_pop();
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, foreign_ender, t), 0);
	pthread_join(th, NULL);
	assert_true(sonde_span_context_is_valid(&foreign_child_ctx));
	assert_memory_equal(foreign_child_ctx.trace_id, fc.trace_id, 16);
	assert_memory_not_equal(foreign_child_ctx.span_id, fc.span_id, 8);
	assert_int_equal(foreign_child_ctx.trace_flags & SONDE_TRACE_FLAG_SAMPLED, 0);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	sonde_span *again = sonde_span_start(t, "after the hop");
	assert_ptr_equal(again, foreign_root);
	sonde_span_context agc;
	sonde_span_context_get(again, &agc);
	assert_true(sonde_span_context_is_valid(&agc));
	assert_memory_not_equal(agc.trace_id, fc.trace_id, 16);
	sonde_span_end(again);
	assert_null(sonde_span_current());

	assert_int_equal(sonde_trace_force_flush(5000), 0);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	assert_int_equal(st.spans_started, 0);
	assert_int_equal(st.spans_dropped, 0);
	assert_int_equal(cap.got->spans_count, 0);
	stop();

	/* TraceIdRatioBased rejecting every root: each root keeps the trace id the sampler
	 * saw, made at start, and its child (which the same rule rejects) carries it. */
	sonde_trace_config none = {.sampler = sonde_sampler_trace_id_ratio(0.0)};
	start(&none);
	t = sonde_tracer_get("root-slot", NULL, NULL);
	sonde_span_context last = {0};
	for (int i = 0; i < ROOTS; i++) {
		sonde_span *r = sonde_span_start(t, "ratio root");
		assert_false(sonde_span_is_recording(r));
		sonde_span *c = sonde_span_start(t, "ratio child");
		assert_false(sonde_span_is_recording(c));
		sonde_span_context rc, cc;
		sonde_span_context_get(r, &rc);
		sonde_span_context_get(c, &cc);
		assert_true(sonde_span_context_is_valid(&rc));
		assert_memory_equal(cc.trace_id, rc.trace_id, 16);
		assert_memory_not_equal(rc.trace_id, last.trace_id, 16);
		assert_int_equal(rc.trace_flags & SONDE_TRACE_FLAG_SAMPLED, 0);
		last = rc;
		sonde_span_end(c);
		sonde_span_end(r);
		assert_null(sonde_span_current());
	}
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	sonde_tracer_stats_get(&st);
	assert_int_equal(st.spans_started, 0);
	assert_int_equal(cap.got->spans_count, 0);
	stop();
}

/* The setters' bound on string values: a value length limit cuts values at it (the fast
 * path writes only values within it); with no limit, values of every size up to several
 * slots are kept whole. A NULL key is ignored; a NULL value is the empty string. */
static void test_value_length_limit_and_null_args(void **state)
{
	(void)state;
	char v600[601];
	for (int i = 0; i < 600; i++)
		v600[i] = (char)('A' + i % 26);
	v600[600] = '\0';
	for (int limited = 0; limited < 2; limited++) {
		sonde_trace_config cfg = {.limits.attribute_value_length = limited ? 8 : 0};
		start(&cfg);
		sonde_tracer *t = sonde_tracer_get("values", NULL, NULL);
		sonde_span *s = sonde_span_start(t, "values");
		sonde_span_set_str(s, "exact", "12345678");
		sonde_span_set_str(s, "nine", "123456789");
		sonde_span_set_str(s, "v600", v600);
		const char *null_key = NULL, *null_value = NULL;
		sonde_span_set_str(s, null_key, "ignored");
		sonde_span_set_int(s, null_key, 1);
		sonde_span_set_str(s, "null", null_value);
		sonde_span_end(s);
		assert_int_equal(sonde_trace_force_flush(5000), 0);
		pthread_mutex_lock(&cap.mu);
		const sonde_span_data *d = find("values");
		assert_non_null(d);
		assert_int_equal(d->attrs.count, 4);
		assert_string_equal(attr(d, "exact")->u.str.ptr, "12345678");
		assert_string_equal(attr(d, "nine")->u.str.ptr, limited ? "12345678" : "123456789");
		assert_int_equal(attr(d, "v600")->u.str.len, limited ? 8 : 600);
		assert_memory_equal(attr(d, "v600")->u.str.ptr, v600, limited ? 8 : 600);
		assert_int_equal(attr(d, "null")->u.str.len, 0);
		pthread_mutex_unlock(&cap.mu);
		stop();
	}
}

/* An event whose attributes over the limit were reserved (chaining slots) but not
 * written: what is set afterwards, through the setters' fast path into the tail slot,
 * follows in the stream and is exported with everything before it. */
static void test_attributes_after_an_event_reservation(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.limits.event_attribute_count = 2};
	start(&cfg);
	sonde_tracer *t = sonde_tracer_get("reserve", NULL, NULL);
	sonde_span *s = sonde_span_start(t, "reserved");
	sonde_span_set_int(s, "before", 1);
	enum { EA = 40 };
	sonde_attr ea[EA];
	static const char val[] = "0123456789abcdefghijklmnopqrstuv";
	static char keys[EA][16];
	for (int i = 0; i < EA; i++) {
		snprintf(keys[i], sizeof keys[i], "event.attr.%d", i);
		ea[i] = SONDE_ATTR_STR(keys[i], val);
	}
	sonde_span_add_event(s, "big", ea, EA); /* about 2 KB reserved, 2 attributes kept */
	sonde_span_set_int(s, "after.int", 2);
	sonde_span_set_str(s, "after.str", "tail");
	sonde_span_set_bool(s, "after.bool", true);
	sonde_span_end(s);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	const sonde_span_data *d = find("reserved");
	assert_non_null(d);
	assert_int_equal(d->attrs.count, 4);
	assert_int_equal(attr(d, "before")->u.i, 1);
	assert_int_equal(attr(d, "after.int")->u.i, 2);
	assert_string_equal(attr(d, "after.str")->u.str.ptr, "tail");
	assert_true(attr(d, "after.bool")->u.b);
	assert_int_equal(d->events_count, 1);
	assert_string_equal(d->events[0].name.ptr, "big");
	assert_int_equal(d->events[0].attrs.count, 2);
	assert_int_equal(d->events[0].dropped_attrs_count, EA - 2);
	pthread_mutex_unlock(&cap.mu);
	stop();
}

/* Opt-in resource usage: CPU time and page faults spent inside the span. */
static void test_rusage(void **state)
{
	(void)state;
	start(NULL);
	sonde_tracer *t = sonde_tracer_get("rusage", NULL, NULL);
	sonde_span_opts o = {.flags = SONDE_SPAN_RUSAGE};
	sonde_span *s = sonde_span_start_ex(t, "busy", &o);
	sonde_span_set_str(s, "k", "v");
	static volatile uint64_t sink;
	for (uint64_t i = 0; i < 20000000; i++)
		sink = sink + i;
	char *touch = malloc(8 << 20);
	assert_non_null(touch);
	memset(touch, 1, 8 << 20);
	free(touch);
	sonde_span_end(s);
	sonde_span *plain = sonde_span_start(t, "plain");
	sonde_span_end(plain);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	const sonde_span_data *b = find("busy");
	assert_non_null(b);
	const sonde_value *cpu = attr(b, "thread.cpu_time_ns");
	const sonde_value *minflt = attr(b, "process.page_faults.minor");
	assert_non_null(cpu);
	assert_non_null(minflt);
	assert_non_null(attr(b, "process.page_faults.major"));
	assert_true(cpu->u.i > 1000000); /* 20M additions take well over a millisecond */
	assert_true(cpu->u.i <= (int64_t)(b->end_ns - b->start_ns) + 10000000);
	assert_true(minflt->u.i > 0);
	assert_non_null(attr(b, "k"));
	assert_null(attr(find("plain"), "thread.cpu_time_ns"));
	pthread_mutex_unlock(&cap.mu);
	stop();

	/* Process-wide: every span records it. */
	sonde_trace_config all = {.record_rusage = true};
	start(&all);
	t = sonde_tracer_get("rusage", NULL, NULL);
	plain = sonde_span_start(t, "everywhere");
	sonde_span_end(plain);
	assert_int_equal(sonde_trace_force_flush(5000), 0);
	pthread_mutex_lock(&cap.mu);
	assert_non_null(attr(find("everywhere"), "thread.cpu_time_ns"));
	pthread_mutex_unlock(&cap.mu);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_disabled_is_noop),
	        cmocka_unit_test(test_tree_attributes_events_links),
	        cmocka_unit_test(test_remote_parent_and_long_values),
	        cmocka_unit_test(test_min_duration_filter),
	        cmocka_unit_test(test_threads_and_detached),
	        cmocka_unit_test(test_samplers_in_the_runtime),
	        cmocka_unit_test(test_fast_start_slot_recycling_and_lazy_parent),
	        cmocka_unit_test(test_unsampled_root_slot),
	        cmocka_unit_test(test_recycled_slots_start_clean),
	        cmocka_unit_test(test_unsampled_nesting_past_the_share_bound),
	        cmocka_unit_test(test_value_length_limit_and_null_args),
	        cmocka_unit_test(test_attributes_after_an_event_reservation),
	        cmocka_unit_test(test_rusage),
	        cmocka_unit_test(test_stalled_exporter_drops_never_blocks),
	        cmocka_unit_test(test_fork_child_exports_its_own),
	        cmocka_unit_test(test_shutdown_with_hung_exporter_returns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
