/*
 * metrics_internal.h - libsonde's metrics runtime: series, per-thread cells, and the state
 * shared by metrics.c (registration and the hot path), metrics_collect.c (readers and
 * Prometheus text), metrics_exphist.c and metrics_sketch.c.
 *
 * Design notes.
 *
 * Cell space. Every series gets, once, an offset into a process-wide "cell space" of
 * 64-bit words; each thread that updates the series owns the words at that offset in its
 * own copy of the space. A thread's space is a directory of lazily allocated chunks of
 * SONDE__M_CHUNK_WORDS words (64-byte aligned), so two threads never write the same cache
 * line and a bound update is: TLS load, directory load, one or a few relaxed loads and
 * stores. A series' cells never straddle chunks. Offsets are never reused.
 *
 * Readers of a cell (the collector) load words with relaxed atomics while the owner
 * writes them, so every value read is one the owner wrote. Where several words must
 * agree - an exponential histogram whose bucket window moves or whose scale drops - the
 * owner brackets the change with a sequence counter (odd while changing) and the
 * collector retries until it reads the same even count before and after. Counts that are
 * derived (a histogram's count is the sum of its buckets) need no such care.
 *
 * Merging. A series' value is its retired accumulator (cells of threads that exited,
 * folded in by their TLS destructor under the lock) plus every live thread's cell.
 * Values only grow, so a delta reader subtracts what it reported last (its own map of
 * series to snapshots); the owner's cells are never reset by another thread.
 *
 * Locking. One mutex (M.mu) guards registration (meters, instruments, series, threads),
 * the retired accumulators, summary windows and collection. The hot path never takes it;
 * the first use of an attribute set and a thread's first cell do.
 *
 * Attribute lookup. A thread first tries its cache of call sites (sonde__mcache). Then
 * the instrument's series table: open addressing over a commutative hash of the
 * (key, value) list, sized for its cardinality limit at first use so it never grows;
 * slots are published with release stores and read without a lock. Once the overflow
 * series exists no set is ever added, so a miss goes straight to it without the lock.
 *
 * fork(). The child keeps only the forking thread's cells, zeroed; other threads' cells,
 * retired accumulators, summary windows and readers' delta state are reset, and the start
 * time becomes the fork's: the child starts clean (see metrics.h).
 */
#ifndef SONDE_METRICS_INTERNAL_H
#define SONDE_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sonde/metrics.h"
#include "telemetry.h"

enum {
	SONDE__M_CHUNK_SHIFT = 12,
	SONDE__M_CHUNK_WORDS = 1 << SONDE__M_CHUNK_SHIFT, /* 32 KiB */
	SONDE__M_MAX_CHUNKS = 2048,                       /* 64 MiB of cell space */
	SONDE__M_DEFAULT_LIMIT = 2000,
	SONDE__M_MAX_BOUNDS = 256,
	SONDE__M_MAX_QUANTILES = 16,
	SONDE__M_MAX_ATTRS = 64, /* per series; more are dropped */
	SONDE__EXP_MAX_SIZE = 160,
	SONDE__EXP_MAX_SCALE = 20,
	SONDE__EXP_MIN_SCALE = -10,
};

typedef _Atomic uint64_t sonde__word;

static inline uint64_t sonde__ld(const sonde__word *w)
{
	return atomic_load_explicit((sonde__word *)w, memory_order_relaxed);
}
static inline void sonde__st(sonde__word *w, uint64_t v)
{
	atomic_store_explicit(w, v, memory_order_relaxed);
}
static inline double sonde__d(uint64_t bits)
{
	double d;
	memcpy(&d, &bits, sizeof(d));
	return d;
}
static inline uint64_t sonde__bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}
/* Min and max are kept encoded so that a zeroed word means "none yet": min as the bits of
 * the value xor those of +Inf, max xor -Inf. */
#define SONDE__INF_BITS  0x7ff0000000000000ULL
#define SONDE__NINF_BITS 0xfff0000000000000ULL

