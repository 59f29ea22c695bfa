/*
 * compare.c - per-operation comparison of two selections of spans (see compare.h).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compare.h"
#include "keymap.h"

/* ---- Samples ----------------------------------------------------------------------------- */

void sonde_sample_init(sonde_sample *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max ? max : SONDE_SAMPLE_DEFAULT_MAX;
	s->rng = 0x853c49e6748fea9bull;
}

void sonde_sample_release(sonde_sample *s)
{
	if (!s)
		return;
	free(s->v);
	sonde_sample_init(s, s->max);
}

static uint64_t next_rand(uint64_t *st)
{
	/* splitmix64: small, fast, and good enough for choosing reservoir slots */
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int sonde_sample_add(sonde_sample *s, double v)
{
	s->seen++;
	if (s->n < s->max) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			if (cap > s->max)
				cap = s->max;
			double *p = realloc(s->v, cap * sizeof(*p));
			if (!p) {
				s->seen--;
				return -ENOMEM;
			}
			s->v = p;
			s->cap = cap;
		}
		s->v[s->n++] = v;
		return 0;
	}
	/* Algorithm R: the seen-th value replaces a random slot with probability max/seen. */
	uint64_t j = next_rand(&s->rng) % s->seen;
	if (j < s->max)
		s->v[j] = v;
	return 0;
}

/* ---- Names and formatting ---------------------------------------------------------------- */

const char *sonde_cmp_verdict_name(sonde_cmp_verdict v)
{
	switch (v) {
	case SONDE_CMP_REGRESSION: return "regression";
	case SONDE_CMP_IMPROVEMENT: return "improvement";
	case SONDE_CMP_NEW: return "new";
	case SONDE_CMP_GONE: return "gone";
	default: return "no change";
	}
}

const char *sonde_severity_name(sonde_severity s)
{
	static const char *const names[] = {"", "low", "medium", "high", "critical"};
	return (unsigned)s < 5 ? names[s] : "";
}

void sonde_cmp_fmt_ns(char *out, size_t n, double ns)
{
	double a = fabs(ns);
	if (isnan(ns))
		snprintf(out, n, "-");
	else if (isinf(ns))
		snprintf(out, n, "%sinf", ns < 0 ? "-" : "");
	else if (a >= 1e9)
		snprintf(out, n, "%.3gs", ns / 1e9);
	else if (a >= 1e6)
		snprintf(out, n, "%.3gms", ns / 1e6);
	else if (a >= 1e3)
		snprintf(out, n, "%.3gus", ns / 1e3);
	else
		snprintf(out, n, "%.0fns", ns);
}

double sonde_cmp_window_s(const sonde_selection *s, uint64_t first_ns, uint64_t last_ns, uint64_t count)
{
	if (s->since_ns && s->until_ns && s->until_ns > s->since_ns)
		return (double)(s->until_ns - s->since_ns) / 1e9;
	if (count == 0 || last_ns <= first_ns)
		return NAN;
	return (double)(last_ns - first_ns) / 1e9;
}

/* ---- Collection ---------------------------------------------------------------------------- */

typedef struct group {
	const char *service, *operation; /* in the keymap's arena */
	uint64_t count[2], errors[2];
	double sum_ns[2];
	sonde_latency_dist dist[2];
	sonde_sample sample[2];
} group;

typedef struct collect {
	sonde_keymap keys;
	group *groups;
	size_t count, cap;
	size_t max_samples;
	int side;
	uint64_t first_ns[2], last_ns[2], spans[2];
	sonde_buf key;
	int err;
} collect;

static sonde_str service_of(const sonde_span_data *sp)
{
	const sonde_value *v = sp->resource ? sonde_attrs_get(&sp->resource->attrs, "service.name") : NULL;
	if (v && v->kind == SONDE_VAL_STRING)
		return v->u.str;
	return SONDE_STR_LIT("");
}

