/*
 * nab_score.c - NAB's scoring rules (see nab_score.h), after the sweeper of NAB 1.1:
 * per-point sweep weights, one threshold swept over the whole corpus, normalisation
 * between the null and the perfect detector.
 */
#include <errno.h>
#include <sys/types.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nab_score.h"

double sonde_nab_scaled_sigmoid(double x)
{
	if (x >= 3.0)
		return -1.0;
	return 2.0 / (1.0 + exp(5.0 * x)) - 1.0;
}

size_t sonde_nab_probation(size_t n)
{
	size_t p = (size_t)floor(0.15 * (double)n);
	return p < 750 ? p : 750;
}

void sonde_nab_corpus_init(sonde_nab_corpus *c, sonde_nab_costs costs)
{
	memset(c, 0, sizeof *c);
	c->costs = costs;
}

void sonde_nab_corpus_release(sonde_nab_corpus *c)
{
	if (!c)
		return;
	free(c->points);
	free(c->window_series);
	free(c->window_best);
	memset(c, 0, sizeof *c);
}

static int grow_points(sonde_nab_corpus *c, size_t need)
{
	if (need <= c->cap)
		return 0;
	size_t cap = c->cap ? c->cap : 1024;
	while (cap < need)
		cap *= 2;
	sonde__nab_point *p = realloc(c->points, cap * sizeof *p);
	if (!p)
		return -ENOMEM;
	c->points = p;
	c->cap = cap;
	return 0;
}

static int grow_windows(sonde_nab_corpus *c, size_t need)
{
	if (need <= c->windows_cap)
		return 0;
	size_t cap = c->windows_cap ? c->windows_cap * 2 : 16;
	while (cap < need)
		cap *= 2;
	int64_t *ws = realloc(c->window_series, cap * sizeof *ws);
	if (!ws)
		return -ENOMEM;
	c->window_series = ws;
	double *wb = realloc(c->window_best, cap * sizeof *wb);
	if (!wb)
		return -ENOMEM;
	c->window_best = wb;
	c->windows_cap = cap;
	return 0;
}

int sonde_nab_corpus_add(sonde_nab_corpus *c, const uint64_t *t, const double *s, size_t n,
                         const sonde_nab_window *w, size_t nw)
{
	for (size_t k = 1; k < nw; k++)
		if (w[k].start <= w[k - 1].end)
			return -EINVAL;
	for (size_t k = 0; k < nw; k++)
		if (w[k].end < w[k].start)
			return -EINVAL;
	if (grow_points(c, c->count + n) < 0 || grow_windows(c, c->windows + nw) < 0)
		return -ENOMEM;
	const sonde_nab_costs *k = &c->costs;
	const double max_tp = sonde_nab_scaled_sigmoid(-1.0);
	size_t prob = sonde_nab_probation(n);
	size_t wi = 0;                 /* next window to enter */
	ssize_t left = -1, right = -1; /* the current window's point range */
	int64_t cur = -1;              /* its corpus index, -1 when it has no scorable point yet */
	ssize_t prev_right = -1;
	double prev_width = 0;
	size_t added = c->count;
	for (size_t i = 0; i < n; i++) {
		if (left < 0 && wi < nw && t[i] >= w[wi].start) {
			if (t[i] > w[wi].end) { /* a window between two points: no point in it */
				wi++;
				i--;
				continue;
			}
			left = (ssize_t)i;
			right = (ssize_t)i;
			while ((size_t)right + 1 < n && t[right + 1] <= w[wi].end)
				right++;
			cur = -1;
		}
		double weight;
		if (left >= 0) {
			double width = (double)(right - left + 1);
			double pos = -((double)(right - (ssize_t)i) + 1.0) / width;
			weight = sonde_nab_scaled_sigmoid(pos) * k->tp / max_tp;
		} else {
			double pos = 3.0;
			if (prev_right >= 0)
				pos = prev_width > 1
				              ? fabs((double)(prev_right - (ssize_t)i)) / (prev_width - 1)
				              : 3.0;
			weight = sonde_nab_scaled_sigmoid(pos) * k->fp;
		}
		if (i >= prob) {
			sonde__nab_point *p = &c->points[added++];
			p->score = s[i];
			p->weight = weight;
			p->series = (uint32_t)c->series;
			p->window = -1;
			if (left >= 0) {
				if (cur < 0) {
					cur = (int64_t)c->windows++;
					c->window_series[cur] = (int64_t)c->series;
					c->window_best[cur] = weight;
				}
				p->window = cur;
			}
		}
		if (left >= 0 && (ssize_t)i == right) {
			prev_right = right;
			prev_width = (double)(right - left + 1);
			left = right = -1;
			wi++;
		}
	}
	c->count = added;
	return (int)c->series++;
}

