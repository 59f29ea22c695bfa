/*
 * profile_scope.c - scoped profiling (include/sonde/profile.h): per-thread
 * cells for SONDE_PROFILE_SCOPE sites, merged into cProfile-like rows, a text
 * and a JSON report, and the observable instruments that export the same
 * numbers as libsonde metrics.
 *
 * Design notes.
 * - A site gets a dense id (1, 2, ...) the first time any thread measures it;
 * P.sites maps ids back to sites. Each thread owns a pthr: the innermost
 * measured open frame (frames are linked through the stacks of the code being
 * measured), a depth counter for sampled-out trees, the sampling countdown, and
 * an array of cells indexed by id.
 * - A cell (pcell) belongs to one thread: only its owner writes it, with
 * relaxed atomic stores of values it loaded itself (no read-modify-write), so
 * readers (snapshots, metric callbacks) may load it at any time. Its depth
 * counts the open entries of the site on that thread: an entry is primitive
 * (cProfile's word) when it starts at depth 0, and only primitive entries add
 * to the cumulative time, so recursion is not counted twice. Self time is the
 * entry's inclusive time minus that of the measured scopes directly nested in
 * it, which add it to their parent frame when they leave.
 * - The latency histogram counts inclusive ticks in log buckets: values below
 * 32 exactly, then 32 buckets per octave up to 2^48 ticks (the last bucket
 * takes anything longer). A bucket spans a ratio of at most 33/32, and
 * reporting the harmonic mean of its ends is within 1/65 (1.6%) of every value
 * in it.
 * - P.mu guards the site table, the thread list and every thread's cell array
 * (the owner writes the array only under it; it reads its own array without). A
 * thread that exits folds its cells into the sites' retired cells under P.mu.
 * - Lock order: the metrics lock, then P.mu (the observable callbacks run under
 * the metrics lock and take P.mu). Our fork handlers are registered by a
 * constructor, before the metrics runtime registers its own, so its prepare
 * handler (taking the metrics lock) runs before ours (taking P.mu), in the same
 * order.
 * - fork(): the child keeps only the forking thread's pthr, zeroes its cells
 * (not their depths) and the retired cells, and restarts the scopes it has open
 * at the fork.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exporter_internal.h"
#include "json.h"
#include "profile_internal.h"
#include "sonde/metrics.h"
#include "sonde/profile.h"

enum {
	PH_SUB_BITS = 5,
	PH_SUB = 1 << PH_SUB_BITS,
	PH_MAX_EXP = 47,
	PH_BINS = PH_SUB + (PH_MAX_EXP - PH_SUB_BITS + 1) * PH_SUB, /* 1408 */
};

typedef struct pcell {
	uint64_t calls;
	uint64_t prim;
	uint64_t self_ticks;
	uint64_t total_ticks;
	uint32_t depth; /* owner only */
	uint64_t bins[PH_BINS];
} pcell;

typedef struct pthr {
	sonde__profile_frame *top; /* innermost measured open scope */
	uint32_t skip_depth;       /* > 0: inside a sampled-out tree */
	uint32_t countdown;        /* outermost entries until the next measured one */
	pcell **cells;             /* [id - 1]; written under P.mu */
	uint32_t cap;
	struct pthr *next;
} pthr;

static struct {
	pthread_mutex_t mu;
	sonde_profile_site **sites; /* [id - 1] */
	pcell **retired;            /* [id - 1]: what exited threads measured */
	uint32_t nsites, cap;
	pthr *threads;
	uint32_t sample_every; /* atomic */
	bool sample_configured;
	pthread_key_t key;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .sample_every = 1};

static __thread pthr *tls __attribute__((tls_model("initial-exec")));
static pthread_once_t init_once_ctl = PTHREAD_ONCE_INIT;
static pthread_once_t metrics_once_ctl = PTHREAD_ONCE_INIT;
/* The cell of a frame whose tree is sampled out. */
static char skip_mark;
#define SKIP ((void *)&skip_mark)

