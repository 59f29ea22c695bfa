/*
 * jaeger_read.c - Jaeger JSON traces into the telemetry model (see jaeger.h).
 *
 * A span names its process by an id that the trace's "processes" member defines, and
 * that member may come before or after "spans"; so a trace's spans are gathered first
 * and added to the batch when the trace object ends and every process is known.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "hex.h"
#include "jaeger.h"
#include "json.h"
#include "ptrmap.h"
#include "sonde/status.h"
#include "trace_json_util_internal.h"

enum { MAX_PATH = 8 };

/* One level of the path to what is being read, for error reports. */
typedef struct frame {
	const char *name; /* member name, or NULL */
	long idx;         /* element index, or -1 */
} frame;

typedef enum ttype { T_NONE, T_STRING, T_BOOL, T_INT64, T_FLOAT64, T_BINARY } ttype;

/* A span waiting for its trace's processes. */
typedef struct jspan {
	sonde_span_data s; /* all but resource and scope */
	const sonde_scope *scope;
	const char *process_id;        /* interned, or NULL */
	size_t process_off;            /* where process_id was read */
	const sonde_resource *process; /* an inline "process", or NULL */
	bool has_trace;
	size_t off; /* the span object */
	long index;
} jspan;

typedef struct jtrace {
	jspan *spans;
	size_t spans_n, spans_cap;
	uint64_t gen; /* tells this trace's processes from earlier traces' in procs */
	uint8_t trace_id[16];
	bool has_trace;
} jtrace;

typedef struct jread {
	sonde_batch *b;
	sonde_json_reader r;
	frame path[MAX_PATH];
	int depth;
	sonde__tj_err error; /* a schema error, when set */
	/* Scratch, used by one span at a time; kvs is used as a stack (see kv_array). */
	sonde_kv *kvs;
	size_t kvs_n, kvs_cap;
	sonde_span_event *events;
	size_t events_n, events_cap;
	sonde_span_link *links;
	size_t links_n, links_cap;
	sonde_ptrmap scopes; /* name, version -> scope */
	sonde_ptrmap procs;  /* process id, trace generation -> resource */
	uint64_t gen;
	sonde_resource *no_process; /* for spans that name none */
	sonde_str k_service_name, k_ref_type;
} jread;

static const sonde_str empty = {"", 0};

static bool str_is_nocase(sonde_str s, const char *lit)
{
	return s.len == strlen(lit) && strncasecmp(s.ptr, lit, s.len) == 0;
}

/* ---- Paths and errors ------------------------------------------------------------- */

static void push(jread *c, const char *name, long idx)
{
	if (c->depth < MAX_PATH)
		c->path[c->depth] = (frame){name, idx};
	c->depth++;
}

static void pop(jread *c)
{
	c->depth--;
}

/* Names the member being read at the current level. */
static void at(jread *c, const char *name)
{
	if (c->depth > 0 && c->depth <= MAX_PATH)
		c->path[c->depth - 1] = (frame){name, -1};
}

static void set_idx(jread *c, long idx)
{
	if (c->depth > 0 && c->depth <= MAX_PATH)
		c->path[c->depth - 1].idx = idx;
}

/* Enters the object next in the input as a new level of the path; sets *off, unless off
 * is NULL, to where the object starts. */
static int enter_object(jread *c, size_t *off)
{
	int rc = sonde_json_enter_object(&c->r);
	if (rc < 0)
		return rc;
	if (off)
		*off = sonde__tj_tok_offset(&c->r);
	push(c, NULL, -1);
	return 0;
}

/* The next member of the object being read; forgets the member just read, so that an
 * error between members does not name it. */
static int member(jread *c, const char **k, size_t *kn)
{
	at(c, NULL);
	return sonde_json_next_key(&c->r, k, kn);
}

static void report(const jread *c, sonde_wire_error *err, const char *buf, size_t len)
{
	char field[96];
	size_t k = 0;
	field[0] = '\0';
	for (int i = 0; i < c->depth && i < MAX_PATH && k < sizeof(field); i++) {
		const frame *f = &c->path[i];
		if (f->name)
			k += (size_t)snprintf(field + k, sizeof(field) - k, "%s%s", k ? "." : "", f->name);
		if (f->idx >= 0 && k < sizeof(field))
			k += (size_t)snprintf(field + k, sizeof(field) - k, "[%ld]", f->idx);
	}
	sonde__tj_report(&c->error, &c->r, err, buf, len, field);
}

/* ---- Scalars ------------------------------------------------------------------------ */

/* A double from a JSON number literal or the text of a string ("NaN", "Infinity" and
 * "-Infinity" included). */
