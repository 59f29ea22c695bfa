/*
 * store_codec.c - the store's compact encoding of attributes, events, links, resources,
 * scopes, log details and metric points (see store_codec_internal.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "json.h"
#include "store.h"
#include "store_codec_internal.h"

/* ---- Well-known attribute keys ----------------------------------------------------------
 * Span attributes are mostly OpenTelemetry semantic-convention keys, the same few dozen
 * in every row. sonde__enc_attrs_known writes a key of this list as a reference: the
 * bytes 0x80 0x00 (a varint 0 in a non-canonical form, which no length written by
 * sonde__enc_str ever is) and then the key's index as a varint; every decoder of an
 * attribute key reads both forms. The list is part of the stored format: entries are
 * only ever appended, never changed, removed or reordered. */
#define K(s)                    \
	{                       \
		s, sizeof s - 1 \
	}
static const struct known_key {
	const char *s;
	size_t n;
} known_keys[] = {
        /* HTTP, current conventions */
        K("http.request.method"),
        K("http.response.status_code"),
        K("http.route"),
        K("url.full"),
        K("url.path"),
        K("url.query"),
        K("url.scheme"),
        K("server.address"),
        K("server.port"),
        K("client.address"),
        K("client.port"),
        K("network.protocol.name"),
        K("network.protocol.version"),
        K("network.peer.address"),
        K("network.peer.port"),
        K("network.transport"),
        K("network.type"),
        K("user_agent.original"),
        K("http.request.body.size"),
        K("http.response.body.size"),
        K("http.request.method_original"),
        K("error.type"),
        /* exceptions (event attributes) */
        K("exception.type"),
        K("exception.message"),
        K("exception.stacktrace"),
        K("exception.escaped"),
        /* databases */
        K("db.system"),
        K("db.system.name"),
        K("db.statement"),
        K("db.query.text"),
        K("db.operation"),
        K("db.operation.name"),
        K("db.name"),
        K("db.namespace"),
        K("db.collection.name"),
        K("db.sql.table"),
        K("db.user"),
        K("db.response.status_code"),
        K("db.response.returned_rows"),
        K("db.connection_string"),
        K("db.redis.database_index"),
        K("db.mongodb.collection"),
        /* RPC */
        K("rpc.system"),
        K("rpc.service"),
        K("rpc.method"),
        K("rpc.grpc.status_code"),
        /* messaging */
        K("messaging.system"),
        K("messaging.operation"),
        K("messaging.operation.name"),
        K("messaging.operation.type"),
        K("messaging.destination.name"),
        K("messaging.message.id"),
        K("messaging.batch.message_count"),
        K("messaging.kafka.destination.partition"),
        K("messaging.kafka.message.offset"),
        K("messaging.client.id"),
        /* code and threads */
        K("code.function"),
        K("code.function.name"),
        K("code.namespace"),
        K("code.filepath"),
        K("code.file.path"),
        K("code.lineno"),
        K("code.line.number"),
        K("thread.id"),
        K("thread.name"),
        /* older HTTP and network conventions, still emitted by many SDKs */
        K("http.method"),
        K("http.status_code"),
        K("http.url"),
        K("http.target"),
        K("http.host"),
        K("http.scheme"),
        K("http.flavor"),
        K("http.user_agent"),
        K("http.request_content_length"),
        K("http.response_content_length"),
        K("net.peer.name"),
        K("net.peer.port"),
        K("net.peer.ip"),
        K("net.host.name"),
        K("net.host.port"),
        K("net.transport"),
        K("net.sock.peer.addr"),
        K("net.sock.peer.port"),
        /* general */
        K("peer.service"),
        K("enduser.id"),
        K("otel.status_code"),
        K("otel.status_description"),
        K("otel.scope.name"),
        K("otel.library.name"),
        K("component"),
        K("span.kind"),
        K("service.name"),
        K("host.name"),
        K("process.pid"),
        K("session.id"),
        K("user.id"),
        K("feature_flag.key"),
        K("graphql.operation.name"),
        K("graphql.operation.type"),
        K("graphql.document"),
        K("aws.region"),
        K("cloud.region"),
        K("faas.trigger"),
        K("faas.invoked_name"),
};
#undef K
enum { KNOWN_KEYS = sizeof known_keys / sizeof known_keys[0], KEY_SLOTS = 512 };
static uint16_t key_slots[KEY_SLOTS]; /* 1 + index into known_keys; 0: empty */
static pthread_once_t key_slots_once = PTHREAD_ONCE_INIT;

