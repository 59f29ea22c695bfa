/*
 * report_html.c - the HTML report of `sonde report` (see report_html.h): gathers each
 * section from the store with the analyses (latency.h, trace_tree.h, errors.h,
 * anomaly_find.h) and draws its charts as inline SVG.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomaly_find.h"
#include "base64.h"
#include "errors.h"
#include "flame_svg.h"
#include "hex.h"
#include "latency.h"
#include "report_html.h"
#include "trace_tree.h"

#define MAX_BUCKETS       120
#define MAX_WATERFALL     300 /* rows drawn of the worst trace */
#define MAX_ERROR_CHARTS  6
#define MAX_ERROR_ROWS    12
#define MAX_ANOMALY_PLOTS 8
#define FLAME_WIDTH       1000

typedef struct rep {
	sonde_store *s;
	const sonde_report_opts *o;
	sonde_query q; /* the window and filters; limit and sort cleared */
	uint64_t t0, t1;
	bool empty; /* no window given and nothing stored */
	sonde_buf *out;
} rep;

/* ---- Text ---------------------------------------------------------------------------- */

static void esc(sonde_buf *out, const char *s)
{
	sonde_html_escape(out, s ? s : "", s ? strlen(s) : 0);
}

static void esc_str(sonde_buf *out, sonde_str s)
{
	sonde_html_escape(out, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
}

/* At most max characters of s (whole UTF-8 sequences), with "…" when cut. */
static void esc_cut(sonde_buf *out, const char *s, size_t n, size_t max)
{
	size_t i = 0, chars = 0;
	while (i < n && chars < max) {
		i++;
		while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	sonde_html_escape(out, s, i);
	if (i < n)
		sonde_buf_puts(out, "\xE2\x80\xA6");
}

static void fmt_dur(char *b, size_t cap, double ns)
{
	if (!(ns >= 0))
		snprintf(b, cap, "-");
	else if (ns < 1e3)
		snprintf(b, cap, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(b, cap, "%.3g \xC2\xB5s", ns / 1e3);
	else if (ns < 1e9)
		snprintf(b, cap, "%.3g ms", ns / 1e6);
	else if (ns < 600e9)
		snprintf(b, cap, "%.3g s", ns / 1e9);
	else
		snprintf(b, cap, "%.3g min", ns / 60e9);
}

/* UTC; with the date when with_date, with milliseconds when ms. */
static void fmt_time(char *b, size_t cap, uint64_t ns, bool with_date, bool ms)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&sec, &tm);
	size_t k = strftime(b, cap, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
	if (ms && k < cap)
		snprintf(b + k, cap - k, ".%03u", (unsigned)(ns % 1000000000u / 1000000u));
}

static void put_time(sonde_buf *out, uint64_t ns)
{
	char t[48];
	fmt_time(t, sizeof t, ns, true, false);
	sonde_buf_puts(out, t);
}

static void put_trace_id(sonde_buf *out, const uint8_t id[16])
{
	char hex[33];
	sonde_hex_encode(hex, id, 16);
	hex[32] = '\0';
	sonde_buf_printf(out, "<code>%s</code>", hex);
}

static void put_empty(sonde_buf *out, const char *sentence)
{
	sonde_buf_puts(out, "<p class=\"empty\">");
	esc(out, sentence);
	sonde_buf_puts(out, "</p>\n");
}

/* ---- Charts -------------------------------------------------------------------------- */

enum { Y_NUM, Y_DUR, Y_PCT };

typedef struct chart {
	const char *id, *title, *ylabel;
	uint64_t t0, t1;   /* the x axis */
	const uint64_t *x; /* time of each value; bars: the start of its bucket */
	const double *y;   /* NaN: no value */
	size_t n;
	uint64_t bar_ns;       /* bars this wide; 0: a line */
	const bool *hot;       /* bars drawn in the alarm colour (NULL: none) */
	const uint64_t *shade; /* nshade [start, end] pairs drawn as shaded windows */
	size_t nshade;
	uint64_t mark_ns; /* a dashed marker (a peak); 0: none */
	int fmt;
} chart;

enum { CW = 760, CH = 220, CL = 64, CR = 16, CT = 34, CB = 40 };

static double nice_step(double x)
{
	double p = pow(10, floor(log10(x))), f = x / p;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static void fmt_y(char *b, size_t cap, double v, int fmt)
{
	if (fmt == Y_DUR)
		fmt_dur(b, cap, v);
	else if (fmt == Y_PCT)
		snprintf(b, cap, "%g%%", v);
	else
		snprintf(b, cap, "%g", v);
}

static double chart_x(const chart *c, uint64_t t)
{
	double span = (double)(c->t1 - c->t0);
	double f = t <= c->t0 ? 0 : span > 0 ? (double)(t - c->t0) / span : 0;
	return CL + (f > 1 ? 1 : f) * (CW - CL - CR);
}

static void put_chart(sonde_buf *out, const chart *c)
{
	double ymax = 0;
	for (size_t i = 0; i < c->n; i++)
		if (isfinite(c->y[i]) && c->y[i] > ymax)
			ymax = c->y[i];
	if (ymax <= 0)
		ymax = c->fmt == Y_PCT ? 1 : 1;
	double step = nice_step(ymax / 4), top = ceil(ymax / step) * step;
	double ph = CH - CT - CB;
	sonde_buf_printf(out,
	                 "<figure class=\"chart\"><svg id=\"%s\" viewBox=\"0 0 %d %d\" role=\"img\" "
	                 "aria-labelledby=\"%s-t\"><title id=\"%s-t\">",
	                 c->id, CW, CH, c->id, c->id);
	esc(out, c->title);
	sonde_buf_printf(out, "</title>\n<text class=\"ctitle\" x=\"%d\" y=\"18\">", CL);
	esc(out, c->title);
	sonde_buf_puts(out, "</text>\n");
	/* Y grid and ticks. */
	for (double v = 0; v <= top + step / 2; v += step) {
		double y = CT + ph - v / top * ph;
		char lab[32];
		fmt_y(lab, sizeof lab, v, c->fmt);
		sonde_buf_printf(out,
		                 "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
		                 "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
		                 CL, CW - CR, y, y, CL - 6, y + 4, lab);
	}
	sonde_buf_printf(out,
	                 "<text class=\"alabel\" transform=\"translate(14 %.1f) rotate(-90)\" "
	                 "text-anchor=\"middle\">",
	                 CT + ph / 2);
	esc(out, c->ylabel);
	sonde_buf_puts(out, "</text>\n");
	/* X ticks: five, with the date on the first when the window spans days. */
	bool days = c->t1 - c->t0 > 86400000000000ull;
	for (int k = 0; k <= 4; k++) {
		uint64_t t = c->t0 + (uint64_t)((double)(c->t1 - c->t0) * k / 4);
		double x = chart_x(c, t);
		char lab[48];
		fmt_time(lab, sizeof lab, t, days, c->t1 - c->t0 < 10000000000ull);
		sonde_buf_printf(out,
		                 "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
		                 "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
		                 x, x, CT + ph, CT + ph + 4, x, CT + ph + 16,
		                 k == 0   ? "start"
		                 : k == 4 ? "end"
		                          : "middle",
		                 lab);
	}
	sonde_buf_printf(
	        out, "<text class=\"alabel\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">time (UTC)</text>\n",
	        CL + (CW - CL - CR) / 2, CH - 4);
	for (size_t i = 0; i < c->nshade; i++) {
		double a = chart_x(c, c->shade[2 * i]), b = chart_x(c, c->shade[2 * i + 1]);
		if (b - a < 3)
			a -= 1.5, b += 1.5;
		sonde_buf_printf(out,
		                 "<rect class=\"shade\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%.1f\">"
		                 "<title>anomaly window</title></rect>\n",
		                 a, CT, b - a, ph);
	}
	if (c->bar_ns) {
		for (size_t i = 0; i < c->n; i++) {
			if (!isfinite(c->y[i]) || c->y[i] <= 0)
				continue;
			double a = chart_x(c, c->x[i]), b = chart_x(c, c->x[i] + c->bar_ns);
			double w = b - a > 2 ? b - a - 1 : 1, h = c->y[i] / top * ph;
			char lab[32], when[48];
			fmt_y(lab, sizeof lab, c->y[i], c->fmt);
			fmt_time(when, sizeof when, c->x[i], true, false);
			sonde_buf_printf(out,
			                 "<rect class=\"bar%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			                 "height=\"%.1f\"><title>%s: %s</title></rect>\n",
			                 c->hot && c->hot[i] ? " hot" : "", a, CT + ph - h, w, h, when, lab);
		}
	} else {
		sonde_buf_puts(out, "<path class=\"line\" d=\"");
		bool pen = false;
		for (size_t i = 0; i < c->n; i++) {
			if (!isfinite(c->y[i])) {
				pen = false;
				continue;
			}
			sonde_buf_printf(out, "%s%.1f %.1f ", pen ? "L" : "M", chart_x(c, c->x[i]),
			                 CT + ph - c->y[i] / top * ph);
			pen = true;
		}
		sonde_buf_puts(out, "\"/>\n");
		if (c->n <= MAX_BUCKETS)
			for (size_t i = 0; i < c->n; i++) {
				if (!isfinite(c->y[i]))
					continue;
				char lab[32], when[48];
				fmt_y(lab, sizeof lab, c->y[i], c->fmt);
				fmt_time(when, sizeof when, c->x[i], true, true);
				sonde_buf_printf(out,
				                 "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\">"
				                 "<title>%s: %s</title></circle>\n",
				                 chart_x(c, c->x[i]), CT + ph - c->y[i] / top * ph, when,
				                 lab);
			}
	}
	if (c->mark_ns) {
		double x = chart_x(c, c->mark_ns);
		sonde_buf_printf(out,
		                 "<line class=\"mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\"/>"
		                 "<text class=\"tick\" x=\"%.1f\" y=\"%d\">peak</text>\n",
		                 x, x, CT, CT + ph, x + 3, CT + 10);
	}
	sonde_buf_printf(
	        out,
	        "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
	        "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%.1f\"/>\n</svg></figure>\n",
	        CL, CW - CR, CT + ph, CT + ph, CL, CL, CT, CT + ph);
}

/* ---- The window ---------------------------------------------------------------------- */

static uint64_t nice_bucket(uint64_t span_ns)
{
	static const uint64_t steps[] = {
	        1000000ull,       10000000ull,      100000000ull,      1000000000ull,     2000000000ull,
	        5000000000ull,    10000000000ull,   15000000000ull,    30000000000ull,    60000000000ull,
	        120000000000ull,  300000000000ull,  600000000000ull,   900000000000ull,   1800000000000ull,
	        3600000000000ull, 7200000000000ull, 21600000000000ull, 43200000000000ull, 86400000000000ull,
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (span_ns / steps[i] < 60)
			return steps[i];
	return (span_ns / 60 / 86400000000000ull + 1) * 86400000000000ull;
}

static int find_window(rep *r)
{
	r->t0 = r->q.since_ns;
	r->t1 = r->q.until_ns;
	if (!r->t0 || !r->t1) {
		sonde_store_info info;
		int e = sonde_store_info_get(r->s, &info);
		if (e < 0)
			return e;
		uint64_t lo = UINT64_MAX, hi = 0;
		const uint64_t mins[] = {info.spans_min_ns, info.logs_min_ns, info.points_min_ns};
		const uint64_t maxs[] = {info.spans_max_ns, info.logs_max_ns, info.points_max_ns};
		for (int i = 0; i < 3; i++) {
			if (mins[i] && mins[i] < lo)
				lo = mins[i];
			if (maxs[i] > hi)
				hi = maxs[i];
		}
		r->empty = lo == UINT64_MAX && !r->t0 && !r->t1;
		if (!r->t0)
			r->t0 = lo == UINT64_MAX ? 0 : lo;
		if (!r->t1)
			r->t1 = hi + 1;
	}
	if (r->t1 <= r->t0)
		r->t1 = r->t0 + 1000000000ull;
	return 0;
}

/* ---- Overview ------------------------------------------------------------------------ */

typedef struct bucket {
	uint64_t count, errors;
	sonde_latency_dist dist;
} bucket;

typedef struct scan_ctx {
	uint64_t t0, bucket_ns;
	size_t nb;
	bucket *b;
	sonde_latency_dist all;
	uint64_t count, errors;
	int err;
} scan_ctx;

static int on_span(void *ctx, const sonde_span_data *sp)
{
	scan_ctx *c = ctx;
	if (sp->start_ns < c->t0)
		return 0;
	uint64_t i = (sp->start_ns - c->t0) / c->bucket_ns;
	if (i >= c->nb)
		return 0;
	uint64_t d = sp->end_ns > sp->start_ns ? sp->end_ns - sp->start_ns : 0;
	bool err = sp->status_code == SONDE_STATUS_ERROR;
	c->b[i].count++;
	c->b[i].errors += err;
	c->count++;
	c->errors += err;
	if (sonde_latency_dist_add(&c->b[i].dist, d) < 0 || sonde_latency_dist_add(&c->all, d) < 0)
		return c->err = -ENOMEM;
	return 0;
}

typedef struct svc_ctx {
	sonde_latency_dist *d;
	size_t n, cap;
} svc_ctx;

static int on_svc_value(void *ctx, size_t group, uint64_t duration_ns, bool error)
{
	(void)error;
	svc_ctx *c = ctx;
	if (group >= c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		while (cap <= group)
			cap *= 2;
		sonde_latency_dist *g = realloc(c->d, cap * sizeof *g);
		if (!g)
			return -1;
		c->d = g;
		c->cap = cap;
	}
	while (c->n <= group)
		sonde_latency_dist_init(&c->d[c->n++]);
	return sonde_latency_dist_add(&c->d[group], duration_ns) < 0 ? -1 : 0;
}

typedef struct group_ref {
	const sonde_agg_group *g;
	size_t i;
} group_ref;

static int cmp_group(const void *a, const void *b)
{
	const sonde_agg_group *x = ((const group_ref *)a)->g, *y = ((const group_ref *)b)->g;
	return x->count != y->count ? (x->count < y->count ? 1 : -1) : strcmp(x->values[0], y->values[0]);
}

static void put_tile(sonde_buf *out, const char *label, const char *value)
{
	sonde_buf_puts(out, "<div class=\"tile\"><div class=\"tv\">");
	esc(out, value);
	sonde_buf_puts(out, "</div><div class=\"tl\">");
	esc(out, label);
	sonde_buf_puts(out, "</div></div>\n");
}

static int section_overview(rep *r)
{
	sonde_buf *out = r->out;
	sonde_buf_puts(out, "<section id=\"overview\">\n<h2>Overview</h2>\n");
	/* Services: every span in the window, grouped by service. */
	sonde_agg_key key = {.kind = SONDE_KEY_SERVICE};
	sonde_agg_result agg;
	svc_ctx sc = {0};
	ssize_t ng = sonde_store_aggregate_spans(r->s, &r->q, &key, 1, on_svc_value, &sc, &agg);
	int rc = ng < 0 ? (int)ng : 0;
	scan_ctx c = {.t0 = r->t0};
	if (rc < 0)
		goto done;
	uint64_t spans = 0, span_errors = 0;
	for (size_t i = 0; i < agg.count; i++)
		spans += agg.groups[i].count, span_errors += agg.groups[i].errors;
	if (!spans) {
		put_empty(out, "No data: the store holds no spans in this window.");
		goto done;
	}
	/* Requests over time: root spans (every span when the window has no root). */
	c.bucket_ns = nice_bucket(r->t1 - r->t0);
	c.nb = (size_t)((r->t1 - r->t0 + c.bucket_ns - 1) / c.bucket_ns);
	if (c.nb > MAX_BUCKETS * 2)
		c.nb = MAX_BUCKETS * 2;
	c.t0 = r->t0 / c.bucket_ns * c.bucket_ns;
	if (c.t0 + c.nb * c.bucket_ns < r->t1)
		c.nb++;
	c.b = calloc(c.nb, sizeof *c.b);
	if (!c.b) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < c.nb; i++)
		sonde_latency_dist_init(&c.b[i].dist);
	sonde_latency_dist_init(&c.all);
	bool roots = true;
	sonde_query q = r->q;
	q.roots_only = true;
	rc = sonde_store_scan_spans(r->s, &q, SONDE_FIELDS_BASE, on_span, &c);
	if (rc == 0 && c.count == 0) {
		roots = false;
		q.roots_only = false;
		rc = sonde_store_scan_spans(r->s, &q, SONDE_FIELDS_BASE, on_span, &c);
	}
	if (rc == 0 && c.err)
		rc = c.err;
	if (rc < 0)
		goto done;
	char v[64];
	sonde_buf_puts(out, "<div class=\"tiles\">\n");
	snprintf(v, sizeof v, "%zu", agg.count);
	put_tile(out, "services", v);
	snprintf(v, sizeof v, "%llu", (unsigned long long)spans);
	put_tile(out, "spans", v);
	snprintf(v, sizeof v, "%llu", (unsigned long long)c.count);
	put_tile(out, roots ? "requests (root spans)" : "spans (no root span stored)", v);
	double secs = (double)(r->t1 - r->t0) / 1e9;
	snprintf(v, sizeof v, "%.3g/s", (double)c.count / secs);
	put_tile(out, "throughput", v);
	snprintf(v, sizeof v, "%.2f%%", 100.0 * (double)c.errors / (double)c.count);
	put_tile(out, roots ? "failed requests" : "failed spans", v);
	fmt_dur(v, sizeof v, sonde_latency_dist_quantile(&c.all, 0.95));
	put_tile(out, "p95 latency", v);
	sonde_buf_puts(out, "</div>\n");

	/* The three charts. */
	uint64_t *xs = malloc(c.nb * sizeof *xs);
	double *ys = malloc(3 * c.nb * sizeof *ys);
	if (!xs || !ys) {
		free(xs);
		free(ys);
		rc = -ENOMEM;
		goto done;
	}
	double *tp = ys, *er = ys + c.nb, *p95 = ys + 2 * c.nb;
	for (size_t i = 0; i < c.nb; i++) {
		xs[i] = c.t0 + i * c.bucket_ns + c.bucket_ns / 2;
		tp[i] = (double)c.b[i].count / ((double)c.bucket_ns / 1e9);
		er[i] = c.b[i].count ? 100.0 * (double)c.b[i].errors / (double)c.b[i].count : NAN;
		p95[i] = c.b[i].count ? sonde_latency_dist_quantile(&c.b[i].dist, 0.95) : NAN;
	}
	char bucket_txt[32];
	fmt_dur(bucket_txt, sizeof bucket_txt, (double)c.bucket_ns);
	sonde_buf_printf(out, "<p class=\"note\">%s over time, in buckets of %s.</p>\n",
	                 roots ? "Requests (root spans)" : "Spans", bucket_txt);
	sonde_buf_puts(out, "<div class=\"charts\">\n");
	chart ch = {.t0 = c.t0, .t1 = c.t0 + c.nb * c.bucket_ns, .x = xs, .n = c.nb};
	ch.id = "chart-throughput", ch.title = "Throughput", ch.ylabel = "requests / s", ch.y = tp;
	ch.fmt = Y_NUM;
	put_chart(out, &ch);
	ch.id = "chart-errors", ch.title = "Error rate", ch.ylabel = "failed (%)", ch.y = er, ch.fmt = Y_PCT;
	put_chart(out, &ch);
	ch.id = "chart-p95", ch.title = "p95 latency", ch.ylabel = "p95", ch.y = p95, ch.fmt = Y_DUR;
	put_chart(out, &ch);
	sonde_buf_puts(out, "</div>\n");
	free(xs);
	free(ys);

	/* The services table, busiest first. */
	group_ref *order = malloc(agg.count * sizeof *order);
	if (!order) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < agg.count; i++)
		order[i] = (group_ref){&agg.groups[i], i};
	qsort(order, agg.count, sizeof *order, cmp_group);
	sonde_buf_puts(out,
	               "<h3>Services</h3>\n<table class=\"sortable\" id=\"services\"><thead><tr>"
	               "<th>service</th><th class=\"n\">spans</th><th class=\"n\">per second</th>"
	               "<th class=\"n\">errors</th><th class=\"n\">error rate</th><th class=\"n\">p50</th>"
	               "<th class=\"n\">p95</th><th class=\"n\">p99</th><th class=\"n\">max</th></tr></thead>"
	               "<tbody>\n");
	for (size_t k = 0; k < agg.count; k++) {
		const sonde_agg_group *g = order[k].g;
		sonde_latency_dist *d = order[k].i < sc.n ? &sc.d[order[k].i] : NULL;
		double q50 = d ? sonde_latency_dist_quantile(d, 0.5) : 0;
		double q95 = d ? sonde_latency_dist_quantile(d, 0.95) : 0;
		double q99 = d ? sonde_latency_dist_quantile(d, 0.99) : 0;
		char a[32], b[32], cc[32], m[32];
		fmt_dur(a, sizeof a, q50);
		fmt_dur(b, sizeof b, q95);
		fmt_dur(cc, sizeof cc, q99);
		fmt_dur(m, sizeof m, (double)g->max_ns);
		double rate = g->count ? 100.0 * (double)g->errors / (double)g->count : 0;
		sonde_buf_puts(out, "<tr><td>");
		esc(out, g->values[0][0] ? g->values[0] : "(no service.name)");
		sonde_buf_printf(
		        out,
		        "</td><td class=\"n\">%llu</td><td class=\"n\" data-v=\"%.6g\">%.3g</td>"
		        "<td class=\"n\">%llu</td><td class=\"n%s\" data-v=\"%.4f\">%.2f%%</td>"
		        "<td class=\"n\" data-v=\"%.0f\">%s</td><td class=\"n\" data-v=\"%.0f\">%s</td>"
		        "<td class=\"n\" data-v=\"%.0f\">%s</td><td class=\"n\" "
		        "data-v=\"%llu\">%s</td></tr>\n",
		        (unsigned long long)g->count, (double)g->count / secs, (double)g->count / secs,
		        (unsigned long long)g->errors, rate >= 5 ? " bad" : "", rate, rate, q50, a, q95, b,
		        q99, cc, (unsigned long long)g->max_ns, m);
	}
	sonde_buf_puts(out, "</tbody></table>\n");
	free(order);
	(void)span_errors;
done:
	if (c.b) {
		for (size_t i = 0; i < c.nb; i++)
			sonde_latency_dist_release(&c.b[i].dist);
		sonde_latency_dist_release(&c.all);
		free(c.b);
	}
	for (size_t i = 0; i < sc.n; i++)
		sonde_latency_dist_release(&sc.d[i]);
	free(sc.d);
	sonde_agg_result_release(&agg);
	sonde_buf_puts(out, "</section>\n");
	return rc;
}

/* ---- Slowest traces and the waterfall ------------------------------------------------ */

enum { WW = 1000, WL = 360, WR = 16, WT = 44, ROW = 20 };

static void put_waterfall(sonde_buf *out, const sonde_trace_tree *t)
{
	size_t rows = t->count < MAX_WATERFALL ? t->count : MAX_WATERFALL;
	uint32_t *row_of = malloc(t->count * sizeof *row_of);
	if (!row_of) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < t->count; i++)
		row_of[i] = UINT32_MAX;
	for (size_t i = 0; i < rows; i++)
		row_of[t->preorder[i]] = (uint32_t)i;
	uint64_t span = t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 1;
	double pw = WW - WL - WR;
	int h = WT + (int)rows * ROW + 12;
#define WX(ns) (WL + (double)((ns) > t->start_ns ? (ns)-t->start_ns : 0) / (double)span * pw)
	sonde_buf_printf(
	        out,
	        "<figure class=\"waterfall\"><svg id=\"waterfall\" viewBox=\"0 0 %d %d\" role=\"img\" "
	        "aria-labelledby=\"waterfall-t\"><title id=\"waterfall-t\">Waterfall of the slowest "
	        "trace, critical path in dark blue</title>\n",
	        WW, h);
	sonde_buf_printf(out,
	                 "<text class=\"ctitle\" x=\"8\" y=\"16\">span</text>"
	                 "<rect class=\"span\" x=\"%d\" y=\"6\" width=\"14\" height=\"10\"/>"
	                 "<text class=\"tick\" x=\"%d\" y=\"15\">span</text>"
	                 "<rect class=\"cp\" x=\"%d\" y=\"6\" width=\"14\" height=\"10\"/>"
	                 "<text class=\"tick\" x=\"%d\" y=\"15\">critical path</text>"
	                 "<rect class=\"span err\" x=\"%d\" y=\"6\" width=\"14\" height=\"10\"/>"
	                 "<text class=\"tick\" x=\"%d\" y=\"15\">failed span</text>\n",
	                 WL, WL + 18, WL + 60, WL + 78, WL + 170, WL + 188);
	for (int k = 0; k <= 5; k++) {
		double x = WL + pw * k / 5;
		char lab[32];
		fmt_dur(lab, sizeof lab, (double)span * k / 5);
		sonde_buf_printf(out,
		                 "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
		                 "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%s</text>\n",
		                 x, x, WT - 6, h - 8, x, WT - 10,
		                 k == 0   ? "start"
		                 : k == 5 ? "end"
		                          : "middle",
		                 lab);
	}
	for (size_t i = 0; i < rows; i++) {
		const sonde_tnode *nd = &t->nodes[t->preorder[i]];
		int y = WT + (int)i * ROW;
		unsigned depth = nd->depth < 16 ? nd->depth : 16;
		bool err = sonde_span_is_error(nd->span);
		char d[32];
		fmt_dur(d, sizeof d, (double)(nd->end_ns - nd->start_ns));
		sonde_buf_printf(out, "<g class=\"row%s\"><title>", i % 2 ? " odd" : "");
		esc_str(out, nd->service);
		sonde_buf_puts(out, ": ");
		esc_str(out, nd->span->name);
		char self[32], cp[32];
		fmt_dur(self, sizeof self, (double)nd->self_ns);
		fmt_dur(cp, sizeof cp, (double)nd->cp_ns);
		sonde_buf_printf(out, " \xE2\x80\x94 %s, self %s, on the critical path %s%s</title>", d, self,
		                 cp, err ? ", failed" : "");
		sonde_buf_printf(out, "<rect class=\"rowbg\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
		                 y, WW, ROW);
		sonde_buf_printf(out, "<text class=\"lab\" x=\"%u\" y=\"%d\">", 6 + depth * 10, y + 14);
		if (nd->service.len) {
			sonde_buf_puts(out, "<tspan class=\"svc\">");
			esc_cut(out, nd->service.ptr, nd->service.len, 16);
			sonde_buf_puts(out, "</tspan> ");
		}
		size_t room = 40 - (depth * 10 / 7 < 20 ? depth * 10 / 7 : 20) -
		              (nd->service.len ? (nd->service.len < 16 ? nd->service.len : 17) : 0);
		esc_cut(out, nd->span->name.ptr, nd->span->name.len, room > 8 ? room : 8);
		sonde_buf_printf(
		        out, "</text><text class=\"tick\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>",
		        WL - 6, y + 14, d);
		double a = WX(nd->start_ns), b = WX(nd->end_ns);
		sonde_buf_printf(
		        out,
		        "<rect class=\"span%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/></g>\n",
		        err ? " err" : "", a, y + 4, b - a > 1 ? b - a : 1, ROW - 8);
	}
	for (size_t i = 0; i < t->cp_count; i++) {
		const sonde_cp_segment *sg = &t->cp[i];
		if (row_of[sg->node] == UINT32_MAX)
			continue;
		int y = WT + (int)row_of[sg->node] * ROW;
		double a = WX(sg->start_ns), b = WX(sg->end_ns);
		sonde_buf_printf(out,
		                 "<rect class=\"cp\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>\n", a,
		                 y + 7, b - a > 1 ? b - a : 1, ROW - 14);
	}
#undef WX
	sonde_buf_puts(out, "</svg>");
	if (rows < t->count)
		sonde_buf_printf(out, "<figcaption>The first %zu of %zu spans.</figcaption>", rows, t->count);
	sonde_buf_puts(out, "</figure>\n");
	free(row_of);
}

static int worst_trace(rep *r, const sonde_trace_summary *ts)
{
	sonde_buf *out = r->out;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return -ENOMEM;
	sonde_trace_tree *t = NULL;
	sonde_cp_share *shares = NULL;
	ssize_t n = sonde_store_get_trace(r->s, ts->trace_id, false, b);
	int rc = n < 0 ? (int)n : 0;
	if (rc < 0 || n == 0)
		goto done;
	if ((rc = sonde_trace_tree_build(b->spans, b->spans_count, &t)) < 0)
		goto done;
	char total[32], cpl[32];
	fmt_dur(total, sizeof total, (double)(t->end_ns - t->start_ns));
	fmt_dur(cpl, sizeof cpl, (double)t->cp_total_ns);
	sonde_buf_puts(out, "<h3>The slowest trace</h3>\n<p>");
	put_trace_id(out, ts->trace_id);
	sonde_buf_puts(out, ": ");
	esc(out, ts->root_service);
	sonde_buf_puts(out, " <b>");
	esc(out, ts->root_operation);
	sonde_buf_printf(
	        out,
	        "</b>, %s, %zu spans; the critical path (%zu segments, %s) is drawn dark over the spans "
	        "that hold it.</p>\n",
	        total, t->count, t->cp_count, cpl);
	put_waterfall(out, t);
	ssize_t ns = sonde_trace_cp_shares(t, false, &shares);
	if (ns < 0) {
		rc = (int)ns;
		goto done;
	}
	sonde_buf_puts(out,
	               "<table class=\"sortable\" id=\"cp-shares\"><caption>Time on the critical path by "
	               "service</caption><thead><tr><th>service</th><th class=\"n\">time</th>"
	               "<th class=\"n\">share</th><th class=\"n\">spans</th></tr></thead><tbody>\n");
	for (ssize_t i = 0; i < ns; i++) {
		char d[32];
		fmt_dur(d, sizeof d, (double)shares[i].cp_ns);
		sonde_buf_puts(out, "<tr><td>");
		esc_str(out, shares[i].service);
		sonde_buf_printf(
		        out,
		        "</td><td class=\"n\" data-v=\"%llu\">%s</td><td class=\"n\" data-v=\"%.4f\">"
		        "<span class=\"meter\"><span style=\"width:%.0f%%\"></span></span> %.1f%%</td>"
		        "<td class=\"n\">%u</td></tr>\n",
		        (unsigned long long)shares[i].cp_ns, d, shares[i].share, 100 * shares[i].share,
		        100 * shares[i].share, shares[i].spans);
	}
	sonde_buf_puts(out, "</tbody></table>\n");
done:
	free(shares);
	sonde_trace_tree_free(t);
	sonde_batch_free(b);
	return rc;
}

static int section_traces(rep *r)
{
	sonde_buf *out = r->out;
	sonde_buf_puts(out, "<section id=\"traces\">\n<h2>Slowest traces</h2>\n");
	sonde_query q = r->q;
	q.sort = SONDE_SORT_DURATION_DESC;
	q.limit = r->o->slow_traces ? r->o->slow_traces : 10;
	sonde_trace_list l;
	ssize_t n = sonde_store_find_traces(r->s, &q, &l);
	int rc = n < 0 ? (int)n : 0;
	if (n == 0)
		put_empty(out, "No traces in this window.");
	if (n > 0) {
		sonde_buf_puts(
		        out, "<table class=\"sortable\" id=\"slow-traces\"><thead><tr><th class=\"n\">#</th>"
		             "<th>trace</th><th>root</th><th>start (UTC)</th><th class=\"n\">duration</th>"
		             "<th class=\"n\">spans</th><th class=\"n\">errors</th><th>services</th></tr>"
		             "</thead><tbody>\n");
		for (size_t i = 0; i < l.count; i++) {
			const sonde_trace_summary *ts = &l.items[i];
			char d[32];
			fmt_dur(d, sizeof d, (double)ts->duration_ns);
			sonde_buf_printf(out, "<tr><td class=\"n\">%zu</td><td>", i + 1);
			put_trace_id(out, ts->trace_id);
			sonde_buf_puts(out, "</td><td>");
			esc(out, ts->root_service);
			sonde_buf_puts(out, ": ");
			esc(out, ts->root_operation);
			sonde_buf_puts(out, "</td><td>");
			put_time(out, ts->start_ns);
			sonde_buf_printf(out,
			                 "</td><td class=\"n\" data-v=\"%llu\">%s</td><td class=\"n\">%u</td>"
			                 "<td class=\"n%s\">%u</td><td>",
			                 (unsigned long long)ts->duration_ns, d, ts->span_count,
			                 ts->error_count ? " bad" : "", ts->error_count);
			for (size_t k = 0; k < ts->services_count; k++) {
				if (k)
					sonde_buf_puts(out, ", ");
				esc(out, ts->services[k]);
			}
			sonde_buf_puts(out, "</td></tr>\n");
		}
		sonde_buf_puts(out, "</tbody></table>\n");
		rc = worst_trace(r, &l.items[0]);
	}
	sonde_trace_list_release(&l);
	sonde_buf_puts(out, "</section>\n");
	return rc;
}

/* ---- Error groups -------------------------------------------------------------------- */

static int error_chart(sonde_buf *out, const char *id, const char *title, const sonde_error_series *s)
{
	if (!s->count)
		return 0;
	uint64_t *xs = malloc(s->count * sizeof *xs);
	double *ys = malloc(s->count * sizeof *ys);
	bool *hot = calloc(s->count, sizeof *hot);
	if (!xs || !ys || !hot) {
		free(xs);
		free(ys);
		free(hot);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->count; i++) {
		xs[i] = s->start_ns + i * s->bucket_ns;
		ys[i] = (double)s->counts[i];
	}
	for (size_t k = 0; k < s->spikes_count; k++)
		for (size_t i = 0; i < s->count; i++)
			if (xs[i] >= s->spikes[k].onset_ns && xs[i] < s->spikes[k].end_ns)
				hot[i] = true;
	char unit[32], ylabel[48];
	fmt_dur(unit, sizeof unit, (double)s->bucket_ns);
	snprintf(ylabel, sizeof ylabel, "errors per %s", unit);
	chart c = {.id = id,
	           .title = title,
	           .ylabel = ylabel,
	           .t0 = s->start_ns,
	           .t1 = s->start_ns + s->count * s->bucket_ns,
	           .x = xs,
	           .y = ys,
	           .n = s->count,
	           .bar_ns = s->bucket_ns,
	           .hot = hot,
	           .fmt = Y_NUM};
	put_chart(out, &c);
	free(xs);
	free(ys);
	free(hot);
	return 0;
}

static int section_errors(rep *r)
{
	sonde_buf *out = r->out;
	sonde_buf_puts(out, "<section id=\"errors\">\n<h2>Error groups</h2>\n");
	sonde_errors_opts eo = {.since_ns = r->q.since_ns, .until_ns = r->q.until_ns};
	sonde_errors *e = sonde_errors_new(&eo);
	if (!e)
		return -ENOMEM;
	int rc = sonde_errors_run(e, r->s, &r->q);
	if (rc == 0)
		rc = sonde_errors_finish(e);
	if (rc < 0)
		goto done;
	const sonde_errors_result *res = sonde_errors_result_get(e);
	if (!res->total) {
		put_empty(out, "No errors in this window: no log record of severity ERROR or worse, no "
		               "failed span.");
		goto done;
	}
	sonde_buf_printf(out,
	                 "<p>%llu errors (%llu log records, %llu failed spans) in %zu groups by message "
	                 "template. Red bars are spikes: runs of buckets over three times the mean.</p>\n",
	                 (unsigned long long)res->total, (unsigned long long)res->logs,
	                 (unsigned long long)res->spans, res->groups_count);
	sonde_buf_puts(out, "<div class=\"charts\">\n");
	if ((rc = error_chart(out, "chart-errors-all", "All errors", &res->overall)) < 0)
		goto done;
	sonde_buf_puts(out, "</div>\n");
	sonde_buf_puts(out,
	               "<table class=\"sortable\" id=\"error-groups\"><thead><tr><th class=\"n\">#</th>"
	               "<th>template</th><th class=\"n\">count</th><th>category</th><th>services</th>"
	               "<th>first seen</th><th>onset</th><th class=\"n\">spikes</th></tr></thead><tbody>\n");
	size_t rows = res->groups_count < MAX_ERROR_ROWS ? res->groups_count : MAX_ERROR_ROWS;
	for (size_t i = 0; i < rows; i++) {
		const sonde_error_group *g = &res->groups[i];
		sonde_buf_printf(out, "<tr><td class=\"n\">%zu</td><td class=\"tmpl\"><code>", i + 1);
		esc_cut(out, g->template_text, strlen(g->template_text), 160);
		sonde_buf_printf(out, "</code></td><td class=\"n\">%llu</td><td>%s</td><td>",
		                 (unsigned long long)g->count, sonde_error_category_name(g->category));
		for (size_t k = 0; k < g->services_count; k++) {
			if (k)
				sonde_buf_puts(out, ", ");
			esc(out, g->services[k]);
		}
		sonde_buf_puts(out, "</td><td>");
		put_time(out, g->first_ns);
		sonde_buf_puts(out, "</td><td>");
		put_time(out, g->onset_ns);
		sonde_buf_printf(out, "</td><td class=\"n\">%zu</td></tr>\n", g->series.spikes_count);
	}
	sonde_buf_puts(out, "</tbody></table>\n");
	if (res->groups_count > rows)
		sonde_buf_printf(out,
		                 "<p class=\"note\">%zu more groups are left out; <code>sonde errors</code> "
		                 "lists them all.</p>\n",
		                 res->groups_count - rows);
	sonde_buf_puts(out, "<h3>Spike charts</h3>\n<div class=\"charts\">\n");
	size_t charts = res->groups_count < MAX_ERROR_CHARTS ? res->groups_count : MAX_ERROR_CHARTS;
	for (size_t i = 0; i < charts && rc == 0; i++) {
		const sonde_error_group *g = &res->groups[i];
		char id[48];
		snprintf(id, sizeof id, "chart-error-group-%zu", i + 1);
		sonde_buf title = SONDE_BUF_INIT;
		sonde_buf_printf(&title, "#%zu ", i + 1);
		size_t n = strlen(g->template_text);
		sonde_buf_append(&title, g->template_text, n < 80 ? n : 80);
		if (n > 80)
			sonde_buf_puts(&title, "\xE2\x80\xA6");
		rc = title.oom ? -ENOMEM : error_chart(out, id, title.data, &g->series);
		sonde_buf_release(&title);
	}
	sonde_buf_puts(out, "</div>\n");
	if (res->clusters_count) {
		sonde_buf_puts(out, "<h3>Cascades</h3>\n<ul>\n");
		for (size_t i = 0; i < res->clusters_count; i++) {
			const sonde_error_cluster *cl = &res->clusters[i];
			sonde_buf_puts(out, "<li>From ");
			put_time(out, cl->start_ns);
			sonde_buf_puts(out, ": began in <b>");
			esc(out, cl->origin_service);
			sonde_buf_printf(out, "</b> (%s), then ",
			                 cl->origin_by_traces ? "from traces linking the services"
			                                      : "earliest onset");
			for (size_t k = 0; k < cl->services_count; k++) {
				if (k)
					sonde_buf_puts(out, " \xE2\x86\x92 ");
				esc(out, cl->services[k]);
			}
			sonde_buf_puts(out, "</li>\n");
		}
		sonde_buf_puts(out, "</ul>\n");
	}
done:
	sonde_errors_free(e);
	sonde_buf_puts(out, "</section>\n");
	return rc;
}

/* ---- Anomalies ----------------------------------------------------------------------- */

/* The point attributes as anomaly_find.c writes them: "k=v, k=v". */
static void attrs_text(sonde_buf *b, const sonde_attrs *a)
{
	for (uint32_t i = 0; i < a->count; i++) {
		const sonde_kv *kv = &a->items[i];
		if (i)
			sonde_buf_append(b, ", ", 2);
		sonde_buf_append(b, kv->key.ptr, kv->key.len);
		sonde_buf_putc(b, '=');
		switch (kv->value.kind) {
		case SONDE_VAL_STRING: sonde_buf_append(b, kv->value.u.str.ptr, kv->value.u.str.len); break;
		case SONDE_VAL_INT: sonde_buf_printf(b, "%lld", (long long)kv->value.u.i); break;
		case SONDE_VAL_DOUBLE: sonde_buf_printf(b, "%g", kv->value.u.d); break;
		case SONDE_VAL_BOOL: sonde_buf_puts(b, kv->value.u.b ? "true" : "false"); break;
		default: sonde_buf_puts(b, "..."); break;
		}
	}
}

static bool point_value(const sonde_metric_data *m, const sonde_point *p, double *v)
{
	switch (m->type) {
	case SONDE_METRIC_GAUGE:
	case SONDE_METRIC_SUM:
		if (p->u.number.kind == SONDE_NUM_INT)
			*v = (double)p->u.number.v.i;
		else if (p->u.number.kind == SONDE_NUM_DOUBLE)
			*v = p->u.number.v.d;
		else
			return false;
		return true;
	case SONDE_METRIC_HISTOGRAM:
		if (!p->u.hist.count || !p->u.hist.has_sum)
			return false;
		*v = p->u.hist.sum / (double)p->u.hist.count;
		return true;
	case SONDE_METRIC_SUMMARY:
		if (!p->u.summary.count)
			return false;
		*v = p->u.summary.sum / (double)p->u.summary.count;
		return true;
	default: return false;
	}
}

static int anomaly_plot(rep *r, const sonde_anomaly_found *f, size_t idx)
{
	sonde_buf *out = r->out;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return -ENOMEM;
	sonde_query q = {.since_ns = f->context_since_ns,
	                 .until_ns = f->context_until_ns,
	                 .service = f->service[0] ? f->service : NULL,
	                 .operation = f->metric};
	ssize_t n = sonde_store_select_points(r->s, &q, b);
	uint64_t *xs = NULL;
	double *ys = NULL;
	size_t np = 0;
	sonde_buf at = SONDE_BUF_INIT;
	int rc = n < 0 ? (int)n : 0;
	if (rc < 0)
		goto done;
	xs = malloc(((size_t)n + 1) * sizeof *xs);
	ys = malloc(((size_t)n + 1) * sizeof *ys);
	if (!xs || !ys) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		const sonde_value *sv = sonde_attrs_get(&m->resource->attrs, "service.name");
		const char *svc = sv && sv->kind == SONDE_VAL_STRING ? sv->u.str.ptr : "";
		if (strcmp(svc, f->service) != 0 || !m->points_count)
			continue;
		sonde_buf_reset(&at);
		attrs_text(&at, &m->points[0].attrs);
		if (strcmp(at.len ? at.data : "", f->attrs) != 0)
			continue;
		for (uint32_t k = 0; k < m->points_count; k++) {
			double v;
			if (np < (size_t)n && point_value(m, &m->points[k], &v)) {
				xs[np] = m->points[k].time_ns;
				ys[np++] = v;
			}
		}
	}
	char title[256], id[48];
	snprintf(title, sizeof title, "%s%s%s%s%s%s", f->metric, f->attrs[0] ? " {" : "", f->attrs,
	         f->attrs[0] ? "}" : "", f->service[0] ? " \xC2\xB7 " : "", f->service);
	snprintf(id, sizeof id, "chart-anomaly-%zu", idx + 1);
	/* The x axis: the points drawn and the window, within the context. */
	uint64_t lo = f->window.start_ns, hi = f->window.end_ns;
	for (size_t i = 0; i < np; i++) {
		lo = xs[i] < lo ? xs[i] : lo;
		hi = xs[i] > hi ? xs[i] : hi;
	}
	uint64_t pad = (hi - lo) / 20 + 1;
	lo = lo - f->context_since_ns > pad ? lo - pad : f->context_since_ns;
	hi = f->context_until_ns - hi > pad ? hi + pad : f->context_until_ns;
	uint64_t shade[2] = {f->window.start_ns, f->window.end_ns};
	chart c = {.id = id,
	           .title = title,
	           .ylabel = f->metric,
	           .t0 = lo,
	           .t1 = hi > lo ? hi : lo + 1,
	           .x = xs,
	           .y = ys,
	           .n = np,
	           .shade = shade,
	           .nshade = 1,
	           .mark_ns = f->window.peak_ns,
	           .fmt = Y_NUM};
	sonde_buf_puts(out, "<div class=\"anomaly\">\n");
	put_chart(out, &c);
	char a[48], z[48];
	fmt_time(a, sizeof a, f->window.start_ns, true, false);
	fmt_time(z, sizeof z, f->window.end_ns, true, false);
	sonde_buf_printf(
	        out,
	        "<p class=\"note\">Window %s to %s (%zu points, shaded), score %.2f (%s): value %g "
	        "where %g was expected. Around it: %llu error logs, %llu failed spans in %llu traces",
	        a, z, f->window.points, f->window.peak_score, sonde_anomaly_kind_name(f->window.kind),
	        f->window.peak_value, f->window.expected, (unsigned long long)f->error_logs,
	        (unsigned long long)f->failed_spans, (unsigned long long)f->failed_traces_total);
	if (f->top_errors_count) {
		sonde_buf_puts(out, "; most frequent: <code>");
		esc_cut(out, f->top_errors[0].name, strlen(f->top_errors[0].name), 120);
		sonde_buf_puts(out, "</code>");
	}
	sonde_buf_puts(out, ".</p>\n</div>\n");
done:
	sonde_buf_release(&at);
	free(xs);
	free(ys);
	sonde_batch_free(b);
	return rc;
}

