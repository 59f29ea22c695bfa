/*
 * metrics_exphist.c - OpenTelemetry's base-2 exponential bucket histogram: the index
 * mapping of the data model, plain histograms that merge and downscale, and the
 * per-thread cell that the hot path records into (see metrics_internal.h).
 *
 * At scale s the base is 2^(2^-s) and bucket i holds (base^i, base^(i+1)]. Scales above 0
 * map with a logarithm (exact powers of two computed from the exponent alone, so they land
 * on their own bucket's upper boundary), scales 0 and below with the exponent bits. A
 * histogram starts at the largest scale allowed and downscales - each step merges pairs of
 * buckets - as soon as the indexes it holds on one sign would need more than max_size
 * buckets, which is the aggregation the OpenTelemetry SDK specification describes.
 */
#include <math.h>
#include <sched.h>
#include <string.h>

#include "metrics_internal.h"

/* floor(x / 2^by) for any x. */
static int32_t fshr(int32_t x, int32_t by)
{
	if (by <= 0)
		return x;
	if (by > 31)
		return x < 0 ? -1 : 0;
	return x >= 0 ? (int32_t)((uint32_t)x >> by) : -(int32_t)(((uint32_t)(-(int64_t)x) - 1) >> by) - 1;
}

/* Scales 1..10 map through a table instead of log(): bnd[k] = 2^(k/1024) are the
 * boundaries of scale 10 inside an octave (every coarser scale's boundaries are among
 * them), and start[j] is the last k with bnd[k] below 1 + j/4096, so that a mantissa's
 * top 12 bits give its scale-10 bucket within one or two comparisons (a bucket is wider
 * than a 1/4096 slice). Built once, at load time. */
enum { TAB_SCALE = 10, TAB_N = 1 << TAB_SCALE, SLICES = 4096 };
static double bnd[TAB_N + 1];
static uint16_t start[SLICES];

__attribute__((constructor)) static void tables_init(void)
{
	for (int k = 0; k <= TAB_N; k++)
		bnd[k] = exp2((double)k / TAB_N);
	int k = 0;
	for (int j = 0; j < SLICES; j++) {
		double x = 1.0 + (double)j / SLICES;
		while (k + 1 < TAB_N && bnd[k + 1] < x)
			k++;
		start[j] = (uint16_t)k;
	}
}

int32_t sonde__exp_index(double a, int32_t scale)
{
	uint64_t b = sonde__bits(a);
	int32_t e = (int32_t)((b >> 52) & 0x7ff);
	uint64_t m = b & ((1ULL << 52) - 1);
	if (e == 0) { /* subnormal: the bucket ending at the smallest normal, 2^-1022 */
		e = 1;
		m = 0;
	}
	int32_t ue = e - 1023;
	if (scale <= 0)
		return fshr(ue - (m == 0), -scale);
	int32_t per = 1 << scale;
	if (m == 0)
		return ue * per - 1;
	if (scale <= TAB_SCALE) {
		double mm = sonde__d(m | 0x3ff0000000000000ULL);
		uint32_t k = start[m >> 40];
		while (k + 1 < TAB_N && mm > bnd[k + 1])
			k++;
		return ue * per + (int32_t)(k >> (TAB_SCALE - scale));
	}
	double f = floor(log(a) * ldexp(M_LOG2E, scale));
	/* The logarithm may be off by one next to a boundary; stay inside a's octave. */
	int32_t lo = ue * per, hi = (ue + 1) * per - 1;
	int32_t idx = f < (double)lo ? lo : f > (double)hi ? hi : (int32_t)f;
	return idx;
}

double sonde__exp_lower(int32_t idx, int32_t scale)
{
	if (scale <= 0)
		return ldexp(1.0, idx * (1 << -scale));
	int32_t q = fshr(idx, scale);
	int32_t r = idx - q * (1 << scale);
	return ldexp(exp2((double)r / (double)(1 << scale)), q);
}

void sonde__exph_init(sonde__exph *h, uint32_t max_size, int32_t max_scale)
{
	memset(h, 0, sizeof(*h));
	h->scale = max_scale;
	h->max_size = max_size;
	h->min = INFINITY;
	h->max = -INFINITY;
}

uint64_t sonde__exph_count(const sonde__exph *h)
{
	uint64_t n = h->zero;
	for (uint32_t i = 0; i < h->pos.n; i++)
		n += h->pos.c[i];
	for (uint32_t i = 0; i < h->neg.n; i++)
		n += h->neg.c[i];
	return n;
}