static inline uint32_t key_hash(const char *p, size_t n)
{
	uint64_t a = 0, b = 0;
	memcpy(&a, p, n < 8 ? n : 8);
	if (n > 8)
		memcpy(&b, p + n - 8, 8);
	uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL) ^ n) * 0xff51afd7ed558ccdULL;
	return (uint32_t)(h >> 40) & (KEY_SLOTS - 1);
}

static void key_slots_build(void)
{
	for (size_t i = 0; i < KNOWN_KEYS; i++) {
		uint32_t h = key_hash(known_keys[i].s, known_keys[i].n);
		while (key_slots[h])
			h = (h + 1) & (KEY_SLOTS - 1);
		key_slots[h] = (uint16_t)(i + 1);
	}
}

/* The index of key in known_keys, or -1. */
static int known_key_index(sonde_str key)
{
	if (key.len < 4 || key.len > 40)
		return -1;
	for (uint32_t h = key_hash(key.ptr, key.len);; h = (h + 1) & (KEY_SLOTS - 1)) {
		unsigned ix = key_slots[h];
		if (!ix)
			return -1;
		const struct known_key *k = &known_keys[ix - 1];
		if (k->n == key.len && memcmp(k->s, key.ptr, key.len) == 0)
			return (int)ix - 1;
	}
}

/* ---- Encoding ------------------------------------------------------------------------ */

void sonde__enc_varint(sonde_buf *out, uint64_t v)
{
	if (v < 0x80) { /* most counts, lengths and small numbers */
		sonde_buf_putc(out, (char)v);
		return;
	}
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	sonde_buf_append(out, tmp, n);
}

