/*
 * trace_json_util.c - helpers shared by the Zipkin, Jaeger and Chrome trace readers (see
 * trace_json_util_internal.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "sonde/status.h"
#include "trace_json_util_internal.h"

const char *const sonde__tj_zipkin_field_tags[] = {
        "otel.status_code",
        "otel.status_description",
        "error",
        "otel.scope.name",
        "otel.scope.version",
        "otel.library.name",
        "otel.library.version",
        "otel.dropped_attributes_count",
        "otel.dropped_events_count",
        "otel.dropped_links_count",
        "w3c.tracestate",
        NULL,
};

const char *const sonde__tj_zipkin_name_sources[] = {
        "server.address",
        "net.peer.name",
        "server.socket.domain",
        "net.sock.peer.name",
        "peer.hostname",
        "peer.address",
        "db.name",
        NULL,
};
const char *const sonde__tj_zipkin_addr_sources[] = {"server.socket.address", "net.sock.peer.addr", NULL};
const char *const sonde__tj_zipkin_port_sources[] = {"server.socket.port", "net.sock.peer.port", NULL};

bool sonde__tj_key_is(const char *k, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(k, lit, n) == 0;
}

bool sonde__tj_str_is(sonde_str s, const char *lit)
{
	return sonde__tj_key_is(s.ptr, s.len, lit);
}

int sonde__tj_reserve(void **items, size_t *cap, size_t count, size_t elem)
{
	if (count < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	void *p = realloc(*items, ncap * elem);
	if (!p)
		return -ENOMEM;
	*items = p;
	*cap = ncap;
	return 0;
}

void *sonde__tj_batch_copy(sonde_batch *b, const void *items, size_t n, size_t elem)
{
	void *copy = sonde_batch_alloc(b, n * elem);
	if (copy && n)
		memcpy(copy, items, n * elem);
	return copy;
}

void sonde__tj_str_attr(sonde_kv *kv, sonde_str key, sonde_str val)
{
	kv->key = key;
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = val;
}

/* ---- Errors ------------------------------------------------------------------------- */

size_t sonde__tj_tok_offset(const sonde_json_reader *r)
{
	return r->tok_start ? (size_t)(r->tok_start - r->buf) : (size_t)(r->pos - r->buf);
}

int sonde__tj_tok_error(const sonde_json_reader *r)
{
	return r->oom ? -ENOMEM : SONDE_EPARSE;
}

int sonde__tj_fail_at(sonde__tj_err *e, size_t off, const char *msg)
{
	e->custom = true;
	e->off = off;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return SONDE_EPARSE;
}

int sonde__tj_fail(sonde__tj_err *e, const sonde_json_reader *r, const char *msg)
{
	return sonde__tj_fail_at(e, sonde__tj_tok_offset(r), msg);
}

int sonde__tj_report(const sonde__tj_err *e, const sonde_json_reader *r, sonde_wire_error *err,
                     const char *buf, size_t len, const char *field)
{
	size_t off = e->custom ? e->off : r->err_offset;
	return sonde_wire_fail(err, off, sonde_wire_line_of(buf, len, off), field, "%s",
	                       e->custom ? e->msg : r->err_msg);
}

int sonde__tj_take_null(sonde_json_reader *r)
{
	sonde_json_tok t = sonde_json_peek(r);
	if (t == SONDE_JSON_ERROR)
		return sonde__tj_tok_error(r);
	if (t != SONDE_JSON_NULL)
		return 0;
	sonde_json_next(r);
	return 1;
}

/* Enters the object or array next in r with enter, or consumes a null. */
static int enter_or_null(sonde_json_reader *r, int (*enter)(sonde_json_reader *r))
{
	int rc = sonde__tj_take_null(r);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = enter(r);
	return rc < 0 ? rc : 1;
}

int sonde__tj_enter_object_or_null(sonde_json_reader *r)
{
	return enter_or_null(r, sonde_json_enter_object);
}

int sonde__tj_enter_array_or_null(sonde_json_reader *r)
{
	return enter_or_null(r, sonde_json_enter_array);
}

/* ---- Values ------------------------------------------------------------------------- */

