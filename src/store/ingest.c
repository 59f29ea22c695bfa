/*
 * ingest.c - the ingest engine (see ingest.h): chunking, bad-record isolation, service
 * names, statistics, batch-sized appends.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest.h"
#include "logline.h"
#include "otlp_json.h"
#include "ptrmap.h"
#include "sonde/status.h"
#include "store_internal.h"

/* STREAM_SLICE: the most spans of a streamed document handed to the writer at once (see
 * give_spans). */
enum { CHUNK_BYTES = 4 << 20, DETECT_BYTES = 1 << 20, QUEUE_DEPTH = 2, STREAM_SLICE = 4000 };

void sonde_ingest_stats_init(sonde_ingest_stats *st)
{
	memset(st, 0, sizeof *st);
	sonde_arena_init(&st->arena);
}

void sonde_ingest_stats_release(sonde_ingest_stats *st)
{
	if (st)
		sonde_arena_release(&st->arena);
}

static void msg(char *errmsg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msg(char *errmsg, size_t len, const char *fmt, ...)
{
	if (!errmsg || !len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, len, fmt, ap);
	va_end(ap);
}

/* Formats read a line (or a record of lines) at a time. */
static bool line_format(const sonde_format *f)
{
	static const char *const names[] = {"otlp-jsonl", "logs-jsonl", "logs-text", "csv", "influx"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(f->name, names[i]) == 0)
			return true;
	return false;
}

/* A slice of a document being read (sonde_otlp_json_read_stream): a copy of its spans,
 * which point into the reader's batch, and their variable part encoded by the reader
 * (sonde_store_encode_spans), so that the writer has that much less to do. spans and enc
 * are in the same allocation as the slice. */
typedef struct slice {
	sonde_span_data *spans;
	sonde_span_enc *enc;
	sonde_buf data;
} slice;

static slice *slice_new(size_t n)
{
	slice *sl = malloc(sizeof *sl + n * (sizeof *sl->spans + sizeof *sl->enc));
	if (!sl)
		return NULL;
	sl->spans = (sonde_span_data *)(void *)(sl + 1);
	sl->enc = (sonde_span_enc *)(void *)(sl->spans + n);
	sonde_buf_init(&sl->data);
	return sl;
}

static void slice_free(slice *sl)
{
	if (sl) {
		sonde_buf_release(&sl->data);
		free(sl);
	}
}

/* A batch read and ready to store: its records, the position of its first log record,
 * and the log template ids and descriptions (allocated in the batch). */
typedef struct job {
	sonde_batch *b; /* NULL: spans, or the end of a held transaction */
	uint64_t log_position;
	uint64_t *tids;
	sonde_log_template *tpl;
	size_t ntpl;
	/* Or a slice of a document being read (owned by the job); enc, enc_data: its spans'
	 * variable part encoded, for the append (store_job). */
	slice *slice;
	size_t spans_count;
	const sonde_span_enc *enc;
	const uint8_t *enc_data;
	bool commit; /* b NULL and slice NULL: commit the held transaction */
} job;

/* The writer thread of a pipelined ingest: the caller's thread reads (decodes, mines
 * templates) the next chunk while this one stores the previous, in order. At most
 * QUEUE_DEPTH batches wait; stored batches come back as spares for the reader. */
typedef struct writer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	job q[QUEUE_DEPTH];
	size_t head, n;
	sonde_batch *spare[QUEUE_DEPTH + 1];
	size_t nspare;
	slice *spare_slices[QUEUE_DEPTH + 1]; /* stored slices, for reuse */
	size_t nspare_slices;
	bool closing;
	bool cancel;   /* skip what is queued (it will be rolled back) */
	int rc;        /* the first failure; the writer stores nothing after it */
	char err[512]; /* its message */
	sonde_append_stats appended;
	uint64_t batches;
} writer;

typedef struct ing {
	sonde_store *s;
	writer *w; /* NULL: store on the caller's thread */
	const char *source;
	const sonde_format *fmt;
	const sonde_ingest_opts *o;
	sonde_read_opts ro;
	sonde_ingest_stats *st;
	sonde_batch *b;
	sonde_str service;     /* for records without one; ptr NULL: none */
	uint64_t log_position; /* of the next log record of this source */
	size_t batch_records;
	/* Of the spans of the document being read handed to the writer (and taken out of
	 * g->b): the earliest and latest start and their resources (each run of one resource
	 * once), noted in the statistics once the document is stored. */
	uint64_t given_min, given_max;
	size_t given_spans;  /* how many */
	sonde_buf given_res; /* const sonde_resource * */
	sonde_ptrmap svc;    /* resources given a service name: copy by original */
	sonde_buf enc;       /* the reader's scratch for encoding a batch's spans (flush) */
	char *errmsg;
	size_t errmsg_len;
} ing;

