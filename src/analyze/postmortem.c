/*
 * postmortem.c - the post-mortem generator and the method's guard rails (postmortem.h).
 *
 * The generator reads the incident, then asks the store four things: the first error in
 * the lookback, the requests per bucket (for the baseline, the error rate and recovery),
 * the failed requests of the impact window (endpoints, users, services), and the facts
 * for the timeline (anomaly windows, the first span of each service.version, journal
 * events). It merges those with the entries by time and writes Markdown.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomaly_find.h"
#include "arena.h"
#include "json.h"
#include "postmortem.h"
#include "sonde/status.h"

#define SEC         1000000000ull
#define MINUTE      (60 * SEC)
#define HOUR        (60 * MINUTE)
#define LOOKBACK    (6 * HOUR)
#define BASELINE    HOUR
#define MAX_BUCKETS 20000

/* ---- Guard rails --------------------------------------------------------------------- */

/* Prefixes: a word starting with one of these names a mechanism. */
static const char *const mechanism_words[] = {
        "because", "due",       "caus",      "missing", "leak",    "race",       "deadlock", "misconfig",
        "exhaust", "unbounded", "introduc",  "regress", "bug",     "overflow",   "lack",     "without",
        "remov",   "forgot",    "incorrect", "stale",   "expir",   "contention", "saturat",  "n+1",
        "wrong",   "mistak",    "typo",      "starv",   "throttl", "evict",      "fragment", "corrupt",
};
/* Whole words that only describe what was seen. */
static const char *const symptom_words[] = {
        "timeout",   "timeouts",   "timed",     "time",         "out",      "slow",        "slowness",
        "slower",    "latency",    "latencies", "high",         "higher",   "error",       "errors",
        "errored",   "erroring",   "500",       "502",          "503",      "504",         "5xx",
        "4xx",       "crash",      "crashes",   "crashed",      "crashing", "fail",        "fails",
        "failed",    "failing",    "failure",   "failures",     "down",     "outage",      "unavailable",
        "exception", "exceptions", "spike",     "spikes",       "degraded", "degradation", "elevated",
        "increased", "increase",   "requests",  "request",      "response", "responses",   "users",
        "user",      "customers",  "service",   "server",       "api",      "endpoint",    "endpoints",
        "p95",       "p99",        "hang",      "hangs",        "hung",     "stuck",       "broken",
        "http",      "internal",   "returning", "returned",     "returns",  "return",      "many",
        "lots",      "too",        "very",      "intermittent", "sporadic", "oom",         "killed",
        "restarts",  "restarting", "status",    "code",         "codes",    "site",        "page",
        "pages",     "load",       "loading",   "took",         "long",     "took",        "seconds",
};
static const char *const small_words[] = {
        "the",   "a",  "an",   "of",  "in",  "on",   "at",   "and",  "or",  "was",  "were", "is",
        "are",   "be", "been", "to",  "for", "with", "by",   "from", "it",  "its",  "this", "that",
        "there", "we", "our",  "saw", "had", "has",  "have", "got",  "get", "some", "all",  "s",
};

static bool in_list(const char *w, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w, list[i]) == 0)
			return true;
	return false;
}

static bool has_prefix_in(const char *w, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(w, list[i], strlen(list[i])) == 0)
			return true;
	return false;
}

/* Lower-case letters and digits of s with every other run of bytes as one space, no
 * space at either end, into out[0..cap). */
static void normalise(const char *s, char *out, size_t cap)
{
	size_t k = 0;
	bool space = false;
	for (; *s && k + 2 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '+') {
			if (space && k)
				out[k++] = ' ';
			space = false;
			out[k++] = (char)tolower(c);
		} else {
			space = true;
		}
	}
	out[k] = '\0';
}

bool sonde_root_cause_restates_symptom(const char *text, const char *const *symptoms, size_t n, char *why,
                                       size_t why_len)
{
	char norm[1024], other[1024];
	if (why && why_len)
		why[0] = '\0';
	normalise(text ? text : "", norm, sizeof norm);
	for (size_t i = 0; i < n; i++) {
		if (!symptoms[i])
			continue;
		normalise(symptoms[i], other, sizeof other);
		if (norm[0] && strcmp(norm, other) == 0) {
			if (why && why_len)
				snprintf(why, why_len,
				         "the root cause repeats a symptom already recorded (\"%.80s\")",
				         symptoms[i]);
			return true;
		}
	}
	size_t content = 0, symptom = 0;
	char found[160] = "";
	for (char *w = strtok(norm, " "); w; w = strtok(NULL, " ")) {
		if (has_prefix_in(w, mechanism_words, sizeof mechanism_words / sizeof *mechanism_words))
			return false;
		if (in_list(w, small_words, sizeof small_words / sizeof *small_words))
			continue;
		content++;
		if (in_list(w, symptom_words, sizeof symptom_words / sizeof *symptom_words)) {
			symptom++;
			size_t fl = strlen(found);
			if (fl + strlen(w) + 3 < sizeof found && !strstr(found, w))
				snprintf(found + fl, sizeof found - fl, "%s%s", fl ? ", " : "", w);
		}
	}
	if (content == 0 || symptom * 10 < content * 6)
		return false;
	if (why && why_len)
		snprintf(
		        why, why_len,
		        "the root cause only describes symptoms (%s) and names no mechanism (because, due to,"
		        " caused by, missing, leak, ...)",
		        found);
	return true;
}

bool sonde_incident_detail_get(const char *detail_json, const char *key, char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	if (!detail_json || !*detail_json || !cap)
		return false;
	sonde_json_reader r;
	sonde_json_reader_init(&r, detail_json, strlen(detail_json));
	bool found = false;
	if (sonde_json_enter_object(&r) == 0) {
		const char *k;
		size_t kn;
		while (!found && sonde_json_next_key(&r, &k, &kn) == 1) {
			if (kn != strlen(key) || memcmp(k, key, kn) != 0) {
				if (sonde_json_skip(&r) < 0)
					break;
				continue;
			}
			sonde_json_tok t = sonde_json_next(&r);
			const char *v = NULL;
			size_t vn = 0;
			if (t == SONDE_JSON_STRING) {
				v = r.str;
				vn = r.str_len;
			} else if (t == SONDE_JSON_NUMBER) {
				v = r.num;
				vn = r.num_len;
			} else if (t == SONDE_JSON_TRUE) {
				v = "true";
				vn = 4;
			} else if (t == SONDE_JSON_FALSE) {
				v = "false";
				vn = 5;
			}
			if (v) {
				if (vn >= cap)
					vn = cap - 1;
				memcpy(out, v, vn);
				out[vn] = '\0';
				found = true;
			}
			break;
		}
	}
	sonde_json_reader_release(&r);
	return found;
}