static int cmp_score(const void *a, const void *b)
{
	const sonde_anomaly_found *x = *(const sonde_anomaly_found *const *)a;
	const sonde_anomaly_found *y = *(const sonde_anomaly_found *const *)b;
	if (x->window.peak_score != y->window.peak_score)
		return x->window.peak_score < y->window.peak_score ? 1 : -1;
	return x->window.start_ns < y->window.start_ns ? -1 : x->window.start_ns > y->window.start_ns;
}

static int section_anomalies(rep *r)
{
	sonde_buf *out = r->out;
	sonde_buf_puts(out, "<section id=\"anomalies\">\n<h2>Anomalies</h2>\n");
	sonde_anomaly_report ar;
	sonde_anomaly_find_opts fo = {0};
	ssize_t n = sonde_anomaly_find(r->s, &r->q, &fo, &ar);
	int rc = n < 0 ? (int)n : 0;
	if (rc < 0)
		goto done;
	if (!ar.series) {
		put_empty(out, "No metric series in this window.");
		goto done;
	}
	sonde_buf_printf(out, "<p>%zu anomal%s in %zu metric series (%llu points).", ar.count,
	                 ar.count == 1 ? "y" : "ies", ar.series, (unsigned long long)ar.points);
	if (ar.count > MAX_ANOMALY_PLOTS)
		sonde_buf_printf(out, " The %d with the highest scores are plotted.", MAX_ANOMALY_PLOTS);
	sonde_buf_puts(out, "</p>\n");
	if (!ar.count)
		goto done;
	const sonde_anomaly_found **by = malloc(ar.count * sizeof *by);
	if (!by) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < ar.count; i++)
		by[i] = &ar.items[i];
	qsort(by, ar.count, sizeof *by, cmp_score);
	size_t plots = ar.count < MAX_ANOMALY_PLOTS ? ar.count : MAX_ANOMALY_PLOTS;
	sonde_buf_puts(out, "<div class=\"charts\">\n");
	for (size_t i = 0; i < plots && rc == 0; i++)
		rc = anomaly_plot(r, by[i], i);
	sonde_buf_puts(out, "</div>\n");
	free(by);