/* The input's service name: opts->service, else the file name less directory and
 * extension. */
static void default_service(ing *g, const char *source, char *buf, size_t cap)
{
	g->service = (sonde_str){NULL, 0};
	if (g->o->service) {
		if (g->o->service[0])
			g->service = (sonde_str){g->o->service, strlen(g->o->service)};
		return;
	}
	if (strcmp(source, "-") == 0)
		return;
	const char *base = strrchr(source, '/');
	base = base ? base + 1 : source;
	snprintf(buf, cap, "%s", base);
	char *dot = strchr(buf, '.');
	if (dot && dot != buf)
		*dot = '\0';
	if (buf[0])
		g->service = (sonde_str){buf, strlen(buf)};
}

static bool has_service(const sonde_resource *r)
{
	const sonde_value *v = sonde_attrs_get(&r->attrs, "service.name");
	return v && v->kind == SONDE_VAL_STRING && v->u.str.len > 0;
}

/* Points *rp at a copy of the resource that has g->service as service.name, when it has
 * none (one copy per resource, allocated in g->b). */
static int fix_service(ing *g, sonde_str name, const sonde_resource **rp)
{
	sonde_batch *b = g->b;
	if (has_service(*rp))
		return 0;
	sonde_ptrmap_key k = {*rp, NULL, 0};
	sonde_resource *nr = sonde_ptrmap_find(&g->svc, k);
	if (!nr) {
		nr = sonde_batch_new_resource(b);
		sonde_kv *kv = nr ? sonde_batch_alloc(b, ((*rp)->attrs.count + 1) * sizeof *kv) : NULL;
		if (!kv)
			return -ENOMEM;
		*nr = **rp;
		/* Drop an empty service.name the resource may hold, then add ours. */
		uint32_t c = 0;
		for (uint32_t j = 0; j < (*rp)->attrs.count; j++)
			if (strcmp((*rp)->attrs.items[j].key.ptr, "service.name") != 0)
				kv[c++] = (*rp)->attrs.items[j];
		kv[c].key = SONDE_STR_LIT("service.name");
		kv[c].value.kind = SONDE_VAL_STRING;
		kv[c].value.u.str = name;
		nr->attrs.items = kv;
		nr->attrs.count = c + 1;
		int rc = sonde_ptrmap_add(&g->svc, k, nr);
		if (rc < 0)
			return rc;
	}
	*rp = nr;
	return 0;
}

/* Gives records whose resource lacks service.name a copy of it that has one: spans
 * (the n at spans, which may be a copy of g->b's) and, when all, g->b's logs and metrics.
 * The copies are remembered until the batch is cleared. */
static int add_service(ing *g, sonde_span_data *spans, size_t n, bool all)
{
	sonde_batch *b = g->b;
	if (!g->service.ptr)
		return 0;
	sonde_str name = sonde_batch_intern(b, g->service.ptr, g->service.len);
	if (!name.ptr)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fix_service(g, name, &spans[i].resource);
	for (size_t i = 0; all && i < b->logs_count && rc == 0; i++)
		rc = fix_service(g, name, &b->logs[i].resource);
	for (size_t i = 0; all && i < b->metrics_count && rc == 0; i++)
		rc = fix_service(g, name, &b->metrics[i].resource);
	return rc;
}

/* Widens [*lo, *hi] to take t (0: no time; *lo 0: empty). */
static void widen(uint64_t *lo, uint64_t *hi, uint64_t t)
{
	if (!t)
		return;
	if (!*lo || t < *lo)
		*lo = t;
	if (t > *hi)
		*hi = t;
}

static void note_time(sonde_ingest_stats *st, uint64_t t)
{
	widen(&st->min_time_ns, &st->max_time_ns, t);
}

static void note_service(sonde_ingest_stats *st, const sonde_resource *r, const sonde_resource **last)
{
	if (r == *last)
		return;
	*last = r;
	const sonde_value *v = sonde_attrs_get(&r->attrs, "service.name");
	if (!v || v->kind != SONDE_VAL_STRING || !v->u.str.len)
		return;
	for (size_t i = 0; i < st->services_count; i++)
		if (strlen(st->services[i]) == v->u.str.len &&
		    memcmp(st->services[i], v->u.str.ptr, v->u.str.len) == 0)
			return;
	if (st->services_count == SONDE_INGEST_MAX_SERVICES) {
		st->services_truncated = true;
		return;
	}
	const char *copy = sonde_arena_strndup(&st->arena, v->u.str.ptr, v->u.str.len);
	if (copy)
		st->services[st->services_count++] = copy;
}