/* The downscale that makes indexes lo..hi fit max_size buckets. */
static int32_t change_for(int32_t lo, int32_t hi, uint32_t max_size)
{
	int32_t c = 0;
	while ((int64_t)fshr(hi, c) - fshr(lo, c) + 1 > (int64_t)max_size)
		c++;
	return c;
}

static void side_downscale(sonde__exp_side *s, int32_t by)
{
	if (!s->n || by <= 0)
		return;
	uint64_t tmp[SONDE__EXP_MAX_SIZE];
	int32_t nlo = fshr(s->lo, by);
	int32_t nhi = fshr(s->lo + (int32_t)s->n - 1, by);
	uint32_t nn = (uint32_t)(nhi - nlo + 1);
	memset(tmp, 0, sizeof(tmp));
	for (uint32_t i = 0; i < s->n; i++)
		tmp[fshr(s->lo + (int32_t)i, by) - nlo] += s->c[i];
	memcpy(s->c, tmp, sizeof(tmp));
	s->lo = nlo;
	s->n = nn;
}

void sonde__exph_downscale(sonde__exph *h, int32_t by)
{
	if (by <= 0)
		return;
	if (h->scale - by < SONDE__EXP_MIN_SCALE)
		by = h->scale - SONDE__EXP_MIN_SCALE;
	side_downscale(&h->pos, by);
	side_downscale(&h->neg, by);
	h->scale -= by;
}

/* Adds n at idx, which must fit the side's max_size together with its range. */
static void side_add(sonde__exp_side *s, int32_t idx, uint64_t n)
{
	if (!s->n) {
		s->lo = idx;
		s->n = 1;
		s->c[0] = n;
		return;
	}
	if (idx < s->lo) {
		uint32_t d = (uint32_t)(s->lo - idx);
		memmove(s->c + d, s->c, s->n * sizeof(s->c[0]));
		memset(s->c, 0, d * sizeof(s->c[0]));
		s->lo = idx;
		s->n += d;
	} else if (idx >= s->lo + (int32_t)s->n) {
		s->n = (uint32_t)(idx - s->lo + 1);
	}
	s->c[idx - s->lo] += n;
}

/* The downscale needed for side s to take idx too. */
static int32_t change_with(const sonde__exp_side *s, int32_t idx, uint32_t max_size)
{
	if (!s->n)
		return 0;
	int32_t lo = s->lo < idx ? s->lo : idx;
	int32_t hi = s->lo + (int32_t)s->n - 1;
	if (idx > hi)
		hi = idx;
	return change_for(lo, hi, max_size);
}

