/*
 * chrome_trace_read.c - Trace Event Format events into spans (see chrome_trace.h).
 *
 * One pass reads the events into cspans: X, B/E and b/e become spans (begin and end
 * matched with a stack per thread and a table of open async events), instants become
 * candidates for span events. After the last event the spans of each thread or async
 * track are sorted by time and swept with a stack, which gives every span its parent and
 * every instant the innermost span it falls in; then ids are derived and the spans are
 * added to the batch in input order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrome_trace.h"
#include "hash.h"
#include "hex.h"
#include "json.h"
#include "sonde/status.h"
#include "trace_json_util_internal.h"

/* Flattened keys stop growing here: an object that would need a longer prefix is kept
 * whole as JSON text, so that deep nesting cannot multiply the input's size. */
enum { MAX_PREFIX = 64 };

/* A pid, tid or async id: the format allows numbers and strings. */
typedef struct ident {
	bool is_str;
	int64_t i;
	sonde_str s; /* interned */
} ident;

typedef struct proc {
	ident pid;
	sonde_str name; /* from process_name; empty when none */
	const sonde_resource *res;
} proc;

typedef struct thread {
	ident tid;
	uint32_t proc;
	uint32_t track;
	sonde_str name; /* from thread_name */
	int32_t open;   /* innermost B not yet ended, or -1 */
} thread;

typedef struct async_track {
	bool global; /* id2.global: not scoped to the process */
	uint32_t proc;
	const char *cat; /* interned */
	ident id;
	uint32_t track;
} async_track;

typedef struct async_open {
	uint32_t track;
	const char *name; /* interned */
	int32_t top;      /* innermost begin not yet ended, or -1 */
} async_open;

typedef struct cspan {
	uint64_t start, end;
	sonde_str name, cat;
	uint32_t thread, track;
	int32_t parent;    /* index of the parent span, or -1 */
	int32_t next_open; /* the span below this one on its open stack */
	bool open, instant, absorbed;
	sonde_kv *args;
	uint32_t nargs;
	uint32_t events_n, events_fill;
	sonde_span_event *events;
	uint8_t id[8];
} cspan;

/* An event as read, before its phase decides what it becomes. */
typedef struct cev {
	sonde_str name, cat;
	char ph;
	bool has_ph, has_ts, has_dur, has_id, id_global;
	uint64_t ts, dur;
	ident pid, tid, id;
	sonde_kv *args;
	uint32_t nargs;
	size_t off;
} cev;

/* Open addressing from a hash to an index into one of the tables above; the caller
 * compares the candidates. */
typedef struct islot {
	uint64_t h;
	uint32_t idx1; /* index + 1; 0 marks an empty slot */
} islot;

typedef struct imap {
	islot *slots;
	size_t mask, count;
} imap;

typedef struct cread {
	sonde_batch *b;
	sonde_json_reader r;
	const char *buf; /* the original input, for the trace id */
	size_t len;
	/* Where we are, for error reports. */
	const char *root; /* "traceEvents" or NULL */
	bool in_event;
	size_t index;
	const char *field;
	sonde__tj_err error; /* a schema error, when set */

	proc *procs;
	size_t procs_n, procs_cap;
	thread *threads;
	size_t threads_n, threads_cap;
	async_track *atracks;
	size_t atracks_n, atracks_cap;
	async_open *aopen;
	size_t aopen_n, aopen_cap;
	cspan *spans;
	size_t spans_n, spans_cap;
	imap proc_map, thread_map, atrack_map, aopen_map;
	uint32_t tracks;
	uint64_t max_ts;

	/* Scratch for args. */
	sonde_kv *kvs;
	size_t kvs_n, kvs_cap;
	sonde_buf prefix, text;
	size_t prefix_lens[MAX_PREFIX + 1]; /* each level adds at least a '.' */
	sonde_str k_cat, k_pid, k_tid, k_thread_name, k_service_name;
} cread;

static const sonde_str empty = {"", 0};

/* ---- Hash tables -------------------------------------------------------------------- */

typedef bool (*imap_eq)(const cread *c, uint32_t idx, const void *key);

static int64_t imap_get(const imap *m, uint64_t h, imap_eq eq, const cread *c, const void *key)
{
	if (!m->slots)
		return -1;
	for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
		const islot *s = &m->slots[i];
		if (!s->idx1)
			return -1;
		if (s->h == h && eq(c, s->idx1 - 1, key))
			return s->idx1 - 1;
	}
}

