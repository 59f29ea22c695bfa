/*
 * metrics_collect.c - collection: merges each series' cells (live threads' and retired
 * ones) into snapshots, runs observable callbacks, feeds summary windows, and writes the
 * OpenTelemetry metrics model (telemetry.h) for readers and the Prometheus text.
 *
 * Everything here runs with M.mu held, on the collecting thread; application threads keep
 * writing their cells meanwhile (see metrics_internal.h for why reading them is safe).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "exporter_internal.h"
#include "host_metrics_internal.h"
#include "metrics_internal.h"
#include "prom_text.h"
#include "ptrmap.h"

#define M sonde__M

struct sonde_metric_reader {
	sonde_metric_temporality temporality;
	sonde_ptrmap prev; /* delta: series -> sonde__snap of the last report (owned) */
	uint64_t last_ns;  /* delta: time of the last collection */
	bool linked;       /* in M.readers */
	struct sonde_metric_reader *next;
};

struct sonde_observer {
	sonde_instrument *in;
	uint64_t gen;
};

/* ---- Snapshots ------------------------------------------------------------------------ */

sonde__snap *sonde__snap_new(const sonde_instrument *in)
{
	sonde__snap *sn = calloc(1, sizeof(*sn));
	if (!sn)
		return NULL;
	sn->min = INFINITY;
	sn->max = -INFINITY;
	switch (in->op) {
	case SONDE__OP_HIST:
		sn->buckets = calloc(in->nbounds + 1, sizeof(uint64_t));
		if (!sn->buckets)
			goto oom;
		break;
	case SONDE__OP_EXP:
		sn->exp = malloc(sizeof(*sn->exp));
		if (!sn->exp)
			goto oom;
		sonde__exph_init(sn->exp, in->exp_max_size, in->exp_max_scale);
		break;
	case SONDE__OP_SUMMARY:
		sn->bins = calloc(SONDE__SK_BINS, sizeof(uint32_t));
		if (!sn->bins)
			goto oom;
		break;
	default: break;
	}
	return sn;
oom:
	sonde__snap_free(sn);
	return NULL;
}

void sonde__snap_free(sonde__snap *sn)
{
	if (!sn)
		return;
	free(sn->buckets);
	free(sn->exp);
	free(sn->bins);
	free(sn);
}

static void snap_reset(sonde__snap *sn, const sonde_instrument *in)
{
	sn->i = 0;
	sn->d = 0;
	sn->count = 0;
	sn->sum = 0;
	sn->min = INFINITY;
	sn->max = -INFINITY;
	sn->zero = 0;
	if (sn->buckets)
		memset(sn->buckets, 0, (in->nbounds + 1) * sizeof(uint64_t));
	if (sn->exp)
		sonde__exph_init(sn->exp, in->exp_max_size, in->exp_max_scale);
	if (sn->bins)
		memset(sn->bins, 0, SONDE__SK_BINS * sizeof(uint32_t));
}

void sonde__snap_add_cell(sonde__snap *sn, const sonde_series *s, const sonde__word *c)
{
	const sonde_instrument *in = s->inst;
	switch (in->op) {
	case SONDE__OP_SUM_INT: sn->i = (int64_t)((uint64_t)sn->i + sonde__ld(c)); break;
	case SONDE__OP_SUM_DOUBLE: sn->d += sonde__d(sonde__ld(c)); break;
	case SONDE__OP_HIST: {
		for (uint32_t i = 0; i <= in->nbounds; i++) {
			uint64_t n = sonde__ld(&c[3 + i]);
			sn->buckets[i] += n;
			sn->count += n;
		}
		sn->sum += sonde__d(sonde__ld(&c[0]));
		double mn = sonde__d(sonde__ld(&c[1]) ^ SONDE__INF_BITS);
		double mx = sonde__d(sonde__ld(&c[2]) ^ SONDE__NINF_BITS);
		if (mn < sn->min)
			sn->min = mn;
		if (mx > sn->max)
			sn->max = mx;
		break;
	}
	case SONDE__OP_EXP:
		sonde__exp_cell_merge_into(c, in->exp_max_size, in->exp_max_scale, sn->exp);
		break;
	case SONDE__OP_SUMMARY: {
		sn->count += sonde__ld(&c[SONDE__SUM_W_COUNT]);
		sn->sum += sonde__d(sonde__ld(&c[SONDE__SUM_W_SUM]));
		sn->zero += (uint32_t)sonde__ld(&c[SONDE__SUM_W_ZERO]);
		const _Atomic uint32_t *bins =
		        (const _Atomic uint32_t *)(const void *)(c + SONDE__SUM_W_BINS);
		for (uint32_t i = 0; i < SONDE__SK_BINS; i++)
			sn->bins[i] +=
			        atomic_load_explicit((_Atomic uint32_t *)&bins[i], memory_order_relaxed);
		break;
	}
	default: break;
	}
}