/* What an update of a series does. */
enum sonde__op {
	SONDE__OP_NOOP = 0,
	SONDE__OP_SUM_INT,    /* counters, up-down counters of int64 */
	SONDE__OP_SUM_DOUBLE, /* ... of double */
	SONDE__OP_GAUGE,
	SONDE__OP_HIST,    /* explicit buckets */
	SONDE__OP_EXP,     /* base-2 exponential buckets */
	SONDE__OP_SUMMARY, /* relative-error sketch */
	SONDE__OP_OBSERVED /* observable instruments: values come from callbacks */
};

/* A thread's cache of unbound lookups, two-way set-associative (SONDE__M_CACHE / 2 sets
 * of two, the most recently filled first): the series an instrument and a caller's
 * attribute array (by address) gave last time. A hit is checked against the series'
 * attributes, so a caller that rewrites its array in place is never misled. When the
 * array held at most
 * SONDE__M_CACHE_PTRS attributes, all kept, the entry also keeps a snapshot of each: key
 * pointer, type and value word (a string's pointer, an integer, a double's bits, a bool).
 * A key, or a string value, that pointed into a read-only segment of a loaded object (a
 * string literal) at fill time is then the same when its pointer is: that memory cannot
 * have changed; numbers are the same when their words are. What is not vouched for so is
 * compared byte by byte with the series' attribute, without strlen. Owner-only. */
enum { SONDE__M_CACHE = 64, SONDE__M_CACHE_PTRS = 8 };
typedef struct sonde__mcache {
	const sonde_instrument *in;
	const sonde_attr *attrs;
	uint32_t n;
	bool snap;        /* kp, ty, vw hold a snapshot of the caller's n attributes */
	uint8_t perm[16]; /* the series attribute matching the caller's i-th kept one */
	/* The i-th attribute: its key pointer when read-only (else NULL: never vouched for);
	 * its type when its value is a number or a read-only string (else 0: never vouched
	 * for); its value word (a string's pointer, an integer, a double's bits, a bool). */
	uint8_t ty[SONDE__M_CACHE_PTRS];
	const char *kp[SONDE__M_CACHE_PTRS];
	uint64_t vw[SONDE__M_CACHE_PTRS];
	sonde_series *s;
} sonde__mcache;

/* A thread's cell space. */
typedef struct sonde__mthread {
	_Atomic(sonde__word *) chunks[SONDE__M_MAX_CHUNKS];
	struct sonde__mthread *next;
	sonde__mcache cache[SONDE__M_CACHE];
} sonde__mthread;

/* ---- Exponential histograms (metrics_exphist.c) ---------------------------------- */

/* A plain exponential histogram, for merging and snapshots: counts[i] is the count of
 * bucket index lo + i, n buckets in use. */
typedef struct sonde__exp_side {
	int32_t lo;
	uint32_t n;
	uint64_t c[SONDE__EXP_MAX_SIZE];
} sonde__exp_side;

typedef struct sonde__exph {
	int32_t scale;
	uint32_t max_size;
	uint64_t zero;
	double sum, min, max; /* min +Inf and max -Inf when empty */
	sonde__exp_side pos, neg;
} sonde__exph;

/* Bucket index of a > 0 (finite) at scale: bucket i holds (2^(i/2^scale), 2^((i+1)/2^scale)]. */
int32_t sonde__exp_index(double a, int32_t scale);
/* Lower boundary of bucket idx at scale (2^(idx/2^scale)). */
double sonde__exp_lower(int32_t idx, int32_t scale);
void sonde__exph_init(sonde__exph *h, uint32_t max_size, int32_t max_scale);
uint64_t sonde__exph_count(const sonde__exph *h);
/* Records value n times (plain; NaN and infinities are ignored). */
void sonde__exph_record(sonde__exph *h, double value, uint64_t n);
/* Lowers h's scale by `by` steps (merging buckets pairwise per step). */
void sonde__exph_downscale(sonde__exph *h, int32_t by);
/* dst += src, lowering the scale as needed to fit dst's max_size. */
void sonde__exph_merge(sonde__exph *dst, const sonde__exph *src);
/* dst -= prev, where prev is an earlier state of the same histogram (its counts are
 * contained in dst's once both are at dst's scale). min and max are left as dst's. */