void sonde__exph_record(sonde__exph *h, double v, uint64_t n)
{
	if (!isfinite(v) || n == 0)
		return;
	if (v == 0) {
		h->zero += n;
	} else {
		sonde__exp_side *s = v > 0 ? &h->pos : &h->neg;
		int32_t idx = sonde__exp_index(fabs(v), h->scale);
		int32_t c = change_with(s, idx, h->max_size);
		if (c) {
			int32_t before = h->scale;
			sonde__exph_downscale(h, c);
			idx = fshr(idx, before - h->scale);
		}
		side_add(s, idx, n);
	}
	h->sum += v * (double)n;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

static void side_range(const sonde__exp_side *a, const sonde__exp_side *b, int32_t *lo, int32_t *hi,
                       bool *any)
{
	*any = false;
	const sonde__exp_side *sides[2] = {a, b};
	for (int k = 0; k < 2; k++) {
		const sonde__exp_side *s = sides[k];
		if (!s->n)
			continue;
		int32_t shi = s->lo + (int32_t)s->n - 1;
		if (!*any || s->lo < *lo)
			*lo = s->lo;
		if (!*any || shi > *hi)
			*hi = shi;
		*any = true;
	}
}

void sonde__exph_merge(sonde__exph *dst, const sonde__exph *src)
{
	if (!src->pos.n && !src->neg.n && !src->zero)
		return;
	sonde__exph t = *src;
	int32_t target = dst->scale < t.scale ? dst->scale : t.scale;
	sonde__exph_downscale(dst, dst->scale - target);
	sonde__exph_downscale(&t, t.scale - target);
	int32_t c = 0;
	const sonde__exp_side *pairs[2][2] = {{&dst->pos, &t.pos}, {&dst->neg, &t.neg}};
	for (int k = 0; k < 2; k++) {
		int32_t lo = 0, hi = 0;
		bool any;
		side_range(pairs[k][0], pairs[k][1], &lo, &hi, &any);
		if (any) {
			int32_t ck = change_for(lo, hi, dst->max_size);
			if (ck > c)
				c = ck;
		}
	}
	sonde__exph_downscale(dst, c);
	sonde__exph_downscale(&t, c);
	for (uint32_t i = 0; i < t.pos.n; i++)
		if (t.pos.c[i])
			side_add(&dst->pos, t.pos.lo + (int32_t)i, t.pos.c[i]);
	for (uint32_t i = 0; i < t.neg.n; i++)
		if (t.neg.c[i])
			side_add(&dst->neg, t.neg.lo + (int32_t)i, t.neg.c[i]);
	dst->zero += t.zero;
	dst->sum += t.sum;
	if (t.min < dst->min)
		dst->min = t.min;
	if (t.max > dst->max)
		dst->max = t.max;
}

static void side_sub(sonde__exp_side *d, const sonde__exp_side *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		int32_t idx = p->lo + (int32_t)i;
		if (!p->c[i] || idx < d->lo || idx >= d->lo + (int32_t)d->n)
			continue;
		uint64_t *c = &d->c[idx - d->lo];
		*c = *c > p->c[i] ? *c - p->c[i] : 0;
	}
	/* Trim empty buckets at both ends. */
	uint32_t first = 0;
	while (first < d->n && !d->c[first])
		first++;
	if (first == d->n) {
		memset(d->c, 0, sizeof(d->c));
		d->n = 0;
		d->lo = 0;
		return;
	}
	uint32_t last = d->n - 1;
	while (!d->c[last])
		last--;
	if (first)
		memmove(d->c, d->c + first, (last - first + 1) * sizeof(d->c[0]));
	d->n = last - first + 1;
	memset(d->c + d->n, 0, (SONDE__EXP_MAX_SIZE - d->n) * sizeof(d->c[0]));
	d->lo += (int32_t)first;
}

void sonde__exph_sub(sonde__exph *dst, const sonde__exph *prev)
{
	sonde__exph p = *prev;
	if (p.scale < dst->scale)
		sonde__exph_downscale(dst, dst->scale - p.scale);
	sonde__exph_downscale(&p, p.scale - dst->scale);
	side_sub(&dst->pos, &p.pos);
	side_sub(&dst->neg, &p.neg);
	dst->zero = dst->zero > p.zero ? dst->zero - p.zero : 0;
	dst->sum -= p.sum;
}

/* ---- The per-thread cell ------------------------------------------------------------ */

enum {
	W_SEQ = 0,   /* odd while the bucket window or scale changes */
	W_SHIFT = 1, /* max_scale - scale, so that a zeroed cell is at max_scale */
	W_ZERO = 2,
	W_SUM = 3,
	W_MIN = 4, /* encoded, see SONDE__INF_BITS */
	W_MAX = 5,
	W_PLO = 6, /* positive side: lowest index (int32 in a word), buckets in use */
	W_PN = 7,
	W_NLO = 8,
	W_NN = 9,
	W_SLOTS = 10, /* positive slots, then negative: index lo + i at slot i */
};

size_t sonde__exp_cell_words(uint32_t max_size)
{
	return W_SLOTS + 2 * (size_t)max_size;
}

/* Copies a cell into a plain histogram; the caller makes it consistent. */
static void cell_load(const sonde__word *cell, uint32_t max_size, int32_t max_scale, sonde__exph *h)
{
	sonde__exph_init(h, max_size, max_scale);
	h->scale = max_scale - (int32_t)sonde__ld(&cell[W_SHIFT]);
	h->zero = sonde__ld(&cell[W_ZERO]);
	h->sum = sonde__d(sonde__ld(&cell[W_SUM]));
	h->min = sonde__d(sonde__ld(&cell[W_MIN]) ^ SONDE__INF_BITS);
	h->max = sonde__d(sonde__ld(&cell[W_MAX]) ^ SONDE__NINF_BITS);
	for (int k = 0; k < 2; k++) {
		sonde__exp_side *s = k ? &h->neg : &h->pos;
		const sonde__word *slots = cell + W_SLOTS + (k ? max_size : 0);
		s->lo = (int32_t)(uint32_t)sonde__ld(&cell[k ? W_NLO : W_PLO]);
		uint64_t n = sonde__ld(&cell[k ? W_NN : W_PN]);
		s->n = n > max_size ? max_size : (uint32_t)n;
		for (uint32_t i = 0; i < s->n; i++)
			s->c[i] = sonde__ld(&slots[i]);
	}
}