bool sonde__tj_parse_i64(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (i < n && (s[i] == '-' || s[i] == '+')) {
		neg = s[i] == '-';
		i++;
	}
	if (i == n)
		return false;
	uint64_t mag = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (mag > (UINT64_MAX - d) / 10)
			return false;
		mag = mag * 10 + d;
	}
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return false;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)mag;
	}
	return true;
}

/* A number literal as a value: INT when it is an integer literal that fits, else a
 * DOUBLE; with finite_only, SONDE_EPARSE where that would be an infinity (Zipkin's writer
 * could not give one back as a number). */
static int number_value(const char *s, size_t n, bool finite_only, sonde_value *v)
{
	if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n) &&
	    sonde__tj_parse_i64(s, n, &v->u.i)) {
		v->kind = SONDE_VAL_INT;
		return 0;
	}
	v->kind = SONDE_VAL_DOUBLE;
	int rc = sonde_json_parse_double(s, n, &v->u.d);
	if (rc == 0 && finite_only && !isfinite(v->u.d))
		return SONDE_EPARSE;
	return rc;
}

/* The scalar token t (just read from r) as a value. */
static int scalar_value(sonde_batch *b, const sonde_json_reader *r, sonde_json_tok t, bool finite_only,
                        sonde_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (t) {
	case SONDE_JSON_STRING:
		v->kind = SONDE_VAL_STRING;
		v->u.str = sonde_batch_strdup(b, r->str, r->str_len);
		return v->u.str.ptr ? 0 : -ENOMEM;
	case SONDE_JSON_NUMBER: return number_value(r->num, r->num_len, finite_only, v);
	case SONDE_JSON_TRUE:
	case SONDE_JSON_FALSE:
		v->kind = SONDE_VAL_BOOL;
		v->u.b = t == SONDE_JSON_TRUE;
		return 0;
	case SONDE_JSON_NULL: v->kind = SONDE_VAL_EMPTY; return 0;
	case SONDE_JSON_ERROR: return sonde__tj_tok_error(r);
	default: return SONDE_EPARSE;
	}
}

/* Reads the rest of an array or object whose opening token (first) was just read: an
 * array of scalars becomes an ARRAY value, anything else the STRING of its compact JSON
 * text. */
static int compound_value(sonde_batch *b, sonde_json_reader *r, sonde_json_tok first, bool finite_only,
                          sonde_value *out, sonde_buf *text)
{
	sonde_value *items = NULL;
	size_t n = 0, cap = 0;
	bool nested = first == SONDE_JSON_OBJ_BEGIN;
	sonde_json_writer w;
	sonde_buf_reset(text);
	sonde_json_writer_init(&w, text, 0);
	if (nested)
		sonde_json_obj_begin(&w);
	else
		sonde_json_arr_begin(&w);
	uint32_t depth = 1;
	int rc = 0;
	while (depth > 0 && rc == 0) {
		sonde_json_tok t = sonde_json_next(r);
		switch (t) {
		case SONDE_JSON_OBJ_BEGIN:
			nested = true;
			depth++;
			sonde_json_obj_begin(&w);
			break;
		case SONDE_JSON_ARR_BEGIN:
			nested = true;
			depth++;
			sonde_json_arr_begin(&w);
			break;
		case SONDE_JSON_OBJ_END:
			depth--;
			sonde_json_obj_end(&w);
			break;
		case SONDE_JSON_ARR_END:
			depth--;
			sonde_json_arr_end(&w);
			break;
		case SONDE_JSON_KEY: sonde_json_key(&w, r->str, r->str_len); break;
		case SONDE_JSON_STRING:
		case SONDE_JSON_NUMBER:
		case SONDE_JSON_TRUE:
		case SONDE_JSON_FALSE:
		case SONDE_JSON_NULL:
			if (t == SONDE_JSON_STRING)
				sonde_json_str(&w, r->str, r->str_len);
			else if (t == SONDE_JSON_NUMBER)
				sonde_json_raw(&w, r->num, r->num_len);
			else if (t == SONDE_JSON_NULL)
				sonde_json_null(&w);
			else
				sonde_json_bool(&w, t == SONDE_JSON_TRUE);
			if (!nested) {
				rc = sonde__tj_reserve((void **)&items, &cap, n, sizeof(*items));
				if (rc == 0)
					rc = scalar_value(b, r, t, finite_only, &items[n]);
				if (rc == 0)
					n++;
			}
			break;
		case SONDE_JSON_ERROR: rc = sonde__tj_tok_error(r); break;
		default: rc = SONDE_EPARSE; break;
		}
	}
	if (rc == 0 && text->oom)
		rc = -ENOMEM;
	if (rc == 0 && nested) {
		out->kind = SONDE_VAL_STRING;
		out->u.str = sonde_batch_strdup(b, text->data, text->len);
		if (!out->u.str.ptr)
			rc = -ENOMEM;
	} else if (rc == 0) {
		out->kind = SONDE_VAL_ARRAY;
		out->u.array.count = (uint32_t)n;
		out->u.array.items = sonde__tj_batch_copy(b, items, n, sizeof(*items));
		if (!out->u.array.items)
			rc = -ENOMEM;
	}
	free(items);
	return rc;
}