static void enc_zigzag(sonde_buf *out, int64_t v)
{
	sonde__enc_varint(out, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void enc_double(sonde_buf *out, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	uint8_t tmp[8];
	for (int i = 0; i < 8; i++)
		tmp[i] = (uint8_t)(u >> (8 * i));
	sonde_buf_append(out, tmp, 8);
}

void sonde__enc_str(sonde_buf *out, sonde_str s)
{
	sonde__enc_varint(out, s.len);
	if (s.len)
		sonde_buf_append(out, s.ptr, s.len);
}

void sonde__enc_value(sonde_buf *out, const sonde_value *v)
{
	sonde_buf_putc(out, (char)v->kind);
	switch (v->kind) {
	case SONDE_VAL_EMPTY: break;
	case SONDE_VAL_STRING:
	case SONDE_VAL_BYTES: sonde__enc_str(out, v->u.str); break;
	case SONDE_VAL_BOOL: sonde_buf_putc(out, v->u.b ? 1 : 0); break;
	case SONDE_VAL_INT: enc_zigzag(out, v->u.i); break;
	case SONDE_VAL_DOUBLE: enc_double(out, v->u.d); break;
	case SONDE_VAL_ARRAY:
		sonde__enc_varint(out, v->u.array.count);
		for (uint32_t i = 0; i < v->u.array.count; i++)
			sonde__enc_value(out, &v->u.array.items[i]);
		break;
	case SONDE_VAL_KVLIST: sonde__enc_attrs(out, &v->u.kvlist); break;
	}
}

void sonde__enc_attrs(sonde_buf *out, const sonde_attrs *a)
{
	sonde__enc_varint(out, a->count);
	for (uint32_t i = 0; i < a->count; i++) {
		sonde__enc_str(out, a->items[i].key);
		sonde__enc_value(out, &a->items[i].value);
	}
}

void sonde__enc_attrs_known(sonde_buf *out, const sonde_attrs *a)
{
	pthread_once(&key_slots_once, key_slots_build);
	sonde__enc_varint(out, a->count);
	for (uint32_t i = 0; i < a->count; i++) {
		int ix = known_key_index(a->items[i].key);
		if (ix >= 0) {
			sonde_buf_append(out, "\x80", 2); /* 0x80 0x00 */
			sonde__enc_varint(out, (uint64_t)ix);
		} else {
			sonde__enc_str(out, a->items[i].key);
		}
		sonde__enc_value(out, &a->items[i].value);
	}
}

void sonde__enc_resource(sonde_buf *out, const sonde_resource *r)
{
	sonde__enc_attrs(out, &r->attrs);
	sonde__enc_varint(out, r->dropped_attrs_count);
	sonde__enc_str(out, r->schema_url);
}

void sonde__enc_scope(sonde_buf *out, const sonde_scope *s)
{
	sonde__enc_str(out, s->name);
	sonde__enc_str(out, s->version);
	sonde__enc_attrs(out, &s->attrs);
	sonde__enc_varint(out, s->dropped_attrs_count);
	sonde__enc_str(out, s->schema_url);
}

void sonde__enc_span_rest(sonde_buf *out, const sonde_span_data *sp)
{
	sonde__enc_varint(out, sp->flags);
	sonde__enc_str(out, sp->trace_state);
	sonde__enc_varint(out, sp->dropped_attrs_count);
	sonde__enc_str(out, sp->status_message);
	sonde__enc_varint(out, sp->events_count);
	for (uint32_t i = 0; i < sp->events_count; i++) {
		const sonde_span_event *e = &sp->events[i];
		sonde__enc_varint(out, e->time_ns);
		sonde__enc_str(out, e->name);
		sonde__enc_attrs(out, &e->attrs);
		sonde__enc_varint(out, e->dropped_attrs_count);
	}
	sonde__enc_varint(out, sp->dropped_events_count);
	sonde__enc_varint(out, sp->links_count);
	for (uint32_t i = 0; i < sp->links_count; i++) {
		const sonde_span_link *l = &sp->links[i];
		sonde_buf_append(out, l->trace_id, 16);
		sonde_buf_append(out, l->span_id, 8);
		sonde__enc_str(out, l->trace_state);
		sonde__enc_attrs(out, &l->attrs);
		sonde__enc_varint(out, l->dropped_attrs_count);
		sonde__enc_varint(out, l->flags);
	}
	sonde__enc_varint(out, sp->dropped_links_count);
}

void sonde__enc_log_rest(sonde_buf *out, const sonde_log_data *lg)
{
	sonde__enc_varint(out, lg->time_ns);
	sonde__enc_varint(out, lg->observed_time_ns);
	sonde__enc_str(out, lg->severity_text);
	sonde__enc_attrs(out, &lg->attrs);
	sonde__enc_varint(out, lg->dropped_attrs_count);
	sonde__enc_varint(out, lg->flags);
	sonde__enc_str(out, lg->event_name);
	if (lg->body.kind == SONDE_VAL_STRING) {
		sonde_buf_putc(out, 0);
	} else {
		sonde_buf_putc(out, 1);
		sonde__enc_value(out, &lg->body);
	}
}

void sonde__enc_metric_meta(sonde_buf *out, const sonde_metric_data *m)
{
	sonde__enc_str(out, m->description);
	sonde__enc_str(out, m->unit);
	sonde__enc_attrs(out, &m->metadata);
	sonde__enc_varint(out, (uint64_t)m->temporality);
	sonde_buf_putc(out, m->is_monotonic ? 1 : 0);
}

static void enc_u64s(sonde_buf *out, const uint64_t *v, uint32_t n)
{
	sonde__enc_varint(out, n);
	for (uint32_t i = 0; i < n; i++)
		sonde__enc_varint(out, v[i]);
}

void sonde__enc_point_rest(sonde_buf *out, sonde_metric_type type, const sonde_point *p)
{
	sonde__enc_varint(out, p->start_time_ns);
	sonde__enc_varint(out, p->flags);
	sonde__enc_varint(out, p->exemplars_count);
	for (uint32_t i = 0; i < p->exemplars_count; i++) {
		const sonde_exemplar *e = &p->exemplars[i];
		sonde__enc_attrs(out, &e->filtered_attrs);
		sonde__enc_varint(out, e->time_ns);
		sonde_buf_putc(out, (char)e->value_kind);
		if (e->value_kind == SONDE_NUM_DOUBLE)
			enc_double(out, e->value.d);
		else
			enc_zigzag(out, e->value.i);
		sonde_buf_append(out, e->span_id, 8);
		sonde_buf_append(out, e->trace_id, 16);
	}
	switch (type) {
	case SONDE_METRIC_HISTOGRAM:
		sonde__enc_varint(out, p->u.hist.count);
		sonde_buf_putc(out,
		               (char)(p->u.hist.has_sum | p->u.hist.has_min << 1 | p->u.hist.has_max << 2));
		enc_double(out, p->u.hist.sum);
		enc_double(out, p->u.hist.min);
		enc_double(out, p->u.hist.max);
		enc_u64s(out, p->u.hist.bucket_counts, p->u.hist.bucket_counts_count);
		sonde__enc_varint(out, p->u.hist.bounds_count);
		for (uint32_t i = 0; i < p->u.hist.bounds_count; i++)
			enc_double(out, p->u.hist.bounds[i]);
		break;
	case SONDE_METRIC_EXP_HISTOGRAM:
		sonde__enc_varint(out, p->u.exp.count);
		sonde_buf_putc(out, (char)(p->u.exp.has_sum | p->u.exp.has_min << 1 | p->u.exp.has_max << 2));
		enc_double(out, p->u.exp.sum);
		enc_double(out, p->u.exp.min);
		enc_double(out, p->u.exp.max);
		enc_zigzag(out, p->u.exp.scale);
		sonde__enc_varint(out, p->u.exp.zero_count);
		enc_double(out, p->u.exp.zero_threshold);
		enc_zigzag(out, p->u.exp.positive.offset);
		enc_u64s(out, p->u.exp.positive.counts, p->u.exp.positive.count);
		enc_zigzag(out, p->u.exp.negative.offset);
		enc_u64s(out, p->u.exp.negative.counts, p->u.exp.negative.count);
		break;
	case SONDE_METRIC_SUMMARY:
		sonde__enc_varint(out, p->u.summary.count);
		enc_double(out, p->u.summary.sum);
		sonde__enc_varint(out, p->u.summary.quantiles_count);
		for (uint32_t i = 0; i < p->u.summary.quantiles_count; i++) {
			enc_double(out, p->u.summary.quantiles[i].quantile);
			enc_double(out, p->u.summary.quantiles[i].value);
		}
		break;
	default: break;
	}
}

/* ---- Decoding ------------------------------------------------------------------------ */

int sonde__dec_varint(sonde__dec *d, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (d->p >= d->end)
			return -1;
		uint8_t c = *d->p++;
		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

static int dec_u32(sonde__dec *d, uint32_t *v)
{
	uint64_t x;
	if (sonde__dec_varint(d, &x) < 0 || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int dec_zigzag(sonde__dec *d, int64_t *v)
{
	uint64_t x;
	if (sonde__dec_varint(d, &x) < 0)
		return -1;
	*v = (int64_t)(x >> 1) ^ -(int64_t)(x & 1);
	return 0;
}

static int dec_double(sonde__dec *d, double *v)
{
	if (d->end - d->p < 8)
		return -1;
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)d->p[i] << (8 * i);
	d->p += 8;
	memcpy(v, &u, 8);
	return 0;
}

static int dec_byte(sonde__dec *d, uint8_t *v)
{
	if (d->p >= d->end)
		return -1;
	*v = *d->p++;
	return 0;
}

static int dec_raw(sonde__dec *d, void *dst, size_t n)
{
	if ((size_t)(d->end - d->p) < n)
		return -1;
	memcpy(dst, d->p, n);
	d->p += n;
	return 0;
}

/* A count of items each at least min_bytes long, checked against what is left so that a
 * damaged count cannot make the decoder allocate gigabytes. */
static int dec_count(sonde__dec *d, uint32_t *n, size_t min_bytes)
{
	if (dec_u32(d, n) < 0)
		return -1;
	if ((uint64_t)*n * min_bytes > (uint64_t)(d->end - d->p))
		return -1;
	return 0;
}

static int dec_bytes(sonde__dec *d, const uint8_t **p, size_t *n)
{
	uint64_t len;
	if (sonde__dec_varint(d, &len) < 0 || len > (uint64_t)(d->end - d->p))
		return -1;
	*p = d->p;
	*n = (size_t)len;
	d->p += len;
	return 0;
}

int sonde__dec_str(sonde__dec *d, sonde_str *s)
{
	const uint8_t *p;
	size_t n;
	if (dec_bytes(d, &p, &n) < 0)
		return -1;
	if (n == 0) {
		*s = SONDE_STR_LIT("");
		return 0;
	}
	*s = sonde_batch_strdup(d->b, (const char *)p, n);
	return s->ptr ? 0 : -ENOMEM;
}

/* A key: its bytes, or a reference to known_keys (see there). */
static int dec_key_bytes(sonde__dec *d, const uint8_t **p, size_t *n)
{
	if (d->end - d->p >= 2 && d->p[0] == 0x80 && d->p[1] == 0x00) {
		uint64_t ix;
		d->p += 2;
		if (sonde__dec_varint(d, &ix) < 0 || ix >= KNOWN_KEYS)
			return -1;
		*p = (const uint8_t *)known_keys[ix].s;
		*n = known_keys[ix].n;
		return 0;
	}
	return dec_bytes(d, p, n);
}

static int dec_key(sonde__dec *d, sonde_str *s)
{
	const uint8_t *p;
	size_t n;
	if (dec_key_bytes(d, &p, &n) < 0)
		return -1;
	*s = sonde_batch_intern(d->b, (const char *)p, n);
	return s->ptr ? 0 : -ENOMEM;
}

int sonde__dec_value(sonde__dec *d, sonde_value *v, int depth)
{
	uint8_t kind;
	int rc;
	if (depth > SONDE__CODEC_MAX_DEPTH || dec_byte(d, &kind) < 0)
		return -1;
	memset(v, 0, sizeof *v);
	v->kind = (sonde_value_kind)kind;
	switch (kind) {
	case SONDE_VAL_EMPTY: return 0;
	case SONDE_VAL_STRING:
	case SONDE_VAL_BYTES: return sonde__dec_str(d, &v->u.str);
	case SONDE_VAL_BOOL: {
		uint8_t b;
		if (dec_byte(d, &b) < 0 || b > 1)
			return -1;
		v->u.b = b;
		return 0;
	}
	case SONDE_VAL_INT: return dec_zigzag(d, &v->u.i);
	case SONDE_VAL_DOUBLE: return dec_double(d, &v->u.d);
	case SONDE_VAL_ARRAY: {
		uint32_t n;
		if (dec_count(d, &n, 1) < 0)
			return -1;
		v->u.array.count = n;
		if (n == 0)
			return 0;
		v->u.array.items = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_value));
		if (!v->u.array.items)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++)
			if ((rc = sonde__dec_value(d, &v->u.array.items[i], depth + 1)) < 0)
				return rc;
		return 0;
	}
	case SONDE_VAL_KVLIST: return sonde__dec_attrs(d, &v->u.kvlist, depth + 1);
	default: return -1;
	}
}

int sonde__dec_attrs(sonde__dec *d, sonde_attrs *a, int depth)
{
	uint32_t n;
	int rc;
	a->items = NULL;
	a->count = 0;
	if (depth > SONDE__CODEC_MAX_DEPTH || dec_count(d, &n, 2) < 0)
		return -1;
	if (n == 0)
		return 0;
	sonde_kv *items = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_kv));
	if (!items)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = dec_key(d, &items[i].key)) < 0 ||
		    (rc = sonde__dec_value(d, &items[i].value, depth)) < 0)
			return rc;
	}
	a->items = items;
	a->count = n;
	return 0;
}