/* dst += src (sign -1: dst -= src, for deltas; min and max then are dst's). */
static void snap_combine(sonde__snap *dst, const sonde__snap *src, const sonde_instrument *in, int sign)
{
	if (sign > 0) {
		dst->i = (int64_t)((uint64_t)dst->i + (uint64_t)src->i);
		dst->d += src->d;
		dst->count += src->count;
		dst->sum += src->sum;
		dst->zero += src->zero;
		if (src->min < dst->min)
			dst->min = src->min;
		if (src->max > dst->max)
			dst->max = src->max;
	} else {
		dst->i = (int64_t)((uint64_t)dst->i - (uint64_t)src->i);
		dst->d -= src->d;
		dst->count -= src->count;
		dst->sum -= src->sum;
		dst->zero -= src->zero;
	}
	if (dst->buckets)
		for (uint32_t i = 0; i <= in->nbounds; i++)
			dst->buckets[i] += sign > 0 ? src->buckets[i] : -src->buckets[i];
	if (dst->bins)
		for (uint32_t i = 0; i < SONDE__SK_BINS; i++)
			dst->bins[i] += sign > 0 ? src->bins[i] : -src->bins[i];
	if (dst->exp) {
		if (sign > 0)
			sonde__exph_merge(dst->exp, src->exp);
		else
			sonde__exph_sub(dst->exp, src->exp);
	}
}

/* The merged value of s now: retired accumulator plus every live thread's cell. */
static void series_total(const sonde_series *s, sonde__snap *out)
{
	snap_reset(out, s->inst);
	if (s->retired)
		snap_combine(out, s->retired, s->inst, +1);
	for (const sonde__mthread *t = M.threads; t; t = t->next) {
		const sonde__word *c = sonde__cell_of(t, s);
		if (c)
			sonde__snap_add_cell(out, s, c);
	}
}

static bool snap_has_data(const sonde__snap *sn, const sonde_instrument *in)
{
	switch (in->op) {
	case SONDE__OP_SUM_INT: return sn->i != 0;
	case SONDE__OP_SUM_DOUBLE: return sn->d != 0;
	case SONDE__OP_EXP: return sonde__exph_count(sn->exp) != 0;
	default: return sn->count != 0;
	}
}

/* ---- Readers ------------------------------------------------------------------------ */

sonde_metric_reader *sonde_metric_reader_new(sonde_metric_temporality temporality)
{
	sonde_metric_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->temporality = temporality;
	sonde_ptrmap_init(&r->prev);
	/* Runtime metrics asked for by SONDE_METRICS_RUNTIME / SONDE_METRICS_HOST. */
	sonde__runtime_metrics_from_env();
	sonde_meter_get("sonde", NULL, NULL); /* initialises the runtime */
	pthread_mutex_lock(&M.mu);
	r->last_ns = M.start_ns;
	r->next = M.readers;
	M.readers = r;
	r->linked = true;
	pthread_mutex_unlock(&M.mu);
	return r;
}

static void reader_clear(sonde_metric_reader *r)
{
	for (size_t i = 0; r->prev.slots && i <= r->prev.mask; i++)
		if (r->prev.slots[i].v)
			sonde__snap_free(r->prev.slots[i].v);
	sonde_ptrmap_release(&r->prev);
	sonde_ptrmap_init(&r->prev);
}

void sonde_metric_reader_free(sonde_metric_reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&M.mu);
	for (sonde_metric_reader **p = &M.readers; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	pthread_mutex_unlock(&M.mu);
	reader_clear(r);
	free(r);
}