done:
	sonde_anomaly_report_release(&ar);
	sonde_buf_puts(out, "</section>\n");
	return rc;
}

/* ---- Flame graph, verdicts, post-mortem ---------------------------------------------- */

static int section_flame(rep *r)
{
	sonde_buf *out = r->out;
	const sonde_report_opts *o = r->o;
	sonde_buf_puts(out, "<section id=\"flame\">\n<h2>Flame graph</h2>\n");
	if (!o->profile) {
		put_empty(out, "No profile given (sonde report --profile FILE).");
		sonde_buf_puts(out, "</section>\n");
		return 0;
	}
	sonde_buf svg = SONDE_BUF_INIT;
	sonde_flame_opts fo = {.title = "Flame Graph",
	                       .subtitle = o->profile_name,
	                       .type = o->profile_type,
	                       .width_px = FLAME_WIDTH};
	int rc = sonde_flame_svg(o->profile, &fo, &svg);
	if (rc == 0 && svg.oom)
		rc = -ENOMEM;
	if (rc < 0)
		goto done;
	/* The graph's own height, from its <svg> element. */
	int height = 400;
	const char *el = strstr(svg.data, "<svg ");
	const char *h = el ? strstr(el, " height=\"") : NULL;
	if (h)
		height = atoi(h + 9);
	size_t elen = sonde_base64_encoded_len(svg.len);
	sonde_buf_puts(out, "<p class=\"note\">");
	if (o->profile_name) {
		sonde_buf_puts(out, "From <code>");
		esc(out, o->profile_name);
		sonde_buf_puts(out, "</code>. ");
	}
	sonde_buf_puts(out,
	               "Hover a frame for its share, click to zoom, Search (or Ctrl-F inside the graph) to "
	               "highlight; the graph runs its own script in a frame of its own.</p>\n");
	sonde_buf_printf(out,
	                 "<div class=\"flamebox\"><iframe id=\"flamegraph\" title=\"Flame graph\" "
	                 "sandbox=\"allow-scripts allow-modals\" width=\"%d\" height=\"%d\" "
	                 "src=\"data:image/svg+xml;base64,",
	                 FLAME_WIDTH, height > 0 && height < 100000 ? height : 400);
	if (sonde_buf_grow(out, elen) < 0) {
		rc = -ENOMEM;
		goto done;
	}
	out->len += sonde_base64_encode(out->data + out->len, (const uint8_t *)svg.data, svg.len);
	out->data[out->len] = '\0';
	sonde_buf_puts(out, "\"></iframe></div>\n");
done:
	sonde_buf_release(&svg);
	sonde_buf_puts(out, "</section>\n");
	return rc;
}