/* Writes a plain histogram's buckets and scale back into the owner's cell. */
static void cell_store_buckets(sonde__word *cell, uint32_t max_size, int32_t max_scale, const sonde__exph *h)
{
	sonde__st(&cell[W_SHIFT], (uint64_t)(max_scale - h->scale));
	for (int k = 0; k < 2; k++) {
		const sonde__exp_side *s = k ? &h->neg : &h->pos;
		sonde__word *slots = cell + W_SLOTS + (k ? max_size : 0);
		for (uint32_t i = 0; i < max_size; i++)
			sonde__st(&slots[i], i < s->n ? s->c[i] : 0);
		sonde__st(&cell[k ? W_NLO : W_PLO], (uint64_t)(uint32_t)s->lo);
		sonde__st(&cell[k ? W_NN : W_PN], s->n);
	}
}

/* The slow path of a record: the index is outside the side's window, which moves (and the
 * slots with it) or, when it cannot hold the index, loses scale. */
static void cell_widen(sonde__word *cell, uint32_t max_size, int32_t max_scale, bool neg, int32_t idx)
{
	uint64_t seq = sonde__ld(&cell[W_SEQ]);
	sonde__st(&cell[W_SEQ], seq + 1);
	atomic_thread_fence(memory_order_release);
	sonde__exph h;
	cell_load(cell, max_size, max_scale, &h);
	sonde__exp_side *s = neg ? &h.neg : &h.pos;
	int32_t c = change_with(s, idx, max_size);
	if (c) {
		int32_t before = h.scale;
		sonde__exph_downscale(&h, c);
		idx = fshr(idx, before - h.scale);
	}
	side_add(s, idx, 1);
	cell_store_buckets(cell, max_size, max_scale, &h);
	atomic_store_explicit(&cell[W_SEQ], seq + 2, memory_order_release);
}

void sonde__exp_cell_record(sonde__word *cell, uint32_t max_size, int32_t max_scale, double v, bool min_max)
{
	if (v == 0) {
		sonde__st(&cell[W_ZERO], sonde__ld(&cell[W_ZERO]) + 1);
	} else {
		bool neg = v < 0;
		int32_t scale = max_scale - (int32_t)sonde__ld(&cell[W_SHIFT]);
		int32_t idx = sonde__exp_index(fabs(v), scale);
		int32_t lo = (int32_t)(uint32_t)sonde__ld(&cell[neg ? W_NLO : W_PLO]);
		uint64_t n = sonde__ld(&cell[neg ? W_NN : W_PN]);
		if (n && idx >= lo && (uint64_t)((int64_t)idx - lo) < n) {
			sonde__word *w = &cell[W_SLOTS + (neg ? max_size : 0) + (uint32_t)(idx - lo)];
			sonde__st(w, sonde__ld(w) + 1);
		} else {
			cell_widen(cell, max_size, max_scale, neg, idx);
		}
	}
	sonde__st(&cell[W_SUM], sonde__bits(sonde__d(sonde__ld(&cell[W_SUM])) + v));
	if (min_max) {
		if (v < sonde__d(sonde__ld(&cell[W_MIN]) ^ SONDE__INF_BITS))
			sonde__st(&cell[W_MIN], sonde__bits(v) ^ SONDE__INF_BITS);
		if (v > sonde__d(sonde__ld(&cell[W_MAX]) ^ SONDE__NINF_BITS))
			sonde__st(&cell[W_MAX], sonde__bits(v) ^ SONDE__NINF_BITS);
	}
}

void sonde__exp_cell_merge_into(const sonde__word *cell, uint32_t max_size, int32_t max_scale,
                                sonde__exph *out)
{
	sonde__exph h;
	for (unsigned attempt = 0;; attempt++) {
		uint64_t s1 = atomic_load_explicit((sonde__word *)&cell[W_SEQ], memory_order_acquire);
		if (!(s1 & 1)) {
			cell_load(cell, max_size, max_scale, &h);
			atomic_thread_fence(memory_order_acquire);
			if (sonde__ld(&cell[W_SEQ]) == s1)
				break;
		}
		if (attempt > 64)
			sched_yield(); /* the owner is inside a (short) change: let it finish */
	}
	sonde__exph_merge(out, &h);
}