void sonde__metrics_collect_after_fork(void)
{
	for (sonde_metric_reader *r = M.readers; r; r = r->next) {
		reader_clear(r);
		r->last_ns = M.start_ns;
	}
}

/* ---- Observations -------------------------------------------------------------------- */

static void observe(sonde_observer *o, double d, int64_t i, const sonde_attr *attrs, size_t n)
{
	if (!o || !o->in)
		return;
	sonde_series *s = sonde__series_get_locked(o->in, attrs, n);
	if (s == &sonde__noop_series)
		return;
	bool sum = o->in->kind != SONDE_INSTRUMENT_OBSERVABLE_GAUGE;
	if (s->obs_gen == o->gen && s->overflow && sum) {
		s->obs_d += d;
		s->obs_i = (int64_t)((uint64_t)s->obs_i + (uint64_t)i);
	} else {
		s->obs_d = d;
		s->obs_i = i;
	}
	s->obs_gen = o->gen;
}

void sonde_observe(sonde_observer *o, double value, const sonde_attr *attrs, size_t n)
{
	if (isnan(value))
		return;
	double r = nearbyint(value);
	int64_t i = fabs(r) < 9.2e18 ? (int64_t)r : 0;
	observe(o, value, i, attrs, n);
}

void sonde_observe_int(sonde_observer *o, int64_t value, const sonde_attr *attrs, size_t n)
{
	observe(o, (double)value, value, attrs, n);
}

/* ---- Summary windows ---------------------------------------------------------------- */

/* Adds what s recorded since the last feed to the current age bucket, then fills bins
 * and *zero with the window's counts. */
static int summary_window(sonde_series *s, const sonde__snap *total, uint64_t mono_ns, uint64_t *bins,
                          uint64_t *zero)
{
	const sonde_instrument *in = s->inst;
	if (!s->window) {
		size_t size = sizeof(sonde__sum_window) + in->age_buckets * sizeof(struct sonde__age_bucket);
		s->window = calloc(1, size);
		if (!s->window)
			return -ENOMEM;
		s->window->nb = in->age_buckets;
	}
	sonde__sum_window *w = s->window;
	uint64_t epoch = mono_ns / in->age_ns + 1;
	struct sonde__age_bucket *b = &w->b[epoch % w->nb];
	if (b->epoch != epoch) {
		memset(b, 0, sizeof(*b));
		b->epoch = epoch;
	}
	for (uint32_t i = 0; i < SONDE__SK_BINS; i++) {
		b->bins[i] += total->bins[i] - w->prev[i];
		w->prev[i] = total->bins[i];
	}
	b->zero += total->zero - w->prev_zero;
	w->prev_zero = total->zero;
	memset(bins, 0, SONDE__SK_BINS * sizeof(*bins));
	*zero = 0;
	for (uint32_t k = 0; k < w->nb; k++) {
		const struct sonde__age_bucket *a = &w->b[k];
		if (!a->epoch || a->epoch + w->nb <= epoch)
			continue;
		*zero += a->zero;
		for (uint32_t i = 0; i < SONDE__SK_BINS; i++)
			bins[i] += a->bins[i];
	}
	return 0;
}

/* ---- Writing the model ----------------------------------------------------------------- */

typedef struct collector {
	sonde_metric_reader *r;
	sonde_batch *b;
	const sonde_resource *res;
	uint64_t now_ns, mono_ns;
	sonde__snap *cur, *tmp; /* scratch, per instrument */
	uint64_t *sk_bins;
	int rc;
} collector;

static sonde_str intern(collector *c, const char *s, size_t n)
{
	sonde_str r = sonde_batch_intern(c->b, s, n);
	if (!r.ptr)
		c->rc = -ENOMEM;
	return r;
}

static int copy_attrs(collector *c, const sonde_kv *kv, uint32_t n, sonde_attrs *out)
{
	out->items = NULL;
	out->count = 0;
	if (!n)
		return 0;
	sonde_kv *items = sonde_batch_alloc(c->b, n * sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		items[i] = kv[i];
		items[i].key = intern(c, kv[i].key.ptr, kv[i].key.len);
		if (kv[i].value.kind == SONDE_VAL_STRING)
			items[i].value.u.str = intern(c, kv[i].value.u.str.ptr, kv[i].value.u.str.len);
	}
	out->items = items;
	out->count = n;
	return c->rc;
}