static void section_verdicts(rep *r)
{
	sonde_buf *out = r->out;
	const sonde_report_opts *o = r->o;
	sonde_buf_puts(out, "<section id=\"verdicts\">\n<h2>Canary and compare verdicts</h2>\n");
	if (!o->verdicts_known) {
		put_empty(out, "Not available: this sonde has no event journal to read verdicts from.");
	} else if (!o->verdicts_count) {
		put_empty(out, "No canary or compare verdict was recorded in this window.");
	} else {
		sonde_buf_puts(out,
		               "<table class=\"sortable\" id=\"verdict-table\"><thead><tr><th>time (UTC)</th>"
		               "<th>kind</th><th>source</th><th>verdict</th><th>detail</th></tr></thead>"
		               "<tbody>\n");
		for (size_t i = 0; i < o->verdicts_count; i++) {
			const sonde_report_verdict *v = &o->verdicts[i];
			const char *vd = v->verdict ? v->verdict : "";
			bool bad = strstr(vd, "fail") || strstr(vd, "FAIL") || strstr(vd, "regress");
			bool good = strstr(vd, "pass") || strstr(vd, "PASS") || strstr(vd, "ok");
			sonde_buf_puts(out, "<tr><td>");
			put_time(out, v->time_ns);
			sonde_buf_puts(out, "</td><td>");
			esc(out, v->kind);
			sonde_buf_puts(out, "</td><td>");
			esc(out, v->source);
			sonde_buf_printf(out, "</td><td class=\"%s\"><b>", bad ? "bad" : good ? "good" : "");
			esc(out, vd);
			sonde_buf_puts(out, "</b></td><td>");
			esc(out, v->detail);
			sonde_buf_puts(out, "</td></tr>\n");
		}
		sonde_buf_puts(out, "</tbody></table>\n");
	}
	sonde_buf_puts(out, "</section>\n");
}

