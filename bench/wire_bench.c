/*
 * wire_bench.c - throughput of the OTLP protobuf and JSON readers and writers on a
 * realistic batch, and of jansson decoding the same OTLP JSON into the model.
 *
 * Usage: wire_bench [SPANS]  (default 200000; logs use as many records, metrics a tenth
 * as many metrics). Prints "name: X MB/s, Y unit/s" lines, each the median of 5 runs; MB
 * are 10^6 bytes of the encoded form. Every decoder's result is checked against the source
 * batch once, outside the timed runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "otlp_json.h"
#include "otlp_pb.h"
#include "telemetry.h"

#ifdef SONDE_HAVE_JANSSON
#include <jansson.h>
#endif

enum { RUNS = 5 };

/* ---- A realistic batch ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_id(uint8_t *id, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = rnd();
		memcpy(id + i, &r, n - i < 8 ? n - i : 8);
	}
}

static sonde_str str(sonde_batch *b, const char *s)
{
	return sonde_batch_intern(b, s, strlen(s));
}

static sonde_value sval(sonde_batch *b, const char *s)
{
	sonde_value v = {.kind = SONDE_VAL_STRING};
	size_t n = strlen(s);
	v.u.str = n <= 32 ? sonde_batch_intern(b, s, n) : sonde_batch_strdup(b, s, n);
	return v;
}

static sonde_value ival(int64_t i)
{
	sonde_value v = {.kind = SONDE_VAL_INT};
	v.u.i = i;
	return v;
}

static sonde_value dval(double d)
{
	sonde_value v = {.kind = SONDE_VAL_DOUBLE};
	v.u.d = d;
	return v;
}

static sonde_value bval(bool x)
{
	sonde_value v = {.kind = SONDE_VAL_BOOL};
	v.u.b = x;
	return v;
}

static void set_kv(sonde_batch *b, sonde_kv *kv, const char *key, sonde_value v)
{
	kv->key = str(b, key);
	kv->value = v;
}

static const char *const span_names[] = {
        "GET /api/v1/users/{id}", "POST /api/v1/orders",  "SELECT orders",       "redis GET", "GET /health",
        "PUT /api/v1/carts/{id}", "kafka.produce orders", "grpc.Checkout/Place",
};
static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
static const char *const hosts[] = {"api-1.prod.internal", "api-2.prod.internal", "db-7.prod.internal"};

static void make_groups(sonde_batch *b, sonde_resource **res, sonde_scope **sc)
{
	static const char *const svc[] = {"checkout", "inventory"};
	static const char *const libs[] = {"io.opentelemetry.http", "io.opentelemetry.jdbc",
	                                   "io.opentelemetry.kafka"};
	for (int r = 0; r < 2; r++) {
		res[r] = sonde_batch_new_resource(b);
		res[r]->attrs.count = 4;
		res[r]->attrs.items = sonde_batch_alloc(b, 4 * sizeof(sonde_kv));
		set_kv(b, &res[r]->attrs.items[0], "service.name", sval(b, svc[r]));
		set_kv(b, &res[r]->attrs.items[1], "service.version", sval(b, "2.14.1"));
		set_kv(b, &res[r]->attrs.items[2], "host.name", sval(b, hosts[r]));
		set_kv(b, &res[r]->attrs.items[3], "process.pid", ival(4242 + r));
		res[r]->schema_url = str(b, "https://opentelemetry.io/schemas/1.24.0");
		for (int s = 0; s < 3; s++) {
			sonde_scope *x = sc[r * 3 + s] = sonde_batch_new_scope(b);
			x->name = str(b, libs[s]);
			x->version = str(b, "1.32.0");
		}
	}
}

static sonde_batch *make_traces(size_t n)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc[6];
	make_groups(b, res, sc);
	uint64_t t0 = 1700000000000000000ull;
	uint8_t trace[16], parent[8];
	for (size_t i = 0; i < n; i++) {
		size_t g = i * 6 / n;
		sonde_span_data *s = sonde_batch_add_span(b, res[g / 3], sc[g]);
		if (i % 8 == 0) {
			rnd_id(trace, 16);
			memset(parent, 0, 8);
		}
		memcpy(s->trace_id, trace, 16);
		rnd_id(s->span_id, 8);
		memcpy(s->parent_span_id, parent, 8);
		memcpy(parent, s->span_id, 8);
		s->flags = 0x301;
		s->name = str(b, span_names[i % 8]);
		s->kind = (sonde_span_kind)(1 + i % 3);
		s->start_ns = t0 + i * 1000;
		s->end_ns = s->start_ns + 1000 + rnd() % 5000000;
		uint32_t na = 8 + (uint32_t)(i % 3);
		sonde_kv *kv = sonde_batch_alloc(b, na * sizeof(sonde_kv));
		char url[96];
		snprintf(url, sizeof(url), "https://api.example.com/api/v1/users/%llu?page=%u",
		         (unsigned long long)(rnd() % 1000000), (unsigned)(i % 50));
		set_kv(b, &kv[0], "http.request.method", sval(b, methods[i % 4]));
		set_kv(b, &kv[1], "url.full", sval(b, url));
		set_kv(b, &kv[2], "http.response.status_code", ival(i % 17 ? 200 : 503));
		set_kv(b, &kv[3], "server.address", sval(b, hosts[i % 3]));
		set_kv(b, &kv[4], "server.port", ival(8080));
		set_kv(b, &kv[5], "http.request.body.size", ival((int64_t)(rnd() % 100000)));
		set_kv(b, &kv[6], "sampling.ratio", dval(0.25));
		set_kv(b, &kv[7], "user_agent.original",
		       sval(b, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"));
		if (na > 8)
			set_kv(b, &kv[8], "cache.hit", bval(i % 2));
		if (na > 9)
			set_kv(b, &kv[9], "db.rows_returned", ival((int64_t)(rnd() % 1000)));
		s->attrs.items = kv;
		s->attrs.count = na;
		s->events_count = 1;
		s->events = sonde_batch_alloc(b, sizeof(sonde_span_event));
		s->events[0].time_ns = s->start_ns + 500;
		s->events[0].name = str(b, i % 17 ? "cache.lookup" : "exception");
		s->events[0].attrs.count = 2;
		s->events[0].attrs.items = sonde_batch_alloc(b, 2 * sizeof(sonde_kv));
		set_kv(b, &s->events[0].attrs.items[0], "cache.key", sval(b, "user:profile"));
		set_kv(b, &s->events[0].attrs.items[1], "cache.size", ival(128));
		if (i % 17 == 0) {
			s->status_code = SONDE_STATUS_ERROR;
			s->status_message = str(b, "upstream unavailable");
		}
	}
	return b;
}

static sonde_batch *make_logs(size_t n)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc[6];
	make_groups(b, res, sc);
	for (size_t i = 0; i < n; i++) {
		size_t g = i * 6 / n;
		sonde_log_data *l = sonde_batch_add_log(b, res[g / 3], sc[g]);
		l->time_ns = 1700000000000000000ull + i * 1000;
		l->observed_time_ns = l->time_ns + 17;
		l->severity_number = i % 10 ? 9 : 17;
		l->severity_text = str(b, i % 10 ? "INFO" : "ERROR");
		char msg[128];
		snprintf(msg, sizeof(msg), "request %llu served in %u ms for user %u from %s",
		         (unsigned long long)rnd(), (unsigned)(i % 997), (unsigned)(i % 5000), hosts[i % 3]);
		l->body.kind = SONDE_VAL_STRING;
		l->body.u.str = sonde_batch_strdup(b, msg, strlen(msg));
		l->attrs.count = 4;
		l->attrs.items = sonde_batch_alloc(b, 4 * sizeof(sonde_kv));
		set_kv(b, &l->attrs.items[0], "code.function", sval(b, "handleRequest"));
		set_kv(b, &l->attrs.items[1], "thread.id", ival((int64_t)(i % 64)));
		set_kv(b, &l->attrs.items[2], "http.route", sval(b, "/api/v1/users/{id}"));
		set_kv(b, &l->attrs.items[3], "duration_ms", dval((double)(i % 997) / 3.0));
		rnd_id(l->trace_id, 16);
		rnd_id(l->span_id, 8);
		l->flags = 1;
	}
	return b;
}

static sonde_attrs point_attrs(sonde_batch *b, size_t i)
{
	sonde_attrs a = {sonde_batch_alloc(b, 3 * sizeof(sonde_kv)), 3};
	set_kv(b, &a.items[0], "http.request.method", sval(b, methods[i % 4]));
	set_kv(b, &a.items[1], "http.response.status_code", ival(200 + (int64_t)(i % 3)));
	set_kv(b, &a.items[2], "server.address", sval(b, hosts[i % 3]));
	return a;
}

/* n metrics, a third each gauge (double), sum (int) and histogram, 4 points each. */
static sonde_batch *make_metrics(size_t n, size_t *points)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc[6];
	make_groups(b, res, sc);
	static const double bounds[] = {0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000};
	*points = 0;
	for (size_t i = 0; i < n; i++) {
		size_t g = i * 6 / n;
		sonde_metric_data *m = sonde_batch_add_metric(b, res[g / 3], sc[g]);
		char name[64];
		snprintf(name, sizeof(name), "app.metric.%zu", i % 500);
		m->name = str(b, name);
		m->description = str(b, "a metric of the application");
		m->unit = str(b, i % 3 == 2 ? "ms" : "{request}");
		m->type = i % 3 == 0   ? SONDE_METRIC_GAUGE
		          : i % 3 == 1 ? SONDE_METRIC_SUM
		                       : SONDE_METRIC_HISTOGRAM;
		if (m->type != SONDE_METRIC_GAUGE)
			m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
		m->is_monotonic = m->type == SONDE_METRIC_SUM;
		m->points_count = 4;
		m->points = sonde_batch_alloc(b, 4 * sizeof(sonde_point));
		for (size_t k = 0; k < 4; k++) {
			sonde_point *p = &m->points[k];
			p->attrs = point_attrs(b, i + k);
			p->start_time_ns = 1700000000000000000ull;
			p->time_ns = 1700000060000000000ull + i;
			if (m->type == SONDE_METRIC_GAUGE) {
				p->u.number.kind = SONDE_NUM_DOUBLE;
				p->u.number.v.d = (double)(rnd() % 100000) / 7.0;
			} else if (m->type == SONDE_METRIC_SUM) {
				p->u.number.kind = SONDE_NUM_INT;
				p->u.number.v.i = (int64_t)(rnd() % 10000000);
			} else {
				p->u.hist.count = 0;
				p->u.hist.bucket_counts_count = 12;
				p->u.hist.bucket_counts = sonde_batch_alloc(b, 12 * sizeof(uint64_t));
				for (int j = 0; j < 12; j++) {
					p->u.hist.bucket_counts[j] = rnd() % 1000;
					p->u.hist.count += p->u.hist.bucket_counts[j];
				}
				p->u.hist.bounds_count = 11;
				p->u.hist.bounds = (double *)bounds;
				p->u.hist.has_sum = p->u.hist.has_min = p->u.hist.has_max = true;
				p->u.hist.sum = (double)p->u.hist.count * 42.5;
				p->u.hist.min = 0.5;
				p->u.hist.max = 980.25;
			}
		}
		*points += 4;
	}
	return b;
}

