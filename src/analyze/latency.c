/*
 * latency.c - DDSketch, exact-then-sketched distributions, and per-group latency tables
 * (see latency.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "keymap.h"
#include "latency.h"

/* ---- DDSketch -------------------------------------------------------------------------- */

void sonde_ddsketch_init(sonde_ddsketch *s, double alpha)
{
	memset(s, 0, sizeof(*s));
	s->gamma = (1 + alpha) / (1 - alpha);
	s->log_gamma = log(s->gamma);
}

void sonde_ddsketch_release(sonde_ddsketch *s)
{
	if (!s)
		return;
	free(s->counts);
	sonde_ddsketch_init(s, (s->gamma - 1) / (s->gamma + 1));
}

/* log2(1 + k / 256), k = 0..255, filled once. */
static double log2_tab[256];
static pthread_once_t log2_once = PTHREAD_ONCE_INIT;

static void log2_init(void)
{
	for (int k = 0; k < 256; k++)
		log2_tab[k] = log2(1 + k / 256.0);
}

/* The bucket of v >= 1: ceil(log(v) / log_gamma). log() costs most of an add, so log2(v)
 * is computed first from v's exponent, a table of log2 over 256 slices of the mantissa
 * and three terms of the series of log2(1 + y) for the rest (y < 1/256, so the error is
 * under y^4 / 4 * log2(e) < 1e-10, about 1e-8 in bucket units), and log() is called only
 * when that lands within 1e-6 of a bucket boundary: the answer is always the one of the
 * formula. The caller has run log2_init (pthread_once). */
static int32_t bucket_of(const sonde_ddsketch *s, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	int e = (int)(bits >> 52 & 0x7ff) - 1023;
	unsigned k = (unsigned)(bits >> 44 & 0xff);
	uint64_t mbits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	double m;
	memcpy(&m, &mbits, sizeof m);
	double c = 1 + k / 256.0;
	double y = (m - c) / c;
	double l2 = e + log2_tab[k] + y * (1 - y * (0.5 - y / 3)) * M_LOG2E;
	double x = l2 * M_LN2 / s->log_gamma;
	double f = x - floor(x);
	if (e < 0 || f < 1e-6 || f > 1 - 1e-6)
		return (int32_t)ceil(log(v) / s->log_gamma);
	return (int32_t)floor(x) + 1;
}