static int parse_f64(const char *s, size_t n, double *out)
{
	if (sonde__tj_key_is(s, n, "NaN")) {
		*out = __builtin_nan("");
		return 0;
	}
	if (sonde__tj_key_is(s, n, "Infinity") || sonde__tj_key_is(s, n, "-Infinity")) {
		*out = s[0] == '-' ? -__builtin_inf() : __builtin_inf();
		return 0;
	}
	return sonde_json_parse_double(s, n, out);
}

/* Reads a hex id: 16 digits for a span id, 16 or 32 for a trace id (n == 16; 16 digits
 * are left-padded). */
static int read_id(jread *c, uint8_t *out, size_t n)
{
	const char *s;
	size_t sn;
	int rc = sonde_json_read_str(&c->r, &s, &sn);
	if (rc < 0)
		return rc;
	return sonde__tj_decode_id(&c->error, &c->r, out, n, s, sn);
}

/* Reads microseconds into nanoseconds. */
static int read_us(jread *c, uint64_t *ns)
{
	uint64_t us;
	int rc = sonde__tj_read_us(&c->error, &c->r, &us);
	if (rc == 0)
		*ns = us * 1000;
	return rc < 0 ? rc : 0;
}

/* ---- Tags ------------------------------------------------------------------------- */

/* The value of a tag object as read, before its type (which may come later) applies. */
typedef struct raw_value {
	sonde_json_tok tok; /* STRING, NUMBER, TRUE, FALSE or NULL; 0 when absent */
	sonde_str text;     /* STRING: copied into the batch; NUMBER: the literal in the input */
	size_t off;
} raw_value;

static int typed_value(jread *c, ttype type, const raw_value *rv, sonde_value *v)
{
	memset(v, 0, sizeof(*v));
	if (rv->tok == SONDE_JSON_NULL)
		return 0;
	bool is_str = rv->tok == SONDE_JSON_STRING, is_num = rv->tok == SONDE_JSON_NUMBER;
	bool is_bool = rv->tok == SONDE_JSON_TRUE || rv->tok == SONDE_JSON_FALSE;
	if (type == T_NONE) {
		/* Untyped: what the JSON value is; an integer literal that fits is an int64. */
		if (is_num && !memchr(rv->text.ptr, '.', rv->text.len) &&
		    !memchr(rv->text.ptr, 'e', rv->text.len) && !memchr(rv->text.ptr, 'E', rv->text.len) &&
		    sonde__tj_parse_i64(rv->text.ptr, rv->text.len, &v->u.i)) {
			v->kind = SONDE_VAL_INT;
			return 0;
		}
		type = is_str ? T_STRING : is_bool ? T_BOOL : T_FLOAT64;
	}
	switch (type) {
	case T_STRING:
		v->kind = SONDE_VAL_STRING;
		if (is_str) {
			v->u.str = rv->text;
		} else if (is_num) {
			v->u.str = sonde_batch_strdup(c->b, rv->text.ptr, rv->text.len);
			if (!v->u.str.ptr)
				return -ENOMEM;
		} else {
			bool t = rv->tok == SONDE_JSON_TRUE;
			v->u.str = t ? SONDE_STR_LIT("true") : SONDE_STR_LIT("false");
		}
		return 0;
	case T_BOOL:
		v->kind = SONDE_VAL_BOOL;
		if (is_bool)
			v->u.b = rv->tok == SONDE_JSON_TRUE;
		else if (is_str &&
		         (sonde__tj_str_is(rv->text, "true") || sonde__tj_str_is(rv->text, "false")))
			v->u.b = sonde__tj_str_is(rv->text, "true");
		else
			return sonde__tj_fail_at(&c->error, rv->off, "expected a bool");
		return 0;
	case T_INT64:
		v->kind = SONDE_VAL_INT;
		if ((is_num || is_str) && sonde__tj_parse_i64(rv->text.ptr, rv->text.len, &v->u.i))
			return 0;
		return sonde__tj_fail_at(&c->error, rv->off, "expected an int64");
	case T_FLOAT64:
		v->kind = SONDE_VAL_DOUBLE;
		if (is_num || is_str) {
			int rc = parse_f64(rv->text.ptr, rv->text.len, &v->u.d);
			if (rc == -ENOMEM)
				return rc;
			if (rc == 0)
				return 0;
		}
		return sonde__tj_fail_at(&c->error, rv->off, "expected a float64");
	case T_BINARY: {
		if (!is_str)
			return sonde__tj_fail_at(&c->error, rv->off, "expected base64");
		uint8_t *bytes = sonde_batch_alloc(c->b, sonde_base64_decoded_max(rv->text.len) + 1);
		size_t n;
		if (!bytes)
			return -ENOMEM;
		if (sonde_base64_decode(bytes, &n, rv->text.ptr, rv->text.len) < 0)
			return sonde__tj_fail_at(&c->error, rv->off, "expected base64");
		v->kind = SONDE_VAL_BYTES;
		v->u.str = (sonde_str){(const char *)bytes, n};
		return 0;
	}
	case T_NONE: break;
	}
	return 0;
}