static const sonde_resource *make_resource(collector *c)
{
	sonde__metrics_resource_default();
	sonde_resource *res = sonde_batch_new_resource(c->b);
	if (!res || copy_attrs(c, M.resource, M.nresource, &res->attrs) < 0)
		return NULL;
	return res;
}

static const sonde_scope *make_scope(collector *c, const sonde_meter *m)
{
	sonde_scope *sc = sonde_batch_new_scope(c->b);
	if (!sc)
		return NULL;
	sc->name = intern(c, m->name, strlen(m->name));
	sc->version = intern(c, m->version, strlen(m->version));
	sc->schema_url = intern(c, m->schema_url, strlen(m->schema_url));
	return c->rc ? NULL : sc;
}

/* The reader's previous report of s, made on first use (delta readers only). */
static sonde__snap *prev_of(collector *c, const sonde_series *s, bool *fresh)
{
	sonde_ptrmap_key k = {.a = s};
	sonde__snap *p = sonde_ptrmap_find(&c->r->prev, k);
	*fresh = false;
	if (p)
		return p;
	p = sonde__snap_new(s->inst);
	if (!p || sonde_ptrmap_add(&c->r->prev, k, p) < 0) {
		sonde__snap_free(p);
		return NULL;
	}
	*fresh = true;
	return p;
}

static void set_number(sonde_point *pt, const sonde_instrument *in, double d, int64_t i)
{
	if (in->vt == SONDE_METRIC_INT) {
		pt->u.number.kind = SONDE_NUM_INT;
		pt->u.number.v.i = i;
	} else {
		pt->u.number.kind = SONDE_NUM_DOUBLE;
		pt->u.number.v.d = d;
	}
}

static int fill_hist(collector *c, sonde_point *pt, const sonde_instrument *in, const sonde__snap *sn,
                     bool min_max)
{
	pt->u.hist.count = sn->count;
	pt->u.hist.has_sum = true;
	pt->u.hist.sum = sn->sum;
	if (min_max && sn->count && !in->no_min_max) {
		pt->u.hist.has_min = pt->u.hist.has_max = true;
		pt->u.hist.min = sn->min;
		pt->u.hist.max = sn->max;
	}
	pt->u.hist.bucket_counts = sonde_batch_alloc(c->b, (in->nbounds + 1) * sizeof(uint64_t));
	pt->u.hist.bounds = sonde_batch_alloc(c->b, (in->nbounds ? in->nbounds : 1) * sizeof(double));
	if (!pt->u.hist.bucket_counts || !pt->u.hist.bounds)
		return -ENOMEM;
	memcpy(pt->u.hist.bucket_counts, sn->buckets, (in->nbounds + 1) * sizeof(uint64_t));
	memcpy(pt->u.hist.bounds, in->bounds, in->nbounds * sizeof(double));
	pt->u.hist.bucket_counts_count = in->nbounds + 1;
	pt->u.hist.bounds_count = in->nbounds;
	return 0;
}

static int fill_exp(collector *c, sonde_point *pt, const sonde_instrument *in, const sonde__exph *h,
                    bool min_max)
{
	uint64_t count = sonde__exph_count(h);
	pt->u.exp.count = count;
	pt->u.exp.has_sum = true;
	pt->u.exp.sum = h->sum;
	if (min_max && count && !in->no_min_max) {
		pt->u.exp.has_min = pt->u.exp.has_max = true;
		pt->u.exp.min = h->min;
		pt->u.exp.max = h->max;
	}
	pt->u.exp.scale = h->scale;
	pt->u.exp.zero_count = h->zero;
	pt->u.exp.zero_threshold = 0;
	const sonde__exp_side *sides[2] = {&h->pos, &h->neg};
	sonde_exp_buckets *outs[2] = {&pt->u.exp.positive, &pt->u.exp.negative};
	for (int k = 0; k < 2; k++) {
		outs[k]->offset = sides[k]->lo;
		outs[k]->count = sides[k]->n;
		if (!sides[k]->n)
			continue;
		outs[k]->counts = sonde_batch_alloc(c->b, sides[k]->n * sizeof(uint64_t));
		if (!outs[k]->counts)
			return -ENOMEM;
		memcpy(outs[k]->counts, sides[k]->c, sides[k]->n * sizeof(uint64_t));
	}
	return 0;
}