/* Notes the n spans at spans and, when b is not NULL, b's logs and metrics. */
static void note_batch(sonde_ingest_stats *st, const sonde_span_data *spans, size_t n, const sonde_batch *b)
{
	const sonde_resource *last = NULL;
	for (size_t i = 0; i < n; i++) {
		note_time(st, spans[i].start_ns);
		note_service(st, spans[i].resource, &last);
	}
	if (!b)
		return;
	for (size_t i = 0; i < b->logs_count; i++) {
		note_time(st, b->logs[i].time_ns ? b->logs[i].time_ns : b->logs[i].observed_time_ns);
		note_service(st, b->logs[i].resource, &last);
	}
	for (size_t i = 0; i < b->metrics_count; i++) {
		note_service(st, b->metrics[i].resource, &last);
		for (uint32_t j = 0; j < b->metrics[i].points_count; j++)
			note_time(st, b->metrics[i].points[j].time_ns);
	}
}

/* Runs the on_logs hook over g->b: template ids into *ids (allocated in the batch), and
 * the hook's descriptions copied into the batch as well. */
static int mine_logs(ing *g, uint64_t **ids, sonde_log_template **tpl, size_t *ntpl)
{
	sonde_batch *b = g->b;
	*ids = NULL;
	*tpl = NULL;
	*ntpl = 0;
	if (!g->o->on_logs || !b->logs_count)
		return 0;
	uint64_t *v = sonde_batch_alloc(b, b->logs_count * sizeof *v);
	if (!v)
		return -ENOMEM;
	memset(v, 0, b->logs_count * sizeof *v);
	sonde_ingest_log_templates out = {.template_ids = v};
	int rc = g->o->on_logs(g->o->logs_ctx, b, &out);
	if (rc < 0) {
		msg(g->errmsg, g->errmsg_len, "%s: assigning log templates: %s", g->source,
		    sonde_strerror(rc));
		return rc;
	}
	sonde_log_template *t =
	        out.templates_count ? sonde_batch_alloc(b, out.templates_count * sizeof *t) : NULL;
	if (out.templates_count && !t)
		return -ENOMEM;
	for (size_t i = 0; i < out.templates_count; i++) {
		t[i] = out.templates[i];
		sonde_str copy = sonde_batch_intern(b, t[i].text ? t[i].text : "", t[i].text_len);
		if (!copy.ptr)
			return -ENOMEM;
		t[i].text = copy.ptr;
	}
	*ids = v;
	*tpl = t;
	*ntpl = out.templates_count;
	return 0;
}

/* The next slice of b, from its span sp, log record lg and metric mt on, as a view of
 * b's arrays, offset (nothing is copied): at most batch_records records. */
static sonde_batch next_slice(const ing *g, const sonde_batch *b, size_t sp, size_t lg, size_t mt)
{
	sonde_batch view = *b;
	size_t room = g->batch_records;
	view.spans = b->spans ? b->spans + sp : NULL;
	view.spans_count = b->spans_count - sp < room ? b->spans_count - sp : room;
	room -= view.spans_count;
	view.logs = b->logs ? b->logs + lg : NULL;
	view.logs_count = b->logs_count - lg < room ? b->logs_count - lg : room;
	room -= view.logs_count;
	view.metrics = b->metrics ? b->metrics + mt : NULL;
	view.metrics_count = 0;
	size_t points = 0;
	while (mt + view.metrics_count < b->metrics_count && (points < room || view.metrics_count == 0) &&
	       (room > 0 || (view.spans_count == 0 && view.logs_count == 0))) {
		points += b->metrics[mt + view.metrics_count].points_count;
		view.metrics_count++;
	}
	return view;
}

/* How many slices (transactions) store_job() stores b in. */
static uint64_t slices_of(const ing *g, const sonde_batch *b)
{
	uint64_t n = 0;
	for (size_t sp = 0, lg = 0, mt = 0;
	     sp < b->spans_count || lg < b->logs_count || mt < b->metrics_count; n++) {
		sonde_batch view = next_slice(g, b, sp, lg, mt);
		sp += view.spans_count;
		lg += view.logs_count;
		mt += view.metrics_count;
	}
	return n;
}

/* Appends j's batch in slices of at most batch_records records, one transaction each,
 * counting into *appended and *batches. On failure writes the store's message to err. */