/* ---- jansson: OTLP JSON -> model by walking a json_t tree ------------------------------ */

#ifdef SONDE_HAVE_JANSSON
static int jv_attrs(sonde_batch *b, json_t *arr, sonde_attrs *out, int depth);

static uint64_t ju64(json_t *v)
{
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static sonde_str jstr(sonde_batch *b, json_t *v, bool intern)
{
	if (!json_is_string(v))
		return (sonde_str){"", 0};
	size_t n = json_string_length(v);
	if (!n)
		return (sonde_str){"", 0};
	return intern || n <= 32 ? sonde_batch_intern(b, json_string_value(v), n)
	                         : sonde_batch_strdup(b, json_string_value(v), n);
}

static int jv_value(sonde_batch *b, json_t *v, sonde_value *out, int depth)
{
	json_t *x;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(v) || depth > 64)
		return depth > 64 ? -1 : 0;
	if ((x = json_object_get(v, "stringValue"))) {
		out->kind = SONDE_VAL_STRING;
		out->u.str = jstr(b, x, false);
	} else if ((x = json_object_get(v, "intValue"))) {
		out->kind = SONDE_VAL_INT;
		out->u.i = (int64_t)ju64(x);
	} else if ((x = json_object_get(v, "doubleValue"))) {
		out->kind = SONDE_VAL_DOUBLE;
		out->u.d = json_number_value(x);
	} else if ((x = json_object_get(v, "boolValue"))) {
		out->kind = SONDE_VAL_BOOL;
		out->u.b = json_is_true(x);
	} else if ((x = json_object_get(v, "arrayValue"))) {
		json_t *vals = json_object_get(x, "values");
		size_t n = json_array_size(vals);
		out->kind = SONDE_VAL_ARRAY;
		out->u.array.items = n ? sonde_batch_alloc(b, n * sizeof(sonde_value)) : NULL;
		out->u.array.count = (uint32_t)n;
		for (size_t i = 0; i < n; i++)
			if (jv_value(b, json_array_get(vals, i), &out->u.array.items[i], depth + 1) < 0)
				return -1;
	} else if ((x = json_object_get(v, "kvlistValue"))) {
		out->kind = SONDE_VAL_KVLIST;
		return jv_attrs(b, json_object_get(x, "values"), &out->u.kvlist, depth + 1);
	}
	return 0;
}