/* Writes one series' point of a synchronous instrument; *skip when it has nothing. */
static int series_point(collector *c, sonde_series *s, sonde_point *pt, bool *skip)
{
	const sonde_instrument *in = s->inst;
	bool delta = c->r->temporality == SONDE_METRICS_DELTA;
	*skip = false;
	pt->time_ns = c->now_ns;
	pt->start_time_ns = M.start_ns;
	if (in->op == SONDE__OP_GAUGE) {
		if (!atomic_load_explicit(&s->gauge_set, memory_order_acquire)) {
			*skip = true;
			return 0;
		}
		double d = sonde__d(atomic_load_explicit(&s->gauge_bits, memory_order_relaxed));
		pt->start_time_ns = 0;
		set_number(pt, in, d, fabs(d) < 9.2e18 ? (int64_t)llround(d) : 0);
		return 0;
	}
	sonde__snap *sn = c->cur;
	series_total(s, sn);
	if (!snap_has_data(sn, in) && !atomic_load_explicit(&s->wanted, memory_order_relaxed)) {
		*skip = true;
		return 0;
	}
	uint64_t *qbins = NULL;
	uint64_t qzero = 0;
	if (in->op == SONDE__OP_SUMMARY) {
		qbins = c->sk_bins;
		if (summary_window(s, sn, c->mono_ns, qbins, &qzero) < 0)
			return -ENOMEM;
	}
	if (delta) {
		/* Report what changed since the reader's last report, and remember the total. */
		bool fresh;
		sonde__snap *prev = prev_of(c, s, &fresh);
		if (!prev)
			return -ENOMEM;
		if (!fresh)
			pt->start_time_ns = c->r->last_ns;
		sonde__snap *d = c->tmp;
		snap_reset(d, in);
		snap_combine(d, sn, in, +1);
		snap_combine(d, prev, in, -1);
		snap_reset(prev, in);
		snap_combine(prev, sn, in, +1);
		sn = d;
	}
	switch (in->op) {
	case SONDE__OP_SUM_INT: set_number(pt, in, (double)sn->i, sn->i); break;
	case SONDE__OP_SUM_DOUBLE: set_number(pt, in, sn->d, (int64_t)sn->d); break;
	case SONDE__OP_HIST: return fill_hist(c, pt, in, sn, !delta);
	case SONDE__OP_EXP: return fill_exp(c, pt, in, sn->exp, !delta);
	case SONDE__OP_SUMMARY: {
		uint64_t n = qzero;
		for (uint32_t i = 0; i < SONDE__SK_BINS; i++)
			n += qbins[i];
		pt->u.summary.count = sn->count;
		pt->u.summary.sum = sn->sum;
		pt->u.summary.quantiles =
		        sonde_batch_alloc(c->b, in->nquantiles * sizeof(sonde_quantile) + 1);
		if (!pt->u.summary.quantiles)
			return -ENOMEM;
		pt->u.summary.quantiles_count = in->nquantiles;
		for (uint32_t i = 0; i < in->nquantiles; i++) {
			pt->u.summary.quantiles[i].quantile = in->quantiles[i];
			pt->u.summary.quantiles[i].value =
			        n ? sonde__sk_quantile(qzero, qbins, n, in->quantiles[i]) : NAN;
		}
		break;
	}
	default: *skip = true; break;
	}
	return 0;
}

/* Writes one series' point of an observable instrument; *skip when it was not observed by
 * this collection's callback. */
static int observed_point(collector *c, sonde_series *s, sonde_point *pt, uint64_t gen, bool *skip)
{
	const sonde_instrument *in = s->inst;
	*skip = s->obs_gen != gen;
	if (*skip)
		return 0;
	pt->time_ns = c->now_ns;
	if (in->kind == SONDE_INSTRUMENT_OBSERVABLE_GAUGE) {
		set_number(pt, in, s->obs_d, s->obs_i);
		return 0;
	}
	pt->start_time_ns = M.start_ns;
	double d = s->obs_d;
	int64_t i = s->obs_i;
	if (c->r->temporality == SONDE_METRICS_DELTA) {
		bool fresh;
		sonde__snap *prev = prev_of(c, s, &fresh);
		if (!prev)
			return -ENOMEM;
		if (!fresh)
			pt->start_time_ns = c->r->last_ns;
		d -= prev->d;
		i = (int64_t)((uint64_t)i - (uint64_t)prev->i);
		prev->d = s->obs_d;
		prev->i = s->obs_i;
	}
	set_number(pt, in, d, i);
	return 0;
}