static int store_job(const ing *g, const job *j, sonde_append_stats *appended, uint64_t *batches, char *err,
                     size_t errlen)
{
	const sonde_batch *b = j->b;
	uint64_t log_position = j->log_position;
	const uint64_t *tids = j->tids;
	int rc;
	size_t sp = 0, lg = 0, mt = 0;
	while (sp < b->spans_count || lg < b->logs_count || mt < b->metrics_count) {
		sonde_batch view = next_slice(g, b, sp, lg, mt);
		sonde_append_opts ao = {
		        .log_position = log_position,
		        .log_template_ids = tids && view.logs_count ? tids + lg : NULL,
		        .templates = j->tpl,
		        .templates_count = j->ntpl,
		        .span_enc_data = j->enc_data,
		        .span_enc = j->enc ? j->enc + sp : NULL,
		};
		rc = sonde_store_append(g->s, &view, &ao, appended);
		if (rc < 0) {
			msg(err, errlen, "%s", sonde_store_errmsg(g->s));
			return rc;
		}
		++*batches;
		log_position += view.logs_count;
		sp += view.spans_count;
		lg += view.logs_count;
		mt += view.metrics_count;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	ing *g = arg;
	writer *w = g->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->n == 0 && !w->closing)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->n == 0)
			break;
		job j = w->q[w->head];
		bool skip = w->rc < 0 || w->cancel;
		pthread_mutex_unlock(&w->mu);
		char err[sizeof w->err] = "";
		int rc = 0;
		if (skip) {
		} else if (j.b) {
			rc = store_job(g, &j, &w->appended, &w->batches, err, sizeof err);
		} else if (j.slice) {
			sonde_batch view = {.spans = j.slice->spans, .spans_count = j.spans_count};
			job vj = {.b = &view,
			          .enc = j.slice->enc,
			          .enc_data = (const uint8_t *)j.slice->data.data};
			uint64_t slices = 0; /* counted as batches once the document is stored */
			rc = store_job(g, &vj, &w->appended, &slices, err, sizeof err);
		} else if (j.commit && (rc = sonde__store_sqlite_hold(g->s, SONDE__HOLD_COMMIT)) < 0) {
			snprintf(err, sizeof err, "%s", sonde_store_errmsg(g->s));
		}
		if (j.b)
			sonde_batch_clear(j.b);
		pthread_mutex_lock(&w->mu);
		if (j.slice && w->nspare_slices < QUEUE_DEPTH + 1)
			w->spare_slices[w->nspare_slices++] = j.slice;
		else
			slice_free(j.slice);
		if (rc < 0 && w->rc == 0) {
			w->rc = rc;
			memcpy(w->err, err, sizeof err);
		}
		w->head = (w->head + 1) % QUEUE_DEPTH;
		w->n--;
		if (j.b)
			w->spare[w->nspare++] = j.b;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Starts the writer of g (g->w set on success; on failure g stays sequential). */
static void writer_start(ing *g, writer *w)
{
	memset(w, 0, sizeof *w);
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		return;
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		return;
	}
	g->w = w;
	if (pthread_create(&w->th, NULL, writer_main, g) != 0) {
		g->w = NULL;
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
	}
}

/* Lets the writer store what is queued (cancel: skip it, and count nothing it stored: it
 * is to be rolled back), joins it, adds its counts to the statistics and frees its spare
 * batches. Returns the writer's failure (message in errmsg) or 0. */
static int writer_finish(ing *g, bool cancel)
{
	writer *w = g->w;
	pthread_mutex_lock(&w->mu);
	w->closing = true;
	w->cancel = cancel;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	g->w = NULL;
	if (cancel) {
		memset(&w->appended, 0, sizeof w->appended);
		w->batches = 0;
	}
	sonde_append_stats *a = &g->st->appended;
	a->spans_added += w->appended.spans_added;
	a->spans_present += w->appended.spans_present;
	a->logs_added += w->appended.logs_added;
	a->logs_present += w->appended.logs_present;
	a->points_added += w->appended.points_added;
	a->points_present += w->appended.points_present;
	g->st->batches += w->batches;
	for (size_t i = 0; i < w->nspare; i++)
		sonde_batch_free(w->spare[i]);
	for (size_t i = 0; i < w->nspare_slices; i++)
		slice_free(w->spare_slices[i]);
	if (w->rc < 0)
		msg(g->errmsg, g->errmsg_len, "%s", w->err);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	return w->rc;
}

/* Hands j to the writer. Waits while the queue is full. Returns 0, or the writer's
 * failure (nothing more will be stored; j's slice is freed either way). */
