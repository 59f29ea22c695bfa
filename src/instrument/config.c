/*
 * config.c - the configuration file (config.h): the YAML tree of config_yaml.c checked
 * against the parts of the OpenTelemetry declarative configuration schema libsonde
 * implements, into a plain description (struct sonde_config); then, at start, that
 * description merged under the programmatic settings and the environment and turned into
 * exporters, a sampler, views and a sonde_trace_init call.
 *
 * One exporter list serves every signal in libsonde's runtime, so each exporter the file
 * declares is wrapped in a filter that passes on only the signals of the provider that
 * declared it (a tracer_provider exporter sees spans, a meter_provider reader's exporter
 * metrics, a logger_provider processor's exporter log records).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "env_internal.h"
#include "exporter_internal.h"
#include "host_metrics_internal.h"
#include "sonde/config.h"
#include "sonde/export.h"
#include "sonde/log.h"
#include "sonde/metrics.h"
#include "sonde/profile.h"
#include "sonde/runtime_metrics.h"
#include "sonde/trace.h"

enum { SIG_SPANS = 1, SIG_METRICS = 2, SIG_LOGS = 4 };
enum { MAX_EXPORTERS = 8, MAX_VIEWS = 64, MAX_RES = 64 };

typedef enum ex_kind { EX_OTLP_HTTP, EX_CONSOLE, EX_ZIPKIN, EX_FILE, EX_INFLUX, EX_LOG_JSON } ex_kind;

typedef struct ex_spec {
	ex_kind kind;
	unsigned signals;
	uint32_t line;
	char *endpoint;
	int protocol;  /* -1 unset, else sonde_otlp_protocol */
	char *headers; /* "k=v,..." percent-encoded */
	uint32_t timeout_ms;
	int gzip; /* -1 unset */
	char *path;
	int fd;
	char *org, *bucket, *db, *token;
} ex_spec;

typedef enum samp_kind { S_ON, S_OFF, S_RATIO, S_PARENT, S_PROB, S_RATE } samp_kind;
typedef struct samp_spec samp_spec;
struct samp_spec {
	samp_kind kind;
	double arg;
	samp_spec *root, *rs, *rns, *ls, *lns;
};

typedef struct view_spec {
	char *meter, *instrument; /* NULL: any; "*" also any */
	double *bounds;
	size_t n;
} view_spec;

struct sonde_config {
	sonde_arena arena;
	char *name;
	unsigned warnings;
	bool disabled;
	char *service_name, *service_version;
	struct {
		char *key, *value;
	} res[MAX_RES];
	size_t nres;
	char *res_list; /* attributes_list, as written */
	bool has_tracer;
	samp_spec *sampler;
	sonde_span_limits limits;
	sonde_batch_config batch;
	ex_spec ex[MAX_EXPORTERS];
	size_t nex;
	bool has_meter, periodic;
	uint32_t metrics_interval_ms;
	bool prom;
	char prom_addr[80];
	view_spec views[MAX_VIEWS];
	size_t nviews;
	bool has_logger;
	sonde_log_config logs;
	bool redact_set;
	uint32_t profile_sample;
	int runtime, host; /* -1 unset */
	uint64_t min_duration_ns;
	bool record_rusage;
	bool ordered_clock;
	bool env_only; /* no file: the environment and the defaults (sonde__config_init_from_env) */
};

/* ---- Walking the tree ----------------------------------------------------------------- */

typedef struct ctx {
	sonde_config *c;
	char *err;
	size_t err_len;
	int rc;
} ctx;

typedef struct sonde__cnode node;

