/*
 * serve_metrics.c - sonde serve's own metrics (GET /metrics): the counters are copied
 * under the lock into a telemetry batch of cumulative sums, gauges and histograms, which
 * the Prometheus text writer of src/wire turns into an exposition, so the names follow
 * the same OpenTelemetry -> Prometheus mapping as everything else sonde writes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "prom_text.h"
#include "serve_internal.h"

const unsigned sonde__serve_codes[SONDE__SERVE_CODES] = {200, 202, 400, 404, 405, 411,
                                                         413, 415, 429, 500, 503, 504};
const double sonde__serve_lat_bounds[SONDE__SERVE_LAT_BOUNDS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

void sonde__serve_count(sonde_serve *srv, sonde_serve_route r, unsigned code)
{
	size_t c = 0;
	while (c < SONDE__SERVE_CODES && sonde__serve_codes[c] != code)
		c++;
	if ((unsigned)r >= SONDE_ROUTE_COUNT_)
		r = SONDE_ROUTE_OTHER;
	srv->st.by_code[r][c]++;
}

void sonde__serve_observe(sonde__serve_hist *h, double seconds)
{
	size_t i = 0;
	while (i < SONDE__SERVE_LAT_BOUNDS && seconds > sonde__serve_lat_bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum_s += seconds;
}

/* A point's attributes: n pairs of static keys and values copied into the batch. */
static int set_attrs(sonde_batch *b, sonde_point *p, const char *const *kv, size_t n)
{
	p->attrs.items = sonde_batch_alloc(b, n * sizeof *p->attrs.items);
	if (!p->attrs.items)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		sonde_kv *x = &p->attrs.items[i];
		x->key = sonde_batch_intern(b, kv[2 * i], strlen(kv[2 * i]));
		x->value.kind = SONDE_VAL_STRING;
		x->value.u.str = sonde_batch_intern(b, kv[2 * i + 1], strlen(kv[2 * i + 1]));
		if (!x->key.ptr || !x->value.u.str.ptr)
			return -ENOMEM;
	}
	p->attrs.count = (uint32_t)n;
	return 0;
}

typedef struct mctx {
	sonde_batch *b;
	const sonde_resource *res;
	const sonde_scope *scope;
	uint64_t start_ns, now_ns;
} mctx;

static sonde_metric_data *metric(mctx *m, const char *name, const char *desc, const char *unit,
                                 sonde_metric_type type, uint32_t points)
{
	sonde_metric_data *md = sonde_batch_add_metric(m->b, m->res, m->scope);
	if (!md)
		return NULL;
	md->name = sonde_batch_intern(m->b, name, strlen(name));
	md->description = sonde_batch_intern(m->b, desc, strlen(desc));
	md->unit = sonde_batch_intern(m->b, unit, strlen(unit));
	md->type = type;
	if (type == SONDE_METRIC_SUM || type == SONDE_METRIC_HISTOGRAM)
		md->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	md->is_monotonic = type == SONDE_METRIC_SUM;
	md->points = sonde_batch_alloc(m->b, (points ? points : 1) * sizeof *md->points);
	if (!md->points || !md->name.ptr || !md->description.ptr || !md->unit.ptr)
		return NULL;
	md->points_count = 0;
	return md;
}

static sonde_point *point(mctx *m, sonde_metric_data *md)
{
	sonde_point *p = &md->points[md->points_count++];
	p->start_time_ns = m->start_ns;
	p->time_ns = m->now_ns;
	return p;
}

static int counter(mctx *m, sonde_metric_data *md, uint64_t v, const char *const *kv, size_t n)
{
	sonde_point *p = point(m, md);
	p->u.number.kind = SONDE_NUM_INT;
	p->u.number.v.i = (int64_t)v;
	return n ? set_attrs(m->b, p, kv, n) : 0;
}

static int histogram(mctx *m, const char *name, const char *desc, const sonde__serve_hist *h)
{
	sonde_metric_data *md = metric(m, name, desc, "s", SONDE_METRIC_HISTOGRAM, 1);
	if (!md)
		return -ENOMEM;
	sonde_point *p = point(m, md);
	p->u.hist.count = h->count;
	p->u.hist.has_sum = true;
	p->u.hist.sum = h->sum_s;
	p->u.hist.bounds = sonde_batch_alloc(m->b, sizeof sonde__serve_lat_bounds);
	p->u.hist.bucket_counts = sonde_batch_alloc(m->b, sizeof h->counts);
	if (!p->u.hist.bounds || !p->u.hist.bucket_counts)
		return -ENOMEM;
	memcpy(p->u.hist.bounds, sonde__serve_lat_bounds, sizeof sonde__serve_lat_bounds);
	memcpy(p->u.hist.bucket_counts, h->counts, sizeof h->counts);
	p->u.hist.bounds_count = SONDE__SERVE_LAT_BOUNDS;
	p->u.hist.bucket_counts_count = SONDE__SERVE_LAT_BOUNDS + 1;
	return 0;
}

