/*
 * otlp_pb_read.c - reads OTLP export requests in the protobuf wire format into a batch
 * (see otlp_pb.h).
 *
 * One pass, one function per message type. Records are added to the batch as their
 * message begins and filled in place. Repeated children (attributes, events, points,
 * bucket counts...) are pushed on scratch stacks owned by the call; when a message ends
 * it copies what it pushed into the batch arena and pops it, so nested messages (an
 * event's attributes inside a span's) never interleave. Only AnyValue recurses, bounded
 * by SONDE_OTLP_PB_MAX_VALUE_DEPTH.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_pb.h"
#include "pbwire.h"
#include "sonde/status.h"

/* String values up to this length are interned (repeated enum-like values: methods,
 * status codes, host names); longer ones are copied. */
#define INTERN_VALUE_MAX 32

enum { PATH_SEGS = 12, ICACHE_SLOTS = 256 };
#define NO_INDEX      ((size_t)-1)
#define DROPPED_ATTRS "dropped_attributes_count"

/* A growable array of fixed-size elements, used as a stack. */
typedef struct vec {
	char *p;
	size_t n, cap; /* in elements */
} vec;

typedef struct rd {
	sonde_batch *b;
	sonde_wire_error *err;
	sonde_signal sig;
	/* Path to the message being read, for error reports. */
	struct {
		const char *name;
		size_t idx;
	} path[PATH_SEGS];
	unsigned depth;
	vec kvs, vals, events, links, points, exemplars, u64s, dbls, quantiles;
	/* Recently interned strings, direct-mapped by a cheap hash of their ends: keys and
	 * names repeat from record to record, and a hit costs one memcmp instead of a full
	 * hash and a probe of the batch's (large, cold) intern table. */
	struct {
		const char *s;
		size_t len; /* 0: empty slot */
		uint64_t head, tail;
	} icache[ICACHE_SLOTS];
} rd;

static __attribute__((noinline)) void *vec_grow(vec *v, size_t size)
{
	size_t ncap = v->cap ? v->cap * 2 : 16;
	if (ncap > SIZE_MAX / size)
		return NULL;
	char *p = realloc(v->p, ncap * size);
	if (!p)
		return NULL;
	v->p = p;
	v->cap = ncap;
	return v->p + v->n++ * size;
}

static inline void *vec_push(vec *v, size_t size)
{
	if (v->n < v->cap)
		return v->p + v->n++ * size;
	return vec_grow(v, size);
}

#define PUSH(c, v, type) ((type *)vec_push(&(c)->v, sizeof(type)))

static inline void enter(rd *c, const char *name, size_t idx)
{
	if (c->depth < PATH_SEGS) {
		c->path[c->depth].name = name;
		c->path[c->depth].idx = idx;
	}
	c->depth++;
}

static inline void leave(rd *c)
{
	c->depth--;
}

/* Fills c->err with the current path plus leaf, and returns rc. */
static int fail_at(rd *c, int rc, size_t offset, const char *leaf, const char *msg)
{
	char field[sizeof(c->err->field)];
	size_t n = 0;
	field[0] = '\0';
	unsigned shown = c->depth < PATH_SEGS ? c->depth : PATH_SEGS;
	for (unsigned i = 0; i < shown && n < sizeof(field); i++) {
		const char *dot = i ? "." : "";
		int k;
		if (c->path[i].idx == NO_INDEX)
			k = snprintf(field + n, sizeof(field) - n, "%s%s", dot, c->path[i].name);
		else
			k = snprintf(field + n, sizeof(field) - n, "%s%s[%zu]", dot, c->path[i].name,
			             c->path[i].idx);
		n += k > 0 ? (size_t)k : 0;
	}
	if (c->depth > PATH_SEGS && n < sizeof(field))
		n += (size_t)snprintf(field + n, sizeof(field) - n, "...");
	if (leaf && n < sizeof(field))
		snprintf(field + n, sizeof(field) - n, "%s%s", n ? "." : "", leaf);
	sonde_wire_fail(c->err, offset, 0, field, "%s", msg);
	return rc;
}

/* Reports the failure recorded in reader r. */
static int pbfail(rd *c, const sonde_pb_reader *r, const char *leaf)
{
	const char *msg = r->err_msg ? r->err_msg : "malformed message";
	return fail_at(c, SONDE_EPARSE, r->err_offset, leaf, msg);
}

static int bad_type(rd *c, const sonde_pb_reader *r, uint32_t wt, uint32_t want, const char *leaf)
{
	static const char *const names[] = {"varint", "i64", "len", "sgroup", "egroup", "i32"};
	char msg[64];
	snprintf(msg, sizeof(msg), "expected wire type %s, got %s", names[want], names[wt]);
	return fail_at(c, SONDE_EPARSE, (size_t)(r->pos - r->base), leaf, msg);
}

static int bad_value(rd *c, const sonde_pb_reader *r, const uint8_t *at, const char *leaf, const char *msg)
{
	return fail_at(c, SONDE_EPARSE, (size_t)(at - r->base), leaf, msg);
}

#define TRY(x)                      \
	do {                        \
		int rc_ = (x);      \
		if (rc_ < 0)        \
			return rc_; \
	} while (0)
/* The failure paths return constants so that the compiler sees outputs are set on
 * success. */
#define PB(call, leaf)                       \
	do {                                 \
		if ((call) < 0) {            \
			pbfail(c, r, leaf);  \
			return SONDE_EPARSE; \
		}                            \
	} while (0)
#define WANT(want, leaf)                                \
	do {                                            \
		if (wt != (want)) {                     \
			bad_type(c, r, wt, want, leaf); \
			return SONDE_EPARSE;            \
		}                                       \
	} while (0)