static void describe(collector *c, sonde_metric_data *md, const sonde_instrument *in)
{
	md->name = intern(c, in->name, strlen(in->name));
	md->description = intern(c, in->description, strlen(in->description));
	md->unit = intern(c, in->unit, strlen(in->unit));
	sonde_temporality t = c->r->temporality == SONDE_METRICS_DELTA ? SONDE_TEMPORALITY_DELTA
	                                                               : SONDE_TEMPORALITY_CUMULATIVE;
	switch (in->kind) {
	case SONDE_INSTRUMENT_COUNTER:
	case SONDE_INSTRUMENT_OBSERVABLE_COUNTER:
		md->type = SONDE_METRIC_SUM;
		md->is_monotonic = true;
		md->temporality = t;
		break;
	case SONDE_INSTRUMENT_UPDOWN_COUNTER:
	case SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER:
		md->type = SONDE_METRIC_SUM;
		md->temporality = t;
		break;
	case SONDE_INSTRUMENT_GAUGE:
	case SONDE_INSTRUMENT_OBSERVABLE_GAUGE: md->type = SONDE_METRIC_GAUGE; break;
	case SONDE_INSTRUMENT_HISTOGRAM:
		md->type = in->op == SONDE__OP_EXP ? SONDE_METRIC_EXP_HISTOGRAM : SONDE_METRIC_HISTOGRAM;
		md->temporality = t;
		break;
	case SONDE_INSTRUMENT_SUMMARY: md->type = SONDE_METRIC_SUMMARY; break;
	}
}

static int collect_instrument(collector *c, sonde_instrument *in, const sonde_meter *m,
                              const sonde_scope **scope)
{
	uint64_t gen = 0;
	if (in->op == SONDE__OP_OBSERVED) {
		gen = ++M.obs_gen;
		sonde_observer o = {in, gen};
		in->cb(&o, in->cb_ud);
	}
	if (!in->nseries)
		return 0;
	int rc = 0;
	c->cur = c->tmp = NULL;
	if (in->cell_words) {
		c->cur = sonde__snap_new(in);
		c->tmp = sonde__snap_new(in);
		if (!c->cur || !c->tmp) {
			rc = -ENOMEM;
			goto out;
		}
	}
	sonde_point *pts = sonde_batch_alloc(c->b, in->nseries * sizeof(*pts));
	if (!pts) {
		rc = -ENOMEM;
		goto out;
	}
	uint32_t np = 0;
	for (sonde_series *s = in->series; s; s = s->next) {
		sonde_point *pt = &pts[np];
		bool skip;
		rc = in->op == SONDE__OP_OBSERVED ? observed_point(c, s, pt, gen, &skip)
		                                  : series_point(c, s, pt, &skip);
		if (rc < 0)
			goto out;
		if (skip) {
			memset(pt, 0, sizeof(*pt));
			continue;
		}
		if ((rc = copy_attrs(c, s->attrs, s->nattrs, &pt->attrs)) < 0)
			goto out;
		np++;
	}
	if (np) {
		if (!*scope && !(*scope = make_scope(c, m))) {
			rc = -ENOMEM;
			goto out;
		}
		sonde_metric_data *md = sonde_batch_add_metric(c->b, c->res, *scope);
		if (!md) {
			rc = -ENOMEM;
			goto out;
		}
		describe(c, md, in);
		md->points = pts;
		md->points_count = np;
		rc = c->rc;
	}
out:
	sonde__snap_free(c->cur);
	sonde__snap_free(c->tmp);
	c->cur = c->tmp = NULL;
	return rc;
}