int sonde__dec_resource(sonde__dec *d, sonde_resource *r)
{
	int rc;
	if ((rc = sonde__dec_attrs(d, &r->attrs, 0)) < 0 || (rc = dec_u32(d, &r->dropped_attrs_count)) < 0 ||
	    (rc = sonde__dec_str(d, &r->schema_url)) < 0)
		return rc;
	return 0;
}

int sonde__dec_scope(sonde__dec *d, sonde_scope *s)
{
	int rc;
	if ((rc = sonde__dec_str(d, &s->name)) < 0 || (rc = sonde__dec_str(d, &s->version)) < 0 ||
	    (rc = sonde__dec_attrs(d, &s->attrs, 0)) < 0 || (rc = dec_u32(d, &s->dropped_attrs_count)) < 0 ||
	    (rc = sonde__dec_str(d, &s->schema_url)) < 0)
		return rc;
	return 0;
}

int sonde__dec_span_rest(sonde__dec *d, sonde_span_data *sp)
{
	int rc;
	uint32_t n;
	if ((rc = dec_u32(d, &sp->flags)) < 0 || (rc = sonde__dec_str(d, &sp->trace_state)) < 0 ||
	    (rc = dec_u32(d, &sp->dropped_attrs_count)) < 0 ||
	    (rc = sonde__dec_str(d, &sp->status_message)) < 0 || (rc = dec_count(d, &n, 4)) < 0)
		return rc;
	if (n) {
		sp->events = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_span_event));
		if (!sp->events)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			sonde_span_event *e = &sp->events[i];
			if ((rc = sonde__dec_varint(d, &e->time_ns)) < 0 || (rc = dec_key(d, &e->name)) < 0 ||
			    (rc = sonde__dec_attrs(d, &e->attrs, 0)) < 0 ||
			    (rc = dec_u32(d, &e->dropped_attrs_count)) < 0)
				return rc;
		}
	}
	sp->events_count = n;
	if ((rc = dec_u32(d, &sp->dropped_events_count)) < 0 || (rc = dec_count(d, &n, 28)) < 0)
		return rc;
	if (n) {
		sp->links = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_span_link));
		if (!sp->links)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			sonde_span_link *l = &sp->links[i];
			if ((rc = dec_raw(d, l->trace_id, 16)) < 0 || (rc = dec_raw(d, l->span_id, 8)) < 0 ||
			    (rc = sonde__dec_str(d, &l->trace_state)) < 0 ||
			    (rc = sonde__dec_attrs(d, &l->attrs, 0)) < 0 ||
			    (rc = dec_u32(d, &l->dropped_attrs_count)) < 0 ||
			    (rc = dec_u32(d, &l->flags)) < 0)
				return rc;
		}
	}
	sp->links_count = n;
	return dec_u32(d, &sp->dropped_links_count);
}