static int writer_queue(writer *w, const job *j)
{
	pthread_mutex_lock(&w->mu);
	while (w->n == QUEUE_DEPTH && w->rc == 0)
		pthread_cond_wait(&w->cv, &w->mu);
	int rc = w->rc;
	if (rc == 0) {
		w->q[(w->head + w->n) % QUEUE_DEPTH] = *j;
		w->n++;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	if (rc < 0)
		slice_free(j->slice);
	return rc;
}

/* Hands j to the writer and gives g a batch to read into. Waits while the queue is full.
 * Returns 0, or the writer's failure (nothing more will be stored). */
static int writer_put(ing *g, const job *j)
{
	writer *w = g->w;
	pthread_mutex_lock(&w->mu);
	while (w->n == QUEUE_DEPTH && w->rc == 0)
		pthread_cond_wait(&w->cv, &w->mu);
	int rc = w->rc;
	sonde_batch *next = NULL;
	if (rc == 0) {
		w->q[(w->head + w->n) % QUEUE_DEPTH] = *j;
		w->n++;
		pthread_cond_broadcast(&w->cv);
		if (w->nspare)
			next = w->spare[--w->nspare];
	}
	pthread_mutex_unlock(&w->mu);
	if (rc < 0)
		return rc;
	if (!next && !(next = sonde_batch_new())) {
		/* The batch is the writer's now; read no further. */
		g->b = NULL;
		return -ENOMEM;
	}
	g->b = next;
	return 0;
}

/* Stores what g->b holds (in slices of at most batch_records records, one transaction
 * each): on the writer when there is one, else here. Log positions advance either way. */
static int flush(ing *g)
{
	sonde_batch *b = g->b;
	int rc = add_service(g, b->spans, b->spans_count, true);
	/* The copies live in b, which is cleared once stored. */
	sonde_ptrmap_release(&g->svc);
	sonde_ptrmap_init(&g->svc);
	if (rc < 0)
		return rc;
	note_batch(g->st, b->spans, b->spans_count, b);
	job j = {.b = b, .log_position = g->log_position};
	if ((rc = mine_logs(g, &j.tids, &j.tpl, &j.ntpl)) < 0)
		return rc;
	g->log_position += b->logs_count;
	if (!b->spans_count && !b->logs_count && !b->metrics_count) {
		sonde_batch_clear(b);
		return 0;
	}
	if (g->w) {
		/* The writer binds the spans' variable part as this thread encoded it. */
		if (b->spans_count) {
			sonde_buf_reset(&g->enc);
			sonde_span_enc *enc = sonde_batch_alloc(b, b->spans_count * sizeof *enc);
			if (!enc ||
			    (rc = sonde_store_encode_spans(&g->enc, b->spans, b->spans_count, enc)) < 0)
				return -ENOMEM;
			uint8_t *data = sonde_batch_alloc(b, g->enc.len + 1);
			if (!data)
				return -ENOMEM;
			memcpy(data, g->enc.data, g->enc.len);
			j.enc = enc;
			j.enc_data = data;
		}
		return writer_put(g, &j);
	}
	rc = store_job(g, &j, &g->st->appended, &g->st->batches, g->errmsg, g->errmsg_len);
	sonde_batch_clear(b);
	return rc;
}

/* Keeps what the statistics need of spans handed to the writer (they leave g->b). */
static int note_given(ing *g, const sonde_span_data *spans, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		widen(&g->given_min, &g->given_max, spans[i].start_ns);
		const sonde_resource *r = spans[i].resource, *last = NULL;
		if (g->given_res.len)
			memcpy(&last, g->given_res.data + g->given_res.len - sizeof last, sizeof last);
		if (r != last)
			sonde_buf_append(&g->given_res, &r, sizeof r);
	}
	return g->given_res.oom ? -ENOMEM : 0;
}

static void forget_given(ing *g)
{
	g->given_min = g->given_max = 0;
	g->given_spans = 0;
	sonde_buf_reset(&g->given_res);
}

/* sonde_otlp_json_read_stream()'s callback: hands the spans read so far to the writer, in
 * slices of batch_records but at most STREAM_SLICE (the rest waits for more, or for the
 * end of the document), and takes them out of b, so that the reader reuses their memory.
 * The slices share one transaction, so their size only sets how soon the writer starts
 * and how much it has left when the document ends: 4,000 rather than 10,000 spans took
 * 3 - 6% off the wall time of a 200,000-span document (docs/store.md, round 8). */
static int give_spans(void *ctx, sonde_batch *b, size_t final)
{
	ing *g = ctx;
	size_t taken = 0, n = g->batch_records < STREAM_SLICE ? g->batch_records : STREAM_SLICE;
	while (final - taken >= n && taken <= (size_t)INT_MAX - n) {
		/* A slice the writer is done with (all are of the same size), else a new one
		 * (mapped fresh from the system, at this size, and faulted in page by page). */
		slice *sl = NULL;
		pthread_mutex_lock(&g->w->mu);
		if (g->w->nspare_slices)
			sl = g->w->spare_slices[--g->w->nspare_slices];
		pthread_mutex_unlock(&g->w->mu);
		if (!sl && !(sl = slice_new(n)))
			return -ENOMEM;
		memcpy(sl->spans, b->spans + taken, n * sizeof *sl->spans);
		sonde_buf_reset(&sl->data);
		int rc = add_service(g, sl->spans, n, false);
		if (rc == 0)
			rc = sonde_store_encode_spans(&sl->data, sl->spans, n, sl->enc);
		if (rc == 0)
			rc = note_given(g, sl->spans, n);
		if (rc < 0) {
			slice_free(sl);
			return rc;
		}
		g->given_spans += n;
		taken += n;
		job j = {.slice = sl, .spans_count = n};
		if ((rc = writer_queue(g->w, &j)) < 0)
			return rc;
	}
	return (int)taken;
}