static int jv_attrs(sonde_batch *b, json_t *arr, sonde_attrs *out, int depth)
{
	size_t n = json_array_size(arr);
	out->items = n ? sonde_batch_alloc(b, n * sizeof(sonde_kv)) : NULL;
	out->count = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		json_t *kv = json_array_get(arr, i);
		out->items[i].key = jstr(b, json_object_get(kv, "key"), true);
		if (jv_value(b, json_object_get(kv, "value"), &out->items[i].value, depth) < 0)
			return -1;
	}
	return 0;
}

static void jv_id(json_t *v, uint8_t *id, size_t n)
{
	if (json_is_string(v))
		sonde_hex_decode(id, n, json_string_value(v), json_string_length(v));
}

static int jansson_decode_traces(sonde_batch *b, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, 0, &jerr);
	if (!root)
		return -1;
	json_t *rss = json_object_get(root, "resourceSpans");
	for (size_t r = 0; r < json_array_size(rss); r++) {
		json_t *rs = json_array_get(rss, r);
		sonde_resource *res = sonde_batch_new_resource(b);
		json_t *jres = json_object_get(rs, "resource");
		jv_attrs(b, json_object_get(jres, "attributes"), &res->attrs, 1);
		res->dropped_attrs_count = (uint32_t)ju64(json_object_get(jres, "droppedAttributesCount"));
		res->schema_url = jstr(b, json_object_get(rs, "schemaUrl"), true);
		json_t *sss = json_object_get(rs, "scopeSpans");
		for (size_t s = 0; s < json_array_size(sss); s++) {
			json_t *ss = json_array_get(sss, s);
			sonde_scope *sc = sonde_batch_new_scope(b);
			json_t *jsc = json_object_get(ss, "scope");
			sc->name = jstr(b, json_object_get(jsc, "name"), true);
			sc->version = jstr(b, json_object_get(jsc, "version"), true);
			jv_attrs(b, json_object_get(jsc, "attributes"), &sc->attrs, 1);
			sc->schema_url = jstr(b, json_object_get(ss, "schemaUrl"), true);
			json_t *spans = json_object_get(ss, "spans");
			for (size_t k = 0; k < json_array_size(spans); k++) {
				json_t *js = json_array_get(spans, k);
				sonde_span_data *sp = sonde_batch_add_span(b, res, sc);
				jv_id(json_object_get(js, "traceId"), sp->trace_id, 16);
				jv_id(json_object_get(js, "spanId"), sp->span_id, 8);
				jv_id(json_object_get(js, "parentSpanId"), sp->parent_span_id, 8);
				sp->trace_state = jstr(b, json_object_get(js, "traceState"), true);
				sp->flags = (uint32_t)ju64(json_object_get(js, "flags"));
				sp->name = jstr(b, json_object_get(js, "name"), true);
				sp->kind = (sonde_span_kind)ju64(json_object_get(js, "kind"));
				sp->start_ns = ju64(json_object_get(js, "startTimeUnixNano"));
				sp->end_ns = ju64(json_object_get(js, "endTimeUnixNano"));
				if (jv_attrs(b, json_object_get(js, "attributes"), &sp->attrs, 1) < 0)
					goto fail;
				sp->dropped_attrs_count =
				        (uint32_t)ju64(json_object_get(js, "droppedAttributesCount"));
				json_t *evs = json_object_get(js, "events");
				size_t ne = json_array_size(evs);
				sp->events = ne ? sonde_batch_alloc(b, ne * sizeof(sonde_span_event)) : NULL;
				sp->events_count = (uint32_t)ne;
				for (size_t e = 0; e < ne; e++) {
					json_t *je = json_array_get(evs, e);
					sp->events[e].time_ns = ju64(json_object_get(je, "timeUnixNano"));
					sp->events[e].name = jstr(b, json_object_get(je, "name"), true);
					jv_attrs(b, json_object_get(je, "attributes"), &sp->events[e].attrs,
					         1);
				}
				json_t *st = json_object_get(js, "status");
				sp->status_code = (sonde_status_code)ju64(json_object_get(st, "code"));
				sp->status_message = jstr(b, json_object_get(st, "message"), false);
			}
		}
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	return -1;
}
#endif

