/*
 * zipkin_read.c - Zipkin v2 JSON spans into the telemetry model (see zipkin.h).
 *
 * A span's members come in any order and its tags decide status, scope and some
 * attributes only once all are known, so each span object is first gathered into a
 * zspan (strings already copied into the batch), then turned into a sonde_span_data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "json.h"
#include "ptrmap.h"
#include "sonde/status.h"
#include "trace_json_util_internal.h"
#include "zipkin.h"

/* Tag keys the reader looks for, interned once so a tag is classified by pointer. The
 * first K_RESERVED are the span-field tags, never attributes, in the order of
 * sonde__tj_zipkin_field_tags; the rest are attribute_keys. */
enum {
	K_STATUS_CODE,
	K_STATUS_DESC,
	K_ERROR,
	K_SCOPE_NAME,
	K_SCOPE_VERSION,
	K_LIB_NAME,
	K_LIB_VERSION,
	K_DROPPED_ATTRS,
	K_DROPPED_EVENTS,
	K_DROPPED_LINKS,
	K_TRACESTATE,
	K_RESERVED,
	K_SERVICE_NAME = K_RESERVED,
	K_PEER_SERVICE,
	K_PEER_ADDR,
	K_PEER_PORT,
	K_LOCAL_ADDR,
	K_LOCAL_PORT,
	K_COUNT
};

static const char *const attribute_keys[K_COUNT - K_RESERVED] = {
        "service.name",      "peer.service",          "network.peer.address",
        "network.peer.port", "network.local.address", "network.local.port",
};

/* The text of the tag key k (a K_* value). */
static const char *key_name(int k)
{
	return k < K_RESERVED ? sonde__tj_zipkin_field_tags[k] : attribute_keys[k - K_RESERVED];
}

typedef struct tag {
	sonde_str key; /* interned */
	sonde_str val;
} tag;

typedef struct endpoint {
	sonde_str service; /* interned; empty when absent */
	sonde_str addr;    /* a valid ipv4, else a valid ipv6; empty when absent */
	uint32_t port;     /* 0 when absent */
} endpoint;

typedef struct zspan {
	bool has_trace, has_id;
	uint8_t trace_id[16], span_id[8], parent[8];
	sonde_str name;
	sonde_span_kind kind;
	bool has_ts;
	uint64_t ts_us, dur_us;
	endpoint local, remote;
} zspan;

typedef struct zread {
	sonde_batch *b;
	sonde_json_reader r;
	const char *keys[K_COUNT];
	/* Where we are, for error reports. */
	bool in_span;
	long outer;          /* index in the outer array of a list of traces, or -1 */
	size_t index;        /* span index */
	const char *field;   /* member of the span, or NULL */
	long elem;           /* annotation index, or -1 */
	const char *sub;     /* member inside field, or NULL */
	sonde__tj_err error; /* a schema error, when set */
	/* Scratch reused from span to span. */
	tag *tags;
	size_t tags_n, tags_cap;
	sonde_span_event *events;
	size_t events_n, events_cap;
	sonde_kv *kvs;
	size_t kvs_n, kvs_cap;
	sonde_buf text;
	sonde_ptrmap res;    /* service name -> resource */
	sonde_ptrmap scopes; /* name, version -> scope */
} zread;

static const sonde_str empty = {"", 0};

static int report(zread *c, sonde_wire_error *err, const char *buf, size_t len)
{
	char field[96];
	size_t k = 0;
	field[0] = '\0';
	if (c->in_span) {
		if (c->outer >= 0)
			k += (size_t)snprintf(field, sizeof(field), "[%ld]", c->outer);
		k += (size_t)snprintf(field + k, sizeof(field) - k, "[%zu]", c->index);
		if (c->field && k < sizeof(field))
			k += (size_t)snprintf(field + k, sizeof(field) - k, ".%s", c->field);
		if (c->elem >= 0 && k < sizeof(field))
			k += (size_t)snprintf(field + k, sizeof(field) - k, "[%ld]", c->elem);
		if (c->sub && k < sizeof(field))
			snprintf(field + k, sizeof(field) - k, ".%s", c->sub);
	}
	return sonde__tj_report(&c->error, &c->r, err, buf, len, field);
}