/* journal_bytes: journaled and not yet committed; negative without a journal. */
static int build(mctx *m, const sonde__serve_stats *st, size_t depth, size_t queued_bytes, size_t cap,
                 int64_t journal_bytes)
{
	char code[8];
	int rc = 0;
	sonde_metric_data *md =
	        metric(m, "sonde_serve_requests", "HTTP requests answered, by route and status code", "",
	               SONDE_METRIC_SUM, SONDE_ROUTE_COUNT_ * (SONDE__SERVE_CODES + 1));
	if (!md)
		return -ENOMEM;
	for (int r = 0; r < SONDE_ROUTE_COUNT_; r++) {
		for (int c = 0; c <= SONDE__SERVE_CODES; c++) {
			if (!st->by_code[r][c])
				continue;
			if (c < SONDE__SERVE_CODES)
				snprintf(code, sizeof code, "%u", sonde__serve_codes[c]);
			else
				snprintf(code, sizeof code, "other");
			const char *kv[] = {"route", sonde_serve_route_name((sonde_serve_route)r), "code",
			                    code};
			if ((rc = counter(m, md, st->by_code[r][c], kv, 2)) < 0)
				return rc;
		}
	}
	if (!(md = metric(m, "sonde_serve_request_body",
	                  "Request bodies received: as sent (wire), after gunzip (decoded)", "By",
	                  SONDE_METRIC_SUM, 2)))
		return -ENOMEM;
	const char *wire[] = {"stage", "wire"}, *dec[] = {"stage", "decoded"};
	if ((rc = counter(m, md, st->bytes_wire, wire, 1)) < 0 ||
	    (rc = counter(m, md, st->bytes_decoded, dec, 1)) < 0)
		return rc;
	if (!(md = metric(
	              m, "sonde_serve_records",
	              "Records received: stored (added, or already present) or rejected (partial success)",
	              "", SONDE_METRIC_SUM, 9)))
		return -ENOMEM;
	static const char *const sig[3] = {"spans", "logs", "points"};
	for (int s = 0; s < 3; s++) {
		const char *a[] = {"signal", sig[s], "outcome", "added"};
		const char *p[] = {"signal", sig[s], "outcome", "present"};
		const char *x[] = {"signal", sig[s], "outcome", "rejected"};
		if ((rc = counter(m, md, st->added[s], a, 2)) < 0 ||
		    (rc = counter(m, md, st->present[s], p, 2)) < 0 ||
		    (rc = counter(m, md, st->rejected[s], x, 2)) < 0)
			return rc;
	}
	if (!(md = metric(m, "sonde_serve_batches", "Store transactions committed", "", SONDE_METRIC_SUM,
	                  1)) ||
	    (rc = counter(m, md, st->batches, NULL, 0)) < 0)
		return md ? rc : -ENOMEM;
	if (!(md = metric(m, "sonde_serve_store_errors", "Store transactions that failed", "",
	                  SONDE_METRIC_SUM, 1)) ||
	    (rc = counter(m, md, st->store_errors, NULL, 0)) < 0)
		return md ? rc : -ENOMEM;
	if (!(md = metric(m, "sonde_serve_queue_depth", "Export requests admitted and not yet answered", "",
	                  SONDE_METRIC_GAUGE, 1)) ||
	    (rc = counter(m, md, depth, NULL, 0)) < 0)
		return md ? rc : -ENOMEM;
	if (!(md = metric(m, "sonde_serve_queue_capacity", "Export requests admitted at most (--queue)", "",
	                  SONDE_METRIC_GAUGE, 1)) ||
	    (rc = counter(m, md, cap, NULL, 0)) < 0)
		return md ? rc : -ENOMEM;
	if (!(md = metric(m, "sonde_serve_queue_body", "Bodies waiting for the writer", "By",
	                  SONDE_METRIC_GAUGE, 1)) ||
	    (rc = counter(m, md, queued_bytes, NULL, 0)) < 0)
		return md ? rc : -ENOMEM;
	if (journal_bytes >= 0 &&
	    (!(md = metric(m, "sonde_serve_journal_backlog",
	                   "Journaled request bodies not yet committed to the store (--journal)", "By",
	                   SONDE_METRIC_GAUGE, 1)) ||
	     (rc = counter(m, md, (uint64_t)journal_bytes, NULL, 0)) < 0))
		return md ? rc : -ENOMEM;
	if ((rc = histogram(m, "sonde_serve_write_duration", "Duration of one store transaction",
	                    &st->write_s)) < 0)
		return rc;
	return histogram(m, "sonde_serve_request_duration",
	                 "Export requests, from their headers to their answer (decoded and stored)",
	                 &st->request_s);
}

int sonde__serve_metrics_text(sonde_serve *srv, sonde_buf *out)
{
	sonde__serve_stats st;
	pthread_mutex_lock(&srv->mu);
	st = srv->st;
	size_t depth = srv->admitted, qb = srv->queued_bytes, cap = srv->o.queue_requests;
	pthread_mutex_unlock(&srv->mu);
	int64_t jb = srv->journal ? (int64_t)sonde__journal_backlog(srv->journal) : -1;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return -ENOMEM;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
	uint64_t up_ns = sonde__serve_now_ns() - srv->start_ns;
	mctx m = {.b = b,
	          .res = sonde_batch_new_resource(b),
	          .scope = sonde_batch_new_scope(b),
	          .start_ns = now_ns > up_ns ? now_ns - up_ns : 0,
	          .now_ns = now_ns};
	int rc = m.res && m.scope ? build(&m, &st, depth, qb, cap, jb) : -ENOMEM;
	if (rc == 0) {
		sonde_prom_write_opts po = {
		        .flavor = SONDE_PROM_TEXT_004, .no_target_info = true, .no_scope_labels = true};
		rc = sonde_prom_text_write_opts(b, &po, out);
	}
	sonde_batch_free(b);
	return rc;
}
