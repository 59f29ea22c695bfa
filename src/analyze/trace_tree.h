/*
 * trace_tree.h - one trace as a tree of spans, with its critical path, self times, the
 * services and operations that hold the critical path, the slowest span, error spans and
 * repeated identical calls (N+1).
 *
 * The tree indexes a caller's array of sonde_span_data (the one span model); it copies no
 * span. Parents come from parent_span_id. A span whose parent is not in the array is an
 * orphan and becomes a root, unless it links to a span of the trace, in which case it
 * hangs under that span as a follows-from child. A CONSUMER span whose parent is a
 * PRODUCER span is a follows-from child too (asynchronous messaging: the producer does not
 * wait for it). Follows-from children are shown in the tree but are left out of the
 * critical path and of their parent's self time, with all their descendants.
 *
 * Critical path, as Jaeger's UI defines it (computed without recursion, so a trace of
 * any size or depth works):
 *   1. Each root's tree of child-of spans is considered on its own, roots in order of
 *      start time.
 *   2. Children are clipped to their parent's (already clipped) interval, which absorbs
 *      clock skew between hosts; a child wholly outside its parent is dropped with its
 *      descendants.
 *   3. Starting at the root with no bound: take the span's child that finishes last (and,
 *      when a bound is set, finishes at or before it and was not taken yet). If there is
 *      one, the span's own stretch from that child's end up to the bound (or the span's
 *      end) is on the path, and the walk continues into that child with no bound. If
 *      there is none, the stretch from the span's start to the bound (or its end) is on
 *      the path, and the walk returns to the parent with the span's start as the bound.
 *      The walk ends when the root has no child left before its bound.
 *   4. Stretches of zero length are not recorded. Ties between children that end at the
 *      same time go to the one that starts first, then to the one first in the array.
 * One difference from Jaeger's UI, on purpose: it takes only a child that finishes
 * strictly before the bound, so of two back-to-back calls (the second starting the
 * instant the first ends, common at the microsecond precision of Zipkin and Jaeger) the
 * first is left off the path and its time charged to the parent; here it stays on.
 * The result is a list of segments in time order; each segment is a span running itself
 * (not waiting on a child) while it bounds the trace's latency.
 *
 * Lifetime: sonde_trace_tree_build() returns a tree the caller frees with
 * sonde_trace_tree_free(); it borrows the span array, which must not move or change until
 * then. Not thread-safe; distinct trees may be used from distinct threads.
 */
#ifndef SONDE_TRACE_TREE_H
#define SONDE_TRACE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "telemetry.h"

#define SONDE_TNODE_NONE UINT32_MAX

typedef enum sonde_trace_rel {
	SONDE_REL_ROOT = 0,     /* no parent in the trace */
	SONDE_REL_CHILD_OF = 1, /* parented by parent_span_id; blocks its parent */
	SONDE_REL_FOLLOWS = 2,  /* follows from its parent: linked, or consumer of a producer */
} sonde_trace_rel;

typedef struct sonde_tnode {
	const sonde_span_data *span; /* borrowed from the caller's array; node i is span i */
	sonde_str service;           /* resource attribute service.name, or "" */
	uint32_t parent;             /* node index, or SONDE_TNODE_NONE for a root */
	uint32_t first_child;        /* index into tree->children of this node's first child */
	uint32_t child_count;        /* children are ordered by start time, then array order */
	uint32_t depth;              /* 0 for a root */
	uint8_t rel;                 /* sonde_trace_rel */
	bool orphan;                 /* has a parent_span_id that is not in the trace */
	bool on_path;                /* part of the critical path's tree (not follows-from, not dropped) */
	uint64_t start_ns, end_ns;   /* the span's times, end never before start */
	uint64_t self_ns;            /* duration minus the time covered by its child-of children */
	uint64_t cp_ns;              /* time this span holds on the critical path */
} sonde_tnode;

/* A stretch of the critical path: node runs itself in [start_ns, end_ns). */
typedef struct sonde_cp_segment {
	uint32_t node;
	uint64_t start_ns, end_ns;
} sonde_cp_segment;

/* Time on the critical path held by one service, or one operation (service + span name). */
typedef struct sonde_cp_share {
	sonde_str service;
	sonde_str operation; /* "" in per-service shares */
	uint64_t cp_ns;
	double share; /* cp_ns / critical path length, 0..1 */
	uint32_t spans;
} sonde_cp_share;

/* A group of repeated identical calls under one parent: same service, span name and,
 * for database spans, the same normalised statement. */
typedef struct sonde_nplus1 {
	uint32_t parent;       /* node index */
	uint32_t first;        /* node index of the first such call */
	uint32_t count;        /* calls in the group */
	uint64_t total_ns;     /* sum of their durations */
	sonde_str service;     /* borrowed from the spans */
	sonde_str operation;   /* borrowed from the spans */
	const char *statement; /* normalised statement (owned by the tree), or NULL */
} sonde_nplus1;

typedef struct sonde_trace_tree {
	sonde_tnode *nodes; /* one per span, same order as the array */
	size_t count;
	uint32_t *children; /* child lists, one run per node (see first_child) */
	uint32_t *roots;    /* root nodes by start time */
	size_t roots_count;
	uint32_t *preorder;        /* depth-first order, children by start time: the waterfall's rows */
	uint64_t start_ns, end_ns; /* earliest start and latest end of any span */
	sonde_cp_segment *cp;      /* the critical path in time order (per root, roots in order) */
	size_t cp_count;
	uint64_t cp_total_ns;   /* sum of segment lengths */
	uint32_t cycles_broken; /* parent links dropped because they formed a cycle */
	uint32_t dup_ids;       /* spans whose id repeats an earlier span's id */
	void *priv;             /* owned scratch (hash table, statements) */
} sonde_trace_tree;

/* Builds the tree of spans[0..n) (one trace; spans of other traces are treated like
 * orphans), its critical path and self times. Returns 0 and sets *out (caller frees with
 * sonde_trace_tree_free()), -EINVAL when n exceeds UINT32_MAX - 1, or -ENOMEM. */
int sonde_trace_tree_build(const sonde_span_data *spans, size_t n, sonde_trace_tree **out);
/* Frees the tree (not the spans). NULL is a no-op. */
void sonde_trace_tree_free(sonde_trace_tree *t);

/* Shares of the critical path per service (by_operation false) or per operation (true),
 * largest first. Returns the number of shares and sets *out to a malloc'd array the caller
 * frees with free(); its strings are borrowed from the spans. Returns -ENOMEM on failure. */
ssize_t sonde_trace_cp_shares(const sonde_trace_tree *t, bool by_operation, sonde_cp_share **out);

/* The node with the largest self time (by_self true) or the longest non-root span (false;
 * the root when the trace has one span). SONDE_TNODE_NONE for an empty tree. */
uint32_t sonde_trace_slowest(const sonde_trace_tree *t, bool by_self);

/* True when the span failed: status ERROR. */
bool sonde_span_is_error(const sonde_span_data *s);
/* The first "exception" event of the span, or NULL. Its attributes exception.type,
 * exception.message and exception.stacktrace say what was thrown. */
const sonde_span_event *sonde_span_exception(const sonde_span_data *s);

/* Finds groups of at least min_count identical calls under one parent, largest first.
 * Returns the number of groups and sets *out to a malloc'd array (caller frees with
 * free(); statements borrowed from the tree), or -ENOMEM. */
ssize_t sonde_trace_nplus1(sonde_trace_tree *t, uint32_t min_count, sonde_nplus1 **out);

/* The resource's service.name, or "" (borrowed). */
sonde_str sonde_span_service(const sonde_span_data *s);

#endif
