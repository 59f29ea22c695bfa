/*
 * canary.c - automated canary analysis of a current selection against a baseline (see
 * canary.h).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"

static const char *const metric_names[SONDE_CANARY_METRICS] = {"error_rate", "success_rate", "p95",
                                                               "throughput", "cpu",          "memory"};

const char *sonde_canary_metric_name(sonde_canary_metric m)
{
	return (unsigned)m < SONDE_CANARY_METRICS ? metric_names[m] : "?";
}

const char *sonde_canary_verdict_name(sonde_canary_verdict v)
{
	return v == SONDE_CANARY_VERDICT_FAIL       ? "fail"
	       : v == SONDE_CANARY_VERDICT_MARGINAL ? "marginal"
	                                            : "pass";
}

const sonde_canary_rule sonde_canary_default_rules[] = {
        {SONDE_CANARY_ERROR_RATE, SONDE_RULE_VALUE, SONDE_RULE_GT, 0.05, SONDE_SEV_CRITICAL,
         "error_rate>5%:critical"},
        {SONDE_CANARY_P95, SONDE_RULE_CHANGE, SONDE_RULE_GT, 0.25, SONDE_SEV_HIGH, "p95.change>25%:high"},
        {SONDE_CANARY_SUCCESS_RATE, SONDE_RULE_DELTA, SONDE_RULE_LT, -0.05, SONDE_SEV_CRITICAL,
         "success_rate.delta<-5pt:critical"},
};
const size_t sonde_canary_default_rules_count =
        sizeof(sonde_canary_default_rules) / sizeof(sonde_canary_default_rules[0]);

/* ---- Rules ----------------------------------------------------------------------------------- */

static int rule_err(char *err, size_t n, const char *text, const char *what)
{
	snprintf(err, n,
	         "rule '%s': %s (form: METRIC[.change|.delta]OP NUMBER[UNIT][:SEVERITY], e.g. "
	         "error_rate>5%%:critical, p95.change>25%%:high)",
	         text, what);
	return -EINVAL;
}

int sonde_canary_rule_parse(const char *text, sonde_canary_rule *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	out->text = text;
	out->severity = SONDE_SEV_HIGH;
	const char *p = text;
	size_t mlen = strcspn(p, ".<>");
	int m = -1;
	for (int i = 0; i < SONDE_CANARY_METRICS; i++)
		if (strlen(metric_names[i]) == mlen && strncmp(p, metric_names[i], mlen) == 0)
			m = i;
	if (m < 0)
		return rule_err(
		        err, err_len, text,
		        "unknown metric; expected error_rate, success_rate, p95, throughput, cpu or memory");
	out->metric = (sonde_canary_metric)m;
	p += mlen;
	if (*p == '.') {
		p++;
		if (strncmp(p, "change", 6) == 0) {
			out->of = SONDE_RULE_CHANGE;
			p += 6;
		} else if (strncmp(p, "delta", 5) == 0) {
			out->of = SONDE_RULE_DELTA;
			p += 5;
		} else {
			return rule_err(err, err_len, text, "expected .change or .delta after the metric");
		}
	}
	if (p[0] == '>' || p[0] == '<') {
		bool eq = p[1] == '=';
		out->op = p[0] == '>' ? (eq ? SONDE_RULE_GE : SONDE_RULE_GT)
		                      : (eq ? SONDE_RULE_LE : SONDE_RULE_LT);
		p += eq ? 2 : 1;
	} else {
		return rule_err(err, err_len, text, "expected >, >=, < or <= after the metric");
	}
	char *end;
	double v = strtod(p, &end);
	if (end == p || !isfinite(v))
		return rule_err(err, err_len, text, "expected a number after the operator");
	p = end;
	size_t ulen = strcspn(p, ":");
	bool is_rate = out->metric == SONDE_CANARY_ERROR_RATE || out->metric == SONDE_CANARY_SUCCESS_RATE;
	if (ulen == 1 && *p == '%') {
		v /= 100;
	} else if ((ulen == 2 && strncmp(p, "pt", 2) == 0) || (ulen == 3 && strncmp(p, "pts", 3) == 0)) {
		if (!is_rate || out->of == SONDE_RULE_CHANGE)
			return rule_err(err, err_len, text,
			                "points (pt) apply to error_rate and success_rate values and deltas");
		v /= 100;
	} else if (ulen) {
		static const struct {
			const char *u;
			double f;
		} units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
		size_t k = 0;
		while (k < 4 && !(strlen(units[k].u) == ulen && strncmp(p, units[k].u, ulen) == 0))
			k++;
		if (k == 4)
			return rule_err(err, err_len, text, "unknown unit; expected %, pt, ns, us, ms or s");
		if (out->metric != SONDE_CANARY_P95 || out->of == SONDE_RULE_CHANGE)
			return rule_err(err, err_len, text, "durations apply to p95 values and deltas only");
		v *= units[k].f;
	} else if (is_rate || out->of == SONDE_RULE_CHANGE) {
		return rule_err(err, err_len, text,
		                "rates and changes need a unit: % (or pt for rate points)");
	} else if (out->metric == SONDE_CANARY_P95) {
		return rule_err(err, err_len, text, "p95 values need a duration unit (ms, s, ...)");
	}
	p += ulen;
	out->threshold = v;
	if (*p == ':') {
		p++;
		static const char *const sev[] = {"low", "medium", "high", "critical"};
		int s = -1;
		for (int i = 0; i < 4; i++)
			if (strcmp(p, sev[i]) == 0)
				s = i;
		if (s < 0)
			return rule_err(err, err_len, text,
			                "unknown severity; expected low, medium, high or critical");
		out->severity = (sonde_severity)(SONDE_SEV_LOW + s);
	} else if (*p) {
		return rule_err(err, err_len, text, "unexpected text after the number");
	}
	return 0;
}