static inline uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
static inline void st(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline uint32_t ph_bin(uint64_t v)
{
	if (v < PH_SUB)
		return (uint32_t)v;
	int e = 63 - __builtin_clzll(v);
	if (e > PH_MAX_EXP)
		return PH_BINS - 1;
	return PH_SUB + (uint32_t)(e - PH_SUB_BITS) * PH_SUB +
	       (uint32_t)((v >> (e - PH_SUB_BITS)) & (PH_SUB - 1));
}

/* The value (ticks) reported for a bucket. */
static double ph_value(uint32_t b)
{
	if (b < PH_SUB)
		return b;
	uint32_t k = b - PH_SUB;
	int e = (int)(k / PH_SUB) + PH_SUB_BITS;
	double lo = ldexp(PH_SUB + k % PH_SUB, e - PH_SUB_BITS);
	double hi = lo + ldexp(1, e - PH_SUB_BITS) - 1; /* integers: [lo, hi] */
	return 2 * lo * hi / (lo + hi);
}

double sonde__profile_bucket_value(uint64_t ticks)
{
	return ph_value(ph_bin(ticks));
}

/* The value of rank floor(q (n - 1)) in the sorted entries, in ticks. */
static double ph_quantile(const uint64_t *bins, uint64_t n, double q)
{
	if (n == 0)
		return 0;
	double rank = floor(q * (double)(n - 1));
	uint64_t seen = 0;
	uint32_t last = 0;
	for (uint32_t i = 0; i < PH_BINS; i++) {
		if (!bins[i])
			continue;
		seen += bins[i];
		last = i;
		if ((double)seen > rank)
			return ph_value(i);
	}
	return ph_value(last);
}

/* ---- Configuration and set-up ---------------------------------------------------- */

static void sample_from_env(void)
{
	const char *v = getenv("SONDE_PROFILE_SAMPLE");
	if (!v || !*v)
		return;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || n == 0 || n > UINT32_MAX || v[0] == '-') {
		sonde__diag("profile: SONDE_PROFILE_SAMPLE=%s is not a whole number in "
		            "1..4294967295; ignored",
		            v);
		return;
	}
	__atomic_store_n(&P.sample_every, (uint32_t)n, __ATOMIC_RELAXED);
}

int sonde_profile_configure(const sonde_profile_config *cfg)
{
	pthread_mutex_lock(&P.mu);
	if (cfg && cfg->sample_every) {
		__atomic_store_n(&P.sample_every, cfg->sample_every, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&P.sample_every, 1, __ATOMIC_RELAXED);
		sample_from_env();
	}
	P.sample_configured = true;
	pthread_mutex_unlock(&P.mu);
	return 0;
}

static void thread_exit(void *arg);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void init_once(void)
{
	sonde_clock_init();
	pthread_key_create(&P.key, thread_exit);
	pthread_mutex_lock(&P.mu);
	if (!P.sample_configured)
		sample_from_env();
	pthread_mutex_unlock(&P.mu);
}

/* Registered before main, hence before the metrics runtime's handlers (see the
 * notes). */