void sonde__exph_sub(sonde__exph *dst, const sonde__exph *prev);

/* The per-thread cell of an exponential histogram: words of metadata, then two circular
 * arrays of max_size counts. */
size_t sonde__exp_cell_words(uint32_t max_size);
/* Records v (finite) into a cell owned by the calling thread. */
void sonde__exp_cell_record(sonde__word *cell, uint32_t max_size, int32_t max_scale, double v, bool min_max);
/* Reads a consistent copy of a cell another thread may be writing; adds it into out
 * (merging). */
void sonde__exp_cell_merge_into(const sonde__word *cell, uint32_t max_size, int32_t max_scale,
                                sonde__exph *out);

/* ---- Relative-error sketch (metrics_sketch.c) ------------------------------------- */

enum {
	SONDE__SK_BINS = 2560,
};
#define SONDE__SK_MIN          1e-9 /* values below are counted as zero */
#define SONDE__SK_REL_ACCURACY 0.01

/* The bin of v (>= SONDE__SK_MIN; values past the last bin go into it), 0-based. */
uint32_t sonde__sk_bin(double v);
/* The value reported for a bin: within SONDE__SK_REL_ACCURACY of every value in it. */
double sonde__sk_value(uint32_t bin);
/* The q-quantile (q in [0,1]) of zero values below SONDE__SK_MIN (reported as 0) and the
 * given bins (total count n = zero + sum of bins, > 0): the value of rank q * (n - 1),
 * as the sorted list's element at that index. */
double sonde__sk_quantile(uint64_t zero, const uint64_t *bins, uint64_t n, double q);

/* Summary cell layout (words): count, sum bits, below-minimum count, then SK_BINS 32-bit
 * counts packed two per word. */
enum {
	SONDE__SUM_W_COUNT = 0,
	SONDE__SUM_W_SUM = 1,
	SONDE__SUM_W_ZERO = 2,
	SONDE__SUM_W_BINS = 3,
	SONDE__SUM_WORDS = 3 + SONDE__SK_BINS / 2,
};

/* ---- Series, instruments, meters ------------------------------------------------- */

typedef struct sonde__snap sonde__snap;

/* The summary's sliding window (under M.mu). */
typedef struct sonde__sum_window {
	uint32_t prev_zero;
	uint32_t prev[SONDE__SK_BINS]; /* cumulative bins at the last feed, mod 2^32 */
	uint32_t nb;                   /* age buckets */
	struct sonde__age_bucket {
		uint64_t epoch;
		uint32_t zero;
		uint32_t bins[SONDE__SK_BINS];
	} b[];
} sonde__sum_window;

struct sonde_series {
	/* Read-only after creation: what the hot path reads. */
	uint8_t op;
	bool overflow;
	_Atomic bool wanted; /* bound by the program: exported even before any update */
	uint32_t off;        /* cell offset in words */
	sonde_instrument *inst;
	uint64_t hash;
	sonde_kv *attrs; /* canonical: keys unique, sorted; owned (strings too) */
	uint32_t nattrs;
	uint32_t index; /* creation order within the instrument */
	sonde_series *next;
	/* Collection state (under M.mu). */
	sonde__snap *retired; /* folded cells of exited threads; NULL until one exits */
	sonde__sum_window *window;
	uint64_t obs_gen; /* collection generation of the last observation */
	double obs_d;
	int64_t obs_i;
	/* Gauges: written by any thread. */
	_Alignas(64) _Atomic uint64_t gauge_bits;
	_Atomic bool gauge_set;
};

/* A slot of an instrument's lookup table. */
typedef struct sonde__mslot {
	_Atomic uint64_t hash;
	_Atomic(sonde_series *) s;
} sonde__mslot;

typedef struct sonde__mtable {
	uint32_t mask;
	sonde__mslot slots[];
} sonde__mtable;