/* The number of the hypothesis entry e (1, 2, ... among the hypotheses), or 0. */
static int64_t hypothesis_number(const sonde_incident_record *r, size_t idx)
{
	int64_t n = 0;
	for (size_t i = 0; i <= idx && i < r->count; i++)
		if (r->entries[i].kind == SONDE_ENTRY_HYPOTHESIS)
			n++;
	return r->entries[idx].kind == SONDE_ENTRY_HYPOTHESIS ? n : 0;
}

static bool held(const sonde_incident_entry *e)
{
	char v[16];
	return e->kind == SONDE_ENTRY_VERIFY &&
	       sonde_incident_detail_get(e->detail_json, "held", v, sizeof v) && strcmp(v, "true") == 0;
}

unsigned sonde_incident_check(const sonde_incident_record *r)
{
	unsigned flags = SONDE_PM_NO_VERIFIED_HYPOTHESIS | SONDE_PM_NO_ROOT_CAUSE;
	const sonde_incident_entry *rc = NULL;
	for (size_t i = 0; i < r->count; i++) {
		if (held(&r->entries[i]))
			flags &= ~(unsigned)SONDE_PM_NO_VERIFIED_HYPOTHESIS;
		if (r->entries[i].kind == SONDE_ENTRY_ROOT_CAUSE)
			rc = &r->entries[i];
	}
	if (rc) {
		flags &= ~(unsigned)SONDE_PM_NO_ROOT_CAUSE;
		const char **sym = calloc(r->count + 1, sizeof *sym);
		size_t n = 0;
		if (sym) {
			sym[n++] = r->inc.title;
			for (size_t i = 0; i < r->count; i++)
				if (r->entries[i].kind == SONDE_ENTRY_EVIDENCE)
					sym[n++] = r->entries[i].text;
		}
		if (sonde_root_cause_restates_symptom(rc->text, sym, n, NULL, 0))
			flags |= SONDE_PM_SYMPTOM_ROOT_CAUSE;
		free(sym);
	}
	return flags;
}

/* ---- Formatting ---------------------------------------------------------------------- */