/* ---- Timing ------------------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *t)
{
	qsort(t, RUNS, sizeof(double), cmp_dbl);
	return t[RUNS / 2];
}

static void report(const char *name, double secs, size_t bytes, size_t items, const char *unit)
{
	printf("%s: %.1f MB/s, %.0f %s/s\n", name, (double)bytes / secs / 1e6, (double)items / secs, unit);
	fflush(stdout);
}

static void check(const sonde_batch *want, const sonde_batch *got, const char *what)
{
	char why[256];
	if (!sonde_batch_equal(want, got, why, sizeof(why))) {
		fprintf(stderr, "wire_bench: %s decoded a different batch: %s\n", what, why);
		exit(1);
	}
}

typedef int (*decode_fn)(sonde_batch *b, sonde_signal sig, const char *buf, size_t len);

static int dec_pb(sonde_batch *b, sonde_signal sig, const char *buf, size_t len)
{
	return sonde_otlp_pb_read(b, sig, buf, len, NULL);
}

static int dec_json(sonde_batch *b, sonde_signal sig, const char *buf, size_t len)
{
	(void)sig;
	return sonde_otlp_json_read(b, buf, len, NULL);
}

#ifdef SONDE_HAVE_JANSSON
static int dec_jansson(sonde_batch *b, sonde_signal sig, const char *buf, size_t len)
{
	(void)sig;
	return jansson_decode_traces(b, buf, len);
}
#endif

static int enc_pb(const sonde_batch *b, sonde_signal sig, sonde_buf *out)
{
	return sonde_otlp_pb_write(b, sig, out);
}

static int enc_json(const sonde_batch *b, sonde_signal sig, sonde_buf *out)
{
	return sonde_otlp_json_write(b, sig, out, 0);
}

/* Times RUNS encodings of src into out (which keeps the last one). */
static double time_encode(const sonde_batch *src, sonde_signal sig,
                          int (*enc)(const sonde_batch *, sonde_signal, sonde_buf *), sonde_buf *out)
{
	double t[RUNS];
	for (int i = 0; i < RUNS; i++) {
		sonde_buf_reset(out);
		double t0 = now();
		int rc = enc(src, sig, out);
		t[i] = now() - t0;
		if (rc) {
			fprintf(stderr, "wire_bench: encoding failed: %d\n", rc);
			exit(1);
		}
	}
	return median(t);
}