int sonde__dec_log_rest(sonde__dec *d, sonde_log_data *lg)
{
	int rc;
	uint8_t has_body;
	if ((rc = sonde__dec_varint(d, &lg->time_ns)) < 0 ||
	    (rc = sonde__dec_varint(d, &lg->observed_time_ns)) < 0 ||
	    (rc = dec_key(d, &lg->severity_text)) < 0 || (rc = sonde__dec_attrs(d, &lg->attrs, 0)) < 0 ||
	    (rc = dec_u32(d, &lg->dropped_attrs_count)) < 0 || (rc = dec_u32(d, &lg->flags)) < 0 ||
	    (rc = sonde__dec_str(d, &lg->event_name)) < 0 || (rc = dec_byte(d, &has_body)) < 0)
		return rc;
	if (has_body > 1)
		return -1;
	if (has_body)
		return sonde__dec_value(d, &lg->body, 0);
	return 0;
}

int sonde__dec_metric_meta(sonde__dec *d, sonde_metric_data *m)
{
	int rc;
	uint64_t t;
	uint8_t mono;
	if ((rc = sonde__dec_str(d, &m->description)) < 0 || (rc = dec_key(d, &m->unit)) < 0 ||
	    (rc = sonde__dec_attrs(d, &m->metadata, 0)) < 0 || (rc = sonde__dec_varint(d, &t)) < 0 ||
	    (rc = dec_byte(d, &mono)) < 0)
		return rc;
	if (t > SONDE_TEMPORALITY_CUMULATIVE || mono > 1)
		return -1;
	m->temporality = (sonde_temporality)t;
	m->is_monotonic = mono;
	return 0;
}