/* ---- Collection ---------------------------------------------------------------------------- */

/* Metric names from the OpenTelemetry semantic conventions (and common runtimes), in order
 * of preference. Cumulative sums (CPU time) become rates between consecutive points. */
static const char *const cpu_names[] = {
        "process.cpu.utilization", "process.cpu.usage",          "container.cpu.usage",   "process.cpu.time",
        "container.cpu.time",      "jvm.cpu.recent_utilization", "system.cpu.utilization"};
static const char *const mem_names[] = {"process.memory.usage", "process.memory.rss",
                                        "container.memory.usage", "jvm.memory.used", "system.memory.usage"};
#define NCPU  (sizeof(cpu_names) / sizeof(cpu_names[0]))
#define NMEM  (sizeof(mem_names) / sizeof(mem_names[0]))
#define NCAND (NCPU + NMEM + 2) /* + the two names given in the options */

typedef struct side {
	uint64_t entry_n, entry_err, all_n, all_err;
	uint64_t first_ns, last_ns;
	sonde_sample entry_d, all_d;
	sonde_latency_dist entry_dist, all_dist;
	sonde_sample cand[NCAND];
} side;

typedef struct run {
	side s[2];
	int cur;
	const char *names[NCAND];
	/* the previous point, for rates of cumulative sums */
	char prev_key[256];
	double prev_v;
	uint64_t prev_t;
	int err;
} run;

static int on_span(void *ctx, const sonde_span_data *sp)
{
	run *r = ctx;
	side *s = &r->s[r->cur];
	uint64_t d = sp->end_ns > sp->start_ns ? sp->end_ns - sp->start_ns : 0;
	bool err = sp->status_code == SONDE_STATUS_ERROR;
	static const uint8_t zero[8];
	bool entry = sp->kind == SONDE_SPAN_KIND_SERVER || sp->kind == SONDE_SPAN_KIND_CONSUMER ||
	             memcmp(sp->parent_span_id, zero, 8) == 0;
	int rc;
	if ((rc = sonde_sample_add(&s->all_d, (double)d)) < 0 ||
	    (rc = sonde_latency_dist_add(&s->all_dist, d)) < 0)
		return r->err = rc;
	s->all_n++;
	s->all_err += err;
	if (entry) {
		if ((rc = sonde_sample_add(&s->entry_d, (double)d)) < 0 ||
		    (rc = sonde_latency_dist_add(&s->entry_dist, d)) < 0)
			return r->err = rc;
		s->entry_n++;
		s->entry_err += err;
	}
	if (s->all_n == 1 || sp->start_ns < s->first_ns)
		s->first_ns = sp->start_ns;
	if (sp->start_ns > s->last_ns)
		s->last_ns = sp->start_ns;
	return 0;
}

static double point_value(const sonde_point *pt)
{
	return pt->u.number.kind == SONDE_NUM_INT ? (double)pt->u.number.v.i : pt->u.number.v.d;
}