struct sonde_instrument {
	/* Read-only after creation. */
	sonde_instrument_kind kind;
	uint8_t op;
	sonde_metric_value_type vt;
	bool no_min_max;
	sonde_meter *meter;
	char *name, *unit, *description;
	uint32_t limit;
	uint32_t cell_words;
	double ns_to_unit; /* timers: multiply a duration in ns by this */
	double *bounds;    /* explicit histograms */
	uint32_t nbounds;
	uint32_t exp_max_size;
	int32_t exp_max_scale;
	double *quantiles;
	uint32_t nquantiles;
	uint64_t age_ns; /* summary window step: max_age / age_buckets */
	uint32_t age_buckets;
	sonde_observe_fn cb;
	void *cb_ud;
	sonde_series *plain;              /* the series without attributes (made with the instrument) */
	_Atomic(sonde__mtable *) table;   /* attribute sets -> series, made at first use */
	_Atomic(sonde_series *) overflow; /* set once, under M.mu */
	/* Under M.mu. */
	sonde_series *series, **series_tail;
	uint32_t nseries;
	sonde_instrument *next;
};

struct sonde_meter {
	char *name, *version, *schema_url;
	sonde_instrument *instruments, **instruments_tail;
	sonde_meter *next;
};

/* A snapshot of a series' merged value (plain memory). */
struct sonde__snap {
	int64_t i; /* SUM_INT */
	double d;  /* SUM_DOUBLE */
	/* HIST and SUMMARY */
	uint64_t count;
	double sum, min, max;
	uint64_t *buckets; /* HIST: nbounds + 1 */
	/* SUMMARY: counts mod 2^32 */
	uint32_t zero;
	uint32_t *bins;
	/* EXP */
	sonde__exph *exp;
};

/* Process-wide state. */
#define SONDE__M_HIDDEN __attribute__((visibility("hidden")))
struct sonde__metrics {
	pthread_mutex_t mu;
	sonde_meter *meters, **meters_tail;
	sonde__mthread *threads;
	uint32_t next_off; /* cell space allocated, in words */
	uint64_t start_ns; /* epoch ns: cumulative start (process or fork) */
	uint64_t obs_gen;
	uint32_t default_limit;
	/* The resource: attributes with owned strings. */
	sonde_kv *resource;
	uint32_t nresource;
	bool resource_built;
	bool resource_configured; /* by sonde_metrics_configure: tracing's resource no longer applies */
	struct sonde_metric_reader *readers; /* to reset delta state in a fork child */
	struct sonde_metric_reader *prom_reader;
};
extern SONDE__M_HIDDEN struct sonde__metrics sonde__M;
extern SONDE__M_HIDDEN sonde_series sonde__noop_series;

/* The collector's view of a thread-owned cell: the thread's words at s->off, or NULL
 * when the thread never touched that chunk. */
static inline const sonde__word *sonde__cell_of(const sonde__mthread *t, const sonde_series *s)
{
	sonde__word *c = atomic_load_explicit(
	        (_Atomic(sonde__word *) *)&t->chunks[s->off >> SONDE__M_CHUNK_SHIFT], memory_order_acquire);
	return c ? c + (s->off & (SONDE__M_CHUNK_WORDS - 1)) : NULL;
}

/* Snapshots (metrics_collect.c). */
sonde__snap *sonde__snap_new(const sonde_instrument *in);
void sonde__snap_free(sonde__snap *sn);
/* sn += the cell at c (a thread's words of series s). */
void sonde__snap_add_cell(sonde__snap *sn, const sonde_series *s, const sonde__word *c);
/* Resets what a fork child must not report (with M.mu held by the forking thread). */
void sonde__metrics_collect_after_fork(void);

/* Series lookup and creation with M.mu held (metrics.c), for observations. */
sonde_series *sonde__series_get_locked(sonde_instrument *in, const sonde_attr *attrs, size_t n);

/* Builds the resource from the environment when sonde_metrics_configure has not (M.mu
 * held). */
void sonde__metrics_resource_default(void);

/* Called by sonde_trace_init: unless sonde_metrics_configure set the metrics' resource,
 * metrics report the same service as the traces (the trace config's values over the
 * environment, as for the tracing resource). */
void sonde__metrics_resource_from_tracing(const char *service_name, const char *service_version,
                                          const char *resource_attributes);

#endif