static int bad(ctx *x, const node *n, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int bad(ctx *x, const node *n, const char *path, const char *fmt, ...)
{
	if (x->rc < 0)
		return x->rc;
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(x->err, x->err_len, "%s:%u: %s: %s", x->c->name, n ? n->line : 1, path, what);
	x->rc = -EINVAL;
	return x->rc;
}

static void unknown(ctx *x, const node *key, const char *path)
{
	x->c->warnings++;
	sonde__diag("%s:%u: %s%s%s: unknown key, ignored", x->c->name, key->line, path, *path ? "." : "",
	            key->text);
}

static void join(char *out, size_t cap, const char *path, const char *key)
{
	snprintf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

/* A map (null counts as empty); else an error. */
static bool want_map(ctx *x, const node *n, const char *path)
{
	if (n->kind == SONDE__CN_MAP || n->kind == SONDE__CN_NULL)
		return true;
	bad(x, n, path, "expected a mapping of keys");
	return false;
}

static bool want_seq(ctx *x, const node *n, const char *path)
{
	if (n->kind == SONDE__CN_SEQ || n->kind == SONDE__CN_NULL)
		return true;
	bad(x, n, path, "expected a list");
	return false;
}

static char *get_str(ctx *x, const node *n, const char *path)
{
	if (n->kind == SONDE__CN_NULL)
		return NULL;
	if (n->kind != SONDE__CN_SCALAR) {
		bad(x, n, path, "expected a string");
		return NULL;
	}
	char *s = sonde_arena_strndup(&x->c->arena, n->text, n->len);
	if (!s)
		x->rc = -ENOMEM;
	return s;
}

static bool get_bool(ctx *x, const node *n, const char *path, bool *out)
{
	if (n->kind == SONDE__CN_NULL)
		return false;
	if (n->kind == SONDE__CN_SCALAR && strcmp(n->text, "true") == 0)
		*out = true;
	else if (n->kind == SONDE__CN_SCALAR && strcmp(n->text, "false") == 0)
		*out = false;
	else
		return bad(x, n, path, "expected true or false"), false;
	return true;
}

static bool get_double(ctx *x, const node *n, const char *path, double *out)
{
	if (n->kind == SONDE__CN_NULL)
		return false;
	char *end = NULL;
	double v = n->kind == SONDE__CN_SCALAR && n->len ? strtod(n->text, &end) : NAN;
	if (!end || *end || !isfinite(v))
		return bad(x, n, path, "expected a number, not \"%.40s\"",
		           n->kind == SONDE__CN_SCALAR ? n->text : "..."),
		       false;
	*out = v;
	return true;
}

static bool get_u32(ctx *x, const node *n, const char *path, uint32_t *out)
{
	if (n->kind == SONDE__CN_NULL)
		return false;
	uint32_t v;
	if (n->kind != SONDE__CN_SCALAR || sonde__parse_ms(n->text, &v) < 0)
		return bad(x, n, path, "expected a whole number from 0 to 4294967295"), false;
	*out = v;
	return true;
}

#define KEY(k)      (strcmp(key->text, (k)) == 0)
#define KEYK(kn, k) (strcmp((kn)->text, (k)) == 0)
#define FOR_PAIRS_AS(m_, K, V)                                                                          \
	for (uint32_t K##_i = 0; (m_)->kind == SONDE__CN_MAP && K##_i < (m_)->n && x->rc == 0; K##_i++) \
		for (const node *K = (m_)->keys[K##_i], *V = (m_)->vals[K##_i]; K; K = NULL, (void)V)
#define FOR_PAIRS(m_) FOR_PAIRS_AS(m_, key, val)

/* Appends "k=v" percent-encoded to a list being built in buf. */
static void list_add(char *buf, size_t cap, size_t *len, const char *k, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	if (*len && *len + 1 < cap)
		buf[(*len)++] = ',';
	for (int part = 0; part < 2; part++) {
		for (const unsigned char *p = (const unsigned char *)(part ? v : k); *p; p++) {
			if (*len + 4 >= cap)
				return;
			if (*p == ',' || *p == '=' || *p == '%' || *p < 0x20 || *p == ' ') {
				buf[(*len)++] = '%';
				buf[(*len)++] = hex[*p >> 4];
				buf[(*len)++] = hex[*p & 15];
			} else {
				buf[(*len)++] = (char)*p;
			}
		}
		if (!part && *len + 1 < cap)
			buf[(*len)++] = '=';
	}
	buf[*len] = '\0';
}

/* ---- Sections --------------------------------------------------------------------------- */

/* headers: [{name, value}] into a percent-encoded list. */
static char *parse_headers(ctx *x, const node *n, const char *path, char *list_in)
{
	char buf[4096];
	size_t len = 0;
	buf[0] = '\0';
	if (list_in) {
		snprintf(buf, sizeof buf, "%s", list_in);
		len = strlen(buf);
	}
	if (!want_seq(x, n, path))
		return NULL;
	for (uint32_t i = 0; n->kind == SONDE__CN_SEQ && i < n->n && x->rc == 0; i++) {
		char p[460];
		snprintf(p, sizeof p, "%s[%u]", path, i);
		const node *h = n->vals[i];
		if (!want_map(x, h, p))
			return NULL;
		char *name = NULL, *value = NULL;
		FOR_PAIRS(h)
		{
			char q[520];
			join(q, sizeof q, p, key->text);
			if (KEY("name"))
				name = get_str(x, val, q);
			else if (KEY("value"))
				value = get_str(x, val, q);
			else
				unknown(x, key, p);
		}
		if (x->rc == 0 && !name)
			return bad(x, h, p, "a header needs a name"), NULL;
		if (x->rc == 0)
			list_add(buf, sizeof buf, &len, name, value ? value : "");
	}
	return len ? sonde_arena_strndup(&x->c->arena, buf, len) : NULL;
}

static void parse_exporter(ctx *x, const node *n, const char *path, unsigned signals)
{
	if (!want_map(x, n, path))
		return;
	if (n->kind != SONDE__CN_MAP || n->n != 1) {
		bad(x, n, path,
		    "expected exactly one exporter (otlp_http, console, zipkin, otlp_file, influx)");
		return;
	}
	const node *kind = n->keys[0], *body = n->vals[0];
	char p[300];
	join(p, sizeof p, path, kind->text);
	if (x->c->nex == MAX_EXPORTERS) {
		bad(x, kind, p, "more than %d exporters", MAX_EXPORTERS);
		return;
	}
	ex_spec e = {.signals = signals, .line = kind->line, .protocol = -1, .gzip = -1, .fd = -1};
	const char *k = kind->text;
	bool otlp_03 = strcmp(k, "otlp") == 0; /* file_format 0.x: otlp with protocol */
	if (strcmp(k, "otlp_http") == 0 || otlp_03)
		e.kind = EX_OTLP_HTTP;
	else if (strcmp(k, "console") == 0)
		e.kind = EX_CONSOLE, e.fd = 1;
	else if (strcmp(k, "zipkin") == 0)
		e.kind = EX_ZIPKIN;
	else if (strcmp(k, "otlp_file") == 0 || strcmp(k, "otlp_file/development") == 0)
		e.kind = EX_FILE;
	else if (strcmp(k, "influx") == 0)
		e.kind = EX_INFLUX;
	else if (strcmp(k, "otlp_grpc") == 0) {
		bad(x, kind, p, "OTLP over gRPC is not supported by libsonde; use otlp_http");
		return;
	} else {
		bad(x, kind, p,
		    "unknown exporter '%.64s' (expected otlp_http, console, zipkin, otlp_file or influx)", k);
		return;
	}
	if (!want_map(x, body, p))
		return;
	char *headers_list = NULL;
	const node *headers = NULL;
	FOR_PAIRS(body)
	{
		char q[400];
		join(q, sizeof q, p, key->text);
		if (KEY("endpoint") && e.kind != EX_CONSOLE && e.kind != EX_FILE) {
			e.endpoint = get_str(x, val, q);
		} else if (KEY("timeout") &&
		           (e.kind == EX_OTLP_HTTP || e.kind == EX_ZIPKIN || e.kind == EX_INFLUX)) {
			get_u32(x, val, q, &e.timeout_ms);
		} else if (e.kind == EX_OTLP_HTTP && KEY("headers")) {
			headers = val;
		} else if (e.kind == EX_OTLP_HTTP && KEY("headers_list")) {
			headers_list = get_str(x, val, q);
		} else if (e.kind == EX_OTLP_HTTP && KEY("compression")) {
			char *c = get_str(x, val, q);
			if (c && strcmp(c, "gzip") == 0)
				e.gzip = 1;
			else if (c && strcmp(c, "none") == 0)
				e.gzip = 0;
			else if (c)
				bad(x, val, q, "unknown compression '%.32s' (expected gzip or none)", c);
		} else if (e.kind == EX_OTLP_HTTP && (KEY("encoding") || (otlp_03 && KEY("protocol")))) {
			char *c = get_str(x, val, q);
			if (c && (strcmp(c, "protobuf") == 0 || strcmp(c, "http/protobuf") == 0))
				e.protocol = SONDE_OTLP_HTTP_PROTOBUF;
			else if (c && (strcmp(c, "json") == 0 || strcmp(c, "http/json") == 0))
				e.protocol = SONDE_OTLP_HTTP_JSON;
			else if (c)
				bad(x, val, q, "unsupported '%.32s' (expected protobuf or json)", c);
		} else if (e.kind == EX_OTLP_HTTP &&
		           (KEY("tls") || KEY("certificate") || KEY("client_key") ||
		            KEY("client_certificate") || KEY("insecure") || KEY("temporality_preference") ||
		            KEY("default_histogram_aggregation"))) {
			/* Accepted: TLS follows libcurl's defaults; metrics are cumulative. */
			x->c->warnings++;
			sonde__diag("%s:%u: %s: not supported by libsonde, ignored", x->c->name, key->line,
			            q);
		} else if (e.kind == EX_FILE && KEY("output_stream")) {
			char *s = get_str(x, val, q);
			if (s && strcmp(s, "stdout") == 0)
				e.fd = 1;
			else if (s && strncmp(s, "file://", 7) == 0 && s[7])
				e.path = s + 7;
			else if (s)
				bad(x, val, q, "expected stdout or file:///path");
		} else if (e.kind == EX_INFLUX && KEY("path")) {
			e.path = get_str(x, val, q);
		} else if (e.kind == EX_INFLUX && KEY("org")) {
			e.org = get_str(x, val, q);
		} else if (e.kind == EX_INFLUX && KEY("bucket")) {
			e.bucket = get_str(x, val, q);
		} else if (e.kind == EX_INFLUX && KEY("db")) {
			e.db = get_str(x, val, q);
		} else if (e.kind == EX_INFLUX && KEY("token")) {
			e.token = get_str(x, val, q);
		} else {
			unknown(x, key, p);
		}
	}
	if (headers && x->rc == 0) {
		char q[400];
		join(q, sizeof q, p, "headers");
		headers_list = parse_headers(x, headers, q, headers_list);
	}
	e.headers = headers_list;
	if (x->rc < 0)
		return;
	if (e.kind == EX_FILE && !e.path && e.fd < 0)
		e.fd = 1;
	if (e.kind == EX_INFLUX && !e.path == !e.endpoint) {
		bad(x, kind, p, "give either path or endpoint");
		return;
	}
	if (e.kind == EX_INFLUX && !(signals & SIG_METRICS)) {
		bad(x, kind, p, "the influx exporter takes metrics only");
		return;
	}
	x->c->ex[x->c->nex++] = e;
}

static samp_spec *parse_sampler(ctx *x, const node *n, const char *path, int depth)
{
	if (!want_map(x, n, path))
		return NULL;
	if (n->kind != SONDE__CN_MAP || n->n != 1) {
		bad(x, n, path, "expected exactly one sampler");
		return NULL;
	}
	if (depth > 4) {
		bad(x, n, path, "samplers nested too deep");
		return NULL;
	}
	const node *kind = n->keys[0], *body = n->vals[0];
	char p[300];
	join(p, sizeof p, path, kind->text);
	samp_spec *s = sonde_arena_zalloc(&x->c->arena, sizeof(*s));
	if (!s) {
		x->rc = -ENOMEM;
		return NULL;
	}
	const char *k = kind->text;
	if (strcmp(k, "always_on") == 0 || strcmp(k, "always_off") == 0) {
		s->kind = strcmp(k, "always_on") == 0 ? S_ON : S_OFF;
		if (!want_map(x, body, p))
			return NULL;
		FOR_PAIRS(body) unknown(x, key, p);
	} else if (strcmp(k, "trace_id_ratio_based") == 0 || strcmp(k, "probability/development") == 0 ||
	           strcmp(k, "rate_limiting") == 0) {
		s->kind = k[0] == 't' ? S_RATIO : k[0] == 'p' ? S_PROB : S_RATE;
		s->arg = s->kind == S_RATE ? 100 : 1;
		if (!want_map(x, body, p))
			return NULL;
		FOR_PAIRS(body)
		{
			char q[400];
			join(q, sizeof q, p, key->text);
			if ((s->kind == S_RATE && KEY("spans_per_second")) ||
			    (s->kind != S_RATE && (KEY("ratio") || KEY("probability")))) {
				if (get_double(x, val, q, &s->arg) && s->kind != S_RATE &&
				    (s->arg < 0 || s->arg > 1))
					bad(x, val, q, "expected a number from 0 to 1");
				else if (x->rc == 0 && s->kind == S_RATE && !(s->arg > 0))
					bad(x, val, q, "expected a positive number");
			} else {
				unknown(x, key, p);
			}
		}
	} else if (strcmp(k, "parent_based") == 0) {
		s->kind = S_PARENT;
		if (!want_map(x, body, p))
			return NULL;
		FOR_PAIRS(body)
		{
			char q[400];
			join(q, sizeof q, p, key->text);
			samp_spec **slot = KEY("root")                        ? &s->root
			                   : KEY("remote_parent_sampled")     ? &s->rs
			                   : KEY("remote_parent_not_sampled") ? &s->rns
			                   : KEY("local_parent_sampled")      ? &s->ls
			                   : KEY("local_parent_not_sampled")  ? &s->lns
			                                                      : NULL;
			if (slot)
				*slot = val->kind == SONDE__CN_NULL ? NULL
				                                    : parse_sampler(x, val, q, depth + 1);
			else
				unknown(x, key, p);
		}
	} else {
		bad(x, kind, path, "unknown sampler '%.64s'", k);
		return NULL;
	}
	return x->rc < 0 ? NULL : s;
}

static void parse_batch(ctx *x, const node *n, const char *path, sonde_batch_config *b)
{
	FOR_PAIRS(n)
	{
		char q[400];
		join(q, sizeof q, path, key->text);
		if (KEY("schedule_delay"))
			get_u32(x, val, q, &b->schedule_delay_ms);
		else if (KEY("export_timeout"))
			get_u32(x, val, q, &b->export_timeout_ms);
		else if (KEY("max_queue_size"))
			get_u32(x, val, q, &b->max_queue_size);
		else if (KEY("max_export_batch_size"))
			get_u32(x, val, q, &b->max_export_batch_size);
		else if (!KEY("exporter"))
			unknown(x, key, path);
	}
}

/* processors: [{batch|simple: {exporter: {...}, ...}}] (tracer and logger providers). */
static void parse_processors(ctx *x, const node *n, const char *path, unsigned signal)
{
	if (!want_seq(x, n, path))
		return;
	for (uint32_t i = 0; n->kind == SONDE__CN_SEQ && i < n->n && x->rc == 0; i++) {
		char p[300];
		snprintf(p, sizeof p, "%s[%u]", path, i);
		const node *pr = n->vals[i];
		if (!want_map(x, pr, p))
			return;
		if (pr->kind != SONDE__CN_MAP || pr->n != 1) {
			bad(x, pr, p, "expected one processor (batch or simple)");
			return;
		}
		const node *kind = pr->keys[0], *body = pr->vals[0];
		char q[400];
		join(q, sizeof q, p, kind->text);
		if (strcmp(kind->text, "batch") != 0 && strcmp(kind->text, "simple") != 0) {
			bad(x, kind, q, "unknown processor '%.64s' (expected batch or simple)", kind->text);
			return;
		}
		if (!want_map(x, body, q))
			return;
		const node *ex = NULL;
		FOR_PAIRS(body)
		if (KEY("exporter"))
			ex = val;
		if (!ex) {
			bad(x, kind, q, "a processor needs an exporter");
			return;
		}
		if (strcmp(kind->text, "batch") == 0 && signal == SIG_SPANS)
			parse_batch(x, body, q, &x->c->batch);
		else if (strcmp(kind->text, "batch") == 0) {
			sonde_batch_config ignored = {0};
			parse_batch(x, body, q, &ignored);
		} else {
			FOR_PAIRS(body)
			if (!KEY("exporter"))
				unknown(x, key, q);
		}
		char r[450];
		join(r, sizeof r, q, "exporter");
		parse_exporter(x, ex, r, signal);
	}
}

static void parse_limits(ctx *x, const node *n, const char *path, sonde_span_limits *l)
{
	if (!want_map(x, n, path))
		return;
	FOR_PAIRS(n)
	{
		char q[400];
		join(q, sizeof q, path, key->text);
		uint32_t *f = KEY("attribute_count_limit")          ? &l->attribute_count
		              : KEY("attribute_value_length_limit") ? &l->attribute_value_length
		              : KEY("event_count_limit")            ? &l->event_count
		              : KEY("link_count_limit")             ? &l->link_count
		              : KEY("event_attribute_count_limit")  ? &l->event_attribute_count
		              : KEY("link_attribute_count_limit")   ? &l->link_attribute_count
		                                                    : NULL;
		if (f)
			get_u32(x, val, q, f);
		else
			unknown(x, key, path);
	}
}

static void parse_tracer(ctx *x, const node *n)
{
	const char *path = "tracer_provider";
	if (!want_map(x, n, path))
		return;
	x->c->has_tracer = true;
	FOR_PAIRS(n)
	{
		char q[300];
		join(q, sizeof q, path, key->text);
		if (KEY("processors"))
			parse_processors(x, val, q, SIG_SPANS);
		else if (KEY("sampler"))
			x->c->sampler = val->kind == SONDE__CN_NULL ? NULL : parse_sampler(x, val, q, 0);
		else if (KEY("limits"))
			parse_limits(x, val, q, &x->c->limits);
		else
			unknown(x, key, path);
	}
}

/* The value of key `want` in the mapping m at path p, its own path written to out; every other key
 * is reported unknown (the last of repeated keys counts). NULL when m is not a mapping (an error),
 * is null, or lacks the key. */
static const node *sole_key(ctx *x, const node *m, const char *p, const char *want, char *out, size_t cap)
{
	const node *found = NULL;
	if (!want_map(x, m, p))
		return NULL;
	FOR_PAIRS_AS(m, k, v)
	{
		if (KEYK(k, want)) {
			join(out, cap, p, k->text);
			found = v;
		} else {
			unknown(x, k, p);
		}
	}
	return found;
}

/* A view's explicit histogram boundaries: a list of at most 256 ascending numbers. */
static bool parse_bounds(ctx *x, const node *v, const char *p, view_spec *vs)
{
	if (!want_seq(x, v, p))
		return false;
	if (v->n > 256) {
		bad(x, v, p, "more than 256 boundaries");
		return false;
	}
	vs->bounds = sonde_arena_alloc(&x->c->arena, (v->n + 1) * sizeof(double));
	if (!vs->bounds) {
		x->rc = -ENOMEM;
		return false;
	}
	for (uint32_t i = 0; i < v->n && x->rc == 0; i++) {
		char u[600];
		snprintf(u, sizeof u, "%s[%u]", p, i);
		if (!get_double(x, v->vals[i], u, &vs->bounds[i]) && x->rc == 0)
			bad(x, v->vals[i], u, "expected a number");
		if (x->rc == 0 && i > 0 && !(vs->bounds[i] > vs->bounds[i - 1]))
			bad(x, v->vals[i], u, "boundaries must ascend");
	}
	vs->n = v->n;
	return x->rc == 0;
}

static void parse_view(ctx *x, const node *v, const char *p)
{
	if (!want_map(x, v, p))
		return;
	if (x->c->nviews == MAX_VIEWS) {
		bad(x, v, p, "more than %d views", MAX_VIEWS);
		return;
	}
	view_spec vs = {0};
	bool have_bounds = false;
	FOR_PAIRS(v)
	{
		char q[400];
		join(q, sizeof q, p, key->text);
		if (KEY("selector")) {
			if (!want_map(x, val, q))
				return;
			FOR_PAIRS_AS(val, k2, v2)
			{
				char r[450];
				join(r, sizeof r, q, k2->text);
				if (KEYK(k2, "instrument_name"))
					vs.instrument = get_str(x, v2, r);
				else if (KEYK(k2, "meter_name"))
					vs.meter = get_str(x, v2, r);
				else
					unknown(x, k2, q);
			}
		} else if (KEY("stream")) {
			/* stream.aggregation.explicit_bucket_histogram.boundaries */
			char r[450], s[500], t[550];
			const node *agg = sole_key(x, val, q, "aggregation", r, sizeof r);
			const node *ebh =
			        agg ? sole_key(x, agg, r, "explicit_bucket_histogram", s, sizeof s) : NULL;
			const node *bnd = ebh ? sole_key(x, ebh, s, "boundaries", t, sizeof t) : NULL;
			if (bnd && parse_bounds(x, bnd, t, &vs))
				have_bounds = true;
		} else {
			unknown(x, key, p);
		}
	}
	if (x->rc == 0 && !have_bounds) {
		x->c->warnings++;
		sonde__diag("%s:%u: %s: a view without explicit_bucket_histogram boundaries does nothing in "
		            "libsonde, ignored",
		            x->c->name, v->line, p);
		return;
	}
	if (x->rc == 0)
		x->c->views[x->c->nviews++] = vs;
}

static void parse_meter(ctx *x, const node *n)
{
	const char *path = "meter_provider";
	if (!want_map(x, n, path))
		return;
	x->c->has_meter = true;
	FOR_PAIRS(n)
	{
		char q[300];
		join(q, sizeof q, path, key->text);
		if (KEY("readers")) {
			if (!want_seq(x, val, q))
				return;
			for (uint32_t i = 0; val->kind == SONDE__CN_SEQ && i < val->n && x->rc == 0; i++) {
				char p[350];
				snprintf(p, sizeof p, "%s[%u]", q, i);
				const node *r = val->vals[i];
				if (!want_map(x, r, p))
					return;
				if (r->kind != SONDE__CN_MAP || r->n != 1) {
					bad(x, r, p, "expected one reader (periodic or pull)");
					return;
				}
				const node *kind = r->keys[0], *body = r->vals[0];
				char s[400];
				join(s, sizeof s, p, kind->text);
				if (!want_map(x, body, s))
					return;
				bool periodic = strcmp(kind->text, "periodic") == 0;
				if (!periodic && strcmp(kind->text, "pull") != 0) {
					bad(x, kind, s, "unknown reader '%.64s' (expected periodic or pull)",
					    kind->text);
					return;
				}
				const node *ex = NULL;
				FOR_PAIRS_AS(body, k2, v2)
				{
					char t[450];
					join(t, sizeof t, s, k2->text);
					if (KEYK(k2, "exporter"))
						ex = v2;
					else if (periodic && KEYK(k2, "interval"))
						get_u32(x, v2, t, &x->c->metrics_interval_ms);
					else if (periodic && KEYK(k2, "timeout"))
						;
					else
						unknown(x, k2, s);
				}
				if (!ex) {
					bad(x, kind, s, "a reader needs an exporter");
					return;
				}
				char t[450];
				join(t, sizeof t, s, "exporter");
				if (periodic) {
					x->c->periodic = true;
					parse_exporter(x, ex, t, SIG_METRICS);
					continue;
				}
				/* pull: {exporter: {prometheus: {host, port}}} */
				if (!want_map(x, ex, t))
					return;
				if (ex->kind != SONDE__CN_MAP || ex->n != 1 ||
				    (strcmp(ex->keys[0]->text, "prometheus") != 0 &&
				     strcmp(ex->keys[0]->text, "prometheus/development") != 0)) {
					bad(x, ex, t, "a pull reader takes the prometheus exporter");
					return;
				}
				char u[500];
				join(u, sizeof u, t, ex->keys[0]->text);
				const node *pb = ex->vals[0];
				if (!want_map(x, pb, u))
					return;
				char *host = NULL;
				uint32_t port = 9464;
				FOR_PAIRS_AS(pb, k2, v2)
				{
					char w[550];
					join(w, sizeof w, u, k2->text);
					if (KEYK(k2, "host"))
						host = get_str(x, v2, w);
					else if (KEYK(k2, "port") && get_u32(x, v2, w, &port) &&
					         (port > 65535))
						bad(x, v2, w, "expected a port from 0 to 65535");
					else if (!KEYK(k2, "port"))
						unknown(x, k2, u);
				}
				if (!host || strcmp(host, "localhost") == 0)
					host = (char *)"127.0.0.1";
				x->c->prom = true;
				snprintf(x->c->prom_addr, sizeof x->c->prom_addr, "%.60s:%u", host, port);
			}
		} else if (KEY("views")) {
			if (!want_seq(x, val, q))
				return;
			for (uint32_t i = 0; val->kind == SONDE__CN_SEQ && i < val->n && x->rc == 0; i++) {
				char p[350];
				snprintf(p, sizeof p, "%s[%u]", q, i);
				parse_view(x, val->vals[i], p);
			}
		} else if (KEY("exemplar_filter")) {
			;
		} else {
			unknown(x, key, path);
		}
	}
}

static void parse_logger(ctx *x, const node *n)
{
	const char *path = "logger_provider";
	if (!want_map(x, n, path))
		return;
	x->c->has_logger = true;
	FOR_PAIRS(n)
	{
		char q[300];
		join(q, sizeof q, path, key->text);
		if (KEY("processors"))
			parse_processors(x, val, q, SIG_LOGS);
		else if (KEY("limits")) {
			sonde_span_limits ignored = {0};
			parse_limits(x, val, q, &ignored);
		} else
			unknown(x, key, path);
	}
}

static void parse_resource(ctx *x, const node *n)
{
	const char *path = "resource";
	if (!want_map(x, n, path))
		return;
	FOR_PAIRS(n)
	{
		char q[300];
		join(q, sizeof q, path, key->text);
		if (KEY("attributes_list")) {
			x->c->res_list = get_str(x, val, q);
		} else if (KEY("schema_url") || KEY("detectors") || KEY("detection/development")) {
			;
		} else if (KEY("attributes")) {
			if (!want_seq(x, val, q))
				return;
			for (uint32_t i = 0; val->kind == SONDE__CN_SEQ && i < val->n && x->rc == 0; i++) {
				char p[350];
				snprintf(p, sizeof p, "%s[%u]", q, i);
				const node *a = val->vals[i];
				if (!want_map(x, a, p))
					return;
				char *name = NULL, *value = NULL;
				FOR_PAIRS_AS(a, k2, v2)
				{
					char r[400];
					join(r, sizeof r, p, k2->text);
					if (KEYK(k2, "name"))
						name = get_str(x, v2, r);
					else if (KEYK(k2, "value") && v2->kind == SONDE__CN_SEQ) {
						/* Arrays are kept as their comma-joined text. */
						char buf[1024] = "";
						size_t len = 0;
						for (uint32_t j = 0;
						     j < v2->n && v2->vals[j]->kind == SONDE__CN_SCALAR; j++)
							len += (size_t)snprintf(
							        buf + len,
							        len < sizeof buf ? sizeof buf - len : 0,
							        "%s%s", j ? "," : "", v2->vals[j]->text);
						value = sonde_arena_strndup(&x->c->arena, buf, strlen(buf));
					} else if (KEYK(k2, "value"))
						value = get_str(x, v2, r);
					else if (!KEYK(k2, "type"))
						unknown(x, k2, p);
				}
				if (x->rc == 0 && !name) {
					bad(x, a, p, "an attribute needs a name");
					return;
				}
				if (x->rc < 0)
					return;
				if (strcmp(name, "service.name") == 0)
					x->c->service_name = value;
				else if (strcmp(name, "service.version") == 0)
					x->c->service_version = value;
				else if (x->c->nres < MAX_RES) {
					x->c->res[x->c->nres].key = name;
					x->c->res[x->c->nres++].value = value ? value : (char *)"";
				}
			}
		} else {
			unknown(x, key, path);
		}
	}
}

static void parse_sonde(ctx *x, const node *n)
{
	const char *path = "sonde";
	if (!want_map(x, n, path))
		return;
	sonde_config *c = x->c;
	FOR_PAIRS(n)
	{
		char q[300];
		join(q, sizeof q, path, key->text);
		if (KEY("logs")) {
			if (!want_map(x, val, q))
				return;
			FOR_PAIRS_AS(val, k2, v2)
			{
				char r[350];
				join(r, sizeof r, q, k2->text);
				if (KEYK(k2, "level")) {
					static const char *const levels[] = {"trace", "debug", "info",
					                                     "warn",  "error", "fatal"};
					char *l = get_str(x, v2, r);
					int k = -1;
					for (int j = 0; l && j < 6; j++)
						if (strcasecmp(l, levels[j]) == 0)
							k = j;
					if (l && k < 0)
						bad(x, v2, r,
						    "unknown level '%.32s' (expected trace, debug, info, "
						    "warn, error or fatal)",
						    l);
					else if (l)
						c->logs.level = 1 + 4 * k;
				} else if (KEYK(k2, "rate_limit")) {
					get_u32(x, v2, r, &c->logs.rate_limit);
				} else if (KEYK(k2, "max_value_length")) {
					get_u32(x, v2, r, &c->logs.max_value_length);
				} else if (KEYK(k2, "redact")) {
					bool on = true;
					if (get_bool(x, v2, r, &on)) {
						c->logs.redact_off = !on;
						c->redact_set = true;
					}
				} else if (KEYK(k2, "redact_email")) {
					get_bool(x, v2, r, &c->logs.redact_email);
				} else if (KEYK(k2, "redact_keys")) {
					if (!want_seq(x, v2, r))
						return;
					char buf[2048] = "";
					size_t len = 0;
					for (uint32_t j = 0;
					     v2->kind == SONDE__CN_SEQ && j < v2->n && x->rc == 0; j++) {
						char s[400];
						snprintf(s, sizeof s, "%s[%u]", r, j);
						char *k = get_str(x, v2->vals[j], s);
						if (k && len + strlen(k) + 2 < sizeof buf)
							len += (size_t)snprintf(buf + len, sizeof buf - len,
							                        "%s%s", len ? "," : "", k);
					}
					c->logs.redact_keys = sonde_arena_strndup(&c->arena, buf, len);
				} else if (KEYK(k2, "sinks")) {
					if (!want_seq(x, v2, r))
						return;
					for (uint32_t j = 0;
					     v2->kind == SONDE__CN_SEQ && j < v2->n && x->rc == 0; j++) {
						char s[400];
						snprintf(s, sizeof s, "%s[%u]", r, j);
						char *sink = get_str(x, v2->vals[j], s);
						if (!sink)
							continue;
						if (c->nex == MAX_EXPORTERS) {
							bad(x, v2->vals[j], s, "more than %d exporters",
							    MAX_EXPORTERS);
							break;
						}
						ex_spec e = {.kind = EX_LOG_JSON,
						             .signals = SIG_LOGS,
						             .line = v2->vals[j]->line,
						             .fd = -1};
						if (strcmp(sink, "stderr") == 0)
							e.fd = 2;
						else if (strcmp(sink, "stdout") == 0)
							e.fd = 1;
						else if (strncmp(sink, "file://", 7) == 0 && sink[7])
							e.path = sink + 7;
						else {
							bad(x, v2->vals[j], s,
							    "unknown sink '%.64s' (expected stderr, stdout "
							    "or file:///path)",
							    sink);
							break;
						}
						c->ex[c->nex++] = e;
					}
				} else {
					unknown(x, k2, q);
				}
			}
		} else if (KEY("profiling")) {
			if (!want_map(x, val, q))
				return;
			FOR_PAIRS_AS(val, k2, v2)
			{
				char r[350];
				join(r, sizeof r, q, k2->text);
				if (KEYK(k2, "sample_every")) {
					if (get_u32(x, v2, r, &c->profile_sample) && c->profile_sample == 0)
						bad(x, v2, r, "expected 1 or more");
				} else {
					unknown(x, k2, q);
				}
			}
		} else if (KEY("metrics")) {
			if (!want_map(x, val, q))
				return;
			FOR_PAIRS_AS(val, k2, v2)
			{
				char r[350];
				join(r, sizeof r, q, k2->text);
				bool on;
				if (KEYK(k2, "runtime") && get_bool(x, v2, r, &on))
					c->runtime = on;
				else if (KEYK(k2, "host") && get_bool(x, v2, r, &on))
					c->host = on;
				else if (!KEYK(k2, "runtime") && !KEYK(k2, "host"))
					unknown(x, k2, q);
			}
		} else if (KEY("traces")) {
			if (!want_map(x, val, q))
				return;
			FOR_PAIRS_AS(val, k2, v2)
			{
				char r[350];
				join(r, sizeof r, q, k2->text);
				uint32_t ms;
				if (KEYK(k2, "min_duration_ms") && get_u32(x, v2, r, &ms))
					c->min_duration_ns = (uint64_t)ms * 1000000u;
				else if (KEYK(k2, "record_rusage"))
					get_bool(x, v2, r, &c->record_rusage);
				else if (KEYK(k2, "ordered_clock"))
					get_bool(x, v2, r, &c->ordered_clock);
				else if (!KEYK(k2, "min_duration_ms"))
					unknown(x, k2, q);
			}
		} else {
			unknown(x, key, path);
		}
	}
}

static void parse_root(ctx *x, const node *root)
{
	const node *fmt = NULL;
	FOR_PAIRS(root)
	if (KEY("file_format"))
		fmt = val;
	if (!fmt) {
		bad(x, root, "file_format",
		    "missing: the file must say its format version, e.g. file_format: \"1.0\"");
		return;
	}
	if (fmt->kind != SONDE__CN_SCALAR ||
	    !(strncmp(fmt->text, "0.", 2) == 0 || strncmp(fmt->text, "1.", 2) == 0 ||
	      strcmp(fmt->text, "1") == 0)) {
		bad(x, fmt, "file_format", "unsupported version '%.32s' (expected 0.x or 1.x)",
		    fmt->kind == SONDE__CN_SCALAR ? fmt->text : "...");
		return;
	}
	FOR_PAIRS(root)
	{
		if (KEY("file_format") || KEY("log_level") || KEY("propagator") || KEY("instrumentation") ||
		    KEY("instrumentation/development"))
			continue;
		if (KEY("disabled"))
			get_bool(x, val, "disabled", &x->c->disabled);
		else if (KEY("resource"))
			parse_resource(x, val);
		else if (KEY("attribute_limits")) {
			if (!want_map(x, val, "attribute_limits"))
				return;
			FOR_PAIRS_AS(val, k2, v2)
			{
				char q[300];
				join(q, sizeof q, "attribute_limits", k2->text);
				uint32_t v;
				if (KEYK(k2, "attribute_count_limit") && get_u32(x, v2, q, &v)) {
					if (!x->c->limits.attribute_count)
						x->c->limits.attribute_count = v;
				} else if (KEYK(k2, "attribute_value_length_limit") &&
				           get_u32(x, v2, q, &v)) {
					if (!x->c->limits.attribute_value_length)
						x->c->limits.attribute_value_length = v;
				} else if (!KEYK(k2, "attribute_count_limit") &&
				           !KEYK(k2, "attribute_value_length_limit"))
					unknown(x, k2, "attribute_limits");
			}
		} else if (KEY("tracer_provider"))
			parse_tracer(x, val);
		else if (KEY("meter_provider"))
			parse_meter(x, val);
		else if (KEY("logger_provider"))
			parse_logger(x, val);
		else if (KEY("sonde"))
			parse_sonde(x, val);
		else
			unknown(x, key, "");
	}
}

int sonde_config_parse(const char *text, size_t len, const char *name, sonde_config **out, char *err,
                       size_t err_len)
{
	char scratch[8];
	if (!err || err_len == 0)
		err = scratch, err_len = sizeof scratch;
	err[0] = '\0';
	*out = NULL;
	sonde_config *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	sonde_arena_init(&c->arena);
	c->runtime = c->host = -1;
	c->name = sonde_arena_strndup(&c->arena, name ? name : "<config>", strlen(name ? name : "<config>"));
	sonde__cnode *root = NULL;
	int rc = c->name ? sonde__yaml_tree(text, len, c->name, &c->arena, &root, err, err_len) : -ENOMEM;
	if (rc == 0) {
		ctx x = {.c = c, .err = err, .err_len = err_len};
		parse_root(&x, root);
		rc = x.rc;
	}
	if (rc < 0) {
		if (rc == -ENOMEM && err_len > 1)
			snprintf(err, err_len, "%s: out of memory", name ? name : "<config>");
		sonde_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int sonde_config_load(const char *path, sonde_config **out, char *err, size_t err_len)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (err && err_len)
			snprintf(err, err_len, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SONDE__CONFIG_MAX_BYTES) {
		close(fd);
		if (err && err_len)
			snprintf(err, err_len, "%s: %s", path,
			         S_ISREG(st.st_mode) ? "larger than 1 MiB" : "not a regular file");
		return -EINVAL;
	}
	size_t n = (size_t)st.st_size, got = 0;
	char *buf = malloc(n + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	int rc = sonde_config_parse(buf, got, path, out, err, err_len);
	free(buf);
	return rc;
}

void sonde_config_free(sonde_config *c)
{
	if (!c)
		return;
	sonde_arena_release(&c->arena);
	free(c);
}

unsigned sonde_config_warnings(const sonde_config *c)
{
	return c ? c->warnings : 0;
}

/* ---- Signal filter ------------------------------------------------------------------- */

typedef struct filter_exporter {
	sonde_exporter base;
	sonde_exporter *inner; /* owned */
	unsigned signals;
} filter_exporter;

static int filter_deliver(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	filter_exporter *f = (filter_exporter *)e;
	/* A shallow view of the batch with the other signals' counts set to zero. */
	sonde_batch view = *b;
	if (!(f->signals & SIG_SPANS))
		view.spans_count = 0;
	if (!(f->signals & SIG_METRICS))
		view.metrics_count = 0;
	if (!(f->signals & SIG_LOGS))
		view.logs_count = 0;
	if (view.spans_count + view.metrics_count + view.logs_count == 0)
		return 0;
	int rc = f->inner->ops->deliver(f->inner, &view, deadline_ns);
	__atomic_store_n(&f->base.retries, __atomic_load_n(&f->inner->retries, __ATOMIC_RELAXED),
	                 __ATOMIC_RELAXED);
	return rc;
}

static int filter_flush(sonde_exporter *e, uint64_t deadline_ns)
{
	filter_exporter *f = (filter_exporter *)e;
	return f->inner->ops->force_flush ? f->inner->ops->force_flush(f->inner, deadline_ns) : 0;
}

static int filter_shutdown(sonde_exporter *e, uint64_t deadline_ns)
{
	filter_exporter *f = (filter_exporter *)e;
	return f->inner->ops->shutdown ? f->inner->ops->shutdown(f->inner, deadline_ns) : 0;
}

static void filter_destroy(sonde_exporter *e)
{
	filter_exporter *f = (filter_exporter *)e;
	f->inner->ops->destroy(f->inner);
	free(f);
}

static void filter_after_fork(sonde_exporter *e)
{
	filter_exporter *f = (filter_exporter *)e;
	if (f->inner->ops->after_fork_child)
		f->inner->ops->after_fork_child(f->inner);
}

static const sonde_exporter_ops filter_ops = {
        .name = "config",
        .deliver = filter_deliver,
        .force_flush = filter_flush,
        .shutdown = filter_shutdown,
        .destroy = filter_destroy,
        .after_fork_child = filter_after_fork,
};

static sonde_exporter *filtered(sonde_exporter *inner, unsigned signals)
{
	if (!inner)
		return NULL;
	filter_exporter *f = calloc(1, sizeof(*f));
	if (!f) {
		sonde_exporter_free(inner);
		return NULL;
	}
	f->base.ops = &filter_ops;
	f->inner = inner;
	f->signals = signals;
	return &f->base;
}

/* ---- Views ----------------------------------------------------------------------------- */

static pthread_mutex_t views_mu = PTHREAD_MUTEX_INITIALIZER;
static view_spec *live_views; /* replaced by the next start; read under views_mu */
static size_t live_nviews;

static bool name_matches(const char *pattern, const char *name)
{
	if (!pattern || strcmp(pattern, "*") == 0)
		return true;
	size_t n = strlen(pattern);
	if (n && pattern[n - 1] == '*')
		return strncmp(pattern, name, n - 1) == 0;
	return strcmp(pattern, name) == 0;
}

static void views_free(view_spec *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].meter);
		free(v[i].instrument);
		free(v[i].bounds);
	}
	free(v);
}

bool sonde__view_bounds(const char *meter, const char *instrument, double *out, size_t *count)
{
	bool found = false;
	pthread_mutex_lock(&views_mu);
	for (size_t i = 0; i < live_nviews && !found; i++)
		if (name_matches(live_views[i].meter, meter) &&
		    name_matches(live_views[i].instrument, instrument)) {
			memcpy(out, live_views[i].bounds, live_views[i].n * sizeof(double));
			*count = live_views[i].n;
			found = true;
		}
	pthread_mutex_unlock(&views_mu);
	return found;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int install_views(const sonde_config *c)
{
	view_spec *v = c->nviews ? calloc(c->nviews, sizeof(*v)) : NULL;
	if (c->nviews && !v)
		return -ENOMEM;
	for (size_t i = 0; i < c->nviews; i++) {
		v[i].meter = dup_or_null(c->views[i].meter);
		v[i].instrument = dup_or_null(c->views[i].instrument);
		v[i].bounds = malloc((c->views[i].n + 1) * sizeof(double));
		if (!v[i].bounds || (c->views[i].meter && !v[i].meter) ||
		    (c->views[i].instrument && !v[i].instrument)) {
			views_free(v, c->nviews);
			return -ENOMEM;
		}
		memcpy(v[i].bounds, c->views[i].bounds, c->views[i].n * sizeof(double));
		v[i].n = c->views[i].n;
	}
	pthread_mutex_lock(&views_mu);
	view_spec *old = live_views;
	size_t nold = live_nviews;
	live_views = v;
	live_nviews = c->nviews;
	pthread_mutex_unlock(&views_mu);
	views_free(old, nold);
	return 0;
}

/* ---- Start ----------------------------------------------------------------------------- */

static _Thread_local bool applying;

bool sonde__config_applying(void)
{
	return applying;
}

static sonde_sampler *make_sampler(const samp_spec *s)
{
	if (!s)
		return NULL;
	switch (s->kind) {
	case S_ON: return sonde_sampler_always_on();
	case S_OFF: return sonde_sampler_always_off();
	case S_RATIO: return sonde_sampler_trace_id_ratio(s->arg);
	case S_PROB: return sonde_sampler_probability(s->arg);
	case S_RATE: return sonde_sampler_rate_limiting(s->arg);
	case S_PARENT:
		return sonde_sampler_parent_based(s->root ? make_sampler(s->root) : sonde_sampler_always_on(),
		                                  make_sampler(s->rs), make_sampler(s->rns),
		                                  make_sampler(s->ls), make_sampler(s->lns));
	}
	return NULL;
}

static bool env_set(const char *name)
{
	return sonde__env_get(name) != NULL;
}

/* ---- OTEL_{TRACES,METRICS,LOGS}_EXPORTER ------------------------------------------------ */

enum { EN_OTLP, EN_CONSOLE, EN_ZIPKIN, EN_PROMETHEUS, EN_COUNT };
static const char *const env_names[EN_COUNT] = {"otlp", "console", "zipkin", "prometheus"};
/* The signals each exporter name can take. */
static const unsigned env_name_signals[EN_COUNT] = {
        SIG_SPANS | SIG_METRICS | SIG_LOGS, SIG_SPANS | SIG_METRICS | SIG_LOGS, SIG_SPANS, SIG_METRICS};
static const struct {
	unsigned sig;
	const char *var, *what, *otlp; /* the variable, the signal's name, its OTLP infix */
} env_sigs[3] = {{SIG_SPANS, "OTEL_TRACES_EXPORTER", "traces", "TRACES"},
                 {SIG_METRICS, "OTEL_METRICS_EXPORTER", "metrics", "METRICS"},
                 {SIG_LOGS, "OTEL_LOGS_EXPORTER", "logs", "LOGS"}};

/* What the three variables ask for: by exporter name, the signals that name it. */
typedef struct env_plan {
	unsigned want[EN_COUNT];
	unsigned set; /* the signals whose variable is set (then it replaces the file's exporters) */
} env_plan;

/* Adds the names of one list ("otlp,console", "none") for signal k to p; reports unknown
 * names and names that cannot take the signal. */
static void plan_list(env_plan *p, size_t k, const char *list)
{
	for (const char *s = list; *s;) {
		size_t n = strcspn(s, ",");
		const char *w = s;
		size_t m = n;
		while (m && (*w == ' ' || *w == '\t'))
			w++, m--;
		while (m && (w[m - 1] == ' ' || w[m - 1] == '\t'))
			m--;
		s += n;
		if (*s == ',')
			s++;
		if (!m || (m == 4 && strncasecmp(w, "none", 4) == 0))
			continue;
		size_t e = 0;
		while (e < EN_COUNT && !(strlen(env_names[e]) == m && strncasecmp(w, env_names[e], m) == 0))
			e++;
		if (e == EN_COUNT)
			sonde__diag("sonde: %s names unknown exporter \"%.*s\", ignored", env_sigs[k].var,
			            (int)(m > 64 ? 64 : m), w);
		else if (!(env_name_signals[e] & env_sigs[k].sig))
			sonde__diag("sonde: %s: the %s exporter does not take %s, ignored", env_sigs[k].var,
			            env_names[e], env_sigs[k].what);
		else
			p->want[e] |= env_sigs[k].sig;
	}
}

/* Reads the three variables. Without a file (env_only), a signal whose variable is unset
 * goes where the traces go (libsonde's behaviour before these variables were read), and
 * the traces' default is otlp. */
static void plan_read(env_plan *p, bool env_only)
{
	*p = (env_plan){{0}, 0};
	const char *lists[3];
	for (size_t k = 0; k < 3; k++) {
		lists[k] = sonde__env_get(env_sigs[k].var);
		if (lists[k])
			p->set |= env_sigs[k].sig;
	}
	if (env_only && !lists[0])
		lists[0] = "otlp", p->set |= SIG_SPANS;
	for (size_t k = 0; k < 3; k++) {
		if (lists[k]) {
			plan_list(p, k, lists[k]);
		} else if (env_only) {
			/* follows the traces */
			for (size_t e = 0; e < EN_COUNT; e++)
				if (p->want[e] & SIG_SPANS)
					p->want[e] |= env_sigs[k].sig & env_name_signals[e];
			p->set |= env_sigs[k].sig;
		}
	}
}

/* One OTLP setting for signal k: OTEL_EXPORTER_OTLP_<SIGNAL>_<what>, else
 * OTEL_EXPORTER_OTLP_<what>, else (metrics' timeout) OTEL_METRIC_EXPORT_TIMEOUT. */
typedef struct otlp_settings {
	int protocol; /* sonde_otlp_protocol */
	uint32_t timeout_ms;
	bool gzip;
} otlp_settings;

static otlp_settings otlp_settings_of(size_t k)
{
	static const char *const protocols[] = {"http/protobuf", "http/json", "grpc"};
	static const char *const kinds[] = {"gzip", "none"};
	otlp_settings o = {SONDE_OTLP_HTTP_PROTOBUF, 10000, false};
	char a[64], b[64];
	snprintf(a, sizeof a, "OTEL_EXPORTER_OTLP_%s_PROTOCOL", env_sigs[k].otlp);
	const char *pn[2] = {a, "OTEL_EXPORTER_OTLP_PROTOCOL"};
	for (size_t i = 0; i < 2; i++) {
		int c = sonde__env_choice(pn[i], protocols, 3);
		if (c == 2)
			sonde__diag("sonde: %s=grpc is not supported by libsonde; using http/protobuf",
			            pn[i]);
		if (c >= 0) {
			o.protocol = c == 1 ? SONDE_OTLP_HTTP_JSON : SONDE_OTLP_HTTP_PROTOBUF;
			break;
		}
	}
	snprintf(b, sizeof b, "OTEL_EXPORTER_OTLP_%s_COMPRESSION", env_sigs[k].otlp);
	const char *cn[2] = {b, "OTEL_EXPORTER_OTLP_COMPRESSION"};
	for (size_t i = 0; i < 2; i++) {
		int c = sonde__env_choice(cn[i], kinds, 2);
		if (c >= 0) {
			o.gzip = c == 0;
			break;
		}
	}
	snprintf(a, sizeof a, "OTEL_EXPORTER_OTLP_%s_TIMEOUT", env_sigs[k].otlp);
	const char *tn[3] = {a, "OTEL_EXPORTER_OTLP_TIMEOUT",
	                     env_sigs[k].sig == SIG_METRICS ? "OTEL_METRIC_EXPORT_TIMEOUT" : NULL};
	for (size_t i = 0; i < 3 && tn[i]; i++) {
		uint32_t ms;
		if (sonde__env_ms(tn[i], &ms) > 0) {
			if (ms)
				o.timeout_ms = ms;
			break;
		}
	}
	return o;
}

/* Adds x (may be NULL: not made, reported by its constructor) to t. Returns 0, or -EINVAL
 * when t is full (reported). */
static int add_exporter(sonde_trace_config *t, sonde_exporter *x, const char *what)
{
	if (!x)
		return 0;
	if (t->exporters_count == MAX_EXPORTERS) {
		sonde__diag("sonde: %s: more than %d exporters, ignored", what, MAX_EXPORTERS);
		sonde_exporter_free(x);
		return 0;
	}
	t->exporters[t->exporters_count++] = x;
	return 0;
}

/* The exporters of the plan for the signals in only: one console exporter (stderr) for
 * the signals that name it, a Zipkin one for the traces, and OTLP/HTTP exporters - one
 * per distinct set of settings, so the signals share one when theirs agree. */
static void plan_make(const env_plan *p, unsigned only, sonde_trace_config *t)
{
	unsigned otlp = p->want[EN_OTLP] & only;
	otlp_settings os[3];
	unsigned done = 0;
	for (size_t k = 0; k < 3; k++)
		if (otlp & env_sigs[k].sig)
			os[k] = otlp_settings_of(k);
	for (size_t k = 0; k < 3; k++) {
		if (!(otlp & env_sigs[k].sig) || (done & env_sigs[k].sig))
			continue;
		unsigned group = 0;
		for (size_t j = k; j < 3; j++)
			if ((otlp & env_sigs[j].sig) && !(done & env_sigs[j].sig) &&
			    os[j].protocol == os[k].protocol && os[j].timeout_ms == os[k].timeout_ms &&
			    os[j].gzip == os[k].gzip)
				group |= env_sigs[j].sig;
		done |= group;
		sonde_otlp_http_config oc = {.protocol = (sonde_otlp_protocol)os[k].protocol,
		                             .protocol_set = true,
		                             .timeout_ms = os[k].timeout_ms,
		                             .gzip = os[k].gzip,
		                             .gzip_set = true};
		add_exporter(t, filtered(sonde_exporter_otlp_http_new(&oc), group), "otlp");
	}
	if (p->want[EN_CONSOLE] & only)
		add_exporter(t, filtered(sonde_exporter_console_new(2), p->want[EN_CONSOLE] & only),
		             "console");
	if (p->want[EN_ZIPKIN] & only & SIG_SPANS)
		add_exporter(t, filtered(sonde_exporter_zipkin_new(NULL, 0), SIG_SPANS), "zipkin");
}

/* The Prometheus endpoint's address: OTEL_EXPORTER_PROMETHEUS_HOST (localhost:
 * 127.0.0.1) and _PORT over the file's host:port (or 127.0.0.1:9464). */
static void prom_address(const char *file_addr, char *out, size_t n)
{
	char host[64] = "127.0.0.1";
	uint32_t port = 9464;
	if (file_addr && *file_addr) {
		const char *colon = strrchr(file_addr, ':');
		if (colon) {
			snprintf(host, sizeof host, "%.*s", (int)(colon - file_addr), file_addr);
			port = (uint32_t)strtoul(colon + 1, NULL, 10);
		}
	}
	const char *h = sonde__env_get("OTEL_EXPORTER_PROMETHEUS_HOST");
	if (h) {
		while (*h == ' ' || *h == '\t')
			h++;
		size_t hl = strcspn(h, " \t");
		if (hl == 9 && strncasecmp(h, "localhost", 9) == 0)
			snprintf(host, sizeof host, "127.0.0.1");
		else
			snprintf(host, sizeof host, "%.*s", (int)(hl > 63 ? 63 : hl), h);
	}
	uint32_t p;
	if (sonde__env_u32("OTEL_EXPORTER_PROMETHEUS_PORT", &p) > 0) {
		if (p > 65535)
			sonde__diag("sonde: OTEL_EXPORTER_PROMETHEUS_PORT=%u ignored: expected a port from "
			            "0 to 65535",
			            p);
		else
			port = p;
	}
	snprintf(out, n, "%s:%u", host, port);
}

/* Whether OTEL_EXPORTER_OTLP_<SIGNAL>_<what> or OTEL_EXPORTER_OTLP_<what> is set, for
 * signal k of env_sigs. */
static bool otlp_env_set(size_t k, const char *what)
{
	char a[64], b[64];
	snprintf(a, sizeof a, "OTEL_EXPORTER_OTLP_%s_%s", env_sigs[k].otlp, what);
	snprintf(b, sizeof b, "OTEL_EXPORTER_OTLP_%s", what);
	return env_set(a) || env_set(b);
}

/* The exporter of one spec; the environment's OTEL_EXPORTER_OTLP_* win over the file. */
static sonde_exporter *make_exporter(const sonde_config *c, const ex_spec *e)
{
	switch (e->kind) {
	case EX_OTLP_HTTP: {
		size_t k = e->signals == SIG_SPANS ? 0 : e->signals == SIG_METRICS ? 1 : 2;
		otlp_settings os = otlp_settings_of(k);
		sonde_otlp_http_config oc = {.protocol_set = true};
		if (!otlp_env_set(k, "ENDPOINT") && e->endpoint) {
			oc.endpoint = e->endpoint;
			oc.full_url = true; /* the file gives the signal's full URL, as the schema says */
		}
		bool env_proto = otlp_env_set(k, "PROTOCOL");
		oc.protocol =
		        (sonde_otlp_protocol)(e->protocol >= 0 && !env_proto ? e->protocol : os.protocol);
		if (!otlp_env_set(k, "HEADERS"))
			oc.headers = e->headers;
		oc.timeout_ms = e->timeout_ms && !otlp_env_set(k, "TIMEOUT") ? e->timeout_ms : os.timeout_ms;
		oc.gzip = e->gzip >= 0 && !otlp_env_set(k, "COMPRESSION") ? e->gzip == 1 : os.gzip;
		oc.gzip_set = true;
		return sonde_exporter_otlp_http_new(&oc);
	}
	case EX_CONSOLE: return sonde_exporter_console_new(e->fd >= 0 ? e->fd : 1);
	case EX_ZIPKIN:
		return sonde_exporter_zipkin_new(
		        env_set("OTEL_EXPORTER_ZIPKIN_ENDPOINT") ? NULL : e->endpoint, e->timeout_ms);
	case EX_FILE:
		if (e->path)
			return sonde_exporter_file_new(e->path);
		return NULL; /* stdout: the console exporter writes readable lines, not OTLP JSON */
	case EX_INFLUX: {
		sonde_influx_config ic = {.path = e->path,
		                          .endpoint = e->endpoint,
		                          .org = e->org,
		                          .bucket = e->bucket,
		                          .db = e->db,
		                          .token = e->token,
		                          .timeout_ms = e->timeout_ms};
		return sonde_exporter_influx_new(&ic);
	}
	case EX_LOG_JSON: return sonde_exporter_log_json_new(e->path, e->path ? -1 : e->fd);
	}
	(void)c;
	return NULL;
}

/* Resource attributes: the file's, less the keys OTEL_RESOURCE_ATTRIBUTES sets (the
 * environment wins), then the program's (applied last by sonde_trace_init, so they win). */
typedef struct res_ctx {
	const char *key;
	bool found;
} res_ctx;

static int res_find(void *ud, const char *key, const char *value, size_t value_len)
{
	res_ctx *r = ud;
	if (strcmp(key, r->key) == 0)
		r->found = true;
	return 0;
}

static bool env_has_resource_key(const char *key)
{
	const char *env = sonde__env_get("OTEL_RESOURCE_ATTRIBUTES");
	if (!env)
		return false;
	res_ctx r = {.key = key};
	sonde__kvlist_parse(env, "OTEL_RESOURCE_ATTRIBUTES", res_find, &r);
	return r.found;
}

typedef struct list_ctx {
	char *buf;
	size_t cap, *len;
} list_ctx;

static int list_member(void *ud, const char *key, const char *value, size_t value_len)
{
	list_ctx *l = ud;
	if (!env_has_resource_key(key) && strlen(value) == value_len)
		list_add(l->buf, l->cap, l->len, key, value);
	return 0;
}

int sonde_config_start(const sonde_config *c, const sonde_trace_config *program)
{
	static const sonde_trace_config none;
	const sonde_trace_config *p = program ? program : &none;
	sonde_trace_config t = *p;
	char res[8192];
	size_t rl = 0;
	res[0] = '\0';
	/* Resource. */
	if (!t.service_name && !env_set("OTEL_SERVICE_NAME") && !env_has_resource_key("service.name"))
		t.service_name = c->service_name;
	if (!t.service_version && !env_has_resource_key("service.version"))
		t.service_version = c->service_version;
	if (c->res_list) {
		list_ctx l = {res, sizeof res, &rl};
		sonde__kvlist_parse(c->res_list, "resource.attributes_list", list_member, &l);
	}
	for (size_t i = 0; i < c->nres; i++)
		if (!env_has_resource_key(c->res[i].key))
			list_add(res, sizeof res, &rl, c->res[i].key, c->res[i].value);
	if (p->resource_attributes && *p->resource_attributes) {
		if (rl && rl + 1 < sizeof res)
			res[rl++] = ',';
		snprintf(res + rl, sizeof res - rl, "%s", p->resource_attributes);
	}
	t.resource_attributes = res[0] ? res : p->resource_attributes;

	/* Sampler: the program's, else OTEL_TRACES_SAMPLER, else the file's; a file without
	 * tracer_provider means no tracing (OpenTelemetry's no-op tracer provider). */
	bool made_sampler = false;
	if (!t.sampler && !env_set("OTEL_TRACES_SAMPLER")) {
		if (c->sampler)
			t.sampler = make_sampler(c->sampler), made_sampler = true;
		else if (!c->has_tracer)
			t.sampler = sonde_sampler_always_off(), made_sampler = true;
	}

	/* Limits and batch: each the program's, else its variable, else the file's. */
	struct {
		uint32_t *dst;
		uint32_t file;
		const char *env, *env2;
	} nums[] = {
	        {&t.limits.attribute_count, c->limits.attribute_count, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	         "OTEL_ATTRIBUTE_COUNT_LIMIT"},
	        {&t.limits.attribute_value_length, c->limits.attribute_value_length,
	         "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"},
	        {&t.limits.event_count, c->limits.event_count, "OTEL_SPAN_EVENT_COUNT_LIMIT", NULL},
	        {&t.limits.link_count, c->limits.link_count, "OTEL_SPAN_LINK_COUNT_LIMIT", NULL},
	        {&t.limits.event_attribute_count, c->limits.event_attribute_count,
	         "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", NULL},
	        {&t.limits.link_attribute_count, c->limits.link_attribute_count,
	         "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", NULL},
	        {&t.batch.max_queue_size, c->batch.max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", NULL},
	        {&t.batch.schedule_delay_ms, c->batch.schedule_delay_ms, "OTEL_BSP_SCHEDULE_DELAY", NULL},
	        {&t.batch.max_export_batch_size, c->batch.max_export_batch_size,
	         "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", NULL},
	        {&t.batch.export_timeout_ms, c->batch.export_timeout_ms, "OTEL_BSP_EXPORT_TIMEOUT", NULL},
	        {&t.metrics_interval_ms, c->metrics_interval_ms, "OTEL_METRIC_EXPORT_INTERVAL", NULL},
	        {&t.logs.rate_limit, c->logs.rate_limit, "SONDE_LOG_RATE_LIMIT", NULL},
	        {&t.logs.max_value_length, c->logs.max_value_length, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
		if (!*nums[i].dst && !(nums[i].env && env_set(nums[i].env)) &&
		    !(nums[i].env2 && env_set(nums[i].env2)))
			*nums[i].dst = nums[i].file;
	if (!t.min_duration_ns)
		t.min_duration_ns = c->min_duration_ns;
	t.record_rusage = t.record_rusage || c->record_rusage;
	t.ordered_clock = t.ordered_clock || c->ordered_clock;
	if (!t.logs.level && !env_set("SONDE_LOG_LEVEL"))
		t.logs.level = c->logs.level;
	if (!t.logs.redact_off && !env_set("SONDE_LOG_REDACT") && c->redact_set)
		t.logs.redact_off = c->logs.redact_off;
	if (!t.logs.redact_email && !env_set("SONDE_LOG_REDACT_EMAIL"))
		t.logs.redact_email = c->logs.redact_email;
	if (!t.logs.redact_keys && !env_set("SONDE_LOG_REDACT_KEYS"))
		t.logs.redact_keys = c->logs.redact_keys;
	/* OTEL_{TRACES,METRICS,LOGS}_EXPORTER: a signal whose variable is set gets the
	 * exporters it names instead of the file's (the program's exporters win over both). */
	env_plan plan;
	plan_read(&plan, c->env_only);
	bool env_exporters = t.exporters_count == 0;
	/* Metrics are pushed when a periodic reader asks for it, or OTEL_METRICS_EXPORTER
	 * names an exporter that pushes; the Prometheus endpoint serves them when a pull
	 * reader or OTEL_METRICS_EXPORTER=prometheus asks for it. */
	bool push = c->periodic || c->env_only;
	if (env_exporters && (plan.set & SIG_METRICS))
		push = ((plan.want[EN_OTLP] | plan.want[EN_CONSOLE]) & SIG_METRICS) != 0;
	if (!t.metrics_off && !push)
		t.metrics_off = true;
	bool prom = c->prom;
	if (sonde__env_get("OTEL_METRICS_EXPORTER"))
		prom = (plan.want[EN_PROMETHEUS] & SIG_METRICS) != 0;
	char prom_addr[96];
	if (prom)
		prom_address(c->prom ? c->prom_addr : NULL, prom_addr, sizeof prom_addr);

	/* Exporters: the program's; else the file's, less those of the signals whose
	 * OTEL_*_EXPORTER variable is set, plus the exporters those variables name. The
	 * sonde.logs sinks are libsonde's own and stay. */
	int rc = 0;
	if (env_exporters) {
		for (size_t i = 0; i < c->nex && rc == 0; i++) {
			const ex_spec *e = &c->ex[i];
			if (e->kind != EX_LOG_JSON && (e->signals & plan.set))
				continue;
			if (e->kind == EX_FILE && !e->path) {
				sonde__diag("%s:%u: otlp_file to stdout is not supported by libsonde; use "
				            "console",
				            c->name, e->line);
				continue;
			}
			sonde_exporter *x = filtered(make_exporter(c, e), e->signals);
			if (!x) {
				sonde__diag("%s:%u: the exporter could not be created (see above)", c->name,
				            e->line);
				rc = -EINVAL;
				break;
			}
			t.exporters[t.exporters_count++] = x;
		}
		if (rc == 0)
			plan_make(&plan, plan.set, &t);
		/* No exporter at all would make sonde_trace_init fall back to OTLP. */
		if (rc == 0 && t.exporters_count == 0) {
			sonde_exporter *x = filtered(sonde_exporter_console_new(2), 0);
			if (x)
				t.exporters[t.exporters_count++] = x;
		}
	}
	if (rc < 0) {
		for (size_t i = p->exporters_count; i < t.exporters_count; i++)
			sonde_exporter_free(t.exporters[i]);
		if (made_sampler)
			sonde_sampler_free(t.sampler);
		return rc;
	}
	if (!c->env_only && (rc = install_views(c)) < 0)
		return rc;
	if (c->disabled && !env_set("OTEL_SDK_DISABLED")) {
		/* disabled: true - nothing starts; tracing, logs and the push stay off. */
		for (size_t i = p->exporters_count; i < t.exporters_count; i++)
			sonde_exporter_free(t.exporters[i]);
		if (made_sampler)
			sonde_sampler_free(t.sampler);
		return 0;
	}
	applying = true;
	rc = sonde_trace_init(&t);
	applying = false;
	if (rc < 0) {
		for (size_t i = p->exporters_count; i < t.exporters_count; i++)
			sonde_exporter_free(t.exporters[i]);
		if (made_sampler)
			sonde_sampler_free(t.sampler);
		return rc;
	}
	/* Runtime and host metrics: the file's switches under the environment's. */
	bool on;
	unsigned what = sonde_runtime_metrics_enabled();
	if (c->runtime >= 0 && !env_set("SONDE_METRICS_RUNTIME"))
		what = c->runtime ? what | SONDE_RUNTIME_METRICS_PROCESS
		                  : what & ~(unsigned)SONDE_RUNTIME_METRICS_PROCESS;
	else if (sonde__env_bool("SONDE_METRICS_RUNTIME", &on) > 0 && on)
		what |= SONDE_RUNTIME_METRICS_PROCESS;
	if (c->host >= 0 && !env_set("SONDE_METRICS_HOST"))
		what = c->host ? what | SONDE_RUNTIME_METRICS_HOST
		               : what & ~(unsigned)SONDE_RUNTIME_METRICS_HOST;
	else if (sonde__env_bool("SONDE_METRICS_HOST", &on) > 0 && on)
		what |= SONDE_RUNTIME_METRICS_HOST;
	if (what != sonde_runtime_metrics_enabled())
		sonde__runtime_metrics_set(what);
	if (c->profile_sample && !env_set("SONDE_PROFILE_SAMPLE"))
		sonde_profile_configure(&(sonde_profile_config){.sample_every = c->profile_sample});
	if (prom) {
		rc = sonde_metrics_prometheus_start(prom_addr);
		if (rc == -EALREADY)
			rc = 0;
		if (rc < 0)
			sonde__diag("%s: the Prometheus endpoint %s could not start: %s", c->name, prom_addr,
			            strerror(-rc));
		/* A bad environment value is reported and ignored, as the specification asks. */
		if (rc < 0 && (env_set("OTEL_METRICS_EXPORTER") || env_set("OTEL_EXPORTER_PROMETHEUS_HOST") ||
		               env_set("OTEL_EXPORTER_PROMETHEUS_PORT")))
			rc = 0;
	}
	return rc;
}

int sonde__config_init_from_env(const char *path, const struct sonde_trace_config *program)
{
	sonde_config *c;
	char err[512];
	if (!path) {
		/* No file: an empty configuration that keeps the runtime's defaults - tracing on,
		 * metrics pushed, runtime metrics as the environment says. */
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		sonde_arena_init(&c->arena);
		c->name = (char *)"environment";
		c->env_only = c->has_tracer = c->has_meter = c->periodic = true;
		c->runtime = c->host = -1;
		int rc = sonde_config_start(c, program);
		sonde_config_free(c);
		return rc;
	}
	int rc = sonde_config_load(path, &c, err, sizeof err);
	if (rc < 0) {
		sonde__diag("libsonde: configuration file refused: %s", err);
		return -EINVAL;
	}
	rc = sonde_config_start(c, program);
	sonde_config_free(c);
	return rc;
}