int sonde__tj_read_value(sonde_batch *b, sonde_json_reader *r, sonde_json_tok first, bool finite_only,
                         sonde_value *out, sonde_buf *text)
{
	if (first != SONDE_JSON_OBJ_BEGIN && first != SONDE_JSON_ARR_BEGIN)
		return scalar_value(b, r, first, finite_only, out);
	memset(out, 0, sizeof(*out));
	return compound_value(b, r, first, finite_only, out, text);
}

/* ---- Ids and times ------------------------------------------------------------------ */

int sonde__tj_decode_id(sonde__tj_err *e, const sonde_json_reader *r, uint8_t *out, size_t n, const char *s,
                        size_t sn)
{
	int rc;
	if (n == 16 && sn == 16) {
		memset(out, 0, 8);
		rc = sonde_hex_decode(out + 8, 8, s, sn);
	} else {
		rc = sonde_hex_decode(out, n, s, sn);
	}
	if (rc < 0)
		return sonde__tj_fail(e, r,
		                      n == 16 ? "expected 16 or 32 hex digits" : "expected 16 hex digits");
	return 0;
}

int sonde__tj_read_us(sonde__tj_err *e, sonde_json_reader *r, uint64_t *us)
{
	int rc = sonde__tj_take_null(r);
	if (rc != 0)
		return rc;
	if ((rc = sonde_json_read_u64(r, us)) < 0)
		return rc;
	if (*us > UINT64_MAX / 1000)
		return sonde__tj_fail(e, r, "expected microseconds below 2^64 nanoseconds");
	return 0;
}

int sonde__tj_ip_family(const char *s, size_t n)
{
	char tmp[64];
	unsigned char addr[16];
	if (n == 0 || n >= sizeof(tmp) || memchr(s, '\0', n))
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, tmp, addr) == 1)
		return AF_INET6;
	return 0;
}

bool sonde__tj_zipkin_collector_bars(const char *v, size_t n, size_t *bar1, size_t *bar2)
{
	const char *p = memchr(v, '|', n);
	if (!p)
		return false;
	size_t a = (size_t)(p - v), z = n;
	while (z > a && v[z - 1] != '|')
		z--;
	z--; /* the last '|' */
	if (z < a + 3 || v[a + 1] != '{' || v[z - 1] != '}')
		return false;
	*bar1 = a;
	*bar2 = z;
	return true;
}

/* ---- Scopes ------------------------------------------------------------------------- */

int sonde__tj_scope(sonde_batch *b, sonde_ptrmap *scopes, sonde_str name, sonde_str version,
                    const sonde_scope **out)
{
	name = sonde_batch_intern(b, name.ptr, name.len);
	version = sonde_batch_intern(b, version.ptr, version.len);
	if (!name.ptr || !version.ptr)
		return -ENOMEM;
	sonde_ptrmap_key key = {name.len ? name.ptr : NULL, version.len ? version.ptr : NULL, 0};
	sonde_scope *sc = sonde_ptrmap_find(scopes, key);
	if (sc) {
		*out = sc;
		return 0;
	}
	if (!(sc = sonde_batch_new_scope(b)))
		return -ENOMEM;
	if (key.a)
		sc->name = name;
	if (key.b)
		sc->version = version;
	*out = sc;
	return sonde_ptrmap_add(scopes, key, sc);
}