/* Copies the elements pushed on v since start into the arena and pops them. */
static inline int take(rd *c, vec *v, size_t start, size_t size, void **items, uint32_t *count)
{
	size_t n = v->n - start;
	v->n = start;
	if (n == 0) {
		*items = NULL;
		*count = 0;
		return 0;
	}
	if (n > UINT32_MAX) {
		fail_at(c, SONDE_ELIMIT, 0, NULL, "more than 2^32-1 elements in one list");
		return SONDE_ELIMIT;
	}
	void *p = sonde_arena_memdup(&c->b->arena, v->p + start * size, n * size);
	if (!p)
		return -ENOMEM;
	*items = p;
	*count = (uint32_t)n;
	return 0;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Interns p[0..n) (n > 0). The cache key (n, head, tail) covers every byte of strings up
 * to 16 bytes, so those hit without a memcmp. */
static sonde_str intern(rd *c, const uint8_t *p, size_t n)
{
	uint64_t head, tail;
	if (n >= 8) {
		head = load64(p);
		tail = load64(p + n - 8);
	} else if (n >= 4) {
		head = load32(p) | load32(p + n - 4) << 32;
		tail = 0;
	} else {
		head = (uint64_t)p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16;
		tail = 0;
	}
	uint64_t h = (head ^ (tail * 0x9e3779b97f4a7c15ull) ^ n) * 0xff51afd7ed558ccdull;
	__typeof__(c->icache[0]) *e = &c->icache[(h >> 56) & (ICACHE_SLOTS - 1)];
	if (e->len == n && e->head == head && e->tail == tail &&
	    (n <= 16 || memcmp(e->s + 8, p + 8, n - 16) == 0))
		return (sonde_str){e->s, n};
	sonde_str s = sonde_batch_intern(c->b, (const char *)p, n);
	if (s.ptr) {
		e->s = s.ptr;
		e->len = n;
		e->head = head;
		e->tail = tail;
	}
	return s;
}

static inline int str_of(rd *c, const uint8_t *p, size_t n, bool do_intern, sonde_str *out)
{
	if (n == 0) {
		*out = (sonde_str){"", 0};
		return 0;
	}
	*out = do_intern ? intern(c, p, n) : sonde_batch_strdup(c->b, (const char *)p, n);
	return out->ptr ? 0 : -ENOMEM;
}

/* A string field: wire type check, bytes, copy. */
static inline int read_str(rd *c, sonde_pb_reader *r, uint32_t wt, bool do_intern, sonde_str *out,
                           const char *leaf)
{
	const uint8_t *p;
	size_t n;
	WANT(SONDE_PB_LEN, leaf);
	PB(sonde_pb_read_bytes(r, &p, &n), leaf);
	return str_of(c, p, n, do_intern, out);
}

/* A trace or span id: exactly want bytes, or empty for "absent" (all zero). */
static inline int read_id(rd *c, sonde_pb_reader *r, uint32_t wt, uint8_t *dst, size_t want, const char *leaf)
{
	const uint8_t *p;
	size_t n;
	WANT(SONDE_PB_LEN, leaf);
	const uint8_t *at = r->pos;
	PB(sonde_pb_read_bytes(r, &p, &n), leaf);
	if (n == want) {
		memcpy(dst, p, want);
	} else if (n == 0) {
		memset(dst, 0, want);
	} else {
		bad_value(c, r, at, leaf,
		          want == 16 ? "expected 16 bytes (or none)" : "expected 8 bytes (or none)");
		return SONDE_EPARSE;
	}
	return 0;
}

static inline int read_varint(rd *c, sonde_pb_reader *r, uint32_t wt, uint64_t *v, const char *leaf)
{
	WANT(SONDE_PB_VARINT, leaf);
	PB(sonde_pb_read_varint(r, v), leaf);
	return 0;
}

static inline int read_fixed64(rd *c, sonde_pb_reader *r, uint32_t wt, uint64_t *v, const char *leaf)
{
	WANT(SONDE_PB_I64, leaf);
	PB(sonde_pb_read_fixed64(r, v), leaf);
	return 0;
}

/* Counts were uint64 (varint) in early metrics.proto and are fixed64 now: take either. */
static int read_count(rd *c, sonde_pb_reader *r, uint32_t wt, uint64_t *v, const char *leaf)
{
	if (wt == SONDE_PB_VARINT)
		PB(sonde_pb_read_varint(r, v), leaf);
	else
		return read_fixed64(c, r, wt, v, leaf);
	return 0;
}

static inline int read_double(rd *c, sonde_pb_reader *r, uint32_t wt, double *v, const char *leaf)
{
	WANT(SONDE_PB_I64, leaf);
	PB(sonde_pb_read_double(r, v), leaf);
	return 0;
}

static inline int read_fixed32(rd *c, sonde_pb_reader *r, uint32_t wt, uint32_t *v, const char *leaf)
{
	WANT(SONDE_PB_I32, leaf);
	PB(sonde_pb_read_fixed32(r, v), leaf);
	return 0;
}

static inline int read_u32(rd *c, sonde_pb_reader *r, uint32_t wt, uint32_t *v, const char *leaf)
{
	uint64_t x;
	TRY(read_varint(c, r, wt, &x, leaf));
	*v = (uint32_t)x;
	return 0;
}

static inline int submsg(rd *c, sonde_pb_reader *r, uint32_t wt, sonde_pb_reader *sub, const char *leaf)
{
	WANT(SONDE_PB_LEN, leaf);
	PB(sonde_pb_read_submsg(r, sub), leaf);
	return 0;
}

static int skip(rd *c, sonde_pb_reader *r, uint32_t wt)
{
	PB(sonde_pb_skip(r, wt), NULL);
	return 0;
}

/* ---- common.proto ------------------------------------------------------------------ */

static int read_kv(rd *c, sonde_pb_reader *r, sonde_kv *kv, unsigned depth);

static int read_value(rd *c, sonde_pb_reader *r, sonde_value *v, unsigned depth)
{
	if (depth > SONDE_OTLP_PB_MAX_VALUE_DEPTH)
		return fail_at(c, SONDE_ELIMIT, (size_t)(r->pos - r->base), NULL,
		               "values nested deeper than 64 levels");
	uint32_t f, wt;
	int rc;
	const uint8_t *p;
	size_t n;
	uint64_t x;
	sonde_pb_reader sub;
	v->kind = SONDE_VAL_EMPTY;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: /* string_value */
			WANT(SONDE_PB_LEN, "string_value");
			PB(sonde_pb_read_bytes(r, &p, &n), "string_value");
			v->kind = SONDE_VAL_STRING;
			TRY(str_of(c, p, n, n <= INTERN_VALUE_MAX, &v->u.str));
			break;
		case 2: /* bool_value */
			TRY(read_varint(c, r, wt, &x, "bool_value"));
			v->kind = SONDE_VAL_BOOL;
			v->u.b = x != 0;
			break;
		case 3: /* int_value */
			TRY(read_varint(c, r, wt, &x, "int_value"));
			v->kind = SONDE_VAL_INT;
			v->u.i = (int64_t)x;
			break;
		case 4: /* double_value */
			TRY(read_double(c, r, wt, &v->u.d, "double_value"));
			v->kind = SONDE_VAL_DOUBLE;
			break;
		case 5: { /* array_value: ArrayValue { repeated AnyValue values = 1; } */
			TRY(submsg(c, r, wt, &sub, "array_value"));
			size_t start = c->vals.n;
			uint32_t g, gwt;
			while ((rc = sonde_pb_next_field(&sub, &g, &gwt)) > 0) {
				if (g != 1) {
					TRY(skip(c, &sub, gwt));
					continue;
				}
				sonde_pb_reader el;
				sonde_value item;
				enter(c, "array_value", c->vals.n - start);
				TRY(submsg(c, &sub, gwt, &el, NULL));
				TRY(read_value(c, &el, &item, depth + 1));
				leave(c);
				sonde_value *slot = PUSH(c, vals, sonde_value);
				if (!slot)
					return -ENOMEM;
				*slot = item;
			}
			if (rc < 0)
				return pbfail(c, &sub, "array_value");
			void *items;
			uint32_t count;
			TRY(take(c, &c->vals, start, sizeof(sonde_value), &items, &count));
			v->kind = SONDE_VAL_ARRAY;
			v->u.array.items = items;
			v->u.array.count = count;
			break;
		}
		case 6: { /* kvlist_value: KeyValueList { repeated KeyValue values = 1; } */
			TRY(submsg(c, r, wt, &sub, "kvlist_value"));
			size_t start = c->kvs.n;
			uint32_t g, gwt;
			while ((rc = sonde_pb_next_field(&sub, &g, &gwt)) > 0) {
				if (g != 1) {
					TRY(skip(c, &sub, gwt));
					continue;
				}
				sonde_pb_reader el;
				sonde_kv kv;
				enter(c, "kvlist_value", c->kvs.n - start);
				TRY(submsg(c, &sub, gwt, &el, NULL));
				TRY(read_kv(c, &el, &kv, depth + 1));
				leave(c);
				sonde_kv *slot = PUSH(c, kvs, sonde_kv);
				if (!slot)
					return -ENOMEM;
				*slot = kv;
			}
			if (rc < 0)
				return pbfail(c, &sub, "kvlist_value");
			void *items;
			uint32_t count;
			TRY(take(c, &c->kvs, start, sizeof(sonde_kv), &items, &count));
			v->kind = SONDE_VAL_KVLIST;
			v->u.kvlist.items = items;
			v->u.kvlist.count = count;
			break;
		}
		case 7: /* bytes_value */
			WANT(SONDE_PB_LEN, "bytes_value");
			PB(sonde_pb_read_bytes(r, &p, &n), "bytes_value");
			v->kind = SONDE_VAL_BYTES;
			TRY(str_of(c, p, n, false, &v->u.str));
			break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return 0;
}

/* KeyValue { string key = 1; AnyValue value = 2; }; depth is the value's depth. */
static int read_kv(rd *c, sonde_pb_reader *r, sonde_kv *kv, unsigned depth)
{
	uint32_t f, wt;
	int rc;
	sonde_pb_reader sub;
	kv->key = (sonde_str){"", 0};
	kv->value.kind = SONDE_VAL_EMPTY;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1) {
			TRY(read_str(c, r, wt, true, &kv->key, "key"));
		} else if (f == 2) {
			TRY(submsg(c, r, wt, &sub, "value"));
			enter(c, "value", NO_INDEX);
			TRY(read_value(c, &sub, &kv->value, depth));
			leave(c);
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return 0;
}

/* One occurrence of a `repeated KeyValue name` field: reads it and pushes it on kvs.
 * start is where the list began on the stack (for the index in errors). */
static inline int push_attr(rd *c, sonde_pb_reader *r, uint32_t wt, size_t start, const char *name)
{
	sonde_pb_reader sub;
	sonde_kv kv;
	TRY(submsg(c, r, wt, &sub, name));
	enter(c, name, c->kvs.n - start);
	TRY(read_kv(c, &sub, &kv, 1));
	leave(c);
	sonde_kv *slot = PUSH(c, kvs, sonde_kv);
	if (!slot)
		return -ENOMEM;
	*slot = kv;
	return 0;
}

static inline int take_attrs(rd *c, size_t start, sonde_attrs *out)
{
	void *items;
	TRY(take(c, &c->kvs, start, sizeof(sonde_kv), &items, &out->count));
	out->items = items;
	return 0;
}

/* Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; } */
static int read_resource(rd *c, sonde_pb_reader *r, sonde_resource *res)
{
	uint32_t f, wt;
	int rc;
	size_t k0 = c->kvs.n;
	res->dropped_attrs_count = 0;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1)
			TRY(push_attr(c, r, wt, k0, "attributes"));
		else if (f == 2)
			TRY(read_u32(c, r, wt, &res->dropped_attrs_count, DROPPED_ATTRS));
		else
			TRY(skip(c, r, wt));
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &res->attrs);
}