/* Makes room for bucket indexes lo..hi. */
static int cover(sonde_ddsketch *s, int32_t lo, int32_t hi)
{
	if (s->nbuckets && lo >= s->offset && hi < s->offset + (int32_t)s->nbuckets)
		return 0;
	int32_t nlo = s->nbuckets && s->offset < lo ? s->offset : lo;
	int32_t nhi = s->nbuckets && s->offset + (int32_t)s->nbuckets - 1 > hi
	                      ? s->offset + (int32_t)s->nbuckets - 1
	                      : hi;
	/* Grow with slack so a stream of slowly rising values does not copy every time. */
	int32_t slack = (nhi - nlo) / 4 + 8;
	if (s->nbuckets) {
		if (nlo < s->offset)
			nlo -= slack;
		if (nhi > s->offset + (int32_t)s->nbuckets - 1)
			nhi += slack;
	}
	uint32_t n = (uint32_t)(nhi - nlo + 1);
	uint64_t *c = calloc(n, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (s->nbuckets)
		memcpy(c + (s->offset - nlo), s->counts, s->nbuckets * sizeof(*c));
	free(s->counts);
	s->counts = c;
	s->offset = nlo;
	s->nbuckets = n;
	return 0;
}

int sonde_ddsketch_add(sonde_ddsketch *s, double v, uint64_t n)
{
	if (isnan(v) || n == 0)
		return 0;
	if (v < 0)
		v = 0;
	if (v < 1) {
		s->zero_count += n;
	} else {
		pthread_once(&log2_once, log2_init);
		int32_t i = bucket_of(s, v);
		int rc = cover(s, i, i);
		if (rc < 0)
			return rc;
		s->counts[i - s->offset] += n;
	}
	if (s->count == 0 || v < s->min)
		s->min = v;
	if (s->count == 0 || v > s->max)
		s->max = v;
	s->count += n;
	return 0;
}

int sonde_ddsketch_add_values(sonde_ddsketch *s, const uint64_t *v, size_t n)
{
	int32_t idx[SONDE_DDSKETCH_BATCH];
	if (n > SONDE_DDSKETCH_BATCH)
		return -EINVAL;
	if (n == 0)
		return 0;
	pthread_once(&log2_once, log2_init);
	size_t k = 0;
	int32_t lo = INT32_MAX, hi = INT32_MIN;
	uint64_t zeros = 0, mn = v[0], mx = v[0];
	/* First every bucket index (arithmetic only), then the counts: the loads of counts
	 * (cache misses when many sketches take turns) are independent, so they overlap. */
	for (size_t j = 0; j < n; j++) {
		mn = v[j] < mn ? v[j] : mn;
		mx = v[j] > mx ? v[j] : mx;
		if (v[j] == 0) {
			zeros++;
			continue;
		}
		int32_t i = bucket_of(s, (double)v[j]);
		lo = i < lo ? i : lo;
		hi = i > hi ? i : hi;
		idx[k++] = i;
	}
	if (k && cover(s, lo, hi) < 0)
		return -ENOMEM;
	for (size_t j = 0; j < k; j++)
		s->counts[idx[j] - s->offset]++;
	s->zero_count += zeros;
	if (s->count == 0 || (double)mn < s->min)
		s->min = (double)mn;
	if (s->count == 0 || (double)mx > s->max)
		s->max = (double)mx;
	s->count += n;
	return 0;
}

int sonde_ddsketch_merge(sonde_ddsketch *dst, const sonde_ddsketch *src)
{
	if (fabs(dst->gamma - src->gamma) > 1e-12)
		return -EINVAL;
	if (src->count == 0)
		return 0;
	if (src->nbuckets) {
		int rc = cover(dst, src->offset, src->offset + (int32_t)src->nbuckets - 1);
		if (rc < 0)
			return rc;
		for (uint32_t k = 0; k < src->nbuckets; k++)
			dst->counts[src->offset + (int32_t)k - dst->offset] += src->counts[k];
	}
	dst->zero_count += src->zero_count;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	return 0;
}

double sonde_ddsketch_bucket_value(const sonde_ddsketch *s, int32_t index)
{
	return 2 * exp(index * s->log_gamma) / (s->gamma + 1);
}

double sonde_ddsketch_quantile(const sonde_ddsketch *s, double q)
{
	if (s->count == 0)
		return 0;
	if (q <= 0)
		return s->min;
	if (q >= 1)
		return s->max;
	uint64_t rank = (uint64_t)floor(q * (double)(s->count - 1));
	uint64_t cum = s->zero_count;
	if (cum > rank)
		return s->min < 1 ? s->min : 0;
	for (uint32_t k = 0; k < s->nbuckets; k++) {
		cum += s->counts[k];
		if (cum > rank) {
			double v = sonde_ddsketch_bucket_value(s, s->offset + (int32_t)k);
			return v < s->min ? s->min : v > s->max ? s->max : v;
		}
	}
	return s->max;
}

/* ---- Exact, then sketched ---------------------------------------------------------- */

void sonde_latency_dist_init(sonde_latency_dist *d)
{
	memset(d, 0, sizeof(*d));
	sonde_ddsketch_init(&d->sketch, SONDE_DDSKETCH_ALPHA);
}

void sonde_latency_dist_release(sonde_latency_dist *d)
{
	if (!d)
		return;
	sonde_ddsketch_release(&d->sketch);
	free(d->exact);
	sonde_latency_dist_init(d);
}

/* Moves the exact values into the sketch and forgets them. */
static int overflow(sonde_latency_dist *d)
{
	sonde_ddsketch sk;
	sonde_ddsketch_init(&sk, SONDE_DDSKETCH_ALPHA);
	for (size_t i = 0; i < d->exact_n; i++) {
		if (sonde_ddsketch_add(&sk, (double)d->exact[i], 1) < 0) {
			sonde_ddsketch_release(&sk);
			return -ENOMEM;
		}
	}
	sonde_ddsketch_release(&d->sketch);
	d->sketch = sk;
	free(d->exact);
	d->exact = NULL;
	d->exact_n = d->exact_cap = 0;
	d->overflowed = true;
	return 0;
}

/* Moves the pending values into the sketch: 0, or -ENOMEM (none moved). */
static int flush(sonde_latency_dist *d)
{
	if (!d->pending_n)
		return 0;
	int rc = sonde_ddsketch_add_values(&d->sketch, d->pending, d->pending_n);
	if (rc == 0)
		d->pending_n = 0;
	return rc;
}

/* d's sketch with its pending values in: d->sketch itself when none are pending, else
 * tmp (initialised here; the caller releases it), or d->sketch without them when there
 * is no memory for the copy. */
static const sonde_ddsketch *settled(const sonde_latency_dist *d, sonde_ddsketch *tmp)
{
	sonde_ddsketch_init(tmp, SONDE_DDSKETCH_ALPHA);
	if (!d->pending_n)
		return &d->sketch;
	if (sonde_ddsketch_merge(tmp, &d->sketch) < 0 ||
	    sonde_ddsketch_add_values(tmp, d->pending, d->pending_n) < 0)
		return &d->sketch;
	return tmp;
}

int sonde_latency_dist_add(sonde_latency_dist *d, uint64_t ns)
{
	if (!d->overflowed && d->exact_n == SONDE_LATENCY_EXACT_MAX) {
		int rc = overflow(d);
		if (rc < 0)
			return rc;
	}
	if (d->overflowed) {
		/* Into the sketch a batch at a time: see sonde_ddsketch_add_values(). */
		if (d->pending_n == SONDE_DDSKETCH_BATCH) {
			int rc = flush(d);
			if (rc < 0)
				return rc;
		}
		d->pending[d->pending_n++] = ns;
		return 0;
	}
	if (d->exact_n == d->exact_cap) {
		size_t cap = d->exact_cap ? d->exact_cap * 2 : 16;
		uint64_t *v = realloc(d->exact, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->exact = v;
		d->exact_cap = cap;
	}
	d->exact[d->exact_n++] = ns;
	d->exact_sorted = false;
	return 0;
}

int sonde_latency_dist_merge(sonde_latency_dist *dst, const sonde_latency_dist *src)
{
	if (!src->overflowed) {
		for (size_t i = 0; i < src->exact_n; i++) {
			int rc = sonde_latency_dist_add(dst, src->exact[i]);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (!dst->overflowed) {
		int rc = overflow(dst);
		if (rc < 0)
			return rc;
	}
	int rc = sonde_ddsketch_merge(&dst->sketch, &src->sketch);
	for (uint32_t i = 0; i < src->pending_n && rc == 0; i++)
		rc = sonde_latency_dist_add(dst, src->pending[i]);
	return rc;
}

uint64_t sonde_latency_dist_count(const sonde_latency_dist *d)
{
	return d->overflowed ? d->sketch.count + d->pending_n : d->exact_n;
}

bool sonde_latency_dist_is_exact(const sonde_latency_dist *d)
{
	return !d->overflowed;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

double sonde_latency_dist_quantile(sonde_latency_dist *d, double q)
{
	if (d->overflowed) {
		sonde_ddsketch tmp;
		if (flush(d) < 0) { /* no memory: answer from a copy (or without the pending) */
			double v = sonde_ddsketch_quantile(settled(d, &tmp), q);
			sonde_ddsketch_release(&tmp);
			return v;
		}
		return sonde_ddsketch_quantile(&d->sketch, q);
	}
	if (d->exact_n == 0)
		return 0;
	if (!d->exact_sorted) {
		qsort(d->exact, d->exact_n, sizeof(*d->exact), cmp_u64);
		d->exact_sorted = true;
	}
	if (q <= 0)
		return (double)d->exact[0];
	if (q >= 1)
		return (double)d->exact[d->exact_n - 1];
	return (double)d->exact[(size_t)floor(q * (double)(d->exact_n - 1))];
}

static size_t bin_of(double v, double lo, double hi, size_t nbins)
{
	if (!(hi > lo) || v <= lo)
		return 0;
	double f = (log(v) - log(lo)) / (log(hi) - log(lo));
	size_t b = (size_t)(f * (double)nbins);
	return b >= nbins ? nbins - 1 : b;
}

void sonde_latency_dist_histogram(const sonde_latency_dist *d, uint64_t *bins, size_t nbins, double *lo,
                                  double *hi)
{
	memset(bins, 0, nbins * sizeof(*bins));
	*lo = *hi = 0;
	if (sonde_latency_dist_count(d) == 0 || nbins == 0)
		return;
	if (!d->overflowed) {
		double mn = (double)d->exact[0], mx = mn;
		for (size_t i = 1; i < d->exact_n; i++) {
			double v = (double)d->exact[i];
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
		}
		*lo = mn < 1 ? 1 : mn;
		*hi = mx < 1 ? 1 : mx;
		for (size_t i = 0; i < d->exact_n; i++)
			bins[bin_of((double)d->exact[i], *lo, *hi, nbins)]++;
		return;
	}
	sonde_ddsketch tmp;
	const sonde_ddsketch *s = settled(d, &tmp);
	*lo = s->min < 1 ? 1 : s->min;
	*hi = s->max < 1 ? 1 : s->max;
	bins[0] += s->zero_count;
	for (uint32_t k = 0; k < s->nbuckets; k++) {
		if (!s->counts[k])
			continue;
		double v = sonde_ddsketch_bucket_value(s, s->offset + (int32_t)k);
		bins[bin_of(v, *lo, *hi, nbins)] += s->counts[k];
	}
	sonde_ddsketch_release(&tmp);
}

/* ---- Tables -------------------------------------------------------------------------- */

typedef struct table_priv {
	sonde_keymap keys;
	sonde_buf scratch;
} table_priv;

void sonde_latency_table_init(sonde_latency_table *t)
{
	memset(t, 0, sizeof(*t));
}

void sonde_latency_table_release(sonde_latency_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++)
		sonde_latency_dist_release(&t->rows[i].dist);
	free(t->rows);
	table_priv *p = t->priv;
	if (p) {
		sonde_keymap_release(&p->keys);
		sonde_buf_release(&p->scratch);
		free(p);
	}
	sonde_latency_table_init(t);
}

ssize_t sonde_latency_table_row(sonde_latency_table *t, const char *key, const char *key2)
{
	table_priv *p = t->priv;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		sonde_keymap_init(&p->keys);
		t->priv = p;
	}
	sonde_buf_reset(&p->scratch);
	sonde_buf_puts(&p->scratch, key);
	size_t klen = p->scratch.len;
	if (key2) {
		sonde_buf_putc(&p->scratch, '\0');
		sonde_buf_puts(&p->scratch, key2);
	}
	if (p->scratch.oom)
		return -ENOMEM;
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		sonde_latency_row *r = realloc(t->rows, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		t->rows = r;
		t->cap = cap;
	}
	uint32_t idx;
	const char *copy;
	int rc = sonde_keymap_upsert(&p->keys, p->scratch.data, p->scratch.len, (uint32_t)t->count, &idx,
	                             &copy);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		sonde_latency_row *r = &t->rows[t->count++];
		memset(r, 0, sizeof(*r));
		r->key = copy;
		r->key2 = key2 ? copy + klen + 1 : NULL;
		sonde_latency_dist_init(&r->dist);
	}
	return idx;
}

int sonde_latency_table_add(sonde_latency_table *t, size_t i, uint64_t start_ns, uint64_t duration_ns,
                            bool error)
{
	sonde_latency_row *r = &t->rows[i];
	int rc = sonde_latency_dist_add(&r->dist, duration_ns);
	if (rc < 0)
		return rc;
	if (r->count == 0 || duration_ns < r->min_ns)
		r->min_ns = duration_ns;
	if (duration_ns > r->max_ns)
		r->max_ns = duration_ns;
	if (start_ns && (r->first_ns == 0 || start_ns < r->first_ns))
		r->first_ns = start_ns;
	if (start_ns > r->last_ns)
		r->last_ns = start_ns;
	r->count++;
	r->errors += error;
	r->sum_ns += duration_ns;
	return 0;
}

int sonde_latency_table_merge(sonde_latency_table *t, size_t i, const sonde_latency_row *src)
{
	sonde_latency_row *r = &t->rows[i];
	if (src->count == 0)
		return 0;
	int rc = sonde_latency_dist_merge(&r->dist, &src->dist);
	if (rc < 0)
		return rc;
	if (r->count == 0 || src->min_ns < r->min_ns)
		r->min_ns = src->min_ns;
	if (src->max_ns > r->max_ns)
		r->max_ns = src->max_ns;
	if (src->first_ns && (r->first_ns == 0 || src->first_ns < r->first_ns))
		r->first_ns = src->first_ns;
	if (src->last_ns > r->last_ns)
		r->last_ns = src->last_ns;
	r->count += src->count;
	r->errors += src->errors;
	r->sum_ns += src->sum_ns;
	return 0;
}

static int cmp_rows_count(const void *a, const void *b)
{
	const sonde_latency_row *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->key2 ? x->key2 : "", y->key2 ? y->key2 : "");
}

static int cmp_rows_total(const void *a, const void *b)
{
	const sonde_latency_row *x = a, *y = b;
	if (x->sum_ns != y->sum_ns)
		return x->sum_ns > y->sum_ns ? -1 : 1;
	return cmp_rows_count(a, b);
}

void sonde_latency_table_finish(sonde_latency_table *t, bool by_total)
{
	t->total_ns = 0;
	for (size_t i = 0; i < t->count; i++)
		t->total_ns += t->rows[i].sum_ns;
	for (size_t i = 0; i < t->count; i++) {
		sonde_latency_row *r = &t->rows[i];
		r->p50_ns = sonde_latency_dist_quantile(&r->dist, 0.50);
		r->p95_ns = sonde_latency_dist_quantile(&r->dist, 0.95);
		r->p99_ns = sonde_latency_dist_quantile(&r->dist, 0.99);
		r->p999_ns = sonde_latency_dist_quantile(&r->dist, 0.999);
		r->exact = sonde_latency_dist_is_exact(&r->dist);
		double lo, hi;
		sonde_latency_dist_histogram(&r->dist, r->bins, SONDE_LATENCY_BINS, &lo, &hi);
		r->share = t->total_ns ? (double)r->sum_ns / (double)t->total_ns : 0;
	}
	if (t->count)
		qsort(t->rows, t->count, sizeof(*t->rows), by_total ? cmp_rows_total : cmp_rows_count);
}