/* Reads an OTLP JSON document into g->b while a writer stores its spans as they are read,
 * in slices (give_spans), all in one held transaction, which is committed once the
 * document has been read whole, so that a bad document stores nothing, as when reading
 * and storing alternate. The spans given leave g->b (the reader reuses their memory) and
 * are noted in the statistics once the document is stored; the caller stores the rest.
 * Returns 1 when it cannot be done so (not a SQLite store; the caller reads and stores in
 * turn), the reader's result (err filled), or a store error with its message in
 * g->errmsg (*store_failed set). */
static int read_streamed(ing *g, const char *buf, size_t len, sonde_wire_error *err, bool *store_failed)
{
	*store_failed = false;
	int rc = sonde__store_sqlite_hold(g->s, SONDE__HOLD_BEGIN);
	if (rc == -ENOTSUP)
		return 1;
	if (rc < 0) {
		*store_failed = true;
		msg(g->errmsg, g->errmsg_len, "%s", sonde_store_errmsg(g->s));
		return rc;
	}
	writer w;
	writer_start(g, &w);
	if (!g->w) {
		sonde__store_sqlite_hold(g->s, SONDE__HOLD_ROLLBACK);
		return 1;
	}
	forget_given(g);
	rc = sonde_otlp_json_read_stream(g->b, buf, len, err, give_spans, g);
	int wrc;
	if (rc == 0) {
		job c = {.commit = true};
		rc = writer_queue(g->w, &c);
		wrc = writer_finish(g, false);
	} else {
		wrc = writer_finish(g, true);
	}
	if (wrc < 0 || rc != 0) {
		/* Whatever the writer stored is taken back (a failed commit already was); 1: the
		 * document sets a resource or scope after spans of it (b is as it was), and is
		 * read again whole. */
		sonde__store_sqlite_hold(g->s, SONDE__HOLD_ROLLBACK);
		forget_given(g);
		if (wrc < 0) {
			*store_failed = true;
			return wrc;
		}
		return rc;
	}
	/* The spans stored are out of g->b already; the caller stores the rest. The batches
	 * counted are those of the sequential ingest, whatever the slices' size: the whole
	 * document in slices of batch_records, less those the rest makes. */
	sonde_batch whole = *g->b;
	whole.spans = NULL;
	whole.spans_count += g->given_spans;
	g->st->batches += slices_of(g, &whole) - slices_of(g, g->b);
	note_time(g->st, g->given_min);
	note_time(g->st, g->given_max);
	const sonde_resource *last = NULL;
	for (size_t off = 0; off < g->given_res.len; off += sizeof last) {
		const sonde_resource *r;
		memcpy(&r, g->given_res.data + off, sizeof r);
		note_service(g->st, r, &last);
	}
	forget_given(g);
	return 0;
}

static int reject(ing *g, const sonde_wire_error *err)
{
	g->st->rejected++;
	if (g->o->on_reject)
		g->o->on_reject(g->o->ctx, g->source, g->fmt->name, err);
	if (g->o->strict) {
		msg(g->errmsg, g->errmsg_len, "%s:%zu: offset %zu%s%s: %s (reading %s)", g->source, err->line,
		    err->offset, err->field[0] ? ": field " : "", err->field, err->msg, g->fmt->name);
		return SONDE_EPARSE;
	}
	return 0;
}

/* Where line `line` (1-based) of buf starts. */
static size_t line_start(const char *buf, size_t len, size_t line)
{
	size_t pos = 0;
	while (--line > 0 && pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			return len;
		pos = (size_t)(nl - buf) + 1;
	}
	return pos;
}

/* Reads chunk (at offset base and line base_line of the input) into g->b, skipping bad
 * lines. prefix (CSV's header line) is read in front of every piece. */