static int on_point(void *ctx, const sonde_metric_data *m)
{
	run *r = ctx;
	if (m->type != SONDE_METRIC_GAUGE && m->type != SONDE_METRIC_SUM)
		return 0;
	const sonde_point *pt = &m->points[0];
	if (pt->u.number.kind == SONDE_NUM_NONE)
		return 0;
	size_t k = 0;
	while (k < NCAND && !(r->names[k] && strlen(r->names[k]) == m->name.len &&
	                      memcmp(r->names[k], m->name.ptr, m->name.len) == 0))
		k++;
	if (k == NCAND)
		return 0;
	double v = point_value(pt);
	if (m->type == SONDE_METRIC_SUM && m->is_monotonic &&
	    m->temporality == SONDE_TEMPORALITY_CUMULATIVE) {
		/* A rate between consecutive points of one series: the store returns a series'
		 * points together, in time order. The series is told by name, service.name of
		 * the resource and the point's attributes, as text. */
		char key[256];
		const sonde_value *svc =
		        m->resource ? sonde_attrs_get(&m->resource->attrs, "service.name") : NULL;
		int n = snprintf(key, sizeof key, "%d|%.*s|%u", r->cur,
		                 (int)(svc && svc->kind == SONDE_VAL_STRING ? svc->u.str.len : 0),
		                 svc && svc->kind == SONDE_VAL_STRING ? svc->u.str.ptr : "", pt->attrs.count);
		for (uint32_t i = 0; i < pt->attrs.count && n > 0 && (size_t)n < sizeof key; i++) {
			const sonde_kv *kv = &pt->attrs.items[i];
			n += snprintf(key + n, sizeof key - (size_t)n, "|%.*s=%.*s", (int)kv->key.len,
			              kv->key.ptr,
			              kv->value.kind == SONDE_VAL_STRING ? (int)kv->value.u.str.len : 0,
			              kv->value.kind == SONDE_VAL_STRING ? kv->value.u.str.ptr : "");
		}
		bool same = strcmp(key, r->prev_key) == 0 && pt->time_ns > r->prev_t && v >= r->prev_v;
		double pv = r->prev_v;
		uint64_t pt0 = r->prev_t;
		snprintf(r->prev_key, sizeof r->prev_key, "%s", key);
		r->prev_v = v;
		r->prev_t = pt->time_ns;
		if (!same)
			return 0;
		v = (v - pv) / ((double)(pt->time_ns - pt0) / 1e9);
	}
	int rc = sonde_sample_add(&r->s[r->cur].cand[k], v);
	return rc < 0 ? (r->err = rc) : 0;
}

/* ---- Judgement ------------------------------------------------------------------------------ */