static void section_postmortem(rep *r)
{
	sonde_buf *out = r->out;
	const sonde_report_opts *o = r->o;
	sonde_buf_puts(out, "<section id=\"postmortem\">\n<h2>Post-mortem</h2>\n");
	if (o->postmortem_md) {
		sonde_buf_puts(out, "<div class=\"md\">\n");
		sonde_markdown_html(o->postmortem_md, o->postmortem_len, 2, out);
		sonde_buf_puts(out, "</div>\n");
	} else {
		sonde_buf_puts(out, "<p class=\"empty\">No post-mortem is available for incident <code>");
		esc(out, o->incident_id);
		sonde_buf_puts(out, "</code>.</p>\n");
	}
	sonde_buf_puts(out, "</section>\n");
}

/* ---- The page ------------------------------------------------------------------------ */

static const char style[] =
        ":root{--fg:#1b2230;--muted:#5a6475;--line:#d9dee7;--accent:#2456a6;--bad:#b42318;--good:#217a3c}\n"
        "*{box-sizing:border-box}\n"
        "body{margin:0 auto;max-width:1080px;padding:24px 28px 64px;color:var(--fg);background:#fff;"
        "font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif}\n"
        "h1{font-size:26px;margin:0 0 4px}h2{font-size:21px;margin:40px 0 12px;padding-bottom:4px;"
        "border-bottom:2px solid var(--line)}h3{font-size:17px;margin:24px 0 8px}\n"
        "header p{margin:2px 0;color:var(--muted)}\n"
        "nav.toc{margin:18px 0;padding:10px 16px;border:1px solid "
        "var(--line);border-radius:6px;background:#f7f9fc}\n"
        "nav.toc ol{margin:4px 0;padding-left:22px;columns:2}\n"
        "a{color:var(--accent)}code{font:13px/1.4 ui-monospace,\"SFMono-Regular\",Menlo,Consolas,monospace}\n"
        "pre{background:#f4f6fa;padding:10px 12px;border-radius:4px;overflow-x:auto}\n"
        "table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:14px}\n"
        "caption{text-align:left;font-weight:600;padding:4px 0}\n"
        "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}\n"
        "th{background:#f1f4f9;font-weight:600}tbody tr:nth-child(even){background:#fafbfd}\n"
        ".n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
        "td.tmpl code{word-break:break-all}.bad{color:var(--bad);font-weight:600}.good{color:var(--good)}\n"
        "html.js table.sortable th{cursor:pointer}th[aria-sort=ascending]::after{content:\" \\25B2\"}"
        "th[aria-sort=descending]::after{content:\" \\25BC\"}\n"
        ".tiles{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0 16px}\n"
        ".tile{flex:1 1 140px;border:1px solid var(--line);border-radius:6px;padding:10px 12px}\n"
        ".tv{font-size:22px;font-weight:600}.tl{color:var(--muted);font-size:13px}\n"
        ".note{color:var(--muted);font-size:14px}.empty{color:var(--muted);font-style:italic}\n"
        "figure{margin:8px 0 16px}figure svg{width:100%;height:auto;display:block}\n"
        "figcaption{color:var(--muted);font-size:13px}\n"
        "svg text{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif;fill:#222}\n"
        ".ctitle{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#444}.alabel{font-size:12px;fill:#"
        "444}\n"
        ".grid{stroke:#e6e9ef}.axis{stroke:#666}.line{fill:none;stroke:var(--accent);stroke-width:2}\n"
        ".dot{fill:var(--accent)}.bar{fill:#7d97c1}.bar.hot{fill:var(--bad)}.shade{fill:#f5a524;opacity:.28}"
        "\n"
        ".mark{stroke:var(--bad);stroke-dasharray:4 3}\n"
        ".rowbg{fill:transparent}.row.odd .rowbg{fill:#f6f8fb}.row:hover .rowbg{fill:#e8eef8}\n"
        ".lab{font-size:12px}.svc{fill:var(--muted)}.span{fill:#9cc3ea}.span.err{fill:#f19b93}.cp{fill:#"
        "163a78}\n"
        ".meter{display:inline-block;width:60px;height:8px;background:#e6e9ef;border-radius:4px;"
        "vertical-align:middle}.meter "
        "span{display:block;height:8px;background:var(--accent);border-radius:4px}\n"
        ".charts .chart{max-width:760px}.flamebox{overflow-x:auto}iframe{border:1px solid var(--line)}\n"
        ".md table{width:auto}blockquote{margin:8px 0;padding-left:12px;border-left:3px solid var(--line)}\n"
        "footer{margin-top:48px;color:var(--muted);font-size:13px}\n"
        "@media print{body{max-width:none;padding:0;font-size:10.5pt}nav.toc{break-after:page}"
        "h2{break-after:avoid}figure,tr,.tile{break-inside:avoid}a{color:inherit;text-decoration:none}"
        "th[aria-sort]::after{content:\"\"}.row:hover .rowbg{fill:transparent}"
        "iframe{max-width:100%}}\n";