/* The next member of the object being read; forgets the member just read, so that an
 * error between members does not name it. */
static int next_member(zread *c, const char **slot, const char **k, size_t *kn)
{
	*slot = NULL;
	return sonde_json_next_key(&c->r, k, kn);
}

/* ---- Values inside annotations ------------------------------------------------------ */

/* Parses s[0..n), which must be exactly one JSON object, as the attributes of ev (and
 * its otel.dropped_attributes_count). Returns 0, SONDE_EPARSE when s is not such an
 * object (ev is then unchanged), or -ENOMEM. */
static int event_attrs(zread *c, const char *s, size_t n, sonde_span_event *ev)
{
	sonde_json_reader r;
	sonde_kv *kvs = NULL;
	size_t kn = 0, kcap = 0;
	uint32_t dropped = 0;
	const char *k;
	size_t klen;
	sonde_json_reader_init(&r, s, n);
	int rc = sonde_json_enter_object(&r);
	while (rc == 0 && (rc = sonde_json_next_key(&r, &k, &klen)) > 0) {
		bool is_dropped = sonde__tj_key_is(k, klen, key_name(K_DROPPED_ATTRS));
		sonde_str key = is_dropped ? empty : sonde_batch_intern(c->b, k, klen);
		sonde_value v;
		if (!key.ptr) {
			rc = -ENOMEM;
			break;
		}
		/* Zipkin's writer could not give an infinity back as a number. */
		rc = sonde__tj_read_value(c->b, &r, sonde_json_next(&r), true, &v, &c->text);
		if (rc < 0)
			break;
		if (is_dropped) {
			if (v.kind == SONDE_VAL_INT && v.u.i >= 0 && v.u.i <= UINT32_MAX)
				dropped = (uint32_t)v.u.i;
			continue;
		}
		rc = sonde__tj_reserve((void **)&kvs, &kcap, kn, sizeof(*kvs));
		if (rc < 0)
			break;
		kvs[kn].key = key;
		kvs[kn++].value = v;
	}
	if (rc == 0)
		rc = sonde_json_finish(&r);
	if (rc == 0) {
		sonde_kv *items = sonde__tj_batch_copy(c->b, kvs, kn, sizeof(*kvs));
		if (!items) {
			rc = -ENOMEM;
		} else {
			ev->attrs = (sonde_attrs){items, (uint32_t)kn};
			ev->dropped_attrs_count = dropped;
		}
	}
	sonde_json_reader_release(&r);
	free(kvs);
	return rc;
}