/* InstrumentationScope { name = 1; version = 2; attributes = 3; dropped_attributes_count = 4; } */
static int read_scope(rd *c, sonde_pb_reader *r, sonde_scope *sc)
{
	uint32_t f, wt;
	int rc;
	size_t k0 = c->kvs.n;
	sc->name = sc->version = (sonde_str){"", 0};
	sc->dropped_attrs_count = 0;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: TRY(read_str(c, r, wt, true, &sc->name, "name")); break;
		case 2: TRY(read_str(c, r, wt, true, &sc->version, "version")); break;
		case 3: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 4: TRY(read_u32(c, r, wt, &sc->dropped_attrs_count, DROPPED_ATTRS)); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &sc->attrs);
}

/* ---- trace.proto ------------------------------------------------------------------- */

/* Span.Event { fixed64 time_unix_nano = 1; name = 2; attributes = 3; dropped = 4; } */
static int read_event(rd *c, sonde_pb_reader *r, sonde_span_event *ev)
{
	uint32_t f, wt;
	int rc;
	size_t k0 = c->kvs.n;
	memset(ev, 0, sizeof(*ev));
	ev->name = (sonde_str){"", 0};
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: TRY(read_fixed64(c, r, wt, &ev->time_ns, "time_unix_nano")); break;
		case 2: TRY(read_str(c, r, wt, true, &ev->name, "name")); break;
		case 3: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 4: TRY(read_u32(c, r, wt, &ev->dropped_attrs_count, DROPPED_ATTRS)); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &ev->attrs);
}