/* Sorts a table by the clicked column (numbers by data-v when present). */
static const char script[] =
        "(function () {\n"
        "\"use strict\";\n"
        "document.documentElement.classList.add(\"js\");\n"
        "function key(td) { var v = td.getAttribute(\"data-v\"); var t = td.textContent.trim();\n"
        "\tif (v !== null) return parseFloat(v); var f = parseFloat(t); return isNaN(f) || String(f) !== t ? "
        "t.toLowerCase() : f; }\n"
        "function sort(th) {\n"
        "\tvar table = th.closest(\"table\"), body = table.tBodies[0], col = th.cellIndex;\n"
        "\tvar asc = th.getAttribute(\"aria-sort\") !== \"ascending\";\n"
        "\tvar rows = Array.prototype.slice.call(body.rows);\n"
        "\trows.sort(function (a, b) { var x = key(a.cells[col]), y = key(b.cells[col]);\n"
        "\t\treturn (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });\n"
        "\trows.forEach(function (r) { body.appendChild(r); });\n"
        "\tvar ths = th.parentNode.cells;\n"
        "\tfor (var i = 0; i < ths.length; i++) ths[i].removeAttribute(\"aria-sort\");\n"
        "\tth.setAttribute(\"aria-sort\", asc ? \"ascending\" : \"descending\");\n"
        "}\n"
        "var ths = document.querySelectorAll(\"table.sortable th\");\n"
        "for (var i = 0; i < ths.length; i++) {\n"
        "\tths[i].tabIndex = 0;\n"
        "\tths[i].addEventListener(\"click\", function (e) { sort(e.currentTarget); });\n"
        "\tths[i].addEventListener(\"keydown\", function (e) { if (e.key === \"Enter\") "
        "sort(e.currentTarget); "
        "});\n"
        "}\n"
        "document.body.setAttribute(\"data-ready\", \"1\");\n"
        "})();\n";