static int on_span(void *ctx, const sonde_span_data *sp)
{
	collect *c = ctx;
	sonde_str svc = service_of(sp);
	sonde_buf_reset(&c->key);
	sonde_buf_append(&c->key, svc.ptr, svc.len);
	sonde_buf_putc(&c->key, '\0');
	sonde_buf_append(&c->key, sp->name.ptr, sp->name.len);
	if (c->key.oom)
		return c->err = -ENOMEM;
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		group *g = realloc(c->groups, cap * sizeof(*g));
		if (!g)
			return c->err = -ENOMEM;
		c->groups = g;
		c->cap = cap;
	}
	uint32_t idx;
	const char *copy;
	int rc = sonde_keymap_upsert(&c->keys, c->key.data, c->key.len, (uint32_t)c->count, &idx, &copy);
	if (rc < 0)
		return c->err = rc;
	if (rc == 1) {
		group *g = &c->groups[c->count++];
		memset(g, 0, sizeof(*g));
		g->service = copy;
		g->operation = copy + svc.len + 1;
		for (int s = 0; s < 2; s++) {
			sonde_latency_dist_init(&g->dist[s]);
			sonde_sample_init(&g->sample[s], c->max_samples);
		}
	}
	group *g = &c->groups[idx];
	int s = c->side;
	uint64_t d = sp->end_ns > sp->start_ns ? sp->end_ns - sp->start_ns : 0;
	if ((rc = sonde_latency_dist_add(&g->dist[s], d)) < 0 ||
	    (rc = sonde_sample_add(&g->sample[s], (double)d)) < 0)
		return c->err = rc;
	g->count[s]++;
	g->errors[s] += sp->status_code == SONDE_STATUS_ERROR;
	g->sum_ns[s] += (double)d;
	if (c->spans[s] == 0 || sp->start_ns < c->first_ns[s])
		c->first_ns[s] = sp->start_ns;
	if (sp->start_ns > c->last_ns[s])
		c->last_ns[s] = sp->start_ns;
	c->spans[s]++;
	return 0;
}

static void collect_release(collect *c)
{
	for (size_t i = 0; i < c->count; i++)
		for (int s = 0; s < 2; s++) {
			sonde_latency_dist_release(&c->groups[i].dist[s]);
			sonde_sample_release(&c->groups[i].sample[s]);
		}
	free(c->groups);
	sonde_keymap_release(&c->keys);
	sonde_buf_release(&c->key);
}

/* ---- Judgement ------------------------------------------------------------------------------ */

static double rel_change(double base, double cur)
{
	if (isnan(base) || isnan(cur))
		return NAN;
	if (base == 0)
		return cur == 0 ? 0 : INFINITY;
	return cur / base - 1;
}