/* Times RUNS decodings into one batch cleared between runs, as ingest and exporters reuse
 * theirs (the first run pays for fresh pages; the median is the steady state); checks the
 * first result against src. */
static double time_decode(const sonde_batch *src, sonde_signal sig, decode_fn dec, const sonde_buf *in,
                          const char *what)
{
	double t[RUNS];
	sonde_batch *b = sonde_batch_new();
	for (int i = 0; i < RUNS; i++) {
		sonde_batch_clear(b);
		double t0 = now();
		int rc = dec(b, sig, in->data, in->len);
		t[i] = now() - t0;
		if (rc) {
			fprintf(stderr, "wire_bench: %s failed: %d\n", what, rc);
			exit(1);
		}
		if (i == 0)
			check(src, b, what);
	}
	sonde_batch_free(b);
	return median(t);
}

static void bench_signal(const sonde_batch *src, sonde_signal sig, const char *suffix, size_t items,
                         const char *unit)
{
	sonde_buf pb = SONDE_BUF_INIT, js = SONDE_BUF_INIT;
	char name[64];
	double t;

	t = time_encode(src, sig, enc_pb, &pb);
	snprintf(name, sizeof(name), "otlp_pb_encode%s", suffix);
	report(name, t, pb.len, items, unit);
	snprintf(name, sizeof(name), "otlp_pb_decode%s", suffix);
	t = time_decode(src, sig, dec_pb, &pb, name);
	report(name, t, pb.len, items, unit);

	t = time_encode(src, sig, enc_json, &js);
	snprintf(name, sizeof(name), "otlp_json_encode%s", suffix);
	report(name, t, js.len, items, unit);
	snprintf(name, sizeof(name), "otlp_json_decode%s", suffix);
	t = time_decode(src, sig, dec_json, &js, name);
	report(name, t, js.len, items, unit);

#ifdef SONDE_HAVE_JANSSON
	if (sig == SONDE_SIGNAL_TRACES) {
		t = time_decode(src, sig, dec_jansson, &js, "jansson_decode");
		report("jansson_decode", t, js.len, items, unit);
	}
#endif
	printf("otlp_pb_size%s: %zu bytes (%.1f per %s)\n", suffix, pb.len, (double)pb.len / (double)items,
	       unit);
	printf("otlp_json_size%s: %zu bytes (%.1f per %s)\n", suffix, js.len, (double)js.len / (double)items,
	       unit);
	sonde_buf_release(&pb);
	sonde_buf_release(&js);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
	if (n < 6)
		n = 6;

	sonde_batch *traces = make_traces(n);
	bench_signal(traces, SONDE_SIGNAL_TRACES, "", n, "spans");
	sonde_batch_free(traces);

	size_t points;
	sonde_batch *metrics = make_metrics(n / 10, &points);
	bench_signal(metrics, SONDE_SIGNAL_METRICS, "_metrics", points, "points");
	sonde_batch_free(metrics);

	sonde_batch *logs = make_logs(n);
	bench_signal(logs, SONDE_SIGNAL_LOGS, "_logs", n, "records");
	sonde_batch_free(logs);
	return 0;
}