/* Decodes s[0..n), one JSON string, into an interned name. */
static int json_name(zread *c, const char *s, size_t n, sonde_str *out)
{
	sonde_json_reader r;
	const char *v;
	size_t vn;
	sonde_json_reader_init(&r, s, n);
	int rc = sonde_json_read_str(&r, &v, &vn);
	if (rc == 0) {
		*out = sonde_batch_intern(c->b, v, vn);
		if (!out->ptr)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = sonde_json_finish(&r);
	sonde_json_reader_release(&r);
	return rc;
}

/* Finds the collector's name|{json}|dropped form: sets the positions of the first and
 * last '|' and the dropped count. */
static bool collector_form(const char *v, size_t n, size_t *bar1, size_t *bar2, uint32_t *dropped)
{
	size_t a, z;
	if (!sonde__tj_zipkin_collector_bars(v, n, &a, &z) || z + 1 == n || n - z - 1 > 10)
		return false;
	uint64_t d = 0;
	for (size_t i = z + 1; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		d = d * 10 + (uint64_t)(v[i] - '0');
	}
	if (d > UINT32_MAX)
		return false;
	*bar1 = a;
	*bar2 = z;
	*dropped = (uint32_t)d;
	return true;
}

static bool json_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Turns an annotation value into ev's name and attributes: `"name":{...}` as the
 * OpenTelemetry specification writes events with attributes, `name|{...}|dropped` as the
 * collector does, anything else (or either form with bad JSON) a plain name. */
static int annotation_event(zread *c, const char *v, size_t n, sonde_span_event *ev)
{
	size_t a, z;
	uint32_t dropped;
	int rc;
	if (n > 0 && v[0] == '"') {
		size_t i = 1;
		while (i < n && v[i] != '"')
			i += v[i] == '\\' ? 2 : 1;
		size_t j = i + 1;
		while (j < n && json_space(v[j]))
			j++;
		if (i < n && j < n && v[j] == ':') {
			sonde_str name;
			rc = json_name(c, v, i + 1, &name);
			if (rc == 0)
				rc = event_attrs(c, v + j + 1, n - j - 1, ev);
			if (rc == 0) {
				ev->name = name;
				return 0;
			}
			if (rc != SONDE_EPARSE)
				return rc;
		}
	} else if (collector_form(v, n, &a, &z, &dropped)) {
		rc = event_attrs(c, v + a + 1, z - a - 1, ev);
		if (rc == 0) {
			ev->dropped_attrs_count = dropped;
			ev->name = sonde_batch_intern(c->b, v, a);
			return ev->name.ptr ? 0 : -ENOMEM;
		}
		if (rc != SONDE_EPARSE)
			return rc;
	}
	ev->name = sonde_batch_intern(c->b, v, n);
	return ev->name.ptr ? 0 : -ENOMEM;
}

/* ---- Span members ------------------------------------------------------------------- */

/* Reads a hex id: n bytes as 2n digits, or for a trace id (n == 16) also 16 digits
 * left-padded. Returns 1 for null (and for "" when empty_ok), 0 when read. */
static int read_id(zread *c, uint8_t *out, size_t n, bool empty_ok)
{
	const char *s;
	size_t sn;
	int rc = sonde__tj_take_null(&c->r);
	if (rc != 0)
		return rc;
	rc = sonde_json_read_str(&c->r, &s, &sn);
	if (rc < 0)
		return rc;
	if (sn == 0 && empty_ok)
		return 1;
	if ((rc = sonde__tj_decode_id(&c->error, &c->r, out, n, s, sn)) < 0)
		return rc;
	if (!empty_ok && sonde_id_is_zero(out, n))
		return sonde__tj_fail(&c->error, &c->r, "expected a non-zero id");
	return 0;
}

/* Reads a microsecond count; null leaves *out and *has alone. */
static int read_us(zread *c, uint64_t *out, bool *has)
{
	int rc = sonde__tj_read_us(&c->error, &c->r, out);
	if (rc == 0 && has)
		*has = true;
	return rc < 0 ? rc : 0;
}

static int read_endpoint(zread *c, endpoint *ep)
{
	const char *k, *s;
	size_t kn, sn;
	sonde_str v4 = empty, v6 = empty;
	int rc = sonde__tj_enter_object_or_null(&c->r);
	if (rc <= 0)
		return rc;
	while ((rc = next_member(c, &c->sub, &k, &kn)) > 0) {
		bool svc = sonde__tj_key_is(k, kn, "serviceName"), ip4 = sonde__tj_key_is(k, kn, "ipv4"),
		     ip6 = sonde__tj_key_is(k, kn, "ipv6");
		if (svc || ip4 || ip6) {
			c->sub = svc ? "serviceName" : ip4 ? "ipv4" : "ipv6";
			if ((rc = sonde__tj_take_null(&c->r)) != 0) {
				if (rc < 0)
					return rc;
				continue;
			}
			if ((rc = sonde_json_read_str(&c->r, &s, &sn)) < 0)
				return rc;
			if (svc && sn) {
				ep->service = sonde_batch_intern(c->b, s, sn);
				if (!ep->service.ptr)
					rc = -ENOMEM;
			} else if ((ip4 || ip6) && sonde__tj_ip_family(s, sn) == (ip4 ? AF_INET : AF_INET6)) {
				sonde_str *dst = ip4 ? &v4 : &v6;
				*dst = sonde_batch_intern(c->b, s, sn);
				if (!dst->ptr)
					rc = -ENOMEM;
			}
		} else if (sonde__tj_key_is(k, kn, "port")) {
			int64_t port;
			c->sub = "port";
			if ((rc = sonde__tj_take_null(&c->r)) != 0) {
				if (rc < 0)
					return rc;
				continue;
			}
			if ((rc = sonde_json_read_i64(&c->r, &port)) < 0)
				return rc;
			/* Zipkin reads 0 as unknown; other values outside a port are dropped too. */
			ep->port = port > 0 && port <= 65535 ? (uint32_t)port : 0;
		} else {
			rc = sonde_json_skip(&c->r);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	c->sub = NULL;
	ep->addr = v4.len ? v4 : v6;
	return 0;
}

static int read_tags(zread *c)
{
	const char *k;
	size_t kn;
	int rc = sonde__tj_enter_object_or_null(&c->r);
	if (rc <= 0)
		return rc;
	while ((rc = next_member(c, &c->sub, &k, &kn)) > 0) {
		tag t;
		t.key = sonde_batch_intern(c->b, k, kn);
		if (!t.key.ptr)
			return -ENOMEM;
		c->sub = t.key.ptr;
		sonde_json_tok tk = sonde_json_next(&c->r);
		switch (tk) {
		case SONDE_JSON_STRING: t.val = sonde_batch_strdup(c->b, c->r.str, c->r.str_len); break;
		case SONDE_JSON_NUMBER:
			/* Not Zipkin, but common: a number or bool keeps its text. */
			t.val = sonde_batch_strdup(c->b, c->r.num, c->r.num_len);
			break;
		case SONDE_JSON_TRUE: t.val = SONDE_STR_LIT("true"); break;
		case SONDE_JSON_FALSE: t.val = SONDE_STR_LIT("false"); break;
		case SONDE_JSON_NULL: continue;
		case SONDE_JSON_ERROR: return sonde__tj_tok_error(&c->r);
		default: return sonde__tj_fail(&c->error, &c->r, "expected a string");
		}
		if (!t.val.ptr)
			return -ENOMEM;
		if ((rc = sonde__tj_reserve((void **)&c->tags, &c->tags_cap, c->tags_n, sizeof(tag))) < 0)
			return rc;
		c->tags[c->tags_n++] = t;
	}
	c->sub = NULL;
	return rc;
}

static int read_annotation(zread *c)
{
	const char *k, *s;
	size_t kn, sn;
	bool has_ts = false, has_val = false;
	uint64_t ts = 0;
	int rc = sonde_json_enter_object(&c->r);
	if (rc < 0)
		return rc;
	size_t off = sonde__tj_tok_offset(&c->r);
	while ((rc = next_member(c, &c->sub, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "timestamp")) {
			c->sub = "timestamp";
			rc = read_us(c, &ts, &has_ts);
		} else if (sonde__tj_key_is(k, kn, "value")) {
			c->sub = "value";
			if ((rc = sonde__tj_take_null(&c->r)) != 0) {
				if (rc < 0)
					return rc;
				continue;
			}
			rc = sonde_json_read_str(&c->r, &s, &sn);
			if (rc == 0) {
				sonde_buf_reset(&c->text);
				sonde_buf_append(&c->text, s, sn);
				rc = c->text.oom ? -ENOMEM : 0;
				has_val = true;
			}
		} else {
			rc = sonde_json_skip(&c->r);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	c->sub = NULL;
	if (!has_ts)
		return sonde__tj_fail_at(&c->error, off, "expected a timestamp");
	if (!has_val)
		return sonde__tj_fail_at(&c->error, off, "expected a value");
	if ((rc = sonde__tj_reserve((void **)&c->events, &c->events_cap, c->events_n,
	                            sizeof(sonde_span_event))) < 0)
		return rc;
	sonde_span_event *ev = &c->events[c->events_n];
	memset(ev, 0, sizeof(*ev));
	ev->time_ns = ts * 1000;
	/* The value lives in c->text; copy it out, as parsing it reuses c->text. */
	char *copy = malloc(c->text.len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, c->text.data ? c->text.data : "", c->text.len);
	rc = annotation_event(c, copy, c->text.len, ev);
	free(copy);
	if (rc < 0)
		return rc;
	c->events_n++;
	return 0;
}

static int read_annotations(zread *c)
{
	int rc = sonde__tj_enter_array_or_null(&c->r);
	if (rc <= 0)
		return rc;
	c->elem = 0;
	while ((rc = sonde_json_next_elem(&c->r)) > 0) {
		if ((rc = read_annotation(c)) < 0)
			return rc;
		c->elem++;
	}
	if (rc == 0)
		c->elem = -1;
	return rc;
}

static int read_kind(zread *c, sonde_span_kind *kind)
{
	const char *s;
	size_t sn;
	int rc = sonde__tj_take_null(&c->r);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if ((rc = sonde_json_read_str(&c->r, &s, &sn)) < 0)
		return rc;
	if (sonde__tj_key_is(s, sn, "CLIENT"))
		*kind = SONDE_SPAN_KIND_CLIENT;
	else if (sonde__tj_key_is(s, sn, "SERVER"))
		*kind = SONDE_SPAN_KIND_SERVER;
	else if (sonde__tj_key_is(s, sn, "PRODUCER"))
		*kind = SONDE_SPAN_KIND_PRODUCER;
	else if (sonde__tj_key_is(s, sn, "CONSUMER"))
		*kind = SONDE_SPAN_KIND_CONSUMER;
	else if (sonde__tj_key_is(s, sn, "INTERNAL"))
		*kind = SONDE_SPAN_KIND_INTERNAL; /* not Zipkin's, but some exporters send it */
	else
		return sonde__tj_fail(&c->error, &c->r, "expected CLIENT, SERVER, PRODUCER or CONSUMER");
	return 0;
}

/* ---- Building the span -------------------------------------------------------------- */

static int resource_for(zread *c, sonde_str service, const sonde_resource **out)
{
	sonde_ptrmap_key key = {service.len ? service.ptr : NULL, NULL, 0};
	sonde_resource *res = sonde_ptrmap_find(&c->res, key);
	if (res) {
		*out = res;
		return 0;
	}
	if (!(res = sonde_batch_new_resource(c->b)))
		return -ENOMEM;
	if (key.a) {
		sonde_kv *kv = sonde_batch_alloc(c->b, sizeof(*kv));
		if (!kv)
			return -ENOMEM;
		sonde__tj_str_attr(kv, (sonde_str){c->keys[K_SERVICE_NAME], strlen(key_name(K_SERVICE_NAME))},
		                   service);
		res->attrs = (sonde_attrs){kv, 1};
	}
	*out = res;
	return sonde_ptrmap_add(&c->res, key, res);
}

static bool has_tag(const zread *c, const char *key)
{
	for (size_t i = 0; i < c->tags_n; i++)
		if (sonde__tj_str_is(c->tags[i].key, key))
			return true;
	return false;
}

/* True when a tag named in keys holds val. */
static bool tag_holds(const zread *c, const char *const *keys, sonde_str val)
{
	for (size_t i = 0; i < c->tags_n; i++) {
		const tag *t = &c->tags[i];
		if (t->val.len != val.len || memcmp(t->val.ptr, val.ptr, val.len) != 0)
			continue;
		for (const char *const *k = keys; *k; k++)
			if (sonde__tj_str_is(t->key, *k))
				return true;
	}
	return false;
}

static int push_attr(zread *c, int key, sonde_str val)
{
	int rc = sonde__tj_reserve((void **)&c->kvs, &c->kvs_cap, c->kvs_n, sizeof(sonde_kv));
	if (rc < 0)
		return rc;
	sonde__tj_str_attr(&c->kvs[c->kvs_n++], (sonde_str){c->keys[key], strlen(key_name(key))}, val);
	return 0;
}

static int port_str(zread *c, uint32_t port, sonde_str *out)
{
	char tmp[16];
	int n = snprintf(tmp, sizeof(tmp), "%u", port);
	*out = sonde_batch_intern(c->b, tmp, (size_t)n);
	return out->ptr ? 0 : -ENOMEM;
}

/* Attributes the endpoints carry that no tag says already. */
static int endpoint_attrs(zread *c, const zspan *z)
{
	sonde_str port;
	int rc = 0;
	if (z->local.addr.len && !has_tag(c, key_name(K_LOCAL_ADDR)))
		rc = push_attr(c, K_LOCAL_ADDR, z->local.addr);
	if (rc == 0 && z->local.port && !has_tag(c, key_name(K_LOCAL_PORT))) {
		rc = port_str(c, z->local.port, &port);
		if (rc == 0)
			rc = push_attr(c, K_LOCAL_PORT, port);
	}
	if (rc == 0 && z->remote.service.len && !has_tag(c, key_name(K_PEER_SERVICE)) &&
	    !tag_holds(c, sonde__tj_zipkin_name_sources, z->remote.service))
		rc = push_attr(c, K_PEER_SERVICE, z->remote.service);
	if (rc == 0 && z->remote.addr.len && !has_tag(c, key_name(K_PEER_ADDR)) &&
	    !tag_holds(c, sonde__tj_zipkin_addr_sources, z->remote.addr))
		rc = push_attr(c, K_PEER_ADDR, z->remote.addr);
	if (rc == 0 && z->remote.port && !has_tag(c, key_name(K_PEER_PORT))) {
		rc = port_str(c, z->remote.port, &port);
		if (rc == 0 && !tag_holds(c, sonde__tj_zipkin_port_sources, port))
			rc = push_attr(c, K_PEER_PORT, port);
	}
	return rc;
}

static bool parse_u32(sonde_str s, uint32_t *out)
{
	uint64_t v = 0;
	if (s.len == 0 || s.len > 10)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.ptr[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int finish_span(zread *c, const zspan *z, size_t obj_off)
{
	sonde_str scope_name = empty, scope_version = empty, lib_name = empty, lib_version = empty;
	sonde_str err_val = empty, desc = empty, trace_state = empty;
	bool has_err = false, has_desc = false;
	int code = 0;
	uint32_t dropped[3] = {0, 0, 0};
	int rc;

	c->field = NULL;
	if (!z->has_trace)
		return sonde__tj_fail_at(&c->error, obj_off, "expected traceId");
	if (!z->has_id)
		return sonde__tj_fail_at(&c->error, obj_off, "expected id");
	if (z->has_ts && z->dur_us > UINT64_MAX / 1000 - z->ts_us)
		return sonde__tj_fail_at(&c->error, obj_off,
		                         "expected timestamp + duration below 2^64 nanoseconds");

	c->kvs_n = 0;
	for (size_t i = 0; i < c->tags_n; i++) {
		const tag *t = &c->tags[i];
		const char *k = t->key.ptr;
		if (k == c->keys[K_STATUS_CODE]) {
			code = sonde__tj_str_is(t->val, "OK") || sonde__tj_str_is(t->val, "STATUS_CODE_OK")
			               ? SONDE_STATUS_OK
			       : sonde__tj_str_is(t->val, "ERROR") ||
			                       sonde__tj_str_is(t->val, "STATUS_CODE_ERROR")
			               ? SONDE_STATUS_ERROR
			               : SONDE_STATUS_UNSET;
		} else if (k == c->keys[K_STATUS_DESC]) {
			desc = t->val;
			has_desc = true;
		} else if (k == c->keys[K_ERROR]) {
			err_val = t->val;
			has_err = true;
		} else if (k == c->keys[K_SCOPE_NAME]) {
			scope_name = t->val;
		} else if (k == c->keys[K_SCOPE_VERSION]) {
			scope_version = t->val;
		} else if (k == c->keys[K_LIB_NAME]) {
			lib_name = t->val;
		} else if (k == c->keys[K_LIB_VERSION]) {
			lib_version = t->val;
		} else if (k == c->keys[K_DROPPED_ATTRS] || k == c->keys[K_DROPPED_EVENTS] ||
		           k == c->keys[K_DROPPED_LINKS]) {
			int which = k == c->keys[K_DROPPED_ATTRS]    ? 0
			            : k == c->keys[K_DROPPED_EVENTS] ? 1
			                                             : 2;
			uint32_t n;
			if (parse_u32(t->val, &n))
				dropped[which] = n;
		} else if (k == c->keys[K_TRACESTATE]) {
			trace_state = t->val;
		} else {
			if ((rc = sonde__tj_reserve((void **)&c->kvs, &c->kvs_cap, c->kvs_n,
			                            sizeof(sonde_kv))) < 0)
				return rc;
			sonde__tj_str_attr(&c->kvs[c->kvs_n++], t->key, t->val);
		}
	}
	if ((rc = endpoint_attrs(c, z)) < 0)
		return rc;

	const sonde_resource *res;
	const sonde_scope *scope;
	if ((rc = resource_for(c, z->local.service, &res)) < 0)
		return rc;
	if ((rc = sonde__tj_scope(c->b, &c->scopes, scope_name.len ? scope_name : lib_name,
	                          scope_version.len ? scope_version : lib_version, &scope)) < 0)
		return rc;

	sonde_kv *attrs = sonde__tj_batch_copy(c->b, c->kvs, c->kvs_n, sizeof(sonde_kv));
	sonde_span_event *events =
	        sonde__tj_batch_copy(c->b, c->events, c->events_n, sizeof(sonde_span_event));
	if (!attrs || !events)
		return -ENOMEM;

	sonde_span_data *s = sonde_batch_add_span(c->b, res, scope);
	if (!s)
		return -ENOMEM;
	memcpy(s->trace_id, z->trace_id, 16);
	memcpy(s->span_id, z->span_id, 8);
	memcpy(s->parent_span_id, z->parent, 8);
	s->name = z->name;
	s->kind = z->kind;
	s->trace_state = trace_state;
	if (z->has_ts) {
		s->start_ns = z->ts_us * 1000;
		s->end_ns = s->start_ns + z->dur_us * 1000;
	} else {
		s->end_ns = z->dur_us * 1000;
	}
	s->attrs = (sonde_attrs){attrs, (uint32_t)c->kvs_n};
	s->dropped_attrs_count = dropped[0];
	s->events = events;
	s->events_count = (uint32_t)c->events_n;
	s->dropped_events_count = dropped[1];
	s->dropped_links_count = dropped[2];
	if (has_err && !sonde__tj_str_is(err_val, "false")) {
		s->status_code = SONDE_STATUS_ERROR;
		s->status_message = !sonde__tj_str_is(err_val, "true") ? err_val : has_desc ? desc : empty;
	} else if (code != SONDE_STATUS_UNSET) {
		s->status_code = (sonde_status_code)code;
		s->status_message = has_desc ? desc : empty;
	}
	return 0;
}

static int read_span(zread *c)
{
	zspan z;
	const char *k, *s;
	size_t kn, sn;
	int rc;

	memset(&z, 0, sizeof(z));
	z.name = empty;
	z.kind = SONDE_SPAN_KIND_INTERNAL;
	z.local.service = z.local.addr = z.remote.service = z.remote.addr = empty;
	c->tags_n = c->events_n = 0;
	c->in_span = true;
	c->field = c->sub = NULL;
	c->elem = -1;
	sonde_json_tok t = sonde_json_next(&c->r);
	if (t == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(&c->r);
	if (t != SONDE_JSON_OBJ_BEGIN)
		return sonde__tj_fail(&c->error, &c->r, "expected a span object");
	size_t obj_off = sonde__tj_tok_offset(&c->r);
	while ((rc = next_member(c, &c->field, &k, &kn)) > 0) {
		if (sonde__tj_key_is(k, kn, "traceId")) {
			c->field = "traceId";
			rc = read_id(c, z.trace_id, 16, false);
			z.has_trace = rc == 0;
		} else if (sonde__tj_key_is(k, kn, "id")) {
			c->field = "id";
			rc = read_id(c, z.span_id, 8, false);
			z.has_id = rc == 0;
		} else if (sonde__tj_key_is(k, kn, "parentId")) {
			c->field = "parentId";
			rc = read_id(c, z.parent, 8, true);
			if (rc == 1)
				memset(z.parent, 0, 8);
		} else if (sonde__tj_key_is(k, kn, "name")) {
			c->field = "name";
			if ((rc = sonde__tj_take_null(&c->r)) == 0 &&
			    (rc = sonde_json_read_str(&c->r, &s, &sn)) == 0) {
				z.name = sonde_batch_intern(c->b, s, sn);
				if (!z.name.ptr)
					rc = -ENOMEM;
			}
		} else if (sonde__tj_key_is(k, kn, "kind")) {
			c->field = "kind";
			rc = read_kind(c, &z.kind);
		} else if (sonde__tj_key_is(k, kn, "timestamp")) {
			c->field = "timestamp";
			rc = read_us(c, &z.ts_us, &z.has_ts);
		} else if (sonde__tj_key_is(k, kn, "duration")) {
			c->field = "duration";
			rc = read_us(c, &z.dur_us, NULL);
		} else if (sonde__tj_key_is(k, kn, "localEndpoint")) {
			c->field = "localEndpoint";
			rc = read_endpoint(c, &z.local);
		} else if (sonde__tj_key_is(k, kn, "remoteEndpoint")) {
			c->field = "remoteEndpoint";
			rc = read_endpoint(c, &z.remote);
		} else if (sonde__tj_key_is(k, kn, "annotations")) {
			c->field = "annotations";
			rc = read_annotations(c);
		} else if (sonde__tj_key_is(k, kn, "tags")) {
			c->field = "tags";
			rc = read_tags(c);
		} else if (sonde__tj_key_is(k, kn, "debug") || sonde__tj_key_is(k, kn, "shared")) {
			bool flag;
			c->field = kn == 5 ? "debug" : "shared";
			if ((rc = sonde__tj_take_null(&c->r)) == 0)
				rc = sonde_json_read_bool(&c->r, &flag);
		} else {
			rc = sonde_json_skip(&c->r);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if ((rc = finish_span(c, &z, obj_off)) < 0)
		return rc;
	c->in_span = false;
	return 0;
}

static int read_doc(zread *c)
{
	int rc;
	sonde_json_tok t = sonde_json_next(&c->r);
	if (t == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(&c->r);
	if (t != SONDE_JSON_ARR_BEGIN)
		return sonde__tj_fail(&c->error, &c->r, "expected a JSON array of Zipkin spans");
	c->outer = -1;
	size_t index = 0, outer = 0;
	while ((rc = sonde_json_next_elem(&c->r)) > 0) {
		t = sonde_json_peek(&c->r);
		if (t == SONDE_JSON_ARR_BEGIN) {
			/* A list of traces, each a list of spans. */
			sonde_json_next(&c->r);
			c->outer = (long)outer++;
			size_t inner = 0;
			while ((rc = sonde_json_next_elem(&c->r)) > 0) {
				c->index = inner++;
				if ((rc = read_span(c)) < 0)
					return rc;
			}
			if (rc < 0)
				return rc;
			c->outer = -1;
		} else {
			c->index = index++;
			if ((rc = read_span(c)) < 0)
				return rc;
		}
	}
	if (rc == 0)
		rc = sonde_json_finish(&c->r);
	return rc;
}

int sonde_zipkin_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err)
{
	size_t spans0 = b->spans_count;
	zread c;
	int rc = 0;

	memset(&c, 0, sizeof(c));
	c.b = b;
	c.outer = c.elem = -1;
	sonde_buf_init(&c.text);
	for (int i = 0; i < K_COUNT && rc == 0; i++) {
		c.keys[i] = sonde_batch_intern(b, key_name(i), strlen(key_name(i))).ptr;
		if (!c.keys[i])
			rc = -ENOMEM;
	}
	sonde_json_reader_init(&c.r, buf, len);
	if (rc == 0)
		rc = read_doc(&c);
	if (rc == SONDE_EPARSE)
		report(&c, err, buf, len);
	if (rc < 0)
		b->spans_count = spans0;
	sonde_json_reader_release(&c.r);
	sonde_buf_release(&c.text);
	free(c.tags);
	free(c.events);
	free(c.kvs);
	sonde_ptrmap_release(&c.res);
	sonde_ptrmap_release(&c.scopes);
	return rc;
}