/* Reads one {key, type, value} object onto the kvs stack. */
static int read_tag(jread *c)
{
	const char *k, *s;
	size_t kn, sn;
	sonde_str key = empty;
	bool has_key = false;
	ttype type = T_NONE;
	raw_value rv = {0};
	size_t off;
	int rc = enter_object(c, &off);
	if (rc < 0)
		return rc;
	while ((rc = member(c, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "key")) {
			at(c, "key");
			if ((rc = sonde_json_read_str(&c->r, &s, &sn)) < 0)
				return rc;
			key = sonde_batch_intern(c->b, s, sn);
			if (!key.ptr)
				return -ENOMEM;
			has_key = true;
		} else if (sonde__tj_key_is(k, kn, "type")) {
			at(c, "type");
			if ((rc = sonde_json_read_str(&c->r, &s, &sn)) < 0)
				return rc;
			sonde_str ts = {s, sn};
			if (str_is_nocase(ts, "string"))
				type = T_STRING;
			else if (str_is_nocase(ts, "bool"))
				type = T_BOOL;
			else if (str_is_nocase(ts, "int64"))
				type = T_INT64;
			else if (str_is_nocase(ts, "float64"))
				type = T_FLOAT64;
			else if (str_is_nocase(ts, "binary"))
				type = T_BINARY;
			else
				return sonde__tj_fail(&c->error, &c->r,
				                      "expected string, bool, int64, float64 or binary");
		} else if (sonde__tj_key_is(k, kn, "value")) {
			at(c, "value");
			sonde_json_tok t = sonde_json_next(&c->r);
			rv.off = sonde__tj_tok_offset(&c->r);
			rv.tok = t;
			switch (t) {
			case SONDE_JSON_STRING:
				rv.text = sonde_batch_strdup(c->b, c->r.str, c->r.str_len);
				if (!rv.text.ptr)
					return -ENOMEM;
				break;
			case SONDE_JSON_NUMBER: rv.text = (sonde_str){c->r.num, c->r.num_len}; break;
			case SONDE_JSON_TRUE:
			case SONDE_JSON_FALSE:
			case SONDE_JSON_NULL: break;
			case SONDE_JSON_ERROR: return sonde__tj_tok_error(&c->r);
			default:
				return sonde__tj_fail(&c->error, &c->r,
				                      "expected a string, number, bool or null");
			}
		} else {
			rc = sonde_json_skip(&c->r);
			if (rc < 0)
				return rc;
		}
	}
	if (rc < 0)
		return rc;
	at(c, NULL);
	if (!has_key)
		return sonde__tj_fail_at(&c->error, off, "expected key");
	if (rv.tok == 0)
		return sonde__tj_fail_at(&c->error, off, "expected value");
	sonde_value v;
	at(c, "value");
	if ((rc = typed_value(c, type, &rv, &v)) < 0)
		return rc;
	if ((rc = sonde__tj_reserve((void **)&c->kvs, &c->kvs_cap, c->kvs_n, sizeof(sonde_kv))) < 0)
		return rc;
	c->kvs[c->kvs_n].key = key;
	c->kvs[c->kvs_n++].value = v;
	pop(c);
	return 0;
}

/* Reads the elements of the array just entered, as path level name[i], with elem(c, arg)
 * for each. */