int sonde_report_html(sonde_store *s, const sonde_report_opts *o, sonde_buf *out)
{
	static const sonde_report_opts none;
	rep r = {.s = s, .o = o ? o : &none, .out = out};
	if (r.o->q)
		r.q = *r.o->q;
	r.q.limit = 0;
	r.q.sort = SONDE_SORT_DEFAULT;
	int rc = find_window(&r);
	if (rc < 0)
		return rc;
	const char *title = r.o->title ? r.o->title : "sonde report";
	sonde_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	                    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
	                    "frame-src data:; base-uri 'none'; form-action 'none'\">\n"
	                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	                    "<meta name=\"generator\" content=\"sonde report\">\n<title>");
	esc(out, title);
	sonde_buf_printf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>", style);
	esc(out, title);
	if (r.empty) {
		sonde_buf_puts(out, "</h1>\n<p>Window: everything stored (the store is empty)");
	} else {
		sonde_buf_puts(out, "</h1>\n<p>Window: ");
		put_time(out, r.t0);
		sonde_buf_puts(out, " to ");
		put_time(out, r.t1);
		sonde_buf_puts(out, " UTC");
	}
	if (r.q.service) {
		sonde_buf_puts(out, "; service <b>");
		esc(out, r.q.service);
		sonde_buf_puts(out, "</b>");
	}
	if (r.o->incident_id) {
		sonde_buf_puts(out, "; incident <b>");
		esc(out, r.o->incident_id);
		sonde_buf_puts(out, "</b>");
	}
	sonde_buf_puts(out, ".</p>\n");
	if (r.o->generated_ns) {
		sonde_buf_puts(out, "<p>Generated ");
		put_time(out, r.o->generated_ns);
		sonde_buf_puts(out, " UTC by sonde report.</p>\n");
	}
	bool pm = r.o->incident_id || r.o->postmortem_md;
	sonde_buf_printf(out,
	                 "</header>\n<nav class=\"toc\" aria-label=\"Contents\"><b>Contents</b>\n<ol>\n"
	                 "<li><a href=\"#overview\">Overview</a></li>\n"
	                 "<li><a href=\"#traces\">Slowest traces</a></li>\n"
	                 "<li><a href=\"#errors\">Error groups</a></li>\n"
	                 "<li><a href=\"#anomalies\">Anomalies</a></li>\n"
	                 "<li><a href=\"#flame\">Flame graph</a></li>\n"
	                 "<li><a href=\"#verdicts\">Canary and compare verdicts</a></li>\n%s"
	                 "</ol>\n</nav>\n<main>\n",
	                 pm ? "<li><a href=\"#postmortem\">Post-mortem</a></li>\n" : "");
	if ((rc = section_overview(&r)) < 0 || (rc = section_traces(&r)) < 0 ||
	    (rc = section_errors(&r)) < 0 || (rc = section_anomalies(&r)) < 0 || (rc = section_flame(&r)) < 0)
		return rc;
	section_verdicts(&r);
	if (pm)
		section_postmortem(&r);
	sonde_buf_printf(
	        out,
	        "</main>\n<footer>Made by <code>sonde report</code>: one file, no network. Times are "
	        "UTC.</footer>\n<script>\n%s</script>\n</body>\n</html>\n",
	        script);
	return out->oom ? -ENOMEM : 0;
}