/* Adds idx under h; the caller knows the key is absent. */
static int imap_put(imap *m, uint64_t h, uint32_t idx)
{
	if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
		size_t cap = m->slots ? (m->mask + 1) * 2 : 64;
		islot *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; m->slots && i <= m->mask; i++) {
			if (!m->slots[i].idx1)
				continue;
			size_t j = m->slots[i].h & (cap - 1);
			while (slots[j].idx1)
				j = (j + 1) & (cap - 1);
			slots[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = slots;
		m->mask = cap - 1;
	}
	size_t j = h & m->mask;
	while (m->slots[j].idx1)
		j = (j + 1) & m->mask;
	m->slots[j] = (islot){h, idx + 1};
	m->count++;
	return 0;
}

static uint64_t ident_hash(const ident *id)
{
	/* Strings are interned, so their pointer stands for their content. */
	return id->is_str ? sonde_hash_u64((uint64_t)(uintptr_t)id->s.ptr ^ 0x5bd1e995u)
	                  : sonde_hash_u64((uint64_t)id->i);
}

static bool ident_eq(const ident *a, const ident *b)
{
	return a->is_str == b->is_str && (a->is_str ? a->s.ptr == b->s.ptr : a->i == b->i);
}

/* ---- Errors ------------------------------------------------------------------------- */

static void report(const cread *c, sonde_wire_error *err)
{
	char field[96];
	field[0] = '\0';
	if (c->in_event)
		snprintf(field, sizeof(field), "%s[%zu]%s%s", c->root ? c->root : "", c->index,
		         c->field ? "." : "", c->field ? c->field : "");
	sonde__tj_report(&c->error, &c->r, err, c->buf, c->len, field);
}

/* ---- Numbers and args ----------------------------------------------------------------- */

/* Microseconds, as a decimal literal, to nanoseconds: exact for plain decimals (digits
 * past the third after the point round half up), through a double for exponents. */
static int us_to_ns(const char *s, size_t n, uint64_t *out)
{
	if ((n && s[0] == '-') || memchr(s, 'e', n) || memchr(s, 'E', n)) {
		double d;
		int rc = sonde_json_parse_double(s, n, &d);
		if (rc < 0)
			return rc;
		d *= 1000.0;
		if (!(d >= 0) || d >= 18446744073709549568.0)
			return SONDE_EPARSE;
		*out = (uint64_t)(d + 0.5);
		return 0;
	}
	size_t i = 0;
	uint64_t us = 0, frac = 0;
	if (i == n || s[i] < '0' || s[i] > '9')
		return SONDE_EPARSE;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (us > (UINT64_MAX / 1000 - 9) / 10)
			return SONDE_EPARSE;
		us = us * 10 + (uint64_t)(s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		size_t digits = 0;
		bool round_up = false;
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			if (digits < 3)
				frac = frac * 10 + (uint64_t)(s[i] - '0');
			else if (digits == 3)
				round_up = s[i] >= '5';
		}
		if (digits == 0)
			return SONDE_EPARSE;
		for (size_t d = digits; d < 3; d++)
			frac *= 10;
		frac += round_up;
	}
	if (i != n)
		return SONDE_EPARSE;
	*out = us * 1000 + frac;
	return 0;
}

/* Reads an args object into arena attributes, flattening nested objects into dotted
 * keys. Iterative: c->prefix_lens remembers the key prefix of each open object. */