static int read_elems(jread *c, const char *name, int (*elem)(jread *c, void *arg), void *arg)
{
	int rc;
	push(c, name, 0);
	long i = 0;
	while ((rc = sonde_json_next_elem(&c->r)) > 0) {
		set_idx(c, i++);
		if ((rc = elem(c, arg)) < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	pop(c);
	return 0;
}

static int tag_elem(jread *c, void *arg)
{
	(void)arg;
	return read_tag(c);
}

/* Reads an array of tags (null: leaves *out alone) into an arena array. The kvs scratch
 * is a stack: what this call pushes it pops, so callers may hold their own entries below. */
static int kv_array(jread *c, const char *name, sonde_attrs *out)
{
	size_t mark = c->kvs_n;
	int rc = sonde__tj_enter_array_or_null(&c->r);
	if (rc <= 0)
		return rc;
	if ((rc = read_elems(c, name, tag_elem, NULL)) < 0)
		return rc;
	size_t n = c->kvs_n - mark;
	/* A repeated member replaces the earlier one, as for any JSON object member. */
	sonde_kv *items = sonde__tj_batch_copy(c->b, c->kvs + mark, n, sizeof(sonde_kv));
	if (!items)
		return -ENOMEM;
	*out = (sonde_attrs){items, (uint32_t)n};
	c->kvs_n = mark;
	return 0;
}

/* ---- Scopes and processes ---------------------------------------------------------- */

/* Reads {serviceName, tags} into a new resource. */
static int read_process(jread *c, const sonde_resource **out)
{
	const char *k, *s;
	size_t kn, sn;
	sonde_str service = empty;
	bool has_service = false;
	sonde_attrs tags = {NULL, 0};
	int rc = enter_object(c, NULL);
	if (rc < 0)
		return rc;
	while ((rc = member(c, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "serviceName")) {
			at(c, "serviceName");
			if ((rc = sonde__tj_take_null(&c->r)) < 0)
				return rc;
			if (rc == 1)
				continue;
			if ((rc = sonde_json_read_str(&c->r, &s, &sn)) < 0)
				return rc;
			service = sonde_batch_intern(c->b, s, sn);
			if (!service.ptr)
				return -ENOMEM;
			has_service = true;
		} else if (sonde__tj_key_is(k, kn, "tags")) {
			at(c, NULL);
			if ((rc = kv_array(c, "tags", &tags)) < 0)
				return rc;
		} else if ((rc = sonde_json_skip(&c->r)) < 0) {
			return rc;
		}
	}
	if (rc < 0)
		return rc;
	pop(c);
	sonde_resource *res = sonde_batch_new_resource(c->b);
	uint32_t n = tags.count + (has_service ? 1 : 0);
	sonde_kv *items = sonde_batch_alloc(c->b, n * sizeof(sonde_kv));
	if (!res || !items)
		return -ENOMEM;
	if (has_service) {
		sonde__tj_str_attr(&items[0], c->k_service_name, service);
	}
	if (tags.count)
		memcpy(items + (has_service ? 1 : 0), tags.items, tags.count * sizeof(sonde_kv));
	res->attrs = (sonde_attrs){items, n};
	*out = res;
	return 0;
}

static int read_processes(jread *c, jtrace *t)
{
	const char *k;
	size_t kn;
	int rc = sonde__tj_enter_object_or_null(&c->r);
	if (rc <= 0)
		return rc;
	while ((rc = sonde_json_next_key(&c->r, &k, &kn)) > 0) {
		const sonde_resource *res;
		sonde_str id = sonde_batch_intern(c->b, k, kn);
		if (!id.ptr)
			return -ENOMEM;
		push(c, id.ptr, -1);
		if ((rc = read_process(c, &res)) < 0)
			return rc;
		pop(c);
		/* A repeated id: the first definition stands. */
		sonde_ptrmap_key key = {id.ptr, NULL, t->gen};
		if (!sonde_ptrmap_find(&c->procs, key) &&
		    (rc = sonde_ptrmap_add(&c->procs, key, (void *)res)) < 0)
			return rc;
	}
	return rc;
}

/* ---- Spans -------------------------------------------------------------------------- */

static int read_ref(jread *c, jspan *js, bool *have_parent)
{
	const char *k, *s;
	size_t kn, sn;
	int kind = -1; /* 0 CHILD_OF, 1 FOLLOWS_FROM */
	uint8_t trace_id[16], span_id[8];
	bool has_trace = false, has_span = false;
	size_t off;
	int rc = enter_object(c, &off);
	if (rc < 0)
		return rc;
	while ((rc = member(c, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "refType")) {
			at(c, "refType");
			if ((rc = sonde_json_read_str(&c->r, &s, &sn)) < 0)
				return rc;
			sonde_str v = {s, sn};
			if (str_is_nocase(v, "CHILD_OF"))
				kind = 0;
			else if (str_is_nocase(v, "FOLLOWS_FROM"))
				kind = 1;
			else
				return sonde__tj_fail(&c->error, &c->r, "expected CHILD_OF or FOLLOWS_FROM");
		} else if (sonde__tj_key_is(k, kn, "traceID")) {
			at(c, "traceID");
			if ((rc = read_id(c, trace_id, 16)) < 0)
				return rc;
			has_trace = true;
		} else if (sonde__tj_key_is(k, kn, "spanID")) {
			at(c, "spanID");
			if ((rc = read_id(c, span_id, 8)) < 0)
				return rc;
			has_span = true;
		} else if ((rc = sonde_json_skip(&c->r)) < 0) {
			return rc;
		}
	}
	if (rc < 0)
		return rc;
	at(c, NULL);
	if (kind < 0)
		return sonde__tj_fail_at(&c->error, off, "expected refType");
	if (!has_span)
		return sonde__tj_fail_at(&c->error, off, "expected spanID");
	pop(c);
	if (sonde_id_is_zero(span_id, 8))
		return 0; /* refers to nothing */
	if (kind == 0 && !*have_parent) {
		memcpy(js->s.parent_span_id, span_id, 8);
		*have_parent = true;
		return 0;
	}
	if ((rc = sonde__tj_reserve((void **)&c->links, &c->links_cap, c->links_n, sizeof(sonde_span_link))) <
	    0)
		return rc;
	sonde_kv *kv = sonde_batch_alloc(c->b, sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	sonde__tj_str_attr(kv, c->k_ref_type,
	                   kind == 0 ? SONDE_STR_LIT("child_of") : SONDE_STR_LIT("follows_from"));
	sonde_span_link *l = &c->links[c->links_n];
	memset(l, 0, sizeof(*l));
	if (has_trace) /* else zero: the span's own trace, filled in when that is known */
		memcpy(l->trace_id, trace_id, 16);
	memcpy(l->span_id, span_id, 8);
	l->trace_state = empty;
	l->attrs = (sonde_attrs){kv, 1};
	c->links_n++;
	return 0;
}

static int read_log(jread *c)
{
	const char *k;
	size_t kn;
	uint64_t ts = 0;
	sonde_attrs fields = {NULL, 0};
	int rc = enter_object(c, NULL);
	if (rc < 0)
		return rc;
	while ((rc = member(c, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "timestamp")) {
			at(c, "timestamp");
			rc = read_us(c, &ts);
		} else if (sonde__tj_key_is(k, kn, "fields")) {
			at(c, NULL);
			rc = kv_array(c, "fields", &fields);
		} else {
			rc = sonde_json_skip(&c->r);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	pop(c);
	if ((rc = sonde__tj_reserve((void **)&c->events, &c->events_cap, c->events_n,
	                            sizeof(sonde_span_event))) < 0)
		return rc;
	sonde_span_event *ev = &c->events[c->events_n++];
	memset(ev, 0, sizeof(*ev));
	ev->time_ns = ts;
	ev->name = SONDE_STR_LIT("log");
	/* The first string "event" field names the event (OpenTracing's log convention). */
	uint32_t n = 0;
	bool named = false;
	for (uint32_t i = 0; i < fields.count; i++) {
		const sonde_kv *kv = &fields.items[i];
		if (!named && sonde__tj_str_is(kv->key, "event") && kv->value.kind == SONDE_VAL_STRING) {
			ev->name = sonde_batch_intern(c->b, kv->value.u.str.ptr, kv->value.u.str.len);
			if (!ev->name.ptr)
				return -ENOMEM;
			named = true;
			continue;
		}
		fields.items[n++] = *kv;
	}
	ev->attrs = (sonde_attrs){fields.items, n};
	return 0;
}

/* Reads an array, or null for none, with elem(c, arg) for each element. */
static int read_array_of(jread *c, const char *name, int (*elem)(jread *c, void *arg), void *arg)
{
	int rc = sonde__tj_enter_array_or_null(&c->r);
	return rc <= 0 ? rc : read_elems(c, name, elem, arg);
}

typedef struct ref_arg {
	jspan *js;
	bool have_parent;
} ref_arg;

static int ref_elem(jread *c, void *arg)
{
	ref_arg *a = arg;
	return read_ref(c, a->js, &a->have_parent);
}

static int log_elem(jread *c, void *arg)
{
	(void)arg;
	return read_log(c);
}

/* Moves the tags that are span fields in OpenTelemetry out of the attributes. */
static int span_fields(jread *c, jspan *js)
{
	sonde_span_data *s = &js->s;
	sonde_str scope_name = empty, scope_version = empty, lib_name = empty, lib_version = empty;
	sonde_str desc = empty;
	int code = SONDE_STATUS_UNSET;
	bool error = false;
	uint32_t n = 0;
	s->kind = SONDE_SPAN_KIND_INTERNAL;
	for (uint32_t i = 0; i < s->attrs.count; i++) {
		const sonde_kv *kv = &s->attrs.items[i];
		const sonde_value *v = &kv->value;
		bool is_str = v->kind == SONDE_VAL_STRING;
		sonde_str sv = is_str ? v->u.str : empty;
		sonde_str key = kv->key;
		if (is_str && sonde__tj_str_is(key, "span.kind")) {
			if (str_is_nocase(sv, "client"))
				s->kind = SONDE_SPAN_KIND_CLIENT;
			else if (str_is_nocase(sv, "server"))
				s->kind = SONDE_SPAN_KIND_SERVER;
			else if (str_is_nocase(sv, "producer"))
				s->kind = SONDE_SPAN_KIND_PRODUCER;
			else if (str_is_nocase(sv, "consumer"))
				s->kind = SONDE_SPAN_KIND_CONSUMER;
			else if (str_is_nocase(sv, "internal"))
				s->kind = SONDE_SPAN_KIND_INTERNAL;
			else
				goto keep;
		} else if (is_str && sonde__tj_str_is(key, "otel.status_code")) {
			if (str_is_nocase(sv, "OK"))
				code = SONDE_STATUS_OK;
			else if (str_is_nocase(sv, "ERROR"))
				code = SONDE_STATUS_ERROR;
			else
				goto keep;
		} else if (is_str && sonde__tj_str_is(key, "otel.status_description")) {
			desc = sv;
		} else if (sonde__tj_str_is(key, "error") &&
		           (v->kind == SONDE_VAL_BOOL || sonde__tj_str_is(sv, "true") ||
		            sonde__tj_str_is(sv, "false"))) {
			error = v->kind == SONDE_VAL_BOOL ? v->u.b : sonde__tj_str_is(sv, "true");
		} else if (is_str && sonde__tj_str_is(key, "otel.scope.name")) {
			scope_name = sv;
		} else if (is_str && sonde__tj_str_is(key, "otel.scope.version")) {
			scope_version = sv;
		} else if (is_str && sonde__tj_str_is(key, "otel.library.name")) {
			lib_name = sv;
		} else if (is_str && sonde__tj_str_is(key, "otel.library.version")) {
			lib_version = sv;
		} else if (is_str && sonde__tj_str_is(key, "w3c.tracestate")) {
			s->trace_state = sv;
		} else if (v->kind == SONDE_VAL_INT && v->u.i >= 0 && v->u.i <= UINT32_MAX &&
		           sonde__tj_str_is(key, "otel.dropped_attributes_count")) {
			s->dropped_attrs_count = (uint32_t)v->u.i;
		} else if (v->kind == SONDE_VAL_INT && v->u.i >= 0 && v->u.i <= UINT32_MAX &&
		           sonde__tj_str_is(key, "otel.dropped_events_count")) {
			s->dropped_events_count = (uint32_t)v->u.i;
		} else if (v->kind == SONDE_VAL_INT && v->u.i >= 0 && v->u.i <= UINT32_MAX &&
		           sonde__tj_str_is(key, "otel.dropped_links_count")) {
			s->dropped_links_count = (uint32_t)v->u.i;
		} else {
		keep:
			s->attrs.items[n++] = *kv;
		}
	}
	s->attrs.count = n;
	if (error || code == SONDE_STATUS_ERROR) {
		s->status_code = SONDE_STATUS_ERROR;
		s->status_message = desc;
	} else if (code == SONDE_STATUS_OK) {
		s->status_code = SONDE_STATUS_OK;
		s->status_message = desc;
	}
	return sonde__tj_scope(c->b, &c->scopes, scope_name.len ? scope_name : lib_name,
	                       scope_version.len ? scope_version : lib_version, &js->scope);
}

static int read_span(jread *c, jtrace *t, long index)
{
	const char *k, *s;
	size_t kn, sn;
	uint64_t start = 0, dur = 0;
	bool has_span = false, has_legacy_parent = false;
	uint8_t legacy_parent[8];
	ref_arg refs = {NULL, false};
	int rc = sonde__tj_reserve((void **)&t->spans, &t->spans_cap, t->spans_n, sizeof(jspan));
	if (rc < 0)
		return rc;
	jspan *js = &t->spans[t->spans_n];
	memset(js, 0, sizeof(*js));
	js->s.trace_state = js->s.name = js->s.status_message = empty;
	js->index = index;
	refs.js = js;
	c->events_n = c->links_n = 0;
	if ((rc = enter_object(c, &js->off)) < 0)
		return rc;
	while ((rc = member(c, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "traceID")) {
			at(c, "traceID");
			rc = read_id(c, js->s.trace_id, 16);
			if (rc == 0 && sonde_id_is_zero(js->s.trace_id, 16))
				rc = sonde__tj_fail(&c->error, &c->r, "expected a non-zero id");
			js->has_trace = rc == 0;
		} else if (sonde__tj_key_is(k, kn, "spanID")) {
			at(c, "spanID");
			rc = read_id(c, js->s.span_id, 8);
			if (rc == 0 && sonde_id_is_zero(js->s.span_id, 8))
				rc = sonde__tj_fail(&c->error, &c->r, "expected a non-zero id");
			has_span = rc == 0;
		} else if (sonde__tj_key_is(k, kn, "parentSpanID")) {
			at(c, "parentSpanID");
			if ((rc = sonde__tj_take_null(&c->r)) == 0) {
				rc = read_id(c, legacy_parent, 8);
				has_legacy_parent = rc == 0;
			}
		} else if (sonde__tj_key_is(k, kn, "operationName")) {
			at(c, "operationName");
			if ((rc = sonde__tj_take_null(&c->r)) == 0 &&
			    (rc = sonde_json_read_str(&c->r, &s, &sn)) == 0) {
				js->s.name = sonde_batch_intern(c->b, s, sn);
				if (!js->s.name.ptr)
					rc = -ENOMEM;
			}
		} else if (sonde__tj_key_is(k, kn, "flags")) {
			uint64_t flags;
			at(c, "flags");
			if ((rc = sonde__tj_take_null(&c->r)) == 0 &&
			    (rc = sonde_json_read_u64(&c->r, &flags)) == 0)
				js->s.flags = (uint32_t)(flags & 1); /* sampled; debug has no W3C bit */
		} else if (sonde__tj_key_is(k, kn, "startTime")) {
			at(c, "startTime");
			rc = read_us(c, &start);
		} else if (sonde__tj_key_is(k, kn, "duration")) {
			at(c, "duration");
			rc = read_us(c, &dur);
		} else if (sonde__tj_key_is(k, kn, "references")) {
			at(c, NULL);
			rc = read_array_of(c, "references", ref_elem, &refs);
		} else if (sonde__tj_key_is(k, kn, "tags")) {
			at(c, NULL);
			rc = kv_array(c, "tags", &js->s.attrs);
		} else if (sonde__tj_key_is(k, kn, "logs")) {
			at(c, NULL);
			rc = read_array_of(c, "logs", log_elem, NULL);
		} else if (sonde__tj_key_is(k, kn, "processID")) {
			at(c, "processID");
			if ((rc = sonde__tj_take_null(&c->r)) == 0 &&
			    (rc = sonde_json_read_str(&c->r, &s, &sn)) == 0) {
				js->process_off = sonde__tj_tok_offset(&c->r);
				js->process_id = sonde_batch_intern(c->b, s, sn).ptr;
				if (!js->process_id)
					rc = -ENOMEM;
			}
		} else if (sonde__tj_key_is(k, kn, "process")) {
			at(c, "process");
			if ((rc = sonde__tj_take_null(&c->r)) == 0)
				rc = read_process(c, &js->process);
		} else {
			rc = sonde_json_skip(&c->r);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	at(c, NULL);
	if (!has_span)
		return sonde__tj_fail_at(&c->error, js->off, "expected spanID");
	if (start > UINT64_MAX - dur)
		return sonde__tj_fail_at(&c->error, js->off,
		                         "expected startTime + duration below 2^64 nanoseconds");
	js->s.start_ns = start;
	js->s.end_ns = start + dur;
	if (!refs.have_parent && has_legacy_parent)
		memcpy(js->s.parent_span_id, legacy_parent, 8);
	if ((rc = span_fields(c, js)) < 0)
		return rc;
	sonde_span_event *events =
	        sonde__tj_batch_copy(c->b, c->events, c->events_n, sizeof(sonde_span_event));
	sonde_span_link *links = sonde__tj_batch_copy(c->b, c->links, c->links_n, sizeof(sonde_span_link));
	if (!events || !links)
		return -ENOMEM;
	js->s.events = events;
	js->s.events_count = (uint32_t)c->events_n;
	js->s.links = links;
	js->s.links_count = (uint32_t)c->links_n;
	pop(c);
	t->spans_n++;
	return 0;
}

/* ---- Traces and the document ------------------------------------------------------ */

static int span_elem(jread *c, void *arg)
{
	return read_span(c, arg, c->path[c->depth - 1].idx);
}

/* Adds a trace's spans to the batch, now that its processes are known. */
static int flush_trace(jread *c, jtrace *t)
{
	for (size_t i = 0; i < t->spans_n; i++) {
		jspan *js = &t->spans[i];
		const sonde_resource *res = js->process;
		if (!res && js->process_id) {
			res = sonde_ptrmap_find(&c->procs, (sonde_ptrmap_key){js->process_id, NULL, t->gen});
			if (!res) {
				push(c, "spans", js->index);
				push(c, "processID", -1);
				return sonde__tj_fail_at(&c->error, js->process_off,
				                         "expected the id of an entry in processes");
			}
		}
		if (!res) {
			if (!c->no_process && !(c->no_process = sonde_batch_new_resource(c->b)))
				return -ENOMEM;
			res = c->no_process;
		}
		if (!js->has_trace) {
			if (!t->has_trace) {
				push(c, "spans", js->index);
				return sonde__tj_fail_at(&c->error, js->off,
				                         "expected traceID in the span or its trace");
			}
			memcpy(js->s.trace_id, t->trace_id, 16);
		}
		for (uint32_t l = 0; l < js->s.links_count; l++)
			if (sonde_id_is_zero(js->s.links[l].trace_id, 16))
				memcpy(js->s.links[l].trace_id, js->s.trace_id, 16);
		sonde_span_data *s = sonde_batch_add_span(c->b, res, js->scope);
		if (!s)
			return -ENOMEM;
		*s = js->s;
		s->resource = res;
		s->scope = js->scope;
	}
	t->spans_n = 0;
	t->gen = ++c->gen;
	t->has_trace = false;
	return 0;
}

/* Reads one member of a trace object; returns 1 when k is not one. */
static int trace_member(jread *c, jtrace *t, const char *k, size_t kn)
{
	int rc;
	if (sonde__tj_key_is(k, kn, "traceID")) {
		at(c, "traceID");
		if ((rc = sonde__tj_take_null(&c->r)) != 0)
			return rc < 0 ? rc : 0;
		if ((rc = read_id(c, t->trace_id, 16)) < 0)
			return rc;
		if (sonde_id_is_zero(t->trace_id, 16))
			return sonde__tj_fail(&c->error, &c->r, "expected a non-zero id");
		t->has_trace = true;
		return 0;
	}
	if (sonde__tj_key_is(k, kn, "spans")) {
		at(c, NULL);
		return read_array_of(c, "spans", span_elem, t);
	}
	if (sonde__tj_key_is(k, kn, "processes")) {
		at(c, "processes");
		return read_processes(c, t);
	}
	return 1;
}

static int read_trace(jread *c, jtrace *t)
{
	const char *k;
	size_t kn;
	int rc = enter_object(c, NULL);
	if (rc < 0)
		return rc;
	while ((rc = member(c, &k, &kn)) > 0) {
		rc = trace_member(c, t, k, kn);
		if (rc == 1)
			rc = sonde_json_skip(&c->r);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	at(c, NULL);
	if ((rc = flush_trace(c, t)) < 0)
		return rc;
	pop(c);
	return 0;
}

static int read_traces(jread *c, jtrace *t)
{
	long i = 0;
	int rc;
	while ((rc = sonde_json_next_elem(&c->r)) > 0) {
		set_idx(c, i++);
		if ((rc = read_trace(c, t)) < 0)
			return rc;
	}
	return rc;
}

static int read_doc(jread *c, jtrace *top, jtrace *t)
{
	const char *k;
	size_t kn;
	int rc;
	sonde_json_tok tok = sonde_json_next(&c->r);
	push(c, NULL, -1);
	if (tok == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(&c->r);
	if (tok == SONDE_JSON_ARR_BEGIN) {
		if ((rc = read_traces(c, t)) < 0)
			return rc;
	} else if (tok == SONDE_JSON_OBJ_BEGIN) {
		/* {"data": [traces], "total": ..., "errors": ...}, or one bare trace. */
		while ((rc = member(c, &k, &kn)) > 0) {
			if (sonde__tj_key_is(k, kn, "data")) {
				at(c, "data");
				if ((rc = sonde__tj_enter_array_or_null(&c->r)) > 0)
					rc = read_traces(c, t);
			} else if ((rc = trace_member(c, top, k, kn)) == 1) {
				rc = sonde_json_skip(&c->r);
			}
			if (rc < 0)
				return rc;
		}
		if (rc < 0)
			return rc;
		at(c, NULL);
		if ((rc = flush_trace(c, top)) < 0)
			return rc;
	} else {
		return sonde__tj_fail(&c->error, &c->r,
		                      "expected a Jaeger JSON object or an array of traces");
	}
	pop(c);
	return sonde_json_finish(&c->r);
}

static void trace_free(jtrace *t)
{
	free(t->spans);
}

int sonde_jaeger_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err)
{
	size_t spans0 = b->spans_count;
	jread c;
	jtrace top, t;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	memset(&top, 0, sizeof(top));
	memset(&t, 0, sizeof(t));
	c.b = b;
	top.gen = 1;
	t.gen = 2;
	c.gen = 2;
	c.k_service_name = sonde_batch_intern(b, "service.name", 12);
	c.k_ref_type = sonde_batch_intern(b, "opentracing.ref_type", 20);
	sonde_json_reader_init(&c.r, buf, len);
	if (!c.k_service_name.ptr || !c.k_ref_type.ptr)
		rc = -ENOMEM;
	if (rc == 0)
		rc = read_doc(&c, &top, &t);
	if (rc == SONDE_EPARSE)
		report(&c, err, buf, len);
	if (rc < 0)
		b->spans_count = spans0;
	sonde_json_reader_release(&c.r);
	trace_free(&top);
	trace_free(&t);
	free(c.kvs);
	free(c.events);
	free(c.links);
	sonde_ptrmap_release(&c.scopes);
	sonde_ptrmap_release(&c.procs);
	return rc;
}