__attribute__((constructor)) static void register_fork_handlers(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void register_metrics(void);

/* ---- Slow paths -------------------------------------------------------------------- */

static pthr *thread_create(void)
{
	pthread_once(&init_once_ctl, init_once);
	pthr *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_lock(&P.mu);
	t->next = P.threads;
	P.threads = t;
	pthread_mutex_unlock(&P.mu);
	pthread_setspecific(P.key, t);
	tls = t;
	return t;
}

/* Registers the site if needed and gives the calling thread its cell; NULL when
 * out of memory. */
static pcell *cell_slow(pthr *t, sonde_profile_site *site)
{
	bool first_site = false;
	pcell *c = NULL;
	pthread_mutex_lock(&P.mu);
	uint32_t id = site->id;
	if (!id) {
		if (P.nsites == P.cap) {
			uint32_t cap = P.cap ? 2 * P.cap : 64;
			sonde_profile_site **s = realloc(P.sites, cap * sizeof(*s));
			if (!s)
				goto out;
			P.sites = s;
			pcell **r = realloc(P.retired, cap * sizeof(*r));
			if (!r)
				goto out;
			P.retired = r;
			P.cap = cap;
		}
		pcell *r = calloc(1, sizeof(*r));
		if (!r)
			goto out;
		P.retired[P.nsites] = r;
		P.sites[P.nsites++] = site;
		id = P.nsites;
		__atomic_store_n(&site->id, id, __ATOMIC_RELEASE);
		first_site = id == 1;
	}
	if (id > t->cap) {
		uint32_t cap = t->cap ? t->cap : 16;
		while (cap < id)
			cap *= 2;
		pcell **cells = realloc(t->cells, cap * sizeof(*cells));
		if (!cells)
			goto out;
		memset(cells + t->cap, 0, (cap - t->cap) * sizeof(*cells));
		t->cells = cells;
		t->cap = cap;
	}
	c = t->cells[id - 1];
	if (!c) {
		c = calloc(1, sizeof(*c));
		t->cells[id - 1] = c;
	}
out:
	pthread_mutex_unlock(&P.mu);
	if (first_site)
		pthread_once(&metrics_once_ctl, register_metrics);
	return c;
}

/* ---- The hot path -------------------------------------------------------------------- */

void sonde__profile_enter(sonde__profile_frame *f, sonde_profile_site *site)
{
	pthr *t = tls;
	if (__builtin_expect(!t, 0)) {
		t = thread_create();
		if (!t) {
			f->cell = NULL;
			return;
		}
	}
	if (t->skip_depth) {
		t->skip_depth++;
		f->cell = SKIP;
		return;
	}
	if (!t->top) {
		uint32_t n = __atomic_load_n(&P.sample_every, __ATOMIC_RELAXED);
		if (n > 1) {
			if (t->countdown == 0 || t->countdown > n)
				t->countdown = n;
			if (--t->countdown) {
				t->skip_depth = 1;
				f->cell = SKIP;
				return;
			}
		}
	}
	uint32_t id = __atomic_load_n(&site->id, __ATOMIC_ACQUIRE);
	pcell *c;
	if (__builtin_expect(!id || id > t->cap || !(c = t->cells[id - 1]), 0)) {
		c = cell_slow(t, site);
		if (!c) {
			f->cell = NULL;
			return;
		}
	}
	c->depth++;
	f->cell = c;
	f->parent = t->top;
	f->child_ticks = 0;
	t->top = f;
	f->start = sonde_clock_ticks();
}

void sonde__profile_leave(sonde__profile_frame *f)
{
	if (f->cell == SKIP) {
		tls->skip_depth--;
		return;
	}
	pcell *c = f->cell;
	if (!c)
		return;
	uint64_t now = sonde_clock_ticks();
	uint64_t el = now > f->start ? now - f->start : 0;
	tls->top = f->parent;
	if (f->parent)
		f->parent->child_ticks += el;
	st(&c->calls, ld(&c->calls) + 1);
	st(&c->self_ticks, ld(&c->self_ticks) + (el > f->child_ticks ? el - f->child_ticks : 0));
	if (--c->depth == 0) {
		st(&c->prim, ld(&c->prim) + 1);
		st(&c->total_ticks, ld(&c->total_ticks) + el);
	}
	uint64_t *b = &c->bins[ph_bin(el)];
	st(b, ld(b) + 1);
}

/* ---- Threads and fork ---------------------------------------------------------------- */

static void cell_add(pcell *into, const pcell *c, bool bins)
{
	into->calls += ld(&c->calls);
	into->prim += ld(&c->prim);
	into->self_ticks += ld(&c->self_ticks);
	into->total_ticks += ld(&c->total_ticks);
	if (bins)
		for (uint32_t i = 0; i < PH_BINS; i++)
			into->bins[i] += ld(&c->bins[i]);
}

static void cell_zero(pcell *c)
{
	uint32_t depth = c->depth;
	memset(c, 0, sizeof(*c));
	c->depth = depth;
}

static void thr_free(pthr *t)
{
	for (uint32_t i = 0; i < t->cap; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

static void thread_exit(void *arg)
{
	pthr *t = arg;
	pthread_mutex_lock(&P.mu);
	for (pthr **pp = &P.threads; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	for (uint32_t i = 0; i < t->cap && i < P.nsites; i++)
		if (t->cells[i]) {
			pcell *r = P.retired[i];
			pcell sum = {0};
			cell_add(&sum, r, false);
			cell_add(&sum, t->cells[i], false);
			st(&r->calls, sum.calls);
			st(&r->prim, sum.prim);
			st(&r->self_ticks, sum.self_ticks);
			st(&r->total_ticks, sum.total_ticks);
			for (uint32_t b = 0; b < PH_BINS; b++)
				st(&r->bins[b], r->bins[b] + t->cells[i]->bins[b]);
		}
	pthread_mutex_unlock(&P.mu);
	tls = NULL;
	thr_free(t);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&P.mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&P.mu);
}

static void fork_child(void)
{
	pthr *me = tls;
	for (pthr *t = P.threads, *next; t; t = next) {
		next = t->next;
		if (t != me)
			thr_free(t);
	}
	P.threads = me;
	if (me) {
		me->next = NULL;
		for (uint32_t i = 0; i < me->cap; i++)
			if (me->cells[i])
				cell_zero(me->cells[i]);
		uint64_t now = sonde_clock_ticks();
		for (sonde__profile_frame *f = me->top; f; f = f->parent) {
			f->start = now;
			f->child_ticks = 0;
		}
	}
	for (uint32_t i = 0; i < P.nsites; i++)
		cell_zero(P.retired[i]);
	pthread_mutex_init(&P.mu, NULL);
}

/* ---- Snapshots ----------------------------------------------------------------------- */

/* Merges site i (0-based) over the retired cell and every live thread; under
 * P.mu. */
static void site_merge(uint32_t i, pcell *out, bool bins)
{
	memset(out, 0, sizeof(*out));
	cell_add(out, P.retired[i], bins);
	for (pthr *t = P.threads; t; t = t->next)
		if (i < t->cap && t->cells[i])
			cell_add(out, t->cells[i], bins);
}

static double tick_s(void)
{
	double tps = sonde_clock_ticks_per_sec();
	return tps > 0 ? 1.0 / tps : 1e-9;
}

static void row_fill(sonde_profile_row *r, const sonde_profile_site *s, const pcell *m, double ts)
{
	memset(r, 0, sizeof(*r));
	r->name = s->name;
	r->file = s->file;
	r->line = s->line;
	r->calls = m->calls;
	r->primitive_calls = m->prim;
	r->tottime_s = (double)m->self_ticks * ts;
	r->cumtime_s = (double)m->total_ticks * ts;
	r->percall_tot_s = m->calls ? r->tottime_s / (double)m->calls : 0;
	r->percall_cum_s = m->prim ? r->cumtime_s / (double)m->prim : 0;
	uint64_t n = 0;
	for (uint32_t b = 0; b < PH_BINS; b++)
		n += m->bins[b];
	r->p50_s = ph_quantile(m->bins, n, 0.50) * ts;
	r->p95_s = ph_quantile(m->bins, n, 0.95) * ts;
	r->p99_s = ph_quantile(m->bins, n, 0.99) * ts;
	r->sample_every = __atomic_load_n(&P.sample_every, __ATOMIC_RELAXED);
}

static double sort_key(const sonde_profile_row *r, sonde_profile_sort by)
{
	switch (by) {
	case SONDE_PROFILE_SORT_TOTTIME: return r->tottime_s;
	case SONDE_PROFILE_SORT_CALLS: return (double)r->calls;
	case SONDE_PROFILE_SORT_PERCALL_TOT: return r->percall_tot_s;
	case SONDE_PROFILE_SORT_PERCALL_CUM: return r->percall_cum_s;
	case SONDE_PROFILE_SORT_P50: return r->p50_s;
	case SONDE_PROFILE_SORT_P95: return r->p95_s;
	case SONDE_PROFILE_SORT_P99: return r->p99_s;
	case SONDE_PROFILE_SORT_NAME:
	case SONDE_PROFILE_SORT_CUMTIME:
	default: return r->cumtime_s;
	}
}

static int cmp_name(const sonde_profile_row *a, const sonde_profile_row *b)
{
	int c = strcmp(a->name, b->name);
	if (!c)
		c = strcmp(a->file, b->file);
	if (!c)
		c = (a->line > b->line) - (a->line < b->line);
	return c;
}

/* A row with its sort key, so that qsort needs no state. */
typedef struct keyed_row {
	double key; /* 0 when sorting by name */
	sonde_profile_row r;
} keyed_row;

static int cmp_rows(const void *pa, const void *pb)
{
	const keyed_row *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key < b->key ? 1 : -1;
	return cmp_name(&a->r, &b->r);
}

int sonde_profile_snapshot(sonde_profile_sort by, sonde_profile_row **rows, size_t *count)
{
	*rows = NULL;
	*count = 0;
	pthread_once(&init_once_ctl, init_once);
	pcell *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	double ts = tick_s();
	pthread_mutex_lock(&P.mu);
	sonde_profile_row *out = malloc((P.nsites ? P.nsites : 1) * sizeof(*out));
	if (!out) {
		pthread_mutex_unlock(&P.mu);
		free(m);
		return -ENOMEM;
	}
	uint32_t n = P.nsites;
	for (uint32_t i = 0; i < n; i++) {
		site_merge(i, m, true);
		row_fill(&out[i], P.sites[i], m, ts);
	}
	pthread_mutex_unlock(&P.mu);
	free(m);
	keyed_row *k = malloc((n ? n : 1) * sizeof(*k));
	if (!k) {
		free(out);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		k[i].key = by == SONDE_PROFILE_SORT_NAME ? 0 : sort_key(&out[i], by);
		k[i].r = out[i];
	}
	qsort(k, n, sizeof(*k), cmp_rows);
	for (uint32_t i = 0; i < n; i++)
		out[i] = k[i].r;
	free(k);
	*rows = out;
	*count = n;
	return 0;
}

/* ---- Reports ------------------------------------------------------------------------- */

/* Formats seconds in an adaptive unit, e.g. "12.3ns", "4.56ms", "1.234s". */
static void fmt_time(char *out, size_t n, double s)
{
	static const struct {
		double scale;
		const char *unit;
	} u[] = {{1e-9, "ns"}, {1e-6, "us"}, {1e-3, "ms"}, {1, "s"}};
	if (s <= 0) {
		snprintf(out, n, "0");
		return;
	}
	size_t k = 0;
	while (k + 1 < sizeof(u) / sizeof(u[0]) && s >= u[k + 1].scale)
		k++;
	double v = s / u[k].scale;
	snprintf(out, n, v >= 100 ? "%.0f%s" : v >= 10 ? "%.1f%s" : "%.2f%s", v, u[k].unit);
}

int sonde_profile_report(FILE *out, sonde_profile_sort by)
{
	sonde_profile_row *rows;
	size_t n;
	int rc = sonde_profile_snapshot(by, &rows, &n);
	if (rc < 0)
		return rc;
	uint32_t every = __atomic_load_n(&P.sample_every, __ATOMIC_RELAXED);
	if (every > 1)
		fprintf(out,
		        "sampled: 1 in %u outermost scopes per thread; counts and times "
		        "are of the sampled "
		        "trees\n",
		        every);
	fprintf(out, "%12s %9s %9s %9s %9s %9s %9s %9s  %s\n", "ncalls", "tottime", "percall", "cumtime",
	        "percall", "p50", "p95", "p99", "name (file:line)");
	for (size_t i = 0; i < n; i++) {
		const sonde_profile_row *r = &rows[i];
		char calls[48], t[7][24];
		if (r->calls != r->primitive_calls)
			snprintf(calls, sizeof(calls), "%llu/%llu", (unsigned long long)r->calls,
			         (unsigned long long)r->primitive_calls);
		else
			snprintf(calls, sizeof(calls), "%llu", (unsigned long long)r->calls);
		fmt_time(t[0], sizeof(t[0]), r->tottime_s);
		fmt_time(t[1], sizeof(t[1]), r->percall_tot_s);
		fmt_time(t[2], sizeof(t[2]), r->cumtime_s);
		fmt_time(t[3], sizeof(t[3]), r->percall_cum_s);
		fmt_time(t[4], sizeof(t[4]), r->p50_s);
		fmt_time(t[5], sizeof(t[5]), r->p95_s);
		fmt_time(t[6], sizeof(t[6]), r->p99_s);
		fprintf(out, "%12s %9s %9s %9s %9s %9s %9s %9s  %s (%s:%d)\n", calls, t[0], t[1], t[2], t[3],
		        t[4], t[5], t[6], r->name, r->file, r->line);
	}
	free(rows);
	return ferror(out) ? -EIO : 0;
}

int sonde_profile_report_json(FILE *out, sonde_profile_sort by)
{
	sonde_profile_row *rows;
	size_t n;
	int rc = sonde_profile_snapshot(by, &rows, &n);
	if (rc < 0)
		return rc;
	sonde_buf b;
	sonde_buf_init(&b);
	sonde_json_writer w;
	sonde_json_writer_init(&w, &b, 0);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "sample_every");
	sonde_json_u64(&w, __atomic_load_n(&P.sample_every, __ATOMIC_RELAXED));
	sonde_json_key_cstr(&w, "scopes");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < n; i++) {
		const sonde_profile_row *r = &rows[i];
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "name");
		sonde_json_str(&w, r->name, strlen(r->name));
		sonde_json_key_cstr(&w, "file");
		sonde_json_str(&w, r->file, strlen(r->file));
		sonde_json_key_cstr(&w, "line");
		sonde_json_i64(&w, r->line);
		sonde_json_key_cstr(&w, "ncalls");
		sonde_json_u64(&w, r->calls);
		sonde_json_key_cstr(&w, "primitive_calls");
		sonde_json_u64(&w, r->primitive_calls);
		static const char *const keys[] = {"tottime", "percall_tot", "cumtime", "percall_cum",
		                                   "p50",     "p95",         "p99"};
		const double vals[] = {r->tottime_s, r->percall_tot_s, r->cumtime_s, r->percall_cum_s,
		                       r->p50_s,     r->p95_s,         r->p99_s};
		for (size_t k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
			sonde_json_key_cstr(&w, keys[k]);
			sonde_json_f64(&w, vals[k]);
		}
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(&b, '\n');
	free(rows);
	if (b.oom) {
		sonde_buf_release(&b);
		return -ENOMEM;
	}
	size_t wrote = fwrite(b.data, 1, b.len, out);
	rc = wrote == b.len && !ferror(out) ? 0 : -EIO;
	sonde_buf_release(&b);
	return rc;
}

/* ---- Metrics -------------------------------------------------------------------------- */

enum { OBS_CALLS, OBS_SELF, OBS_TOTAL, OBS_LATENCY };

static void observe(sonde_observer *o, void *ud)
{
	int what = (int)(intptr_t)ud;
	double ts = tick_s();
	pcell *m = malloc(sizeof(*m));
	if (!m)
		return;
	pthread_mutex_lock(&P.mu);
	for (uint32_t i = 0; i < P.nsites; i++) {
		const sonde_profile_site *s = P.sites[i];
		site_merge(i, m, what == OBS_LATENCY);
		sonde_attr a[4] = {SONDE_ATTR_STR("scope", s->name), SONDE_ATTR_STR("code.filepath", s->file),
		                   SONDE_ATTR_INT("code.lineno", s->line)};
		switch (what) {
		case OBS_CALLS: sonde_observe_int(o, (int64_t)m->calls, a, 3); break;
		case OBS_SELF: sonde_observe(o, (double)m->self_ticks * ts, a, 3); break;
		case OBS_TOTAL: sonde_observe(o, (double)m->total_ticks * ts, a, 3); break;
		default: {
			uint64_t n = 0;
			for (uint32_t b = 0; b < PH_BINS; b++)
				n += m->bins[b];
			if (!n)
				break;
			static const char *const qs[] = {"0.5", "0.95", "0.99"};
			static const double qv[] = {0.5, 0.95, 0.99};
			for (int q = 0; q < 3; q++) {
				a[3] = SONDE_ATTR_STR("quantile", qs[q]);
				sonde_observe(o, ph_quantile(m->bins, n, qv[q]) * ts, a, 4);
			}
		}
		}
	}
	pthread_mutex_unlock(&P.mu);
	free(m);
}

static void register_metrics(void)
{
	sonde_meter *mt = sonde_meter_get("sonde.profile", NULL, NULL);
	sonde_instrument_new(mt,
	                     &(sonde_instrument_opts){.kind = SONDE_INSTRUMENT_OBSERVABLE_COUNTER,
	                                              .name = "sonde.profile.calls",
	                                              .unit = "{call}",
	                                              .description = "Measured entries of a profiled scope",
	                                              .value_type = SONDE_METRIC_INT,
	                                              .callback = observe,
	                                              .callback_ud = (void *)(intptr_t)OBS_CALLS});
	sonde_instrument_new(mt, &(sonde_instrument_opts){.kind = SONDE_INSTRUMENT_OBSERVABLE_COUNTER,
	                                                  .name = "sonde.profile.self_time",
	                                                  .unit = "s",
	                                                  .description = "Time in a profiled scope itself, "
	                                                                 "not in nested profiled scopes",
	                                                  .callback = observe,
	                                                  .callback_ud = (void *)(intptr_t)OBS_SELF});
	sonde_instrument_new(mt, &(sonde_instrument_opts){.kind = SONDE_INSTRUMENT_OBSERVABLE_COUNTER,
	                                                  .name = "sonde.profile.total_time",
	                                                  .unit = "s",
	                                                  .description = "Inclusive time of a profiled scope "
	                                                                 "(outermost entries)",
	                                                  .callback = observe,
	                                                  .callback_ud = (void *)(intptr_t)OBS_TOTAL});
	sonde_instrument_new(mt, &(sonde_instrument_opts){.kind = SONDE_INSTRUMENT_OBSERVABLE_GAUGE,
	                                                  .name = "sonde.profile.latency",
	                                                  .unit = "s",
	                                                  .description = "Quantiles of a profiled scope's "
	                                                                 "inclusive time per entry",
	                                                  .callback = observe,
	                                                  .callback_ud = (void *)(intptr_t)OBS_LATENCY});
}