/* Span.Link { trace_id = 1; span_id = 2; trace_state = 3; attributes = 4;
 * dropped_attributes_count = 5; fixed32 flags = 6; } */
static int read_link(rd *c, sonde_pb_reader *r, sonde_span_link *ln)
{
	uint32_t f, wt;
	int rc;
	size_t k0 = c->kvs.n;
	memset(ln, 0, sizeof(*ln));
	ln->trace_state = (sonde_str){"", 0};
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: TRY(read_id(c, r, wt, ln->trace_id, 16, "trace_id")); break;
		case 2: TRY(read_id(c, r, wt, ln->span_id, 8, "span_id")); break;
		case 3: TRY(read_str(c, r, wt, true, &ln->trace_state, "trace_state")); break;
		case 4: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 5: TRY(read_u32(c, r, wt, &ln->dropped_attrs_count, DROPPED_ATTRS)); break;
		case 6: TRY(read_fixed32(c, r, wt, &ln->flags, "flags")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &ln->attrs);
}

/* Status { string message = 2; StatusCode code = 3; } */
static int read_status(rd *c, sonde_pb_reader *r, sonde_span_data *s)
{
	uint32_t f, wt;
	int rc;
	uint64_t x;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 2) {
			TRY(read_str(c, r, wt, false, &s->status_message, "message"));
		} else if (f == 3) {
			const uint8_t *at = r->pos;
			TRY(read_varint(c, r, wt, &x, "code"));
			if (x > SONDE_STATUS_ERROR)
				return bad_value(c, r, at, "code", "expected a status code 0-2");
			s->status_code = (sonde_status_code)x;
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return 0;
}