static int by_score_desc(const void *a, const void *b)
{
	const sonde__nab_point *x = *(const sonde__nab_point *const *)a;
	const sonde__nab_point *y = *(const sonde__nab_point *const *)b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void finish(const sonde_nab_corpus *c, size_t windows, sonde_nab_result *r)
{
	r->null_raw = -c->costs.fn * (double)windows;
	r->normalized = 0;
	if (r->perfect_raw > r->null_raw)
		r->normalized = 100.0 * (r->raw - r->null_raw) / (r->perfect_raw - r->null_raw);
}

int sonde_nab_sweep(const sonde_nab_corpus *c, sonde_nab_result *out)
{
	memset(out, 0, sizeof *out);
	const sonde__nab_point **order = malloc((c->count ? c->count : 1) * sizeof *order);
	double *best = malloc((c->windows ? c->windows : 1) * sizeof *best);
	if (!order || !best) {
		free(order);
		free(best);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->count; i++)
		order[i] = &c->points[i];
	qsort(order, c->count, sizeof *order, by_score_desc);
	double perfect = 0;
	for (size_t w = 0; w < c->windows; w++) {
		best[w] = -c->costs.fn;
		perfect += c->window_best[w];
	}
	/* Threshold above every score: nothing detected. */
	double total = -c->costs.fn * (double)c->windows;
	double best_total = total;
	double best_threshold = c->count ? order[0]->score + 1.0 : 1.0;
	size_t tp = 0, fp = 0, best_tp = 0, best_fp = 0;
	for (size_t i = 0; i < c->count;) {
		double th = order[i]->score;
		for (; i < c->count && order[i]->score == th; i++) {
			const sonde__nab_point *p = order[i];
			if (p->window < 0) {
				total += p->weight;
				fp++;
			} else if (p->weight > best[p->window]) {
				if (best[p->window] == -c->costs.fn)
					tp++;
				total += p->weight - best[p->window];
				best[p->window] = p->weight;
			}
		}
		if (total > best_total) {
			best_total = total;
			best_threshold = th;
			best_tp = tp;
			best_fp = fp;
		}
	}
	free(order);
	free(best);
	out->threshold = best_threshold;
	out->raw = best_total;
	out->perfect_raw = perfect;
	out->tp = best_tp;
	out->fn = c->windows - best_tp;
	out->fp = best_fp;
	finish(c, c->windows, out);
	return 0;
}

void sonde_nab_score_at(const sonde_nab_corpus *c, double threshold, const unsigned char *series_mask,
                        sonde_nab_result *out)
{
	memset(out, 0, sizeof *out);
	out->threshold = threshold;
	size_t windows = 0;
	/* Windows are numbered in series order, and a series' points in time order, so the
	 * first detection met in a window is its earliest, hence its best. */
	int64_t last_window = -1;
	double raw = 0;
	for (size_t w = 0; w < c->windows; w++) {
		if (series_mask && !series_mask[c->window_series[w]])
			continue;
		windows++;
		out->perfect_raw += c->window_best[w];
		raw -= c->costs.fn;
	}
	for (size_t i = 0; i < c->count; i++) {
		const sonde__nab_point *p = &c->points[i];
		if ((series_mask && !series_mask[p->series]) || !(p->score >= threshold))
			continue;
		if (p->window < 0) {
			raw += p->weight;
			out->fp++;
		} else if (p->window != last_window) {
			last_window = p->window;
			raw += p->weight + c->costs.fn;
			out->tp++;
		}
	}
	out->raw = raw;
	out->fn = windows - out->tp;
	finish(c, windows, out);
}