static void reason(sonde_compare_result *r, sonde_cmp_op *op, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void reason(sonde_compare_result *r, sonde_cmp_op *op, const char *fmt, ...)
{
	if (op->reasons_count == SONDE_CMP_MAX_REASONS)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	char *copy = sonde_arena_strndup(&r->arena, line, strlen(line));
	if (copy)
		op->reasons[op->reasons_count++] = copy;
}

static void fmt_p(char *out, size_t n, double p)
{
	if (isnan(p))
		snprintf(out, n, "n/a");
	else if (p < 1e-4)
		snprintf(out, n, "< 0.0001");
	else
		snprintf(out, n, "%.2g", p);
}

static sonde_severity latency_severity(double change)
{
	return change >= 3     ? SONDE_SEV_CRITICAL
	       : change >= 1   ? SONDE_SEV_HIGH
	       : change >= 0.5 ? SONDE_SEV_MEDIUM
	                       : SONDE_SEV_LOW;
}

static sonde_severity error_severity(double delta)
{
	return delta >= 0.20   ? SONDE_SEV_CRITICAL
	       : delta >= 0.05 ? SONDE_SEV_HIGH
	       : delta >= 0.02 ? SONDE_SEV_MEDIUM
	                       : SONDE_SEV_LOW;
}

static void fill_side(sonde_cmp_side *sd, group *g, int s, double window_s)
{
	sd->count = g->count[s];
	sd->errors = g->errors[s];
	sd->error_rate = sd->count ? (double)sd->errors / (double)sd->count : NAN;
	sd->throughput = sd->count && !isnan(window_s) && window_s > 0 ? (double)sd->count / window_s : NAN;
	sd->p50_ns = sd->count ? sonde_latency_dist_quantile(&g->dist[s], 0.50) : NAN;
	sd->p95_ns = sd->count ? sonde_latency_dist_quantile(&g->dist[s], 0.95) : NAN;
	sd->p99_ns = sd->count ? sonde_latency_dist_quantile(&g->dist[s], 0.99) : NAN;
	sd->mean_ns = sd->count ? g->sum_ns[s] / (double)sd->count : NAN;
	sd->sampled = g->sample[s].n;
	sd->sample_exact = sonde_sample_is_exact(&g->sample[s]);
}

static int judge(sonde_compare_result *r, sonde_cmp_op *op, group *g)
{
	const sonde_compare_opts *o = &r->opts;
	op->p50_change = rel_change(op->base.p50_ns, op->cur.p50_ns);
	op->p95_change = rel_change(op->base.p95_ns, op->cur.p95_ns);
	op->p99_change = rel_change(op->base.p99_ns, op->cur.p99_ns);
	op->throughput_change = rel_change(op->base.throughput, op->cur.throughput);
	op->error_rate_delta = op->cur.error_rate - op->base.error_rate;
	if (!op->base.count) {
		op->verdict = SONDE_CMP_NEW;
		reason(r, op, "new: %llu spans in the current selection, none in the baseline",
		       (unsigned long long)op->cur.count);
		return 0;
	}
	if (!op->cur.count) {
		op->verdict = SONDE_CMP_GONE;
		reason(r, op, "gone: %llu spans in the baseline, none in the current selection",
		       (unsigned long long)op->base.count);
		return 0;
	}
	int rc = sonde_stats_mann_whitney(g->sample[0].v, g->sample[0].n, g->sample[1].v, g->sample[1].n,
	                                  SONDE_MWU_AUTO, &op->mwu);
	if (rc == 0)
		rc = sonde_stats_hodges_lehmann(g->sample[0].v, g->sample[0].n, g->sample[1].v,
		                                g->sample[1].n, 1 - o->alpha, &op->hl);
	if (rc == 0)
		rc = sonde_stats_prop_ztest(op->base.errors, op->base.count, op->cur.errors, op->cur.count,
		                            &op->errors_z);
	if (rc < 0)
		return rc;
	op->tests_run = true;
	bool sig = op->mwu.p < o->alpha;
	op->latency_worse = op->p95_change >= o->min_change && sig && op->hl.shift > 0;
	op->latency_better = op->p95_change <= -o->min_change && sig && op->hl.shift < 0;
	bool esig = !isnan(op->errors_z.p) && op->errors_z.p < o->alpha;
	op->errors_worse = op->error_rate_delta >= o->min_error_change && esig;
	op->errors_better = op->error_rate_delta <= -o->min_error_change && esig;
	if (op->latency_worse || op->errors_worse) {
		op->verdict = SONDE_CMP_REGRESSION;
		sonde_severity ls = op->latency_worse ? latency_severity(op->p95_change) : SONDE_SEV_NONE;
		sonde_severity es = op->errors_worse ? error_severity(op->error_rate_delta) : SONDE_SEV_NONE;
		op->severity = ls > es ? ls : es;
	} else if (op->latency_better || op->errors_better) {
		op->verdict = SONDE_CMP_IMPROVEMENT;
	} else {
		op->verdict = SONDE_CMP_NO_CHANGE;
	}

	/* Reasons: latency first, then errors, then how the tests were fed. */
	char b95[32], c95[32], sh[32], lo[32], hi[32], pv[32];
	sonde_cmp_fmt_ns(b95, sizeof b95, op->base.p95_ns);
	sonde_cmp_fmt_ns(c95, sizeof c95, op->cur.p95_ns);
	sonde_cmp_fmt_ns(sh, sizeof sh, op->hl.shift);
	sonde_cmp_fmt_ns(lo, sizeof lo, op->hl.lo);
	sonde_cmp_fmt_ns(hi, sizeof hi, op->hl.hi);
	fmt_p(pv, sizeof pv, op->mwu.p);
	double pct = op->p95_change * 100, thr = o->min_change * 100;
	const char *dir = op->p95_change >= 0 ? "rose" : "fell";
	unsigned long long n1 = op->base.count, n2 = op->cur.count;
	if (op->latency_worse || op->latency_better)
		reason(r, op,
		       "p95 %s %.0f%% (%s -> %s), beyond the %.0f%% threshold, and the durations differ "
		       "significantly (Mann-Whitney p %s%s on %llu vs %llu spans): typical shift %s%s "
		       "(%.0f%% CI %s%s to %s%s)",
		       dir, fabs(pct), b95, c95, thr, pv[0] == '<' ? "" : "= ", pv, n1, n2,
		       op->hl.shift > 0 ? "+" : "", sh, (1 - o->alpha) * 100, op->hl.lo > 0 ? "+" : "", lo,
		       op->hl.hi > 0 ? "+" : "", hi);
	else if (fabs(op->p95_change) >= o->min_change && !sig)
		reason(r, op,
		       "p95 %s %.0f%% (%s -> %s), but the difference is not significant (Mann-Whitney p %s%s "
		       "on %llu vs %llu spans, alpha %.2g): it may be noise",
		       dir, fabs(pct), b95, c95, pv[0] == '<' ? "" : "= ", pv, n1, n2, o->alpha);
	else if (fabs(op->p95_change) >= o->min_change)
		reason(r, op,
		       "p95 %s %.0f%% (%s -> %s) while the typical duration moved the other way or not at "
		       "all (shift %s%s, p %s%s): a change in the tail only",
		       dir, fabs(pct), b95, c95, op->hl.shift > 0 ? "+" : "", sh, pv[0] == '<' ? "" : "= ",
		       pv);
	else if (sig)
		reason(r, op,
		       "durations differ significantly (Mann-Whitney p %s%s, shift %s%s) but p95 moved only "
		       "%+.0f%% (%s -> %s), within the %.0f%% threshold",
		       pv[0] == '<' ? "" : "= ", pv, op->hl.shift > 0 ? "+" : "", sh, pct, b95, c95, thr);
	else
		reason(r, op, "p95 %+.0f%% (%s -> %s), Mann-Whitney p = %s on %llu vs %llu spans: no change",
		       pct, b95, c95, pv, n1, n2);
	if (op->base.errors || op->cur.errors) {
		fmt_p(pv, sizeof pv, op->errors_z.p);
		double d = op->error_rate_delta * 100;
		if (op->errors_worse || op->errors_better)
			reason(r, op,
			       "error rate %s from %.2f%% to %.2f%% (%+.2f points, beyond %.2g), significant "
			       "(two-proportion z-test p %s%s)",
			       d > 0 ? "rose" : "fell", op->base.error_rate * 100, op->cur.error_rate * 100,
			       d, o->min_error_change * 100, pv[0] == '<' ? "" : "= ", pv);
		else
			reason(r, op, "error rate %.2f%% -> %.2f%% (%+.2f points, z-test p %s%s): %s",
			       op->base.error_rate * 100, op->cur.error_rate * 100, d,
			       pv[0] == '<' ? "" : "= ", pv,
			       esig ? "significant but small" : "not significant");
	}
	if (!op->base.sample_exact || !op->cur.sample_exact)
		reason(r, op, "tests ran on uniform samples of %zu of %llu and %zu of %llu durations",
		       op->base.sampled, n1, op->cur.sampled, n2);
	return 0;
}

static int op_rank(const sonde_cmp_op *a)
{
	switch (a->verdict) {
	case SONDE_CMP_REGRESSION: return 0;
	case SONDE_CMP_IMPROVEMENT: return 1;
	case SONDE_CMP_NO_CHANGE: return 2;
	case SONDE_CMP_NEW: return 3;
	default: return 4;
	}
}

static int cmp_ops(const void *pa, const void *pb)
{
	const sonde_cmp_op *a = pa, *b = pb;
	int ra = op_rank(a), rb = op_rank(b);
	if (ra != rb)
		return ra - rb;
	if (a->severity != b->severity)
		return (int)b->severity - (int)a->severity;
	double ca = isnan(a->p95_change) ? -INFINITY : a->p95_change;
	double cb = isnan(b->p95_change) ? -INFINITY : b->p95_change;
	if (ca != cb)
		return ca > cb ? -1 : 1;
	int c = strcmp(a->service, b->service);
	return c ? c : strcmp(a->operation, b->operation);
}

int sonde_compare_run(const sonde_selection *base, const sonde_selection *cur, const sonde_compare_opts *opts,
                      sonde_compare_result *out)
{
	memset(out, 0, sizeof(*out));
	sonde_arena_init(&out->arena);
	sonde_compare_opts o = opts ? *opts : (sonde_compare_opts){0};
	if (o.min_change == 0)
		o.min_change = 0.20;
	if (o.min_error_change == 0)
		o.min_error_change = 0.01;
	if (o.alpha == 0)
		o.alpha = 0.05;
	if (!(o.alpha > 0 && o.alpha < 1) || !(o.min_change > 0) || !(o.min_error_change > 0))
		return -EINVAL;
	out->opts = o;
	collect c = {.max_samples = o.max_samples};
	sonde_keymap_init(&c.keys);
	const sonde_selection *sides[2] = {base, cur};
	int rc = 0;
	for (int s = 0; s < 2 && rc == 0; s++) {
		sonde_selection sel = *sides[s];
		if (o.service) {
			if (sel.service && strcmp(sel.service, o.service) != 0)
				continue; /* the two conditions exclude each other: nothing selected */
			sel.service = o.service;
		}
		c.side = s;
		rc = sonde_selection_scan_spans(&sel, SONDE_FIELDS_BASE, on_span, &c);
		if (rc != 0 && c.err)
			rc = c.err;
	}
	if (rc != 0) {
		collect_release(&c);
		return rc < 0 ? rc : -EIO;
	}
	out->base_spans = c.spans[0];
	out->cur_spans = c.spans[1];
	out->base_window_s = sonde_cmp_window_s(base, c.first_ns[0], c.last_ns[0], c.spans[0]);
	out->cur_window_s = sonde_cmp_window_s(cur, c.first_ns[1], c.last_ns[1], c.spans[1]);
	out->ops = calloc(c.count ? c.count : 1, sizeof(*out->ops));
	if (!out->ops) {
		collect_release(&c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c.count && rc == 0; i++) {
		group *g = &c.groups[i];
		sonde_cmp_op *op = &out->ops[out->count++];
		op->service = sonde_arena_strndup(&out->arena, g->service, strlen(g->service));
		op->operation = sonde_arena_strndup(&out->arena, g->operation, strlen(g->operation));
		if (!op->service || !op->operation) {
			rc = -ENOMEM;
			break;
		}
		fill_side(&op->base, g, 0, out->base_window_s);
		fill_side(&op->cur, g, 1, out->cur_window_s);
		rc = judge(out, op, g);
		switch (op->verdict) {
		case SONDE_CMP_REGRESSION: out->regressions++; break;
		case SONDE_CMP_IMPROVEMENT: out->improvements++; break;
		case SONDE_CMP_NEW: out->added++; break;
		case SONDE_CMP_GONE: out->removed++; break;
		default: out->unchanged++; break;
		}
	}
	collect_release(&c);
	if (rc < 0)
		return rc;
	qsort(out->ops, out->count, sizeof(*out->ops), cmp_ops);
	return 0;
}

void sonde_compare_result_release(sonde_compare_result *r)
{
	if (!r)
		return;
	free(r->ops);
	sonde_arena_release(&r->arena);
	memset(r, 0, sizeof(*r));
}