static int read_lines(ing *g, const char *input, size_t base, size_t base_line, size_t len,
                      const char *prefix, size_t prefix_len)
{
	sonde_buf tmp = SONDE_BUF_INIT;
	int rc = 0;
	size_t pos = 0, line = base_line;
	while (pos < len) {
		const char *piece = input + base + pos;
		size_t plen = len - pos, extra_lines = 0;
		if (prefix_len) {
			sonde_buf_reset(&tmp);
			sonde_buf_append(&tmp, prefix, prefix_len);
			sonde_buf_append(&tmp, piece, plen);
			if (tmp.oom) {
				rc = -ENOMEM;
				break;
			}
			piece = tmp.data;
			plen = tmp.len;
			extra_lines = 1;
		}
		sonde_wire_error err = {0};
		rc = g->fmt->read(g->b, piece, plen, &g->ro, &err);
		if (rc != SONDE_EPARSE)
			break; /* read whole (0) or failed otherwise */
		rc = 0;
		size_t eline = err.line ? err.line : sonde_wire_line_of(piece, plen, err.offset);
		if (eline <= extra_lines) { /* the header itself is bad: the whole input is */
			err.line = eline;
			err.offset = err.offset > prefix_len ? 0 : err.offset;
			rc = reject(g, &err);
			if (rc == 0)
				pos = len;
			break;
		}
		size_t rel_line = eline - extra_lines; /* 1-based within the remaining chunk */
		size_t bad_start = line_start(input + base + pos, len - pos, rel_line);
		size_t bad_end = line_start(input + base + pos, len - pos, rel_line + 1);
		/* The lines before the bad one read alone (they read before it failed). */
		if (bad_start > 0) {
			const char *good = input + base + pos;
			size_t glen = bad_start;
			if (prefix_len) {
				sonde_buf_reset(&tmp);
				sonde_buf_append(&tmp, prefix, prefix_len);
				sonde_buf_append(&tmp, good, glen);
				good = tmp.data;
				glen = tmp.len;
			}
			sonde_wire_error e2 = {0};
			if ((rc = g->fmt->read(g->b, good, glen, &g->ro, &e2)) < 0) {
				if (rc == SONDE_EPARSE) /* not line-local after all: give up on the rest */
					rc = reject(g, &err);
				break;
			}
		}
		err.line = line + rel_line - 1;
		err.offset = base + pos + (err.offset >= prefix_len ? err.offset - prefix_len : 0);
		/* The bad record takes a position too, so later records keep the positions they
		 * have when it is fixed: store what came before it, then count it. */
		if ((rc = flush(g)) < 0)
			break;
		g->log_position++;
		if ((rc = reject(g, &err)) < 0)
			break;
		line += rel_line;
		pos += bad_end;
	}
	sonde_buf_release(&tmp);
	return rc;
}

/* The end of the next chunk of input[pos..len): whole lines, at most about CHUNK_BYTES or
 * batch_records lines, not splitting a text log record. */
static size_t chunk_end(const ing *g, const char *input, size_t pos, size_t len, size_t *lines)
{
	bool text = strcmp(g->fmt->name, "logs-text") == 0;
	size_t p = pos, n = 0;
	while (p < len) {
		const char *nl = memchr(input + p, '\n', len - p);
		size_t next = nl ? (size_t)(nl - input) + 1 : len;
		if (n >= g->batch_records || next - pos > CHUNK_BYTES) {
			if (n == 0) { /* one huge line: take it whole */
				p = next;
				n = 1;
			}
			if (!text || !sonde_logtext_is_continuation(input + p, len - p))
				break;
		}
		p = next;
		n++;
	}
	*lines = n;
	return p;
}

static int ingest_lines(ing *g, const char *buf, size_t len)
{
	const char *prefix = NULL;
	size_t prefix_len = 0, pos = 0, line = 1;
	int rc = 0;
	if (strcmp(g->fmt->name, "csv") == 0) {
		/* The header goes in front of every chunk. */
		while (pos < len && (buf[pos] == '\n' || buf[pos] == '\r')) {
			line += buf[pos] == '\n';
			pos++;
		}
		const char *nl = memchr(buf + pos, '\n', len - pos);
		prefix = buf + pos;
		prefix_len = nl ? (size_t)(nl - prefix) + 1 : len - pos;
		pos += prefix_len;
		line++;
		if (!nl)
			prefix_len = 0, pos = 0, line = 1; /* a header alone: read as is */
	}
	while (pos < len && rc == 0) {
		size_t lines;
		size_t end = chunk_end(g, buf, pos, len, &lines);
		rc = read_lines(g, buf, pos, line, end - pos, prefix, prefix_len);
		if (rc < 0)
			break;
		if ((rc = flush(g)) < 0)
			break;
		g->st->bytes += end - pos;
		line += lines;
		pos = end;
		if (g->o->on_progress)
			g->o->on_progress(g->o->ctx, g->source, pos, len);
	}
	return rc;
}