int sonde_metric_reader_collect(sonde_metric_reader *r, sonde_batch *b)
{
	if (!r || !b)
		return -EINVAL;
	collector c = {.r = r, .b = b};
	int rc = 0;
	pthread_mutex_lock(&M.mu);
	c.now_ns = sonde_clock_realtime_ns();
	c.mono_ns = sonde__mono_ns();
	c.sk_bins = malloc(SONDE__SK_BINS * sizeof(uint64_t));
	c.res = c.sk_bins ? make_resource(&c) : NULL;
	if (!c.res) {
		rc = -ENOMEM;
		goto out;
	}
	for (sonde_meter *m = M.meters; m && rc == 0; m = m->next) {
		const sonde_scope *scope = NULL;
		for (sonde_instrument *in = m->instruments; in && rc == 0; in = in->next)
			rc = collect_instrument(&c, in, m, &scope);
	}
	r->last_ns = c.now_ns;
out:
	pthread_mutex_unlock(&M.mu);
	free(c.sk_bins);
	return rc;
}

/* ---- Prometheus text ------------------------------------------------------------------- */

/* Prometheus text cannot carry exponential histograms: write each as a classic histogram
 * whose bounds are its buckets' boundaries (negative buckets, zero, positive ones). */
static int exp_to_classic(sonde_batch *b)
{
	for (size_t k = 0; k < b->metrics_count; k++) {
		sonde_metric_data *m = &b->metrics[k];
		if (m->type != SONDE_METRIC_EXP_HISTOGRAM)
			continue;
		for (uint32_t p = 0; p < m->points_count; p++) {
			sonde_point *pt = &m->points[p];
			typeof(pt->u.exp) e = pt->u.exp;
			uint32_t nb = e.negative.count + 1 + e.positive.count;
			double *bounds = sonde_batch_alloc(b, nb * sizeof(double));
			uint64_t *counts = sonde_batch_alloc(b, (nb + 1) * sizeof(uint64_t));
			if (!bounds || !counts)
				return -ENOMEM;
			uint32_t i = 0;
			for (uint32_t j = e.negative.count; j-- > 0; i++) {
				bounds[i] = -sonde__exp_lower(e.negative.offset + (int32_t)j, e.scale);
				counts[i] = e.negative.counts[j];
			}
			bounds[i] = 0;
			counts[i++] = e.zero_count;
			for (uint32_t j = 0; j < e.positive.count; j++, i++) {
				bounds[i] = sonde__exp_lower(e.positive.offset + (int32_t)j + 1, e.scale);
				counts[i] = e.positive.counts[j];
			}
			counts[nb] = 0;
			memset(&pt->u, 0, sizeof(pt->u));
			pt->u.hist.count = e.count;
			pt->u.hist.has_sum = e.has_sum;
			pt->u.hist.sum = e.sum;
			pt->u.hist.has_min = e.has_min;
			pt->u.hist.min = e.min;
			pt->u.hist.has_max = e.has_max;
			pt->u.hist.max = e.max;
			pt->u.hist.bounds = bounds;
			pt->u.hist.bounds_count = nb;
			pt->u.hist.bucket_counts = counts;
			pt->u.hist.bucket_counts_count = nb + 1;
		}
		m->type = SONDE_METRIC_HISTOGRAM;
	}
	return 0;
}

int sonde_metrics_prometheus_text(bool openmetrics, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	sonde_batch *b = sonde_batch_new();
	sonde_metric_reader r = {.temporality = SONDE_METRICS_CUMULATIVE};
	sonde_buf buf = SONDE_BUF_INIT;
	int rc = b ? 0 : -ENOMEM;
	if (rc == 0)
		rc = sonde_metric_reader_collect(&r, b);
	if (rc == 0)
		rc = exp_to_classic(b);
	if (rc == 0)
		rc = sonde_prom_text_write(b, openmetrics ? SONDE_PROM_OPENMETRICS_1 : SONDE_PROM_TEXT_004,
		                           &buf);
	if (rc == 0 && buf.oom)
		rc = -ENOMEM;
	if (rc == 0 && buf.len == 0)
		sonde_buf_grow(&buf, 1);
	if (rc == 0 && !buf.oom)
		*out = sonde_buf_detach(&buf, len);
	else if (rc == 0)
		rc = -ENOMEM;
	sonde_buf_release(&buf);
	sonde_batch_free(b);
	return rc;
}