static int read_args(cread *c, sonde_kv **out, uint32_t *count)
{
	const char *k;
	size_t kn;
	size_t mark = c->kvs_n, depth = 0;
	int rc = sonde__tj_take_null(&c->r);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	sonde_json_tok t = sonde_json_next(&c->r);
	if (t == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(&c->r);
	if (t != SONDE_JSON_OBJ_BEGIN)
		return sonde__tj_fail(&c->error, &c->r, "expected an object");
	sonde_buf_reset(&c->prefix);
	for (;;) {
		if ((rc = sonde_json_next_key(&c->r, &k, &kn)) < 0)
			return rc;
		if (rc == 0) {
			if (depth == 0)
				break;
			c->prefix.len = c->prefix_lens[--depth];
			continue;
		}
		size_t base = c->prefix.len;
		sonde_buf_append(&c->prefix, k, kn);
		if (c->prefix.oom)
			return -ENOMEM;
		t = sonde_json_next(&c->r);
		if (t == SONDE_JSON_OBJ_BEGIN && c->prefix.len < MAX_PREFIX) {
			c->prefix_lens[depth++] = base;
			sonde_buf_putc(&c->prefix, '.');
			continue;
		}
		sonde_kv kv;
		kv.key = sonde_batch_intern(c->b, c->prefix.data ? c->prefix.data : "", c->prefix.len);
		if (!kv.key.ptr)
			return -ENOMEM;
		c->prefix.len = base;
		if ((rc = sonde__tj_read_value(c->b, &c->r, t, false, &kv.value, &c->text)) < 0)
			return rc;
		if ((rc = sonde__tj_reserve((void **)&c->kvs, &c->kvs_cap, c->kvs_n, sizeof(sonde_kv))) < 0)
			return rc;
		c->kvs[c->kvs_n++] = kv;
	}
	size_t n = c->kvs_n - mark;
	*out = sonde__tj_batch_copy(c->b, c->kvs + mark, n, sizeof(sonde_kv));
	if (!*out)
		return -ENOMEM;
	*count = (uint32_t)n;
	c->kvs_n = mark;
	return 0;
}

/* Reads a pid, tid or id: an integer, or any other number or string as text. */
static int read_ident(cread *c, ident *id)
{
	sonde_json_tok t = sonde_json_next(&c->r);
	memset(id, 0, sizeof(*id));
	id->s = empty;
	switch (t) {
	case SONDE_JSON_NUMBER:
		if (sonde__tj_parse_i64(c->r.num, c->r.num_len, &id->i))
			return 0;
		id->s = sonde_batch_intern(c->b, c->r.num, c->r.num_len);
		break;
	case SONDE_JSON_STRING: id->s = sonde_batch_intern(c->b, c->r.str, c->r.str_len); break;
	case SONDE_JSON_NULL: return 0;
	case SONDE_JSON_ERROR: return sonde__tj_tok_error(&c->r);
	default: return sonde__tj_fail(&c->error, &c->r, "expected a number or a string");
	}
	id->is_str = true;
	return id->s.ptr ? 0 : -ENOMEM;
}

static int read_time(cread *c, uint64_t *ns)
{
	sonde_json_tok t = sonde_json_next(&c->r);
	const char *s;
	size_t n;
	if (t == SONDE_JSON_NUMBER) {
		s = c->r.num;
		n = c->r.num_len;
	} else if (t == SONDE_JSON_STRING) {
		s = c->r.str;
		n = c->r.str_len;
	} else if (t == SONDE_JSON_ERROR) {
		return sonde__tj_tok_error(&c->r);
	} else {
		return sonde__tj_fail(&c->error, &c->r, "expected microseconds");
	}
	int rc = us_to_ns(s, n, ns);
	if (rc == SONDE_EPARSE)
		return sonde__tj_fail(&c->error, &c->r,
		                      "expected non-negative microseconds below 2^64 nanoseconds");
	return rc;
}

static int read_id2(cread *c, cev *ev)
{
	const char *k;
	size_t kn;
	int rc = sonde_json_enter_object(&c->r);
	if (rc < 0)
		return rc;
	while ((rc = sonde_json_next_key(&c->r, &k, &kn)) > 0) {
		bool global = sonde__tj_key_is(k, kn, "global");
		if (global || sonde__tj_key_is(k, kn, "local")) {
			if ((rc = read_ident(c, &ev->id)) < 0)
				return rc;
			ev->has_id = true;
			ev->id_global = global;
		} else if ((rc = sonde_json_skip(&c->r)) < 0) {
			return rc;
		}
	}
	return rc;
}

/* ---- Processes, threads, tracks ------------------------------------------------------- */

static bool proc_eq(const cread *c, uint32_t idx, const void *key)
{
	return ident_eq(&c->procs[idx].pid, key);
}

static int proc_of(cread *c, const ident *pid, uint32_t *out)
{
	uint64_t h = ident_hash(pid);
	int64_t i = imap_get(&c->proc_map, h, proc_eq, c, pid);
	if (i >= 0) {
		*out = (uint32_t)i;
		return 0;
	}
	int rc = sonde__tj_reserve((void **)&c->procs, &c->procs_cap, c->procs_n, sizeof(proc));
	if (rc == 0)
		rc = imap_put(&c->proc_map, h, (uint32_t)c->procs_n);
	if (rc < 0)
		return rc;
	c->procs[c->procs_n] = (proc){*pid, empty, NULL};
	*out = (uint32_t)c->procs_n++;
	return 0;
}

typedef struct thread_key {
	uint32_t proc;
	const ident *tid;
} thread_key;

static bool thread_eq(const cread *c, uint32_t idx, const void *key)
{
	const thread_key *k = key;
	return c->threads[idx].proc == k->proc && ident_eq(&c->threads[idx].tid, k->tid);
}

static int thread_of(cread *c, const ident *pid, const ident *tid, uint32_t *out)
{
	uint32_t p;
	int rc = proc_of(c, pid, &p);
	if (rc < 0)
		return rc;
	thread_key key = {p, tid};
	uint64_t h = sonde_hash_mix(ident_hash(tid) ^ 0x9e3779b97f4a7c15ull, p + 1u);
	int64_t i = imap_get(&c->thread_map, h, thread_eq, c, &key);
	if (i >= 0) {
		*out = (uint32_t)i;
		return 0;
	}
	rc = sonde__tj_reserve((void **)&c->threads, &c->threads_cap, c->threads_n, sizeof(thread));
	if (rc == 0)
		rc = imap_put(&c->thread_map, h, (uint32_t)c->threads_n);
	if (rc < 0)
		return rc;
	c->threads[c->threads_n] = (thread){*tid, p, c->tracks++, empty, -1};
	*out = (uint32_t)c->threads_n++;
	return 0;
}

static bool atrack_eq(const cread *c, uint32_t idx, const void *key)
{
	const async_track *a = &c->atracks[idx], *b = key;
	return a->global == b->global && (a->global || a->proc == b->proc) && a->cat == b->cat &&
	       ident_eq(&a->id, &b->id);
}

/* The track of an async id: its spans nest among themselves, apart from threads. */
static int async_track_of(cread *c, const cev *ev, uint32_t proc_idx, uint32_t *out)
{
	async_track key = {ev->id_global, ev->id_global ? 0 : proc_idx, ev->cat.ptr, ev->id, 0};
	uint64_t h = sonde_hash_mix(ident_hash(&ev->id) ^ (uint64_t)(uintptr_t)key.cat,
	                            ((uint64_t)key.global << 32 | key.proc) + 1);
	int64_t i = imap_get(&c->atrack_map, h, atrack_eq, c, &key);
	if (i >= 0) {
		*out = c->atracks[i].track;
		return 0;
	}
	int rc = sonde__tj_reserve((void **)&c->atracks, &c->atracks_cap, c->atracks_n, sizeof(async_track));
	if (rc == 0)
		rc = imap_put(&c->atrack_map, h, (uint32_t)c->atracks_n);
	if (rc < 0)
		return rc;
	key.track = c->tracks++;
	c->atracks[c->atracks_n++] = key;
	*out = key.track;
	return 0;
}

static bool aopen_eq(const cread *c, uint32_t idx, const void *key)
{
	const async_open *a = &c->aopen[idx], *b = key;
	return a->track == b->track && a->name == b->name;
}

/* The open-stack entry of an async track and name. */
static int async_open_of(cread *c, uint32_t track, const char *name, async_open **out)
{
	async_open key = {track, name, -1};
	uint64_t h = sonde_hash_mix((uint64_t)(uintptr_t)name ^ 0x2545f4914f6cdd1dull, track + 1u);
	int64_t i = imap_get(&c->aopen_map, h, aopen_eq, c, &key);
	if (i < 0) {
		int rc = sonde__tj_reserve((void **)&c->aopen, &c->aopen_cap, c->aopen_n, sizeof(async_open));
		if (rc == 0)
			rc = imap_put(&c->aopen_map, h, (uint32_t)c->aopen_n);
		if (rc < 0)
			return rc;
		i = (int64_t)c->aopen_n;
		c->aopen[c->aopen_n++] = key;
	}
	*out = &c->aopen[i];
	return 0;
}

/* ---- Events ------------------------------------------------------------------------- */

static int new_span(cread *c, const cev *ev, uint32_t thread_idx, uint32_t track, int32_t *out)
{
	if (c->spans_n >= INT32_MAX)
		return sonde__tj_fail_at(&c->error, ev->off, "too many spans");
	int rc = sonde__tj_reserve((void **)&c->spans, &c->spans_cap, c->spans_n, sizeof(cspan));
	if (rc < 0)
		return rc;
	cspan *s = &c->spans[c->spans_n];
	memset(s, 0, sizeof(*s));
	s->start = s->end = ev->ts;
	s->name = ev->name;
	s->cat = ev->cat;
	s->thread = thread_idx;
	s->track = track;
	s->parent = s->next_open = -1;
	s->args = ev->args;
	s->nargs = ev->nargs;
	*out = (int32_t)c->spans_n++;
	return 0;
}

/* Ends the open span i at ts, appending the end event's args. */
static int close_span(cread *c, int32_t i, const cev *ev)
{
	cspan *s = &c->spans[i];
	s->end = ev->ts > s->start ? ev->ts : s->start;
	s->open = false;
	if (ev->nargs) {
		sonde_kv *all = sonde_batch_alloc(c->b, (s->nargs + ev->nargs) * sizeof(sonde_kv));
		if (!all)
			return -ENOMEM;
		if (s->nargs)
			memcpy(all, s->args, s->nargs * sizeof(sonde_kv));
		memcpy(all + s->nargs, ev->args, ev->nargs * sizeof(sonde_kv));
		s->args = all;
		s->nargs += ev->nargs;
	}
	return 0;
}

static const sonde_value *arg(const cev *ev, const char *key)
{
	sonde_attrs a = {ev->args, ev->nargs};
	return sonde_attrs_get(&a, key);
}

static int metadata(cread *c, const cev *ev)
{
	bool pname = sonde__tj_key_is(ev->name.ptr, ev->name.len, "process_name");
	bool tname = sonde__tj_key_is(ev->name.ptr, ev->name.len, "thread_name");
	const sonde_value *v = arg(ev, "name");
	uint32_t i;
	int rc;
	if ((!pname && !tname) || !v || v->kind != SONDE_VAL_STRING)
		return 0;
	sonde_str name = sonde_batch_intern(c->b, v->u.str.ptr, v->u.str.len);
	if (!name.ptr)
		return -ENOMEM;
	if (pname) {
		if ((rc = proc_of(c, &ev->pid, &i)) < 0)
			return rc;
		c->procs[i].name = name;
	} else {
		if ((rc = thread_of(c, &ev->pid, &ev->tid, &i)) < 0)
			return rc;
		c->threads[i].name = name;
	}
	return 0;
}

/* Does what the event's phase says. */
static int apply(cread *c, const cev *ev)
{
	uint32_t th, track;
	int32_t si;
	int rc;
	char ph = ev->ph;
	if (ph == 'M')
		return metadata(c, ev);
	if (!strchr("XBEbeSFiIn", ph) || ph == '\0')
		return 0;
	if (!ev->has_ts)
		return sonde__tj_fail_at(&c->error, ev->off, "expected ts");
	if ((rc = thread_of(c, &ev->pid, &ev->tid, &th)) < 0)
		return rc;
	thread *t = &c->threads[th];
	switch (ph) {
	case 'X':
		if (ev->dur > UINT64_MAX - ev->ts)
			return sonde__tj_fail_at(&c->error, ev->off,
			                         "expected ts + dur below 2^64 nanoseconds");
		if ((rc = new_span(c, ev, th, t->track, &si)) < 0)
			return rc;
		c->spans[si].end = ev->ts + ev->dur;
		return 0;
	case 'B':
		if ((rc = new_span(c, ev, th, t->track, &si)) < 0)
			return rc;
		c->spans[si].open = true;
		c->spans[si].next_open = t->open;
		t->open = si;
		return 0;
	case 'E':
		if (t->open < 0)
			return 0; /* an end without a begin */
		si = t->open;
		t->open = c->spans[si].next_open;
		return close_span(c, si, ev);
	case 'i':
	case 'I':
	case 'n':
		if ((rc = new_span(c, ev, th, t->track, &si)) < 0)
			return rc;
		c->spans[si].instant = true;
		return 0;
	default: { /* b, e, S, F: async */
		async_open *o;
		if ((rc = async_track_of(c, ev, t->proc, &track)) < 0)
			return rc;
		if ((rc = async_open_of(c, track, ev->name.ptr, &o)) < 0)
			return rc;
		if (ph == 'b' || ph == 'S') {
			if ((rc = new_span(c, ev, th, track, &si)) < 0)
				return rc;
			c->spans[si].open = true;
			c->spans[si].next_open = o->top;
			o->top = si;
			return 0;
		}
		if (o->top < 0)
			return 0;
		si = o->top;
		o->top = c->spans[si].next_open;
		return close_span(c, si, ev);
	}
	}
}

static int read_event(cread *c)
{
	const char *k, *s;
	size_t kn, sn;
	cev ev;
	int rc;
	memset(&ev, 0, sizeof(ev));
	ev.name = ev.cat = empty;
	ev.pid.s = ev.tid.s = ev.id.s = empty;
	c->field = NULL;
	sonde_json_tok t = sonde_json_next(&c->r);
	if (t == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(&c->r);
	if (t != SONDE_JSON_OBJ_BEGIN)
		return sonde__tj_fail(&c->error, &c->r, "expected an event object");
	ev.off = sonde__tj_tok_offset(&c->r);
	while ((c->field = NULL, rc = sonde_json_next_key(&c->r, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "name") || sonde__tj_key_is(k, kn, "cat")) {
			bool is_name = k[0] == 'n';
			c->field = is_name ? "name" : "cat";
			if ((rc = sonde__tj_take_null(&c->r)) == 0 &&
			    (rc = sonde_json_read_str(&c->r, &s, &sn)) == 0) {
				sonde_str v = sonde_batch_intern(c->b, s, sn);
				if (!v.ptr)
					return -ENOMEM;
				*(is_name ? &ev.name : &ev.cat) = v;
			}
		} else if (sonde__tj_key_is(k, kn, "ph")) {
			c->field = "ph";
			if ((rc = sonde_json_read_str(&c->r, &s, &sn)) == 0) {
				ev.has_ph = true;
				ev.ph = sn == 1 && s[0] ? s[0] : '?';
			}
		} else if (sonde__tj_key_is(k, kn, "ts") || sonde__tj_key_is(k, kn, "dur")) {
			bool is_ts = k[0] == 't';
			c->field = is_ts ? "ts" : "dur";
			if ((rc = sonde__tj_take_null(&c->r)) == 0) {
				rc = read_time(c, is_ts ? &ev.ts : &ev.dur);
				*(is_ts ? &ev.has_ts : &ev.has_dur) = rc == 0;
			}
		} else if (sonde__tj_key_is(k, kn, "pid") || sonde__tj_key_is(k, kn, "tid")) {
			c->field = k[0] == 'p' ? "pid" : "tid";
			rc = read_ident(c, k[0] == 'p' ? &ev.pid : &ev.tid);
		} else if (sonde__tj_key_is(k, kn, "id")) {
			c->field = "id";
			rc = read_ident(c, &ev.id);
			ev.has_id = true;
		} else if (sonde__tj_key_is(k, kn, "id2")) {
			c->field = "id2";
			if ((rc = sonde__tj_take_null(&c->r)) == 0)
				rc = read_id2(c, &ev);
		} else if (sonde__tj_key_is(k, kn, "args")) {
			c->field = "args";
			rc = read_args(c, &ev.args, &ev.nargs);
		} else {
			rc = sonde_json_skip(&c->r);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	c->field = NULL;
	if (!ev.has_ph)
		return sonde__tj_fail_at(&c->error, ev.off, "expected ph");
	if (ev.has_ts) {
		uint64_t last = ev.dur <= UINT64_MAX - ev.ts ? ev.ts + ev.dur : UINT64_MAX;
		if (last > c->max_ts)
			c->max_ts = last;
	}
	return apply(c, &ev);
}

static int read_events(cread *c)
{
	int rc;
	size_t i = 0;
	while ((rc = sonde_json_next_elem(&c->r)) > 0) {
		c->in_event = true;
		c->index = i++;
		if ((rc = read_event(c)) < 0)
			return rc;
		c->in_event = false;
	}
	return rc;
}

static int read_doc(cread *c)
{
	const char *k;
	size_t kn;
	int rc;
	bool has_events = false;
	sonde_json_tok t = sonde_json_next(&c->r);
	if (t == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(&c->r);
	if (t == SONDE_JSON_ARR_BEGIN) {
		if ((rc = read_events(c)) < 0)
			return rc;
	} else if (t == SONDE_JSON_OBJ_BEGIN) {
		while ((rc = sonde_json_next_key(&c->r, &k, &kn)) > 0) {
			if (sonde__tj_key_is(k, kn, "traceEvents")) {
				c->root = "traceEvents";
				if ((rc = sonde_json_enter_array(&c->r)) == 0)
					rc = read_events(c);
				has_events = true;
			} else {
				rc = sonde_json_skip(&c->r);
			}
			if (rc < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
		if (!has_events)
			return sonde__tj_fail_at(&c->error, 0, "expected traceEvents");
	} else {
		return sonde__tj_fail(&c->error, &c->r,
		                      "expected an array of trace events or an object with traceEvents");
	}
	return sonde_json_finish(&c->r);
}

/* ---- Building the spans ------------------------------------------------------------- */

typedef struct sitem {
	uint32_t track;
	uint32_t instant; /* spans before instants at the same time */
	uint64_t start, end;
	uint32_t idx;
} sitem;

static int sitem_cmp(const void *pa, const void *pb)
{
	const sitem *a = pa, *b = pb;
	if (a->track != b->track)
		return a->track < b->track ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->instant != b->instant)
		return a->instant < b->instant ? -1 : 1;
	if (a->end != b->end)
		return a->end > b->end ? -1 : 1; /* longer first */
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Finds parents and the spans instants fall in: per track, in time order, a stack holds
 * the chain of spans that contain the current time. */
static int sweep(cread *c)
{
	size_t n = c->spans_n;
	sitem *items = malloc((n ? n : 1) * sizeof(*items));
	int32_t *stack = malloc((n ? n : 1) * sizeof(*stack));
	int rc = 0;
	if (!items || !stack) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const cspan *s = &c->spans[i];
		items[i] = (sitem){s->track, s->instant, s->start, s->end, (uint32_t)i};
	}
	qsort(items, n, sizeof(*items), sitem_cmp);
	size_t sp = 0;
	for (size_t i = 0; i < n; i++) {
		cspan *s = &c->spans[items[i].idx];
		if (i == 0 || items[i - 1].track != items[i].track)
			sp = 0;
		uint64_t need = s->instant ? s->start : s->end;
		while (sp && c->spans[stack[sp - 1]].end < need)
			sp--;
		if (!s->instant) {
			s->parent = sp ? stack[sp - 1] : -1;
			stack[sp++] = (int32_t)items[i].idx;
		} else if (sp) {
			/* Becomes an event of the innermost span around it. */
			s->absorbed = true;
			s->parent = stack[sp - 1];
			c->spans[s->parent].events_n++;
		}
	}
	/* Events in time order: the sorted order. */
	for (size_t i = 0; i < n; i++) {
		cspan *s = &c->spans[i];
		if (s->events_n) {
			s->events = sonde_batch_alloc(c->b, s->events_n * sizeof(sonde_span_event));
			if (!s->events) {
				rc = -ENOMEM;
				goto out;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const cspan *in = &c->spans[items[i].idx];
		if (!in->absorbed)
			continue;
		cspan *s = &c->spans[in->parent];
		sonde_span_event *ev = &s->events[s->events_fill++];
		ev->time_ns = in->start;
		ev->name = in->name;
		ev->attrs = (sonde_attrs){in->args, in->nargs};
	}
out:
	free(items);
	free(stack);
	return rc;
}

static uint64_t ident_content_hash(const ident *id)
{
	return id->is_str ? sonde_hash_bytes(id->s.ptr, id->s.len, 0x7d1) : sonde_hash_u64((uint64_t)id->i);
}

/* Gives every span that stays a span an id: a hash of pid, tid, start and position,
 * re-hashed until it is non-zero and unused. */
static int assign_ids(cread *c)
{
	size_t cap = 64;
	while (cap < c->spans_n * 2)
		cap *= 2;
	uint64_t *used = calloc(cap, sizeof(*used));
	if (!used)
		return -ENOMEM;
	for (size_t i = 0; i < c->spans_n; i++) {
		cspan *s = &c->spans[i];
		if (s->absorbed)
			continue;
		const thread *t = &c->threads[s->thread];
		uint64_t hp = ident_content_hash(&c->procs[t->proc].pid), ht = ident_content_hash(&t->tid);
		uint64_t h = sonde_hash_mix(hp ^ 0xa0761d6478bd642full, ht ^ 0xe7037ed1a0b428dbull);
		h = sonde_hash_mix(h ^ s->start, (uint64_t)i ^ 0x8ebc6af09c88c6e3ull);
		for (;;) {
			if (h) {
				size_t j = sonde_hash_u64(h) & (cap - 1);
				while (used[j] && used[j] != h)
					j = (j + 1) & (cap - 1);
				if (!used[j]) {
					used[j] = h;
					break;
				}
			}
			h = sonde_hash_u64(h + 0x9e3779b97f4a7c15ull);
		}
		for (int b = 0; b < 8; b++)
			s->id[b] = (uint8_t)(h >> (56 - 8 * b));
	}
	free(used);
	return 0;
}

static void ident_value(const ident *id, sonde_value *v)
{
	memset(v, 0, sizeof(*v));
	if (id->is_str) {
		v->kind = SONDE_VAL_STRING;
		v->u.str = id->s;
	} else {
		v->kind = SONDE_VAL_INT;
		v->u.i = id->i;
	}
}

static int resource_of(cread *c, proc *p, const sonde_resource **out)
{
	if (!p->res) {
		sonde_resource *res = sonde_batch_new_resource(c->b);
		sonde_kv *kv = sonde_batch_alloc(c->b, 2 * sizeof(sonde_kv));
		if (!res || !kv)
			return -ENOMEM;
		uint32_t n = 0;
		if (p->name.len)
			sonde__tj_str_attr(&kv[n++], c->k_service_name, p->name);
		kv[n].key = c->k_pid;
		ident_value(&p->pid, &kv[n++].value);
		res->attrs = (sonde_attrs){kv, n};
		p->res = res;
	}
	*out = p->res;
	return 0;
}

static int emit(cread *c)
{
	uint8_t trace_id[16];
	uint64_t h1 = sonde_hash_bytes(c->buf, c->len, 0x63687274), h2 = sonde_hash_bytes(c->buf, c->len, h1);
	for (int b = 0; b < 8; b++) {
		trace_id[b] = (uint8_t)(h1 >> (56 - 8 * b));
		trace_id[8 + b] = (uint8_t)(h2 >> (56 - 8 * b));
	}
	if (sonde_id_is_zero(trace_id, 16))
		trace_id[15] = 1;
	const sonde_scope *scope = sonde_batch_new_scope(c->b);
	if (!scope)
		return -ENOMEM;
	for (size_t i = 0; i < c->spans_n; i++) {
		const cspan *cs = &c->spans[i];
		if (cs->absorbed)
			continue;
		const thread *t = &c->threads[cs->thread];
		proc *p = &c->procs[t->proc];
		const sonde_resource *res;
		int rc = resource_of(c, p, &res);
		if (rc < 0)
			return rc;
		uint32_t n = 0, nfixed = 2 + (cs->cat.len ? 1 : 0) + (t->name.len ? 1 : 0);
		sonde_kv *kv = sonde_batch_alloc(c->b, (nfixed + cs->nargs) * sizeof(sonde_kv));
		if (!kv)
			return -ENOMEM;
		if (cs->cat.len)
			sonde__tj_str_attr(&kv[n++], c->k_cat, cs->cat);
		kv[n].key = c->k_pid;
		ident_value(&p->pid, &kv[n++].value);
		kv[n].key = c->k_tid;
		ident_value(&t->tid, &kv[n++].value);
		if (t->name.len)
			sonde__tj_str_attr(&kv[n++], c->k_thread_name, t->name);
		if (cs->nargs)
			memcpy(kv + n, cs->args, cs->nargs * sizeof(sonde_kv));
		n += cs->nargs;

		sonde_span_data *s = sonde_batch_add_span(c->b, res, scope);
		if (!s)
			return -ENOMEM;
		memcpy(s->trace_id, trace_id, 16);
		memcpy(s->span_id, cs->id, 8);
		if (cs->parent >= 0)
			memcpy(s->parent_span_id, c->spans[cs->parent].id, 8);
		s->name = cs->name;
		s->kind = SONDE_SPAN_KIND_INTERNAL;
		s->start_ns = cs->start;
		s->end_ns = cs->end;
		s->attrs = (sonde_attrs){kv, n};
		s->events = cs->events;
		s->events_count = cs->events_n;
	}
	return 0;
}

static int build(cread *c)
{
	/* Spans never ended end at the latest time the file shows. */
	for (size_t i = 0; i < c->spans_n; i++) {
		cspan *s = &c->spans[i];
		if (s->open) {
			s->end = c->max_ts > s->start ? c->max_ts : s->start;
			s->open = false;
		}
	}
	int rc = sweep(c);
	if (rc == 0)
		rc = assign_ids(c);
	if (rc == 0)
		rc = emit(c);
	return rc;
}

/* A JSON array whose closing bracket is missing (the format allows it, for tracers that
 * die mid-write), perhaps after a trailing comma, gets one: returns a patched copy in
 * *copy, or leaves it NULL when buf needs none. */
static int patch_truncated(const char *buf, size_t len, char **copy, size_t *copy_len)
{
	size_t a = 0, z = len;
	*copy = NULL;
	while (a < len && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n' || buf[a] == '\r'))
		a++;
	if (a == len || buf[a] != '[')
		return 0;
	while (z > a && (buf[z - 1] == ' ' || buf[z - 1] == '\t' || buf[z - 1] == '\n' || buf[z - 1] == '\r'))
		z--;
	if (z - 1 > a && buf[z - 1] == ']')
		return 0; /* complete, or malformed in a way the JSON reader will report */
	if (z - 1 > a && buf[z - 1] == ',')
		z--;
	*copy = malloc(z + 2);
	if (!*copy)
		return -ENOMEM;
	memcpy(*copy, buf, z);
	(*copy)[z] = ']';
	(*copy)[z + 1] = '\0';
	*copy_len = z + 1;
	return 0;
}

int sonde_chrome_trace_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err)
{
	size_t spans0 = b->spans_count;
	cread c;
	char *patched = NULL;
	size_t plen = 0;

	memset(&c, 0, sizeof(c));
	c.b = b;
	c.buf = buf;
	c.len = len;
	sonde_buf_init(&c.prefix);
	sonde_buf_init(&c.text);
	int rc = patch_truncated(buf, len, &patched, &plen);
	sonde_json_reader_init(&c.r, patched ? patched : buf, patched ? plen : len);
	c.k_cat = sonde_batch_intern(b, "chrome.cat", 10);
	c.k_pid = sonde_batch_intern(b, "process.pid", 11);
	c.k_tid = sonde_batch_intern(b, "thread.id", 9);
	c.k_thread_name = sonde_batch_intern(b, "thread.name", 11);
	c.k_service_name = sonde_batch_intern(b, "service.name", 12);
	if (!c.k_cat.ptr || !c.k_pid.ptr || !c.k_tid.ptr || !c.k_thread_name.ptr || !c.k_service_name.ptr)
		rc = -ENOMEM;
	if (rc == 0)
		rc = read_doc(&c);
	if (rc == 0)
		rc = build(&c);
	if (rc == SONDE_EPARSE)
		report(&c, err);
	if (rc < 0)
		b->spans_count = spans0;
	sonde_json_reader_release(&c.r);
	sonde_buf_release(&c.prefix);
	sonde_buf_release(&c.text);
	free(patched);
	free(c.procs);
	free(c.threads);
	free(c.atracks);
	free(c.aopen);
	free(c.spans);
	free(c.kvs);
	free(c.proc_map.slots);
	free(c.thread_map.slots);
	free(c.atrack_map.slots);
	free(c.aopen_map.slots);
	return rc;
}