static int dec_u64s(sonde__dec *d, uint64_t **v, uint32_t *n)
{
	if (dec_count(d, n, 1) < 0)
		return -1;
	*v = NULL;
	if (*n == 0)
		return 0;
	*v = sonde_batch_alloc(d->b, (size_t)*n * sizeof(uint64_t));
	if (!*v)
		return -ENOMEM;
	for (uint32_t i = 0; i < *n; i++)
		if (sonde__dec_varint(d, &(*v)[i]) < 0)
			return -1;
	return 0;
}

static int dec_flags3(sonde__dec *d, bool *a, bool *b, bool *c)
{
	uint8_t f;
	if (dec_byte(d, &f) < 0 || f > 7)
		return -1;
	*a = f & 1;
	*b = (f >> 1) & 1;
	*c = (f >> 2) & 1;
	return 0;
}

static int dec_i32(sonde__dec *d, int32_t *v)
{
	int64_t x;
	if (dec_zigzag(d, &x) < 0 || x < INT32_MIN || x > INT32_MAX)
		return -1;
	*v = (int32_t)x;
	return 0;
}

int sonde__dec_point_rest(sonde__dec *d, sonde_metric_type type, sonde_point *p)
{
	int rc;
	uint32_t n;
	if ((rc = sonde__dec_varint(d, &p->start_time_ns)) < 0 || (rc = dec_u32(d, &p->flags)) < 0 ||
	    (rc = dec_count(d, &n, 27)) < 0)
		return rc;
	if (n) {
		p->exemplars = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_exemplar));
		if (!p->exemplars)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			sonde_exemplar *e = &p->exemplars[i];
			uint8_t kind;
			if ((rc = sonde__dec_attrs(d, &e->filtered_attrs, 0)) < 0 ||
			    (rc = sonde__dec_varint(d, &e->time_ns)) < 0 || (rc = dec_byte(d, &kind)) < 0)
				return rc;
			if (kind > SONDE_NUM_INT)
				return -1;
			e->value_kind = (sonde_num_kind)kind;
			if (kind == SONDE_NUM_DOUBLE)
				rc = dec_double(d, &e->value.d);
			else
				rc = dec_zigzag(d, &e->value.i);
			if (rc < 0 || (rc = dec_raw(d, e->span_id, 8)) < 0 ||
			    (rc = dec_raw(d, e->trace_id, 16)) < 0)
				return rc;
		}
	}
	p->exemplars_count = n;
	switch (type) {
	case SONDE_METRIC_HISTOGRAM:
		if ((rc = sonde__dec_varint(d, &p->u.hist.count)) < 0 ||
		    (rc = dec_flags3(d, &p->u.hist.has_sum, &p->u.hist.has_min, &p->u.hist.has_max)) < 0 ||
		    (rc = dec_double(d, &p->u.hist.sum)) < 0 || (rc = dec_double(d, &p->u.hist.min)) < 0 ||
		    (rc = dec_double(d, &p->u.hist.max)) < 0 ||
		    (rc = dec_u64s(d, &p->u.hist.bucket_counts, &p->u.hist.bucket_counts_count)) < 0 ||
		    (rc = dec_count(d, &n, 8)) < 0)
			return rc;
		p->u.hist.bounds_count = n;
		if (n) {
			p->u.hist.bounds = sonde_batch_alloc(d->b, (size_t)n * sizeof(double));
			if (!p->u.hist.bounds)
				return -ENOMEM;
			for (uint32_t i = 0; i < n; i++)
				if (dec_double(d, &p->u.hist.bounds[i]) < 0)
					return -1;
		}
		return 0;
	case SONDE_METRIC_EXP_HISTOGRAM:
		if ((rc = sonde__dec_varint(d, &p->u.exp.count)) < 0 ||
		    (rc = dec_flags3(d, &p->u.exp.has_sum, &p->u.exp.has_min, &p->u.exp.has_max)) < 0 ||
		    (rc = dec_double(d, &p->u.exp.sum)) < 0 || (rc = dec_double(d, &p->u.exp.min)) < 0 ||
		    (rc = dec_double(d, &p->u.exp.max)) < 0 || (rc = dec_i32(d, &p->u.exp.scale)) < 0 ||
		    (rc = sonde__dec_varint(d, &p->u.exp.zero_count)) < 0 ||
		    (rc = dec_double(d, &p->u.exp.zero_threshold)) < 0 ||
		    (rc = dec_i32(d, &p->u.exp.positive.offset)) < 0 ||
		    (rc = dec_u64s(d, &p->u.exp.positive.counts, &p->u.exp.positive.count)) < 0 ||
		    (rc = dec_i32(d, &p->u.exp.negative.offset)) < 0 ||
		    (rc = dec_u64s(d, &p->u.exp.negative.counts, &p->u.exp.negative.count)) < 0)
			return rc;
		return 0;
	case SONDE_METRIC_SUMMARY:
		if ((rc = sonde__dec_varint(d, &p->u.summary.count)) < 0 ||
		    (rc = dec_double(d, &p->u.summary.sum)) < 0 || (rc = dec_count(d, &n, 16)) < 0)
			return rc;
		p->u.summary.quantiles_count = n;
		if (n) {
			p->u.summary.quantiles = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_quantile));
			if (!p->u.summary.quantiles)
				return -ENOMEM;
			for (uint32_t i = 0; i < n; i++)
				if (dec_double(d, &p->u.summary.quantiles[i].quantile) < 0 ||
				    dec_double(d, &p->u.summary.quantiles[i].value) < 0)
					return -1;
		}
		return 0;
	default: return 0;
	}
}