int sonde_ingest_buffer(sonde_store *s, const char *source, const char *buf, size_t len,
                        const sonde_ingest_opts *o, sonde_ingest_stats *st, const sonde_format **fmt_out,
                        char *errmsg, size_t errmsg_len)
{
	msg(errmsg, errmsg_len, "%s", "");
	const sonde_format *fmt =
	        o->format ? o->format : sonde_format_detect(buf, len < DETECT_BYTES ? len : DETECT_BYTES);
	if (fmt_out)
		*fmt_out = fmt;
	if (!fmt) {
		if (len == 0)
			return 0; /* an empty file holds nothing */
		msg(errmsg, errmsg_len, "%s: cannot tell the format from the content; name it with --format",
		    source);
		return SONDE_EFORMAT;
	}
	if (!fmt->read) {
		msg(errmsg, errmsg_len, "%s: sonde cannot read %s, only write it", source, fmt->name);
		return SONDE_EFORMAT;
	}
	char svc[256];
	ing g = {
	        .s = s,
	        .source = source,
	        .fmt = fmt,
	        .o = o,
	        .ro = {.signal = o->signal, .default_time_ns = o->default_time_ns},
	        .st = st,
	        .batch_records = o->batch_records ? o->batch_records : 10000,
	        .errmsg = errmsg,
	        .errmsg_len = errmsg_len,
	};
	default_service(&g, source, svc, sizeof svc);
	g.b = sonde_batch_new();
	if (!g.b)
		return -ENOMEM;
	int rc;
	if (line_format(fmt)) {
		/* An input over 1 MB is read and stored at once, on two threads. */
		writer w;
		if (!o->sequential && len > CHUNK_BYTES / 4)
			writer_start(&g, &w);
		rc = ingest_lines(&g, buf, len);
		if (g.w) {
			int wrc = writer_finish(&g, false);
			if (rc >= 0 && wrc < 0)
				rc = wrc;
		}
	} else {
		sonde_wire_error err = {0};
		bool store_failed = false;
		rc = 1;
		/* A document over 1 MB is read and its spans stored at once, on two threads. */
		if (!o->sequential && len > CHUNK_BYTES / 4 && strcmp(fmt->name, "otlp-json") == 0)
			rc = read_streamed(&g, buf, len, &err, &store_failed);
		if (rc > 0)
			rc = fmt->read(g.b, buf, len, &g.ro, &err);
		if (store_failed) {
			/* errmsg holds the store's message */
		} else if (rc == SONDE_EPARSE) {
			err.line = err.line ? err.line : sonde_wire_line_of(buf, len, err.offset);
			rc = reject(&g, &err);
		} else if (rc < 0) {
			msg(errmsg, errmsg_len, "%s: %s", source, sonde_strerror(rc));
		} else {
			rc = flush(&g);
			st->bytes += len;
		}
		if (rc == 0 && o->on_progress)
			o->on_progress(o->ctx, source, len, len);
	}
	if (rc < 0 && errmsg && !errmsg[0])
		msg(errmsg, errmsg_len, "%s: %s", source, sonde_strerror(rc));
	sonde_batch_free(g.b);
	sonde_ptrmap_release(&g.svc);
	sonde_buf_release(&g.enc);
	sonde_buf_release(&g.given_res);
	return rc;
}

int sonde_ingest_file(sonde_store *s, const char *path, const sonde_ingest_opts *o, sonde_ingest_stats *st,
                      const sonde_format **fmt_out, char *errmsg, size_t errmsg_len)
{
	if (fmt_out)
		*fmt_out = NULL;
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		msg(errmsg, errmsg_len, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat stt;
	int rc;
	if (fstat(fd, &stt) == 0 && S_ISREG(stt.st_mode)) {
		size_t len = (size_t)stt.st_size;
		void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
		if (len && map == MAP_FAILED) {
			int e = errno;
			msg(errmsg, errmsg_len, "%s: %s", path, strerror(e));
			if (fd)
				close(fd);
			return -e;
		}
		if (map)
			madvise(map, len, MADV_SEQUENTIAL);
		rc = sonde_ingest_buffer(s, path, map ? map : "", len, o, st, fmt_out, errmsg, errmsg_len);
		if (map)
			munmap(map, len);
	} else if (fstat(fd, &stt) == 0 && S_ISDIR(stt.st_mode)) {
		msg(errmsg, errmsg_len, "%s: is a directory", path);
		rc = -EISDIR;
	} else {
		size_t cap = 1 << 20, n = 0;
		char *data = malloc(cap);
		rc = data ? 0 : -ENOMEM;
		while (rc == 0) {
			if (n == cap) {
				char *nd = realloc(data, cap * 2);
				if (!nd) {
					rc = -ENOMEM;
					break;
				}
				data = nd;
				cap *= 2;
			}
			ssize_t got = read(fd, data + n, cap - n);
			if (got < 0) {
				if (errno == EINTR)
					continue;
				rc = -errno;
				break;
			}
			if (got == 0)
				break;
			n += (size_t)got;
		}
		if (rc == 0)
			rc = sonde_ingest_buffer(s, path, data, n, o, st, fmt_out, errmsg, errmsg_len);
		else
			msg(errmsg, errmsg_len, "%s: %s", path, sonde_strerror(rc));
		free(data);
	}
	if (fd)
		close(fd);
	return rc;
}