static int read_span(rd *c, sonde_pb_reader *r, const sonde_resource *res, const sonde_scope *sc)
{
	sonde_span_data *s = sonde_batch_add_span(c->b, res, sc);
	if (!s)
		return -ENOMEM;
	uint32_t f, wt;
	int rc;
	uint64_t x;
	sonde_pb_reader sub;
	size_t k0 = c->kvs.n, e0 = c->events.n, l0 = c->links.n;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: TRY(read_id(c, r, wt, s->trace_id, 16, "trace_id")); break;
		case 2: TRY(read_id(c, r, wt, s->span_id, 8, "span_id")); break;
		case 3: TRY(read_str(c, r, wt, true, &s->trace_state, "trace_state")); break;
		case 4: TRY(read_id(c, r, wt, s->parent_span_id, 8, "parent_span_id")); break;
		case 5: TRY(read_str(c, r, wt, true, &s->name, "name")); break;
		case 6: {
			const uint8_t *at = r->pos;
			TRY(read_varint(c, r, wt, &x, "kind"));
			if (x > SONDE_SPAN_KIND_CONSUMER)
				return bad_value(c, r, at, "kind", "expected a span kind 0-5");
			s->kind = (sonde_span_kind)x;
			break;
		}
		case 7: TRY(read_fixed64(c, r, wt, &s->start_ns, "start_time_unix_nano")); break;
		case 8: TRY(read_fixed64(c, r, wt, &s->end_ns, "end_time_unix_nano")); break;
		case 9: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 10: TRY(read_u32(c, r, wt, &s->dropped_attrs_count, DROPPED_ATTRS)); break;
		case 11: {
			sonde_span_event ev;
			TRY(submsg(c, r, wt, &sub, "events"));
			enter(c, "events", c->events.n - e0);
			TRY(read_event(c, &sub, &ev));
			leave(c);
			sonde_span_event *slot = PUSH(c, events, sonde_span_event);
			if (!slot)
				return -ENOMEM;
			*slot = ev;
			break;
		}
		case 12: TRY(read_u32(c, r, wt, &s->dropped_events_count, "dropped_events_count")); break;
		case 13: {
			sonde_span_link ln;
			TRY(submsg(c, r, wt, &sub, "links"));
			enter(c, "links", c->links.n - l0);
			TRY(read_link(c, &sub, &ln));
			leave(c);
			sonde_span_link *slot = PUSH(c, links, sonde_span_link);
			if (!slot)
				return -ENOMEM;
			*slot = ln;
			break;
		}
		case 14: TRY(read_u32(c, r, wt, &s->dropped_links_count, "dropped_links_count")); break;
		case 15:
			TRY(submsg(c, r, wt, &sub, "status"));
			enter(c, "status", NO_INDEX);
			TRY(read_status(c, &sub, s));
			leave(c);
			break;
		case 16: TRY(read_fixed32(c, r, wt, &s->flags, "flags")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	void *items;
	TRY(take_attrs(c, k0, &s->attrs));
	TRY(take(c, &c->events, e0, sizeof(sonde_span_event), &items, &s->events_count));
	s->events = items;
	TRY(take(c, &c->links, l0, sizeof(sonde_span_link), &items, &s->links_count));
	s->links = items;
	return 0;
}

/* ---- logs.proto -------------------------------------------------------------------- */

static int read_log(rd *c, sonde_pb_reader *r, const sonde_resource *res, const sonde_scope *sc)
{
	sonde_log_data *l = sonde_batch_add_log(c->b, res, sc);
	if (!l)
		return -ENOMEM;
	uint32_t f, wt;
	int rc;
	uint64_t x;
	sonde_pb_reader sub;
	size_t k0 = c->kvs.n;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: TRY(read_fixed64(c, r, wt, &l->time_ns, "time_unix_nano")); break;
		case 2:
			TRY(read_varint(c, r, wt, &x, "severity_number"));
			l->severity_number = (int32_t)(uint32_t)x;
			break;
		case 3: TRY(read_str(c, r, wt, true, &l->severity_text, "severity_text")); break;
		case 5:
			TRY(submsg(c, r, wt, &sub, "body"));
			enter(c, "body", NO_INDEX);
			TRY(read_value(c, &sub, &l->body, 1));
			leave(c);
			break;
		case 6: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 7: TRY(read_u32(c, r, wt, &l->dropped_attrs_count, DROPPED_ATTRS)); break;
		case 8: TRY(read_fixed32(c, r, wt, &l->flags, "flags")); break;
		case 9: TRY(read_id(c, r, wt, l->trace_id, 16, "trace_id")); break;
		case 10: TRY(read_id(c, r, wt, l->span_id, 8, "span_id")); break;
		case 11: TRY(read_fixed64(c, r, wt, &l->observed_time_ns, "observed_time_unix_nano")); break;
		case 12: TRY(read_str(c, r, wt, true, &l->event_name, "event_name")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &l->attrs);
}

/* ---- metrics.proto ----------------------------------------------------------------- */

/* Exemplar { filtered_attributes = 7; fixed64 time_unix_nano = 2; oneof { double as_double
 * = 3; sfixed64 as_int = 6; } bytes span_id = 4; bytes trace_id = 5; } */
static int read_exemplar(rd *c, sonde_pb_reader *r, sonde_exemplar *ex)
{
	uint32_t f, wt;
	int rc;
	uint64_t x;
	size_t k0 = c->kvs.n;
	memset(ex, 0, sizeof(*ex));
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 2: TRY(read_fixed64(c, r, wt, &ex->time_ns, "time_unix_nano")); break;
		case 3:
			TRY(read_double(c, r, wt, &ex->value.d, "as_double"));
			ex->value_kind = SONDE_NUM_DOUBLE;
			break;
		case 4: TRY(read_id(c, r, wt, ex->span_id, 8, "span_id")); break;
		case 5: TRY(read_id(c, r, wt, ex->trace_id, 16, "trace_id")); break;
		case 6:
			TRY(read_fixed64(c, r, wt, &x, "as_int"));
			ex->value_kind = SONDE_NUM_INT;
			ex->value.i = (int64_t)x;
			break;
		case 7: TRY(push_attr(c, r, wt, k0, "filtered_attributes")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &ex->filtered_attrs);
}

static int push_exemplar(rd *c, sonde_pb_reader *r, uint32_t wt, size_t start)
{
	sonde_pb_reader sub;
	sonde_exemplar ex;
	TRY(submsg(c, r, wt, &sub, "exemplars"));
	enter(c, "exemplars", c->exemplars.n - start);
	TRY(read_exemplar(c, &sub, &ex));
	leave(c);
	sonde_exemplar *slot = PUSH(c, exemplars, sonde_exemplar);
	if (!slot)
		return -ENOMEM;
	*slot = ex;
	return 0;
}

/* Stores 8 little-endian bytes in a uint64_t or double slot. */
static void store64(void *slot, const uint8_t *p, bool dbl)
{
	uint64_t bits = sonde_pb_load_le64(p);
	if (dbl) {
		double d;
		memcpy(&d, &bits, sizeof(d));
		*(double *)slot = d;
	} else {
		*(uint64_t *)slot = bits;
	}
}

/* repeated fixed64 / double (dbl): packed (one LEN field) or one I64 field per element. */
static int push_fixed64s(rd *c, sonde_pb_reader *r, uint32_t wt, vec *v, bool dbl, const char *leaf)
{
	const uint8_t *p;
	size_t n;
	if (wt == SONDE_PB_I64) {
		p = r->pos;
		PB(sonde_pb_skip(r, wt), leaf);
		n = 8;
	} else {
		WANT(SONDE_PB_LEN, leaf);
		const uint8_t *at = r->pos;
		PB(sonde_pb_read_bytes(r, &p, &n), leaf);
		if (n % 8) {
			bad_value(c, r, at, leaf, "packed length is not a multiple of 8");
			return SONDE_EPARSE;
		}
	}
	for (size_t i = 0; i < n; i += 8) {
		void *slot = vec_push(v, 8);
		if (!slot)
			return -ENOMEM;
		store64(slot, p + i, dbl);
	}
	return 0;
}

/* repeated uint64 (varint): packed or not. */
static int push_varints(rd *c, sonde_pb_reader *r, uint32_t wt, vec *v, const char *leaf)
{
	if (wt == SONDE_PB_VARINT) {
		uint64_t *slot = vec_push(v, sizeof(uint64_t));
		if (!slot)
			return -ENOMEM;
		PB(sonde_pb_read_varint(r, slot), leaf);
		return 0;
	}
	sonde_pb_reader sub;
	TRY(submsg(c, r, wt, &sub, leaf));
	while (sub.pos < sub.end) {
		uint64_t *slot = vec_push(v, sizeof(uint64_t));
		if (!slot)
			return -ENOMEM;
		if (sonde_pb_read_varint(&sub, slot) < 0) {
			pbfail(c, &sub, leaf);
			return SONDE_EPARSE;
		}
	}
	return 0;
}

static int read_temporality(rd *c, sonde_pb_reader *r, uint32_t wt, sonde_metric_data *m)
{
	const uint8_t *at = r->pos;
	uint64_t x;
	TRY(read_varint(c, r, wt, &x, "aggregation_temporality"));
	if (x > SONDE_TEMPORALITY_CUMULATIVE)
		return bad_value(c, r, at, "aggregation_temporality", "expected a temporality 0-2");
	m->temporality = (sonde_temporality)x;
	return 0;
}

/* NumberDataPoint { attributes = 7; start = 2; time = 3; oneof { double as_double = 4;
 * sfixed64 as_int = 6; } exemplars = 5; uint32 flags = 8; } */
static int read_number_point(rd *c, sonde_pb_reader *r, sonde_point *pt)
{
	uint32_t f, wt;
	int rc;
	uint64_t x;
	size_t k0 = c->kvs.n, x0 = c->exemplars.n;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 2: TRY(read_fixed64(c, r, wt, &pt->start_time_ns, "start_time_unix_nano")); break;
		case 3: TRY(read_fixed64(c, r, wt, &pt->time_ns, "time_unix_nano")); break;
		case 4:
			TRY(read_double(c, r, wt, &pt->u.number.v.d, "as_double"));
			pt->u.number.kind = SONDE_NUM_DOUBLE;
			break;
		case 5: TRY(push_exemplar(c, r, wt, x0)); break;
		case 6:
			TRY(read_fixed64(c, r, wt, &x, "as_int"));
			pt->u.number.kind = SONDE_NUM_INT;
			pt->u.number.v.i = (int64_t)x;
			break;
		case 7: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 8: TRY(read_u32(c, r, wt, &pt->flags, "flags")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &pt->attrs);
}

/* HistogramDataPoint { attributes = 9; start = 2; time = 3; fixed64 count = 4; optional
 * double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
 * exemplars = 8; uint32 flags = 10; optional double min = 11; optional double max = 12; } */
static int read_hist_point(rd *c, sonde_pb_reader *r, sonde_point *pt)
{
	uint32_t f, wt;
	int rc;
	size_t k0 = c->kvs.n, x0 = c->exemplars.n, u0 = c->u64s.n, d0 = c->dbls.n;
	__typeof__(pt->u.hist) *h = &pt->u.hist;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 2: TRY(read_fixed64(c, r, wt, &pt->start_time_ns, "start_time_unix_nano")); break;
		case 3: TRY(read_fixed64(c, r, wt, &pt->time_ns, "time_unix_nano")); break;
		case 4: TRY(read_count(c, r, wt, &h->count, "count")); break;
		case 5:
			TRY(read_double(c, r, wt, &h->sum, "sum"));
			h->has_sum = true;
			break;
		case 6: TRY(push_fixed64s(c, r, wt, &c->u64s, false, "bucket_counts")); break;
		case 7: TRY(push_fixed64s(c, r, wt, &c->dbls, true, "explicit_bounds")); break;
		case 8: TRY(push_exemplar(c, r, wt, x0)); break;
		case 9: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 10: TRY(read_u32(c, r, wt, &pt->flags, "flags")); break;
		case 11:
			TRY(read_double(c, r, wt, &h->min, "min"));
			h->has_min = true;
			break;
		case 12:
			TRY(read_double(c, r, wt, &h->max, "max"));
			h->has_max = true;
			break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	void *items;
	TRY(take(c, &c->u64s, u0, sizeof(uint64_t), &items, &h->bucket_counts_count));
	h->bucket_counts = items;
	TRY(take(c, &c->dbls, d0, sizeof(double), &items, &h->bounds_count));
	h->bounds = items;
	return take_attrs(c, k0, &pt->attrs);
}

/* ExponentialHistogramDataPoint.Buckets { sint32 offset = 1;
 * repeated uint64 bucket_counts = 2; } */
static int read_buckets(rd *c, sonde_pb_reader *r, sonde_exp_buckets *bk)
{
	uint32_t f, wt;
	int rc;
	uint64_t x;
	size_t u0 = c->u64s.n;
	bk->offset = 0;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1) {
			TRY(read_varint(c, r, wt, &x, "offset"));
			bk->offset = sonde_pb_unzigzag32(x);
		} else if (f == 2) {
			TRY(push_varints(c, r, wt, &c->u64s, "bucket_counts"));
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	void *items;
	TRY(take(c, &c->u64s, u0, sizeof(uint64_t), &items, &bk->count));
	bk->counts = items;
	return 0;
}

/* ExponentialHistogramDataPoint { attributes = 1; start = 2; time = 3; fixed64 count = 4;
 * optional double sum = 5; sint32 scale = 6; fixed64 zero_count = 7; Buckets positive = 8;
 * Buckets negative = 9; uint32 flags = 10; exemplars = 11; optional double min = 12;
 * optional double max = 13; double zero_threshold = 14; } */
static int read_exp_point(rd *c, sonde_pb_reader *r, sonde_point *pt)
{
	uint32_t f, wt;
	int rc;
	uint64_t x;
	sonde_pb_reader sub;
	size_t k0 = c->kvs.n, x0 = c->exemplars.n;
	__typeof__(pt->u.exp) *e = &pt->u.exp;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 1: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 2: TRY(read_fixed64(c, r, wt, &pt->start_time_ns, "start_time_unix_nano")); break;
		case 3: TRY(read_fixed64(c, r, wt, &pt->time_ns, "time_unix_nano")); break;
		case 4: TRY(read_count(c, r, wt, &e->count, "count")); break;
		case 5:
			TRY(read_double(c, r, wt, &e->sum, "sum"));
			e->has_sum = true;
			break;
		case 6:
			TRY(read_varint(c, r, wt, &x, "scale"));
			e->scale = sonde_pb_unzigzag32(x);
			break;
		case 7: TRY(read_count(c, r, wt, &e->zero_count, "zero_count")); break;
		case 8:
		case 9:
			TRY(submsg(c, r, wt, &sub, f == 8 ? "positive" : "negative"));
			enter(c, f == 8 ? "positive" : "negative", NO_INDEX);
			TRY(read_buckets(c, &sub, f == 8 ? &e->positive : &e->negative));
			leave(c);
			break;
		case 10: TRY(read_u32(c, r, wt, &pt->flags, "flags")); break;
		case 11: TRY(push_exemplar(c, r, wt, x0)); break;
		case 12:
			TRY(read_double(c, r, wt, &e->min, "min"));
			e->has_min = true;
			break;
		case 13:
			TRY(read_double(c, r, wt, &e->max, "max"));
			e->has_max = true;
			break;
		case 14: TRY(read_double(c, r, wt, &e->zero_threshold, "zero_threshold")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &pt->attrs);
}

/* SummaryDataPoint { attributes = 7; start = 2; time = 3; fixed64 count = 4; double sum = 5;
 * repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8; }
 * ValueAtQuantile { double quantile = 1; double value = 2; } */
static int read_summary_point(rd *c, sonde_pb_reader *r, sonde_point *pt)
{
	uint32_t f, wt;
	int rc;
	sonde_pb_reader sub;
	size_t k0 = c->kvs.n, q0 = c->quantiles.n;
	__typeof__(pt->u.summary) *s = &pt->u.summary;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		switch (f) {
		case 2: TRY(read_fixed64(c, r, wt, &pt->start_time_ns, "start_time_unix_nano")); break;
		case 3: TRY(read_fixed64(c, r, wt, &pt->time_ns, "time_unix_nano")); break;
		case 4: TRY(read_count(c, r, wt, &s->count, "count")); break;
		case 5: TRY(read_double(c, r, wt, &s->sum, "sum")); break;
		case 6: {
			sonde_quantile q = {0, 0};
			uint32_t g, gwt;
			TRY(submsg(c, r, wt, &sub, "quantile_values"));
			enter(c, "quantile_values", c->quantiles.n - q0);
			while ((rc = sonde_pb_next_field(&sub, &g, &gwt)) > 0) {
				if (g == 1)
					TRY(read_double(c, &sub, gwt, &q.quantile, "quantile"));
				else if (g == 2)
					TRY(read_double(c, &sub, gwt, &q.value, "value"));
				else
					TRY(skip(c, &sub, gwt));
			}
			if (rc < 0)
				return pbfail(c, &sub, NULL);
			leave(c);
			sonde_quantile *slot = PUSH(c, quantiles, sonde_quantile);
			if (!slot)
				return -ENOMEM;
			*slot = q;
			break;
		}
		case 7: TRY(push_attr(c, r, wt, k0, "attributes")); break;
		case 8: TRY(read_u32(c, r, wt, &pt->flags, "flags")); break;
		default: TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	void *items;
	TRY(take(c, &c->quantiles, q0, sizeof(sonde_quantile), &items, &s->quantiles_count));
	s->quantiles = items;
	return take_attrs(c, k0, &pt->attrs);
}

/* Gauge / Sum / Histogram / ExponentialHistogram / Summary: { repeated points = 1;
 * aggregation_temporality = 2 (not Gauge, Summary); bool is_monotonic = 3 (Sum); }
 * A oneof: a later data field replaces an earlier one. */
static int read_data(rd *c, sonde_pb_reader *r, sonde_metric_data *m, sonde_metric_type type)
{
	uint32_t f, wt;
	int rc;
	uint64_t x;
	sonde_pb_reader sub;
	size_t p0 = c->points.n;
	m->type = type;
	m->temporality = SONDE_TEMPORALITY_UNSPECIFIED;
	m->is_monotonic = false;
	bool has_temporality = type == SONDE_METRIC_SUM || type == SONDE_METRIC_HISTOGRAM ||
	                       type == SONDE_METRIC_EXP_HISTOGRAM;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1) {
			sonde_point pt;
			memset(&pt, 0, sizeof(pt));
			size_t x0 = c->exemplars.n;
			TRY(submsg(c, r, wt, &sub, "data_points"));
			enter(c, "data_points", c->points.n - p0);
			switch (type) {
			case SONDE_METRIC_HISTOGRAM: TRY(read_hist_point(c, &sub, &pt)); break;
			case SONDE_METRIC_EXP_HISTOGRAM: TRY(read_exp_point(c, &sub, &pt)); break;
			case SONDE_METRIC_SUMMARY: TRY(read_summary_point(c, &sub, &pt)); break;
			default: TRY(read_number_point(c, &sub, &pt)); break;
			}
			leave(c);
			void *items;
			TRY(take(c, &c->exemplars, x0, sizeof(sonde_exemplar), &items, &pt.exemplars_count));
			pt.exemplars = items;
			sonde_point *slot = PUSH(c, points, sonde_point);
			if (!slot)
				return -ENOMEM;
			*slot = pt;
		} else if (f == 2 && has_temporality) {
			TRY(read_temporality(c, r, wt, m));
		} else if (f == 3 && type == SONDE_METRIC_SUM) {
			TRY(read_varint(c, r, wt, &x, "is_monotonic"));
			m->is_monotonic = x != 0;
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	void *items;
	TRY(take(c, &c->points, p0, sizeof(sonde_point), &items, &m->points_count));
	m->points = items;
	return 0;
}

/* Metric { name = 1; description = 2; unit = 3; oneof data { Gauge gauge = 5; Sum sum = 7;
 * Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10;
 * Summary summary = 11; } repeated KeyValue metadata = 12; } */
static int read_metric(rd *c, sonde_pb_reader *r, const sonde_resource *res, const sonde_scope *sc)
{
	sonde_metric_data *m = sonde_batch_add_metric(c->b, res, sc);
	if (!m)
		return -ENOMEM;
	uint32_t f, wt;
	int rc;
	sonde_pb_reader sub;
	size_t k0 = c->kvs.n;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		sonde_metric_type type = SONDE_METRIC_NONE;
		const char *name = NULL;
		switch (f) {
		case 1: TRY(read_str(c, r, wt, true, &m->name, "name")); continue;
		case 2: TRY(read_str(c, r, wt, true, &m->description, "description")); continue;
		case 3: TRY(read_str(c, r, wt, true, &m->unit, "unit")); continue;
		case 5:
			type = SONDE_METRIC_GAUGE;
			name = "gauge";
			break;
		case 7:
			type = SONDE_METRIC_SUM;
			name = "sum";
			break;
		case 9:
			type = SONDE_METRIC_HISTOGRAM;
			name = "histogram";
			break;
		case 10:
			type = SONDE_METRIC_EXP_HISTOGRAM;
			name = "exponential_histogram";
			break;
		case 11:
			type = SONDE_METRIC_SUMMARY;
			name = "summary";
			break;
		case 12: TRY(push_attr(c, r, wt, k0, "metadata")); continue;
		default: TRY(skip(c, r, wt)); continue;
		}
		TRY(submsg(c, r, wt, &sub, name));
		enter(c, name, NO_INDEX);
		TRY(read_data(c, &sub, m, type));
		leave(c);
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return take_attrs(c, k0, &m->metadata);
}

/* ---- Envelopes --------------------------------------------------------------------- */

static const char *const resource_x[] = {"resource_spans", "resource_metrics", "resource_logs"};
static const char *const scope_x[] = {"scope_spans", "scope_metrics", "scope_logs"};
static const char *const records_x[] = {"spans", "metrics", "log_records"};

/* ScopeX { InstrumentationScope scope = 1; repeated X records = 2; string schema_url = 3; } */
static int read_scope_x(rd *c, sonde_pb_reader *r, const sonde_resource *res)
{
	sonde_scope *sc = sonde_batch_new_scope(c->b);
	if (!sc)
		return -ENOMEM;
	uint32_t f, wt;
	int rc;
	sonde_pb_reader sub;
	size_t k = 0;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1) {
			TRY(submsg(c, r, wt, &sub, "scope"));
			enter(c, "scope", NO_INDEX);
			TRY(read_scope(c, &sub, sc));
			leave(c);
		} else if (f == 2) {
			TRY(submsg(c, r, wt, &sub, records_x[c->sig]));
			enter(c, records_x[c->sig], k++);
			switch (c->sig) {
			case SONDE_SIGNAL_TRACES: TRY(read_span(c, &sub, res, sc)); break;
			case SONDE_SIGNAL_METRICS: TRY(read_metric(c, &sub, res, sc)); break;
			case SONDE_SIGNAL_LOGS: TRY(read_log(c, &sub, res, sc)); break;
			}
			leave(c);
		} else if (f == 3) {
			TRY(read_str(c, r, wt, true, &sc->schema_url, "schema_url"));
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return 0;
}

/* ResourceX { Resource resource = 1; repeated ScopeX scope_x = 2; string schema_url = 3; } */
static int read_resource_x(rd *c, sonde_pb_reader *r)
{
	sonde_resource *res = sonde_batch_new_resource(c->b);
	if (!res)
		return -ENOMEM;
	uint32_t f, wt;
	int rc;
	sonde_pb_reader sub;
	size_t k = 0;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1) {
			TRY(submsg(c, r, wt, &sub, "resource"));
			enter(c, "resource", NO_INDEX);
			TRY(read_resource(c, &sub, res));
			leave(c);
		} else if (f == 2) {
			TRY(submsg(c, r, wt, &sub, scope_x[c->sig]));
			enter(c, scope_x[c->sig], k++);
			TRY(read_scope_x(c, &sub, res));
			leave(c);
		} else if (f == 3) {
			TRY(read_str(c, r, wt, true, &res->schema_url, "schema_url"));
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return 0;
}

static int read_request(rd *c, sonde_pb_reader *r)
{
	uint32_t f, wt;
	int rc;
	sonde_pb_reader sub;
	size_t k = 0;
	while ((rc = sonde_pb_next_field(r, &f, &wt)) > 0) {
		if (f == 1) {
			TRY(submsg(c, r, wt, &sub, resource_x[c->sig]));
			enter(c, resource_x[c->sig], k++);
			TRY(read_resource_x(c, &sub));
			leave(c);
		} else {
			TRY(skip(c, r, wt));
		}
	}
	if (rc < 0)
		return pbfail(c, r, NULL);
	return 0;
}

int sonde_otlp_pb_read(sonde_batch *b, sonde_signal sig, const void *buf, size_t len, sonde_wire_error *err)
{
	if ((unsigned)sig > SONDE_SIGNAL_LOGS || (!buf && len))
		return -EINVAL;
	size_t spans = b->spans_count, logs = b->logs_count, metrics = b->metrics_count;
	rd c;
	memset(&c, 0, sizeof(c));
	c.b = b;
	c.err = err;
	c.sig = sig;
	sonde_pb_reader r;
	sonde_pb_reader_init(&r, buf, len);
	int rc = read_request(&c, &r);
	vec *vecs[] = {&c.kvs,       &c.vals, &c.events, &c.links,    &c.points,
	               &c.exemplars, &c.u64s, &c.dbls,   &c.quantiles};
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		free(vecs[i]->p);
	if (rc < 0) {
		b->spans_count = spans;
		b->logs_count = logs;
		b->metrics_count = metrics;
		return rc;
	}
	return 0;
}