/* ---- Attribute lookup without decoding -------------------------------------------- */

static int skip_value(sonde__dec *d, int depth);

static int skip_attrs(sonde__dec *d, int depth)
{
	uint32_t n;
	if (depth > SONDE__CODEC_MAX_DEPTH || dec_count(d, &n, 2) < 0)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p;
		size_t len;
		if (dec_key_bytes(d, &p, &len) < 0 || skip_value(d, depth) < 0)
			return -1;
	}
	return 0;
}

static int skip_value(sonde__dec *d, int depth)
{
	uint8_t kind;
	uint64_t x;
	const uint8_t *p;
	size_t n;
	if (depth > SONDE__CODEC_MAX_DEPTH || dec_byte(d, &kind) < 0)
		return -1;
	switch (kind) {
	case SONDE_VAL_EMPTY: return 0;
	case SONDE_VAL_STRING:
	case SONDE_VAL_BYTES: return dec_bytes(d, &p, &n);
	case SONDE_VAL_BOOL: return dec_byte(d, &kind);
	case SONDE_VAL_INT: return sonde__dec_varint(d, &x);
	case SONDE_VAL_DOUBLE: return dec_raw(d, &x, 8);
	case SONDE_VAL_ARRAY: {
		uint32_t cnt;
		if (dec_count(d, &cnt, 1) < 0)
			return -1;
		for (uint32_t i = 0; i < cnt; i++)
			if (skip_value(d, depth + 1) < 0)
				return -1;
		return 0;
	}
	case SONDE_VAL_KVLIST: return skip_attrs(d, depth + 1);
	default: return -1;
	}
}