static void fmt_time(uint64_t ns, char *out, size_t cap)
{
	time_t s = (time_t)(ns / SEC);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void fmt_dur(uint64_t ns, char *out, size_t cap)
{
	uint64_t s = (ns + SEC / 2) / SEC;
	if (s < 60)
		snprintf(out, cap, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(out, cap, "%" PRIu64 "m %02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%" PRIu64 "h %02" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(out, cap, "%" PRIu64 "d %02" PRIu64 "h", s / 86400, s / 3600 % 24);
}

/* Appends s with Markdown table and inline specials neutralised and newlines folded. */
static void md_text(sonde_buf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|' || *s == '*' || *s == '_' || *s == '`' || *s == '<' || *s == '[' || *s == ']')
			sonde_buf_putc(b, '\\');
		sonde_buf_putc(b, *s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s);
	}
}

static const char *value_text(const sonde_value *v, char *tmp, size_t cap)
{
	if (!v)
		return NULL;
	switch (v->kind) {
	case SONDE_VAL_STRING: snprintf(tmp, cap, "%.*s", (int)v->u.str.len, v->u.str.ptr); return tmp;
	case SONDE_VAL_INT: snprintf(tmp, cap, "%" PRId64, v->u.i); return tmp;
	case SONDE_VAL_BOOL: return v->u.b ? "true" : "false";
	case SONDE_VAL_DOUBLE: snprintf(tmp, cap, "%.17g", v->u.d); return tmp;
	default: return NULL;
	}
}

static const char *service_of(const sonde_resource *r, char *tmp, size_t cap)
{
	const char *s = r ? value_text(sonde_attrs_get(&r->attrs, "service.name"), tmp, cap) : NULL;
	return s && *s ? s : "unknown service";
}

/* ---- Telemetry ----------------------------------------------------------------------- */

typedef struct pm_count {
	char *name;
	uint64_t requests, failed;
} pm_count;

typedef struct pm_counts {
	pm_count *items;
	size_t count, cap;
} pm_counts;

static pm_count *count_of(pm_counts *c, sonde_arena *a, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (strcmp(c->items[i].name, name) == 0)
			return &c->items[i];
	if (c->count == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		pm_count *n = realloc(c->items, ncap * sizeof *n);
		if (!n)
			return NULL;
		c->items = n;
		c->cap = ncap;
	}
	pm_count *e = &c->items[c->count];
	e->name = sonde_arena_strndup(a, name, strlen(name));
	if (!e->name)
		return NULL;
	e->requests = e->failed = 0;
	c->count++;
	return e;
}

static int by_failed(const void *a, const void *b)
{
	const pm_count *x = a, *y = b;
	if (x->failed != y->failed)
		return x->failed > y->failed ? -1 : 1;
	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Requests are the entries of traces: root spans. A store of partial traces (no root
 * span in the window) counts server spans instead; pass 1 counts both. */
typedef struct pm_scan {
	uint64_t since_ns, bucket_ns;
	size_t nb;
	uint64_t *req[2], *fail[2];         /* per bucket from since_ns; [0] roots, [1] server spans */
	uint64_t base_req[2], base_fail[2]; /* the baseline hour */
	int mode;                           /* which of the two pass 2 counts as requests */
	/* pass 2 */
	bool detail;
	uint64_t requests, failed;
	pm_counts endpoints, users, services; /* services and users: of any failed span */
	sonde_arena *arena;
	int err;
} pm_scan;

static void count_bucket(pm_scan *p, int m, const sonde_span_data *sp, bool failed)
{
	if (sp->start_ns < p->since_ns) {
		p->base_req[m]++;
		p->base_fail[m] += failed;
		return;
	}
	size_t i = (size_t)((sp->start_ns - p->since_ns) / p->bucket_ns);
	if (i < p->nb) {
		p->req[m][i]++;
		p->fail[m][i] += failed;
	}
}

static int on_span(void *ctx, const sonde_span_data *sp)
{
	static const uint8_t zero[8];
	pm_scan *p = ctx;
	bool root = memcmp(sp->parent_span_id, zero, 8) == 0, server = sp->kind == SONDE_SPAN_KIND_SERVER;
	bool failed = sp->status_code == SONDE_STATUS_ERROR;
	if (!p->detail) {
		if (root)
			count_bucket(p, 0, sp, failed);
		if (server)
			count_bucket(p, 1, sp, failed);
		return 0;
	}
	char tmp[256];
	pm_count *c;
	if (failed) {
		const char *svc = service_of(sp->resource, tmp, sizeof tmp);
		if (!(c = count_of(&p->services, p->arena, svc)))
			return p->err = -ENOMEM;
		c->failed++;
		static const char *const user_keys[] = {"enduser.id", "user_id", "user.id"};
		for (size_t k = 0; k < 3; k++) {
			const char *u =
			        value_text(sonde_attrs_get(&sp->attrs, user_keys[k]), tmp, sizeof tmp);
			if (u && *u) {
				if (!(c = count_of(&p->users, p->arena, u)))
					return p->err = -ENOMEM;
				c->failed++;
				break;
			}
		}
	}
	if (!(p->mode == 0 ? root : server))
		return 0;
	p->requests++;
	p->failed += failed;
	const char *ep = value_text(sonde_attrs_get(&sp->attrs, "http.route"), tmp, sizeof tmp);
	char name[300];
	snprintf(name, sizeof name, "%s", ep && *ep ? ep : sp->name.ptr);
	if (!(c = count_of(&p->endpoints, p->arena, name)))
		return p->err = -ENOMEM;
	c->requests++;
	c->failed += failed;
	return 0;
}

/* ---- The timeline -------------------------------------------------------------------- */

typedef struct pm_item {
	uint64_t t;
	size_t order;
	const char *what;   /* Markdown, in the arena */
	const char *source; /* "telemetry", "journal", "incident" */
} pm_item;

typedef struct pm_timeline {
	pm_item *items;
	size_t count, cap;
	sonde_arena *arena;
	int err;
} pm_timeline;

static void tl_add(pm_timeline *tl, uint64_t t, const char *source, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void tl_add(pm_timeline *tl, uint64_t t, const char *source, const char *fmt, ...)
{
	if (tl->err)
		return;
	if (tl->count == tl->cap) {
		size_t ncap = tl->cap ? tl->cap * 2 : 32;
		pm_item *n = realloc(tl->items, ncap * sizeof *n);
		if (!n) {
			tl->err = -ENOMEM;
			return;
		}
		tl->items = n;
		tl->cap = ncap;
	}
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sonde_buf esc = SONDE_BUF_INIT;
	md_text(&esc, tmp);
	char *w = sonde_arena_strndup(tl->arena, esc.len ? esc.data : "", esc.len);
	sonde_buf_release(&esc);
	if (!w) {
		tl->err = -ENOMEM;
		return;
	}
	tl->items[tl->count] = (pm_item){t, tl->count, w, source};
	tl->count++;
}

static int by_time(const void *a, const void *b)
{
	const pm_item *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* ---- The document -------------------------------------------------------------------- */

typedef struct pm_action {
	const sonde_incident_entry *e;
	int prio;
	char owner[128], due[32], status[32];
} pm_action;

static int by_priority(const void *a, const void *b)
{
	const pm_action *x = a, *y = b;
	if (x->prio != y->prio)
		return x->prio - y->prio;
	int d = strcmp(x->due[0] ? x->due : "~", y->due[0] ? y->due : "~");
	if (d)
		return d;
	return x->e->seq < y->e->seq ? -1 : x->e->seq > y->e->seq;
}

typedef struct pm {
	sonde_store *s;
	const sonde_incident_record *r;
	sonde_arena arena;
	sonde_buf *out;
	uint64_t now_ns, lb_ns, end_ns;
	uint64_t first_error_ns;
	char first_error[512];
	uint64_t since_ns, until_ns, recovery_ns; /* recovery 0: none seen */
	bool since_given, until_given;
	double base_rate;
	pm_scan scan;
	uint64_t error_logs;
	pm_timeline tl;
	char factors[8][512];
	size_t factors_count;
} pm;

static int store_err(pm *p, int rc, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what,
	         sonde_store_errmsg(p->s)[0] ? sonde_store_errmsg(p->s) : sonde_strerror(rc));
	return rc;
}

/* The first failed span or error log in [lb, end). */
static int find_first_error(pm *p)
{
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return -ENOMEM;
	sonde_query q = {.since_ns = p->lb_ns,
	                 .until_ns = p->end_ns,
	                 .errors_only = true,
	                 .sort = SONDE_SORT_TIME_ASC,
	                 .limit = 1};
	ssize_t n = sonde_store_select_spans(p->s, &q, SONDE_FIELDS_ALL, b);
	if (n < 0)
		goto out;
	char tmp[256];
	if (n > 0) {
		const sonde_span_data *sp = &b->spans[0];
		p->first_error_ns = sp->start_ns;
		snprintf(p->first_error, sizeof p->first_error, "%s: %s failed%s%.*s",
		         service_of(sp->resource, tmp, sizeof tmp), sp->name.ptr,
		         sp->status_message.len ? ": " : "",
		         (int)(sp->status_message.len > 200 ? 200 : sp->status_message.len),
		         sp->status_message.ptr);
	}
	n = sonde_store_select_logs(p->s, &q, b);
	if (n < 0)
		goto out;
	if (n > 0) {
		const sonde_log_data *l = &b->logs[0];
		uint64_t t = l->time_ns ? l->time_ns : l->observed_time_ns;
		if (!p->first_error_ns || t < p->first_error_ns) {
			char body[256];
			const char *bt = value_text(&l->body, body, sizeof body);
			p->first_error_ns = t;
			snprintf(p->first_error, sizeof p->first_error, "%s: %.200s",
			         service_of(l->resource, tmp, sizeof tmp), bt ? bt : "(error log record)");
		}
	}
	n = 0;
out:
	sonde_batch_free(b);
	return (int)n;
}

static int count_error_logs(void *ctx, const sonde_log_data *l)
{
	(void)l;
	((pm *)ctx)->error_logs++;
	return 0;
}

/* Requests per bucket, the baseline, recovery; then the detail of the impact window. */
static int measure(pm *p)
{
	pm_scan *sc = &p->scan;
	uint64_t span_ns = p->end_ns > p->since_ns ? p->end_ns - p->since_ns : MINUTE;
	sc->since_ns = p->since_ns;
	sc->bucket_ns = MINUTE;
	if (span_ns / sc->bucket_ns > MAX_BUCKETS)
		sc->bucket_ns = (span_ns / MAX_BUCKETS + MINUTE - 1) / MINUTE * MINUTE;
	sc->nb = (size_t)(span_ns / sc->bucket_ns + 1);
	for (int m = 0; m < 2; m++) {
		sc->req[m] = calloc(sc->nb, sizeof *sc->req[m]);
		sc->fail[m] = calloc(sc->nb, sizeof *sc->fail[m]);
		if (!sc->req[m] || !sc->fail[m])
			return -ENOMEM;
	}
	sc->arena = &p->arena;
	sonde_query q = {.since_ns = p->since_ns > BASELINE ? p->since_ns - BASELINE : 1,
	                 .until_ns = p->end_ns};
	int rc = sonde_store_scan_spans(p->s, &q, SONDE_FIELDS_BASE, on_span, sc);
	if (rc < 0)
		return rc;
	uint64_t roots = sc->base_req[0];
	for (size_t i = 0; i < sc->nb; i++)
		roots += sc->req[0][i];
	int m = sc->mode = roots ? 0 : 1;
	const uint64_t *req = sc->req[m], *fail = sc->fail[m];
	p->base_rate = sc->base_req[m] ? (double)sc->base_fail[m] / (double)sc->base_req[m] : 0;
	/* Elevated: more than twice the baseline and at least a point above it. */
	double limit = p->base_rate + (p->base_rate > 0.01 ? p->base_rate : 0.01);
	size_t last_bad = SIZE_MAX;
	for (size_t i = 0; i < sc->nb; i++)
		if (req[i] && (double)fail[i] / (double)req[i] > limit)
			last_bad = i;
	if (last_bad != SIZE_MAX)
		for (size_t i = last_bad + 1; i < sc->nb; i++)
			if (req[i]) {
				p->recovery_ns = p->since_ns + i * sc->bucket_ns;
				break;
			}
	if (!p->until_given)
		p->until_ns = p->recovery_ns ? p->recovery_ns : p->end_ns;
	sc->detail = true;
	q = (sonde_query){.since_ns = p->since_ns, .until_ns = p->until_ns};
	if ((rc = sonde_store_scan_spans(p->s, &q, SONDE_FIELDS_ALL, on_span, sc)) < 0)
		return rc;
	if (sc->err)
		return sc->err;
	q.errors_only = true;
	return sonde_store_scan_logs(p->s, &q, count_error_logs, p);
}

static int timeline_from_store(pm *p)
{
	pm_timeline *tl = &p->tl;
	char a[64], b[64];
	if (p->first_error_ns)
		tl_add(tl, p->first_error_ns, "telemetry", "First error: %s", p->first_error);
	if (p->recovery_ns) {
		fmt_dur(p->recovery_ns - p->since_ns, a, sizeof a);
		tl_add(tl, p->recovery_ns, "telemetry",
		       "Recovery: error rate back to the baseline (%.1f%%), %s after the window opened",
		       100 * p->base_rate, a);
	}
	/* Anomalies whose window starts in [lb, end). */
	sonde_anomaly_report rep;
	const sonde_anomaly_find_opts ao = {0};
	sonde_query q = {.since_ns = p->lb_ns > 24 * HOUR ? p->lb_ns - 24 * HOUR : 1, .until_ns = p->end_ns};
	ssize_t n = sonde_anomaly_find(p->s, &q, &ao, &rep);
	if (n < 0) {
		sonde_anomaly_report_release(&rep);
		return (int)n;
	}
	for (size_t i = 0; i < rep.count; i++) {
		const sonde_anomaly_found *f = &rep.items[i];
		if (f->window.start_ns < p->lb_ns || f->window.start_ns >= p->end_ns)
			continue;
		tl_add(tl, f->window.start_ns, "telemetry",
		       "Anomaly onset: %s%s%s%s (%s, peak %g where %g was expected)", f->metric,
		       *f->service ? " of " : "", f->service, "", sonde_anomaly_kind_name(f->window.kind),
		       f->window.peak_value, f->window.expected);
	}
	sonde_anomaly_report_release(&rep);
	/* The first span of each service.version after the service's first version. */
	sonde_agg_key keys[2] = {{.kind = SONDE_KEY_SERVICE},
	                         {.kind = SONDE_KEY_ATTR, .attr = "service.version"}};
	sonde_agg_result agg;
	q = (sonde_query){.until_ns = p->end_ns};
	n = sonde_store_aggregate_spans(p->s, &q, keys, 2, NULL, NULL, &agg);
	if (n < 0) {
		sonde_agg_result_release(&agg);
		return (int)n;
	}
	for (size_t i = 0; i < agg.count; i++) {
		const sonde_agg_group *g = &agg.groups[i];
		if (!*g->values[1] || g->first_start_ns < p->lb_ns)
			continue;
		const sonde_agg_group *prev = NULL;
		for (size_t j = 0; j < agg.count; j++) {
			const sonde_agg_group *h = &agg.groups[j];
			if (j != i && *h->values[1] && strcmp(h->values[0], g->values[0]) == 0 &&
			    h->first_start_ns < g->first_start_ns &&
			    (!prev || h->first_start_ns > prev->first_start_ns))
				prev = h;
		}
		if (!prev)
			continue;
		tl_add(tl, g->first_start_ns, "telemetry", "Version change: %s runs version %s (was %s)",
		       g->values[0], g->values[1], prev->values[1]);
		if (p->factors_count < 8 && (!p->first_error_ns || g->first_start_ns <= p->first_error_ns)) {
			if (p->first_error_ns)
				fmt_dur(p->first_error_ns - g->first_start_ns, b, sizeof b);
			snprintf(p->factors[p->factors_count++], sizeof p->factors[0],
			         "%s version %s went live%s%s%s (from the spans' service.version).",
			         g->values[0], g->values[1], p->first_error_ns ? " " : "",
			         p->first_error_ns ? b : "",
			         p->first_error_ns ? " before the first error" : "");
		}
	}
	sonde_agg_result_release(&agg);
	/* Journal events of the window and of the incident. */
	sonde_event_list ev;
	sonde_event_query eq = {.since_ns = p->lb_ns, .until_ns = p->end_ns};
	n = sonde_store_events(p->s, &eq, &ev);
	if (n < 0) {
		sonde_event_list_release(&ev);
		return (int)n;
	}
	for (size_t i = 0; i < ev.count; i++)
		tl_add(tl, ev.items[i].time_ns, "journal", "%s%s: %s%s%s%s",
		       ev.items[i].kind[0] ? "" : "event", ev.items[i].kind, ev.items[i].summary,
		       ev.items[i].source[0] ? " (" : "", ev.items[i].source,
		       ev.items[i].source[0] ? ")" : "");
	sonde_event_list_release(&ev);
	eq = (sonde_event_query){.incident_id = p->r->inc.id};
	n = sonde_store_events(p->s, &eq, &ev);
	if (n < 0) {
		sonde_event_list_release(&ev);
		return (int)n;
	}
	for (size_t i = 0; i < ev.count; i++)
		if (ev.items[i].time_ns < p->lb_ns || ev.items[i].time_ns >= p->end_ns)
			tl_add(tl, ev.items[i].time_ns, "journal", "%s: %s", ev.items[i].kind,
			       ev.items[i].summary);
	sonde_event_list_release(&ev);
	return tl->err;
}

static void timeline_from_entries(pm *p)
{
	const sonde_incident_record *r = p->r;
	pm_timeline *tl = &p->tl;
	char v1[128], v2[128];
	tl_add(tl, r->inc.created_ns, "incident", "Incident %s opened (%s)", r->inc.id,
	       sonde_incident_severity_name(r->inc.severity));
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		switch (e->kind) {
		case SONDE_ENTRY_REPRO:
			sonde_incident_detail_get(e->detail_json, "reproduced", v1, sizeof v1);
			sonde_incident_detail_get(e->detail_json, "attempts", v2, sizeof v2);
			tl_add(tl, e->time_ns, "incident", "Reproduced %s of %s attempts: %s", v1, v2,
			       e->text);
			break;
		case SONDE_ENTRY_EVIDENCE:
			tl_add(tl, e->time_ns, "incident", "Evidence (%s): %s", e->source, e->text);
			break;
		case SONDE_ENTRY_HYPOTHESIS:
			tl_add(tl, e->time_ns, "incident", "Hypothesis %" PRId64 ": %s",
			       hypothesis_number(r, i), e->text);
			break;
		case SONDE_ENTRY_VERIFY:
			tl_add(tl, e->time_ns, "incident", "Hypothesis %" PRId64 " %s: %s", e->ref,
			       held(e) ? "held" : "did not hold", e->text);
			break;
		case SONDE_ENTRY_ROOT_CAUSE:
			tl_add(tl, e->time_ns, "incident", "Root cause found: %s", e->text);
			break;
		case SONDE_ENTRY_FIX: tl_add(tl, e->time_ns, "incident", "Fix: %s", e->text); break;
		case SONDE_ENTRY_NOTE: tl_add(tl, e->time_ns, "incident", "Note: %s", e->text); break;
		default: break;
		}
	}
	if (r->inc.resolved)
		tl_add(tl, r->inc.resolved_ns, "incident", "Incident %s resolved", r->inc.id);
}

static const sonde_incident_entry *last_of(const sonde_incident_record *r, sonde_entry_kind k)
{
	for (size_t i = r->count; i-- > 0;)
		if (r->entries[i].kind == k)
			return &r->entries[i];
	return NULL;
}

static bool tagged(const sonde_incident_entry *e, const char *tag)
{
	char v[64];
	return e->kind == SONDE_ENTRY_NOTE && sonde_incident_detail_get(e->detail_json, "tag", v, sizeof v) &&
	       strcmp(v, tag) == 0;
}

static void write_list_item(sonde_buf *o, const char *text)
{
	sonde_buf_puts(o, "- ");
	md_text(o, text);
	sonde_buf_putc(o, '\n');
}

static void write_header(pm *p)
{
	const sonde_incident *inc = &p->r->inc;
	sonde_buf *o = p->out;
	char a[64], b[64];
	sonde_buf_puts(o, "# Post-mortem: ");
	md_text(o, inc->id);
	sonde_buf_puts(o, " ");
	md_text(o, inc->title);
	fmt_time(p->now_ns, a, sizeof a);
	sonde_buf_printf(o,
	                 "\n\n*Blameless post-mortem written by sonde on %s from the incident journal and the"
	                 " telemetry store. It describes what happened and what we change, not who is to"
	                 " blame.*\n\n",
	                 a);
	fmt_time(inc->created_ns, a, sizeof a);
	sonde_buf_printf(o, "| | |\n|---|---|\n| Severity | %s |\n| Status | %s |\n| Opened | %s",
	                 sonde_incident_severity_name(inc->severity), inc->resolved ? "resolved" : "open", a);
	if (*inc->author) {
		sonde_buf_puts(o, " by ");
		md_text(o, inc->author);
	}
	sonde_buf_puts(o, " |\n");
	if (inc->resolved) {
		fmt_time(inc->resolved_ns, a, sizeof a);
		fmt_dur(inc->resolved_ns -
		                (inc->resolved_ns > inc->created_ns ? inc->created_ns : inc->resolved_ns),
		        b, sizeof b);
		sonde_buf_printf(o, "| Resolved | %s (%s after it was opened) |\n", a, b);
	}
	sonde_buf_putc(o, '\n');
}

static void write_summary_impact(pm *p)
{
	sonde_buf *o = p->out;
	const pm_scan *sc = &p->scan;
	char a[64], b[64], d[64];
	fmt_time(p->since_ns, a, sizeof a);
	fmt_time(p->until_ns, b, sizeof b);
	fmt_dur(p->until_ns - p->since_ns, d, sizeof d);
	double rate = sc->requests ? 100.0 * (double)sc->failed / (double)sc->requests : 0;
	sonde_buf_puts(o, "## Summary\n\n");
	md_text(o, p->r->inc.title);
	sonde_buf_printf(o, ". From %s to %s (%s), %" PRIu64 " of %" PRIu64 " requests failed (%.1f%%)", a, b,
	                 d, sc->failed, sc->requests, rate);
	if (sc->users.count)
		sonde_buf_printf(o, " for %zu user%s", sc->users.count, sc->users.count == 1 ? "" : "s");
	size_t failing = 0;
	for (size_t i = 0; i < sc->endpoints.count; i++)
		failing += sc->endpoints.items[i].failed > 0;
	if (failing)
		sonde_buf_printf(o, " on %zu endpoint%s", failing, failing == 1 ? "" : "s");
	sonde_buf_puts(o, ".");
	const sonde_incident_entry *rc = last_of(p->r, SONDE_ENTRY_ROOT_CAUSE);
	const sonde_incident_entry *fx = last_of(p->r, SONDE_ENTRY_FIX);
	if (rc) {
		sonde_buf_puts(o, " Root cause: ");
		md_text(o, rc->text);
		if (rc->text[0] && rc->text[strlen(rc->text) - 1] != '.')
			sonde_buf_putc(o, '.');
	}
	if (fx) {
		sonde_buf_puts(o, " Fix: ");
		md_text(o, fx->text);
		if (fx->text[0] && fx->text[strlen(fx->text) - 1] != '.')
			sonde_buf_putc(o, '.');
	}
	sonde_buf_puts(o, "\n\n## Impact\n\n");
	sonde_buf_printf(o, "- Window: %s to %s (%s); %s, %s.\n", a, b, d,
	                 p->since_given      ? "start given with --since"
	                 : p->first_error_ns ? "from the first error"
	                                     : "from the incident's creation (no error found before it)",
	                 p->until_given       ? "end given with --until"
	                 : p->recovery_ns     ? "to recovery (error rate back to the baseline)"
	                 : p->r->inc.resolved ? "to the resolution (no recovery seen in the telemetry)"
	                                      : "to now (no recovery seen in the telemetry)");
	sonde_buf_printf(o,
	                 "- Requests (%s): %" PRIu64 ", of which %" PRIu64
	                 " failed: error rate %.1f%% (baseline %.1f%% over the"
	                 " hour before, %" PRIu64 " requests).\n",
	                 sc->mode == 0 ? "root spans" : "server spans; no root span was stored", sc->requests,
	                 sc->failed, rate, 100 * p->base_rate, sc->base_req[sc->mode]);
	sonde_buf_printf(o, "- Error log records: %" PRIu64 ".\n", p->error_logs);
	sonde_buf_printf(o, "- Affected users: %zu", sc->users.count);
	if (sc->users.count)
		qsort(sc->users.items, sc->users.count, sizeof *sc->users.items, by_failed);
	for (size_t i = 0; i < sc->users.count && i < 5; i++) {
		sonde_buf_printf(o, "%s", i ? ", " : " (most failures: ");
		md_text(o, sc->users.items[i].name);
		sonde_buf_printf(o, " %" PRIu64, sc->users.items[i].failed);
	}
	sonde_buf_printf(o, "%s.\n", sc->users.count ? (sc->users.count > 5 ? ", ...)" : ")") : "");
	if (sc->services.count)
		qsort(sc->services.items, sc->services.count, sizeof *sc->services.items, by_failed);
	sonde_buf_printf(o, "- Services with failed spans: ");
	for (size_t i = 0; i < sc->services.count; i++) {
		sonde_buf_printf(o, "%s", i ? ", " : "");
		md_text(o, sc->services.items[i].name);
		sonde_buf_printf(o, " (%" PRIu64 ")", sc->services.items[i].failed);
	}
	sonde_buf_printf(o, "%s.\n", sc->services.count ? "" : "none");
	if (sc->endpoints.count)
		qsort(sc->endpoints.items, sc->endpoints.count, sizeof *sc->endpoints.items, by_failed);
	size_t shown = 0;
	for (size_t i = 0; i < sc->endpoints.count && shown < 10; i++) {
		const pm_count *c = &sc->endpoints.items[i];
		if (!c->failed)
			break;
		if (!shown++)
			sonde_buf_puts(
			        o, "\n| Endpoint | Failed | Requests | Error rate |\n|---|---:|---:|---:|\n");
		sonde_buf_puts(o, "| ");
		md_text(o, c->name);
		sonde_buf_printf(o, " | %" PRIu64 " | %" PRIu64 " | %.1f%% |\n", c->failed, c->requests,
		                 100.0 * (double)c->failed / (double)c->requests);
	}
	sonde_buf_putc(o, '\n');
}

static void write_timeline(pm *p)
{
	sonde_buf *o = p->out;
	if (p->tl.count)
		qsort(p->tl.items, p->tl.count, sizeof *p->tl.items, by_time);
	sonde_buf_puts(o,
	               "## Timeline\n\nTimes are UTC. *telemetry*: found in the store; *journal*: recorded"
	               " events (deploys, canary and compare verdicts); *incident*: the investigation's own"
	               " entries.\n\n| Time | Event | Source |\n|---|---|---|\n");
	char a[64];
	for (size_t i = 0; i < p->tl.count; i++) {
		fmt_time(p->tl.items[i].t, a, sizeof a);
		sonde_buf_printf(o, "| %s | %s | %s |\n", a, p->tl.items[i].what, p->tl.items[i].source);
	}
	sonde_buf_putc(o, '\n');
}

static void write_investigation(pm *p)
{
	const sonde_incident_record *r = p->r;
	sonde_buf *o = p->out;
	char v1[128], v2[128];
	sonde_buf_puts(o, "## Investigation\n\n");
	bool any = false;
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		if (e->kind != SONDE_ENTRY_REPRO)
			continue;
		sonde_incident_detail_get(e->detail_json, "reproduced", v1, sizeof v1);
		sonde_incident_detail_get(e->detail_json, "attempts", v2, sizeof v2);
		double k = atof(v1), n = atof(v2);
		sonde_buf_puts(o, "- Reproduction: ");
		md_text(o, e->text);
		sonde_buf_printf(o, " (reproduced %s of %s attempts, %.0f%%)\n", v1, v2,
		                 n > 0 ? 100 * k / n : 0);
		any = true;
	}
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		if (e->kind != SONDE_ENTRY_EVIDENCE)
			continue;
		sonde_buf_printf(o, "- Evidence %" PRId64 " (%s): ", e->seq, e->source);
		md_text(o, e->text);
		sonde_buf_putc(o, '\n');
		any = true;
	}
	if (!any)
		sonde_buf_puts(o, "No reproduction or evidence was recorded.\n");
	bool hyp = false;
	for (size_t i = 0; i < r->count; i++) {
		if (r->entries[i].kind != SONDE_ENTRY_HYPOTHESIS)
			continue;
		if (!hyp)
			sonde_buf_puts(o, "\n| # | Hypothesis | Test | Result |\n|---:|---|---|---|\n");
		hyp = true;
		int64_t num = hypothesis_number(r, i);
		bool tested = false;
		for (size_t j = 0; j < r->count; j++) {
			const sonde_incident_entry *v = &r->entries[j];
			if (v->kind != SONDE_ENTRY_VERIFY || v->ref != num)
				continue;
			sonde_buf_printf(o, "| %" PRId64 " | ", num);
			md_text(o, r->entries[i].text);
			sonde_buf_puts(o, " | ");
			md_text(o, v->text);
			sonde_buf_printf(o, " | %s |\n", held(v) ? "held" : "did not hold");
			tested = true;
		}
		if (!tested) {
			sonde_buf_printf(o, "| %" PRId64 " | ", num);
			md_text(o, r->entries[i].text);
			sonde_buf_puts(o, " | not tested | - |\n");
		}
	}
	sonde_buf_putc(o, '\n');
}

static void write_cause_and_fix(pm *p, unsigned flags)
{
	const sonde_incident_record *r = p->r;
	sonde_buf *o = p->out;
	char v[256];
	sonde_buf_puts(o, "## Root cause\n\n");
	const sonde_incident_entry *rc = last_of(r, SONDE_ENTRY_ROOT_CAUSE);
	if (rc) {
		md_text(o, rc->text);
		sonde_buf_puts(o, "\n\n");
	} else {
		sonde_buf_puts(o, "*Not recorded yet* (`sonde incident root-cause`).\n\n");
	}
	if (flags & SONDE_PM_SYMPTOM_ROOT_CAUSE)
		sonde_buf_puts(
		        o, "> **Check:** this root cause restates a symptom; name the mechanism that produced"
		           " it.\n\n");
	sonde_buf_puts(o, "## Contributing factors\n\n");
	bool any = false;
	for (size_t i = 0; i < p->factors_count; i++, any = true)
		write_list_item(o, p->factors[i]);
	for (size_t i = 0; i < r->count; i++)
		if (tagged(&r->entries[i], "contributing")) {
			write_list_item(o, r->entries[i].text);
			any = true;
		}
	if (!any)
		sonde_buf_puts(o, "None recorded.\n");
	sonde_buf_puts(o, "\n## Fix\n\n");
	any = false;
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		if (e->kind != SONDE_ENTRY_FIX)
			continue;
		sonde_buf_puts(o, "- ");
		md_text(o, e->text);
		if (sonde_incident_detail_get(e->detail_json, "verified_by", v, sizeof v) && *v) {
			sonde_buf_puts(o, " (verified by: ");
			md_text(o, v);
			sonde_buf_putc(o, ')');
		} else {
			sonde_buf_puts(o, " (not verified)");
		}
		sonde_buf_putc(o, '\n');
		any = true;
	}
	if (!any)
		sonde_buf_puts(o, "None recorded.\n");
	sonde_buf_putc(o, '\n');
}

static void write_well_wrong(pm *p)
{
	const sonde_incident_record *r = p->r;
	sonde_buf *o = p->out;
	char line[600], v1[64], v2[64], d[64];
	sonde_buf_puts(o, "## What went well\n\n");
	bool any = false;
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		if (e->kind == SONDE_ENTRY_REPRO &&
		    sonde_incident_detail_get(e->detail_json, "reproduced", v1, sizeof v1) && atoll(v1) > 0) {
			sonde_incident_detail_get(e->detail_json, "attempts", v2, sizeof v2);
			snprintf(line, sizeof line, "The failure was reproduced (%s of %s attempts).", v1,
			         v2);
			write_list_item(o, line);
			any = true;
			break;
		}
	}
	const sonde_incident_entry *rc = last_of(r, SONDE_ENTRY_ROOT_CAUSE);
	for (size_t i = 0; i < r->count; i++)
		if (held(&r->entries[i]) && (!rc || r->entries[i].seq < rc->seq)) {
			snprintf(line, sizeof line,
			         "Hypothesis %" PRId64 " was tested and held before the root cause was"
			         " recorded.",
			         r->entries[i].ref);
			write_list_item(o, line);
			any = true;
			break;
		}
	for (size_t i = 0; i < r->count; i++)
		if (r->entries[i].kind == SONDE_ENTRY_FIX &&
		    sonde_incident_detail_get(r->entries[i].detail_json, "verified_by", line, sizeof line) &&
		    *line) {
			write_list_item(o, "The fix was verified before the incident was closed.");
			any = true;
			break;
		}
	for (size_t i = 0; i < r->count; i++)
		if (tagged(&r->entries[i], "went-well")) {
			write_list_item(o, r->entries[i].text);
			any = true;
		}
	if (!any)
		sonde_buf_puts(o, "Nothing recorded.\n");
	sonde_buf_puts(o, "\n## What went wrong\n\n");
	any = false;
	if (p->first_error_ns && r->inc.created_ns > p->first_error_ns + 5 * MINUTE) {
		fmt_dur(r->inc.created_ns - p->first_error_ns, d, sizeof d);
		snprintf(line, sizeof line,
		         "The incident was opened %s after the first error: detection was slow.", d);
		write_list_item(o, line);
		any = true;
	}
	for (size_t i = 0; i < r->count; i++)
		if (r->entries[i].kind == SONDE_ENTRY_FIX &&
		    !sonde_incident_detail_get(r->entries[i].detail_json, "verified_by", line, sizeof line)) {
			write_list_item(o, "A fix was shipped without a recorded verification.");
			any = true;
			break;
		}
	for (size_t i = 0; i < r->count; i++)
		if (tagged(&r->entries[i], "went-wrong")) {
			write_list_item(o, r->entries[i].text);
			any = true;
		}
	if (!any)
		sonde_buf_puts(o, "Nothing recorded.\n");
	sonde_buf_putc(o, '\n');
}

static int write_actions(pm *p)
{
	const sonde_incident_record *r = p->r;
	sonde_buf *o = p->out;
	sonde_buf_puts(o, "## Action items\n\n");
	pm_action *a = calloc(r->count ? r->count : 1, sizeof *a);
	if (!a)
		return -ENOMEM;
	size_t n = 0;
	char pr[16];
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		if (e->kind != SONDE_ENTRY_ACTION)
			continue;
		pm_action *x = &a[n++];
		x->e = e;
		x->prio = sonde_incident_detail_get(e->detail_json, "priority", pr, sizeof pr) && pr[0] == 'P'
		                  ? pr[1] - '0'
		                  : 9;
		sonde_incident_detail_get(e->detail_json, "owner", x->owner, sizeof x->owner);
		sonde_incident_detail_get(e->detail_json, "due", x->due, sizeof x->due);
		if (!sonde_incident_detail_get(e->detail_json, "status", x->status, sizeof x->status))
			snprintf(x->status, sizeof x->status, "open");
	}
	if (n)
		qsort(a, n, sizeof *a, by_priority);
	if (!n)
		sonde_buf_puts(o, "None recorded.\n");
	else
		sonde_buf_puts(o, "| Priority | Action | Owner | Due | Status |\n|---|---|---|---|---|\n");
	for (size_t i = 0; i < n; i++) {
		if (a[i].prio <= 3)
			sonde_buf_printf(o, "| P%d | ", a[i].prio);
		else
			sonde_buf_puts(o, "| - | ");
		md_text(o, a[i].e->text);
		sonde_buf_puts(o, " | ");
		md_text(o, a[i].owner[0] ? a[i].owner : "unassigned");
		sonde_buf_puts(o, " | ");
		md_text(o, a[i].due[0] ? a[i].due : "-");
		sonde_buf_puts(o, " | ");
		md_text(o, a[i].status);
		sonde_buf_puts(o, " |\n");
	}
	sonde_buf_putc(o, '\n');
	free(a);
	return 0;
}

static void write_checks(pm *p, unsigned flags)
{
	sonde_buf *o = p->out;
	sonde_buf_puts(o, "## Method checks\n\n");
	if (!flags)
		sonde_buf_puts(o, "- A hypothesis was verified and the root cause names a mechanism.\n");
	if (flags & SONDE_PM_NO_VERIFIED_HYPOTHESIS)
		sonde_buf_puts(
		        o,
		        "- **No hypothesis was verified** (`sonde incident verify ID N --held yes`): the root"
		        " cause is not confirmed.\n");
	if (flags & SONDE_PM_NO_ROOT_CAUSE)
		sonde_buf_puts(o, "- **No root cause was recorded.**\n");
	if (flags & SONDE_PM_SYMPTOM_ROOT_CAUSE)
		sonde_buf_puts(o,
		               "- **The root cause restates a symptom**: it says what was seen, not why.\n");
}

int sonde_postmortem_markdown(sonde_store *s, const char *incident_id, const sonde_postmortem_opts *o,
                              sonde_buf *out, unsigned *flags_out, char *err, size_t errlen)
{
	static const sonde_postmortem_opts defaults = {0};
	if (!o)
		o = &defaults;
	if (err && errlen)
		err[0] = '\0';
	sonde_incident_record r;
	int rc = sonde_incident_get(s, incident_id, &r);
	if (rc < 0) {
		snprintf(err, errlen, "%s",
		         sonde_store_errmsg(s)[0] ? sonde_store_errmsg(s) : sonde_strerror(rc));
		sonde_incident_record_release(&r);
		return rc;
	}
	pm p;
	memset(&p, 0, sizeof p);
	p.s = s;
	p.r = &r;
	p.out = out;
	sonde_arena_init(&p.arena);
	p.tl.arena = &p.arena;
	if (o->now_ns) {
		p.now_ns = o->now_ns;
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		p.now_ns = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
	}
	uint64_t lookback = o->lookback_ns ? o->lookback_ns : LOOKBACK;
	p.lb_ns = r.inc.created_ns > lookback ? r.inc.created_ns - lookback : 1;
	p.end_ns = r.inc.resolved ? r.inc.resolved_ns : p.now_ns;
	if (p.end_ns <= r.inc.created_ns)
		p.end_ns = r.inc.created_ns + 1;
	if (o->since_ns && o->since_ns < p.lb_ns)
		p.lb_ns = o->since_ns;
	if (o->until_ns)
		p.end_ns = o->until_ns;
	if ((rc = find_first_error(&p)) < 0) {
		store_err(&p, rc, err, errlen, "finding the first error");
		goto out;
	}
	p.since_given = o->since_ns != 0;
	p.until_given = o->until_ns != 0;
	p.since_ns = o->since_ns ? o->since_ns : p.first_error_ns ? p.first_error_ns : r.inc.created_ns;
	p.until_ns = o->until_ns;
	if ((p.until_given && p.until_ns <= p.since_ns) || (!p.until_given && p.since_ns >= p.end_ns)) {
		char a[40];
		fmt_time(p.until_given ? p.until_ns : p.end_ns, a, sizeof a);
		snprintf(err, errlen, "the window is empty: it would start at or after its end (%s)%s", a,
		         p.until_given ? "" : "; give --until too");
		rc = -EINVAL;
		goto out;
	}
	if ((rc = measure(&p)) < 0) {
		store_err(&p, rc, err, errlen, "measuring the impact");
		goto out;
	}
	if ((rc = timeline_from_store(&p)) < 0) {
		store_err(&p, rc, err, errlen, "building the timeline");
		goto out;
	}
	timeline_from_entries(&p);
	if ((rc = p.tl.err) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	unsigned flags = sonde_incident_check(&r);
	write_header(&p);
	write_summary_impact(&p);
	write_timeline(&p);
	write_investigation(&p);
	write_cause_and_fix(&p, flags);
	write_well_wrong(&p);
	if ((rc = write_actions(&p)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	write_checks(&p, flags);
	if (out->oom) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (flags_out)
		*flags_out = flags;
out:
	for (int m = 0; m < 2; m++) {
		free(p.scan.req[m]);
		free(p.scan.fail[m]);
	}
	free(p.scan.endpoints.items);
	free(p.scan.users.items);
	free(p.scan.services.items);
	free(p.tl.items);
	sonde_arena_release(&p.arena);
	sonde_incident_record_release(&r);
	return rc;
}