static void reason(sonde_canary_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reason(sonde_canary_result *res, const char *fmt, ...)
{
	if (res->reasons_count == SONDE_CANARY_MAX_REASONS)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	char *c = sonde_arena_strndup(&res->arena, line, strlen(line));
	if (c)
		res->reasons[res->reasons_count++] = c;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_of(const sonde_sample *s)
{
	if (!s->n)
		return NAN;
	double *c = malloc(s->n * sizeof(*c));
	if (!c)
		return NAN;
	memcpy(c, s->v, s->n * sizeof(*c));
	qsort(c, s->n, sizeof(*c), cmp_double);
	double m = sonde_stats_quantile_sorted(c, s->n, 0.5);
	free(c);
	return m;
}

static void set_values(sonde_canary_value *v, double base, double cur)
{
	v->base = base;
	v->cur = cur;
	v->delta = cur - base;
	v->change = isnan(base) || isnan(cur) ? NAN : base == 0 ? (cur == 0 ? 0 : INFINITY) : cur / base - 1;
}

/* A Mann-Whitney comparison of two samples: FAIL when the current is larger by more than tol
 * (relative, on the given summary values) and the test is significant. */
static int mw_check(sonde_canary_value *v, sonde_sample *a, sonde_sample *b, double alpha, double tol)
{
	sonde_mwu_result mw;
	sonde_hl_result hl;
	int rc = sonde_stats_mann_whitney(a->v, a->n, b->v, b->n, SONDE_MWU_AUTO, &mw);
	if (rc == 0)
		rc = sonde_stats_hodges_lehmann(a->v, a->n, b->v, b->n, 1 - alpha, &hl);
	if (rc < 0)
		return rc;
	v->tested = true;
	v->test = "Mann-Whitney U";
	v->p = mw.p;
	v->shift = hl.shift;
	v->cls = v->change > tol && mw.p < alpha && hl.shift > 0 ? SONDE_CANARY_FAIL : SONDE_CANARY_PASS;
	return 0;
}

static bool breached(const sonde_canary_rule *ru, double x)
{
	switch (ru->op) {
	case SONDE_RULE_GT: return x > ru->threshold;
	case SONDE_RULE_GE: return x >= ru->threshold;
	case SONDE_RULE_LT: return x < ru->threshold;
	default: return x <= ru->threshold;
	}
}

void sonde_canary_fmt_value(char *out, size_t n, sonde_canary_metric m, double v)
{
	if (isnan(v))
		snprintf(out, n, "-");
	else if (m == SONDE_CANARY_ERROR_RATE || m == SONDE_CANARY_SUCCESS_RATE)
		snprintf(out, n, "%.2f%%", v * 100);
	else if (m == SONDE_CANARY_P95)
		sonde_cmp_fmt_ns(out, n, v);
	else if (m == SONDE_CANARY_THROUGHPUT)
		snprintf(out, n, "%.3g/s", v);
	else
		snprintf(out, n, "%.4g", v);
}

static void fmt_p(char *out, size_t n, double p)
{
	if (isnan(p))
		snprintf(out, n, "p n/a");
	else if (p < 1e-4)
		snprintf(out, n, "p < 0.0001");
	else
		snprintf(out, n, "p = %.2g", p);
}

static void side_release(side *s)
{
	sonde_sample_release(&s->entry_d);
	sonde_sample_release(&s->all_d);
	sonde_latency_dist_release(&s->entry_dist);
	sonde_latency_dist_release(&s->all_dist);
	for (size_t k = 0; k < NCAND; k++)
		sonde_sample_release(&s->cand[k]);
}

int sonde_canary_run(const sonde_selection *base, const sonde_selection *cur, const sonde_canary_opts *opts,
                     sonde_canary_result *out)
{
	memset(out, 0, sizeof(*out));
	sonde_arena_init(&out->arena);
	sonde_canary_opts o = opts ? *opts : (sonde_canary_opts){0};
	if (o.alpha == 0)
		o.alpha = 0.05;
	if (o.error_tolerance == 0)
		o.error_tolerance = 0.01;
	if (o.latency_tolerance == 0)
		o.latency_tolerance = 0.10;
	if (o.resource_tolerance == 0)
		o.resource_tolerance = 0.10;
	if (o.pass_score == 0)
		o.pass_score = 75;
	if (o.marginal_score == 0)
		o.marginal_score = 50;
	if (!o.rules) {
		o.rules = sonde_canary_default_rules;
		o.rules_count = sonde_canary_default_rules_count;
	}
	if (!(o.alpha > 0 && o.alpha < 1) || o.marginal_score > o.pass_score || o.pass_score > 100)
		return -EINVAL;
	out->opts = o;

	run *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (int s = 0; s < 2; s++) {
		sonde_sample_init(&r->s[s].entry_d, o.max_samples);
		sonde_sample_init(&r->s[s].all_d, o.max_samples);
		sonde_latency_dist_init(&r->s[s].entry_dist);
		sonde_latency_dist_init(&r->s[s].all_dist);
		for (size_t k = 0; k < NCAND; k++)
			sonde_sample_init(&r->s[s].cand[k], o.max_samples);
	}
	for (size_t k = 0; k < NCPU; k++)
		r->names[k] = cpu_names[k];
	for (size_t k = 0; k < NMEM; k++)
		r->names[NCPU + k] = mem_names[k];
	r->names[NCAND - 2] = o.cpu_metric;
	r->names[NCAND - 1] = o.memory_metric;
	const sonde_selection *sels[2] = {base, cur};
	int rc = 0;
	for (int s = 0; s < 2 && rc == 0; s++) {
		r->cur = s;
		r->prev_key[0] = '\0';
		rc = sonde_selection_scan_spans(sels[s], SONDE_FIELDS_BASE, on_span, r);
		if (rc == 0)
			rc = sonde_selection_scan_points(sels[s], on_point, r);
		if (rc != 0)
			rc = r->err ? r->err : rc < 0 ? rc : -EIO;
	}
	if (rc == 0 && (r->s[0].all_n == 0 || r->s[1].all_n == 0))
		rc = -ENODATA;
	if (rc < 0)
		goto done;

	side *b = &r->s[0], *c = &r->s[1];
	bool entry = b->entry_n && c->entry_n;
	out->entry_spans = entry;
	uint64_t bn = entry ? b->entry_n : b->all_n, cn = entry ? c->entry_n : c->all_n;
	uint64_t be = entry ? b->entry_err : b->all_err, ce = entry ? c->entry_err : c->all_err;
	sonde_sample *bd = entry ? &b->entry_d : &b->all_d, *cd = entry ? &c->entry_d : &c->all_d;
	sonde_latency_dist *bl = entry ? &b->entry_dist : &b->all_dist,
	                   *cl = entry ? &c->entry_dist : &c->all_dist;
	out->base_window_s = sonde_cmp_window_s(base, b->first_ns, b->last_ns, b->all_n);
	out->cur_window_s = sonde_cmp_window_s(cur, c->first_ns, c->last_ns, c->all_n);
	const char *req = entry ? "requests (server, consumer and root spans)" : "spans";

	for (int m = 0; m < SONDE_CANARY_METRICS; m++) {
		out->metrics[m].metric = (sonde_canary_metric)m;
		out->metrics[m].p = NAN;
		out->metrics[m].shift = NAN;
		set_values(&out->metrics[m], NAN, NAN);
	}
	/* Error and success rate: one two-proportion test. */
	sonde_canary_value *ve = &out->metrics[SONDE_CANARY_ERROR_RATE],
	                   *vs = &out->metrics[SONDE_CANARY_SUCCESS_RATE];
	set_values(ve, (double)be / (double)bn, (double)ce / (double)cn);
	set_values(vs, 1 - ve->base, 1 - ve->cur);
	sonde_test_result z;
	if ((rc = sonde_stats_prop_ztest(be, bn, ce, cn, &z)) < 0)
		goto done;
	for (sonde_canary_value *v = ve; v <= vs; v++) {
		v->source = req;
		v->base_n = bn;
		v->cur_n = cn;
		v->tested = v == ve;
		v->test = "two-proportion z";
		v->p = z.p;
	}
	bool esig = !isnan(z.p) && z.p < o.alpha;
	ve->cls = ve->delta > o.error_tolerance && esig ? SONDE_CANARY_FAIL : SONDE_CANARY_PASS;
	vs->cls = ve->cls == SONDE_CANARY_FAIL ? SONDE_CANARY_FAIL : SONDE_CANARY_UNTESTED;
	/* Latency. */
	sonde_canary_value *vp = &out->metrics[SONDE_CANARY_P95];
	set_values(vp, sonde_latency_dist_quantile(bl, 0.95), sonde_latency_dist_quantile(cl, 0.95));
	vp->source = req;
	vp->base_n = bn;
	vp->cur_n = cn;
	if ((rc = mw_check(vp, bd, cd, o.alpha, o.latency_tolerance)) < 0)
		goto done;
	/* Throughput: rules only. */
	sonde_canary_value *vt = &out->metrics[SONDE_CANARY_THROUGHPUT];
	set_values(vt, (double)bn / out->base_window_s, (double)cn / out->cur_window_s);
	vt->source = req;
	vt->base_n = bn;
	vt->cur_n = cn;
	vt->cls = isnan(vt->base) || isnan(vt->cur) ? SONDE_CANARY_NODATA : SONDE_CANARY_UNTESTED;
	/* CPU and memory: the name given, else the first convention with data on both sides. */
	for (int m = SONDE_CANARY_CPU; m <= SONDE_CANARY_MEMORY; m++) {
		size_t lo = m == SONDE_CANARY_CPU ? 0 : NCPU, hi = m == SONDE_CANARY_CPU ? NCPU : NCPU + NMEM;
		size_t given = m == SONDE_CANARY_CPU ? NCAND - 2 : NCAND - 1;
		size_t k = r->names[given] ? given : hi;
		if (!r->names[given])
			for (k = lo; k < hi && !(b->cand[k].n && c->cand[k].n); k++)
				;
		sonde_canary_value *v = &out->metrics[m];
		if (k == hi || !(b->cand[k].n && c->cand[k].n))
			continue;
		v->source = r->names[k];
		v->base_n = b->cand[k].n;
		v->cur_n = c->cand[k].n;
		set_values(v, median_of(&b->cand[k]), median_of(&c->cand[k]));
		if ((rc = mw_check(v, &b->cand[k], &c->cand[k], o.alpha, o.resource_tolerance)) < 0)
			goto done;
	}

	/* Score. */
	size_t tested = 0, passed = 0;
	for (int m = 0; m < SONDE_CANARY_METRICS; m++) {
		sonde_canary_value *v = &out->metrics[m];
		if (!v->tested)
			continue;
		tested++;
		passed += v->cls == SONDE_CANARY_PASS;
	}
	out->stat_score = tested ? 100.0 * (double)passed / (double)tested : 100;
	out->score = out->stat_score;
	for (size_t i = 0; i < o.rules_count; i++) {
		const sonde_canary_rule *ru = &o.rules[i];
		const sonde_canary_value *v = &out->metrics[ru->metric];
		double x = ru->of == SONDE_RULE_VALUE    ? v->cur
		           : ru->of == SONDE_RULE_CHANGE ? v->change
		                                         : v->delta;
		if (isnan(x) || !breached(ru, x))
			continue;
		if (out->breaches_count < SONDE_CANARY_MAX_BREACHES)
			out->breaches[out->breaches_count++] = (sonde_canary_breach){*ru, x};
		static const double penalty[] = {0, 10, 20, 40, 100};
		out->score -= penalty[ru->severity];
	}
	if (out->score < 0)
		out->score = 0;
	out->verdict = out->score >= o.pass_score       ? SONDE_CANARY_VERDICT_PASS
	               : out->score >= o.marginal_score ? SONDE_CANARY_VERDICT_MARGINAL
	                                                : SONDE_CANARY_VERDICT_FAIL;

	/* Reasons: breaches first (they weigh most), then the statistics. */
	for (size_t i = 0; i < out->breaches_count; i++) {
		const sonde_canary_breach *br = &out->breaches[i];
		const sonde_canary_value *v = &out->metrics[br->rule.metric];
		char bs[32], cs[32];
		sonde_canary_fmt_value(bs, sizeof bs, v->metric, v->base);
		sonde_canary_fmt_value(cs, sizeof cs, v->metric, v->cur);
		reason(out, "rule %s breached (%s): %s %s -> %s", br->rule.text,
		       sonde_severity_name(br->rule.severity), metric_names[v->metric], bs, cs);
	}
	for (int m = 0; m < SONDE_CANARY_METRICS; m++) {
		const sonde_canary_value *v = &out->metrics[m];
		if (!v->tested)
			continue;
		char bs[32], cs[32], ps[32];
		sonde_canary_fmt_value(bs, sizeof bs, v->metric, v->base);
		sonde_canary_fmt_value(cs, sizeof cs, v->metric, v->cur);
		fmt_p(ps, sizeof ps, v->p);
		bool rate = m == SONDE_CANARY_ERROR_RATE;
		char chg[48];
		if (rate)
			snprintf(chg, sizeof chg, "%+.2f points", v->delta * 100);
		else
			snprintf(chg, sizeof chg, "%+.0f%%", v->change * 100);
		double tol =
		        rate ? o.error_tolerance * 100
		             : (m == SONDE_CANARY_P95 ? o.latency_tolerance : o.resource_tolerance) * 100;
		if (v->cls == SONDE_CANARY_FAIL)
			reason(out,
			       "%s worse: %s -> %s (%s, beyond the %.3g%s tolerance), significant (%s, %s; "
			       "%llu vs %llu)",
			       metric_names[m], bs, cs, chg, tol, rate ? " point" : "%", v->test, ps,
			       (unsigned long long)v->base_n, (unsigned long long)v->cur_n);
		else
			reason(out, "%s passes: %s -> %s (%s; %s, %s)", metric_names[m], bs, cs, chg, v->test,
			       ps);
	}
	reason(out,
	       "score %.0f/100 (statistics %.0f from %zu of %zu metrics passing, less %.0f for breached "
	       "rules): %s",
	       out->score, out->stat_score, passed, tested, out->stat_score - out->score,
	       sonde_canary_verdict_name(out->verdict));
	rc = 0;
done:
	for (int s = 0; s < 2; s++)
		side_release(&r->s[s]);
	free(r);
	return rc;
}

void sonde_canary_result_release(sonde_canary_result *r)
{
	if (!r)
		return;
	sonde_arena_release(&r->arena);
	memset(r, 0, sizeof(*r));
}