void sonde__value_text(const sonde_value *v, sonde_buf *out)
{
	char tmp[32];
	switch (v->kind) {
	case SONDE_VAL_EMPTY: break;
	case SONDE_VAL_STRING:
	case SONDE_VAL_BYTES: sonde_buf_append(out, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_BOOL: sonde_buf_puts(out, v->u.b ? "true" : "false"); break;
	case SONDE_VAL_INT: sonde_buf_printf(out, "%lld", (long long)v->u.i); break;
	case SONDE_VAL_DOUBLE: sonde_buf_append(out, tmp, sonde_fmt_double(tmp, v->u.d)); break;
	case SONDE_VAL_ARRAY:
		sonde_buf_putc(out, '[');
		for (uint32_t i = 0; i < v->u.array.count; i++) {
			if (i)
				sonde_buf_putc(out, ',');
			sonde__value_text(&v->u.array.items[i], out);
		}
		sonde_buf_putc(out, ']');
		break;
	case SONDE_VAL_KVLIST:
		sonde_buf_putc(out, '{');
		for (uint32_t i = 0; i < v->u.kvlist.count; i++) {
			if (i)
				sonde_buf_putc(out, ',');
			sonde_buf_append(out, v->u.kvlist.items[i].key.ptr, v->u.kvlist.items[i].key.len);
			sonde_buf_putc(out, '=');
			sonde__value_text(&v->u.kvlist.items[i].value, out);
		}
		sonde_buf_putc(out, '}');
		break;
	}
}

int sonde__attrs_find_text(const void *blob, size_t n, const char *key, size_t key_len, sonde_buf *out)
{
	sonde__dec d;
	sonde__dec_init(&d, NULL, blob, n);
	uint32_t cnt;
	if (n == 0)
		return 0;
	if (dec_count(&d, &cnt, 2) < 0)
		return -1;
	for (uint32_t i = 0; i < cnt; i++) {
		const uint8_t *k;
		size_t klen;
		if (dec_key_bytes(&d, &k, &klen) < 0)
			return -1;
		if (klen != key_len || memcmp(k, key, klen) != 0) {
			if (skip_value(&d, 0) < 0)
				return -1;
			continue;
		}
		/* Scalars are written straight from the blob; nested values need a batch to decode
		 * into, which the rare caller that filters on them pays for. */
		const uint8_t *vstart = d.p;
		uint8_t kind;
		if (dec_byte(&d, &kind) < 0)
			return -1;
		switch (kind) {
		case SONDE_VAL_STRING:
		case SONDE_VAL_BYTES: {
			const uint8_t *p;
			size_t len;
			if (dec_bytes(&d, &p, &len) < 0)
				return -1;
			sonde_buf_append(out, p, len);
			return 1;
		}
		case SONDE_VAL_EMPTY: return 1;
		case SONDE_VAL_BOOL:
		case SONDE_VAL_INT:
		case SONDE_VAL_DOUBLE: {
			sonde_value v = {0};
			v.kind = (sonde_value_kind)kind;
			uint8_t b;
			if (kind == SONDE_VAL_BOOL) {
				if (dec_byte(&d, &b) < 0)
					return -1;
				v.u.b = b != 0;
			} else if (kind == SONDE_VAL_INT) {
				if (dec_zigzag(&d, &v.u.i) < 0)
					return -1;
			} else if (dec_double(&d, &v.u.d) < 0) {
				return -1;
			}
			sonde__value_text(&v, out);
			return 1;
		}
		default: {
			sonde_batch *tmp = sonde_batch_new();
			if (!tmp)
				return -1;
			sonde__dec vd;
			sonde__dec_init(&vd, tmp, vstart, (size_t)(d.end - vstart));
			sonde_value v;
			int rc = sonde__dec_value(&vd, &v, 0);
			if (rc == 0)
				sonde__value_text(&v, out);
			sonde_batch_free(tmp);
			return rc == 0 ? 1 : -1;
		}
		}
	}
	return 0;
}

int sonde_store_encode_spans(sonde_buf *out, const sonde_span_data *spans, size_t n, sonde_span_enc *enc)
{
	for (size_t i = 0; i < n; i++) {
		const sonde_span_data *sp = &spans[i];
		enc[i].attrs_off = out->len;
		if (sp->attrs.count)
			sonde__enc_attrs_known(out, &sp->attrs);
		enc[i].attrs_len = out->len - enc[i].attrs_off;
		enc[i].rest_off = out->len;
		sonde__enc_span_rest(out, sp);
		enc[i].rest_len = out->len - enc[i].rest_off;
	}
	return out->oom ? -ENOMEM : 0;
}
