/*
 * zipkin_write.c - the telemetry model as Zipkin v2 JSON (see zipkin.h).
 *
 * Everything zipkin_read.c turns into a field is written back where it reads it from, so
 * a batch that came from Zipkin JSON survives the trip unchanged; anything else is
 * written as the OpenTelemetry specification's Zipkin mapping says.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hex.h"
#include "json.h"
#include "trace_json_util_internal.h"
#include "zipkin.h"

/* Values nested deeper than this are written as null. */
enum { MAX_VALUE_DEPTH = 64 };

typedef struct zwrite {
	sonde_json_writer w;
	sonde_buf tmp, tmp2; /* text of one tag or annotation value */
} zwrite;

/* Is key a tag the reader would take for a span field? Attributes under one are not
 * written. */
static bool is_reserved(sonde_str key)
{
	/* Every field tag starts with 'o', 'e' or 'w': most keys are ruled out at once. */
	if (key.len == 0 || (key.ptr[0] != 'o' && key.ptr[0] != 'e' && key.ptr[0] != 'w'))
		return false;
	for (const char *const *k = sonde__tj_zipkin_field_tags; *k; k++)
		if (sonde__tj_str_is(key, *k))
			return true;
	return false;
}

/* The shortest %g form that reads back as d, with ".0" added where it would read back as
 * an integer; NaN and the infinities by name. */
static size_t fmt_double(char out[40], double d)
{
	if (isnan(d))
		return (size_t)snprintf(out, 40, "NaN");
	if (isinf(d))
		return (size_t)snprintf(out, 40, "%s", d < 0 ? "-Infinity" : "Infinity");
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(out, 40, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	if (!strpbrk(out, ".e"))
		n += snprintf(out + n, 40 - (size_t)n, ".0");
	return (size_t)n;
}

static void base64_str(sonde_json_writer *w, sonde_str bytes)
{
	size_t n = sonde_base64_encoded_len(bytes.len);
	char *enc = malloc(n + 1);
	if (!enc || (n == 0 && bytes.len)) {
		free(enc);
		w->out->oom = true;
		return;
	}
	sonde_base64_encode(enc, (const uint8_t *)bytes.ptr, bytes.len);
	sonde_json_str(w, enc, n);
	free(enc);
}

/* A value as JSON: typed, as in the attributes of an annotation or a JSON-array tag. */
static void value_json(sonde_json_writer *w, const sonde_value *v, int depth)
{
	char num[40];
	size_t n;
	switch (v->kind) {
	case SONDE_VAL_STRING: sonde_json_str(w, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_BOOL: sonde_json_bool(w, v->u.b); break;
	case SONDE_VAL_INT: sonde_json_i64(w, v->u.i); break;
	case SONDE_VAL_DOUBLE:
		n = fmt_double(num, v->u.d);
		if (isfinite(v->u.d))
			sonde_json_raw(w, num, n);
		else
			sonde_json_str(w, num, n);
		break;
	case SONDE_VAL_BYTES: base64_str(w, v->u.str); break;
	case SONDE_VAL_ARRAY:
		if (depth >= MAX_VALUE_DEPTH) {
			sonde_json_null(w);
			break;
		}
		sonde_json_arr_begin(w);
		for (uint32_t i = 0; i < v->u.array.count; i++)
			value_json(w, &v->u.array.items[i], depth + 1);
		sonde_json_arr_end(w);
		break;
	case SONDE_VAL_KVLIST:
		if (depth >= MAX_VALUE_DEPTH) {
			sonde_json_null(w);
			break;
		}
		sonde_json_obj_begin(w);
		for (uint32_t i = 0; i < v->u.kvlist.count; i++) {
			const sonde_kv *kv = &v->u.kvlist.items[i];
			sonde_json_key(w, kv->key.ptr, kv->key.len);
			value_json(w, &kv->value, depth + 1);
		}
		sonde_json_obj_end(w);
		break;
	case SONDE_VAL_EMPTY:
	default: sonde_json_null(w); break;
	}
}

/* A value as the text of a string tag, into the empty buffer out. */
static void value_text(sonde_buf *out, const sonde_value *v)
{
	char num[40];
	sonde_json_writer w;
	switch (v->kind) {
	case SONDE_VAL_STRING: sonde_buf_append(out, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_BOOL: sonde_buf_puts(out, v->u.b ? "true" : "false"); break;
	case SONDE_VAL_INT: sonde_buf_printf(out, "%" PRId64, v->u.i); break;
	case SONDE_VAL_DOUBLE: sonde_buf_append(out, num, fmt_double(num, v->u.d)); break;
	case SONDE_VAL_BYTES: {
		size_t n = sonde_base64_encoded_len(v->u.str.len);
		if (sonde_buf_grow(out, n) == 0)
			out->len += sonde_base64_encode(out->data + out->len, (const uint8_t *)v->u.str.ptr,
			                                v->u.str.len);
		if (out->cap)
			out->data[out->len] = '\0';
		break;
	}
	case SONDE_VAL_ARRAY:
	case SONDE_VAL_KVLIST:
		sonde_json_writer_init(&w, out, 0);
		value_json(&w, v, 0);
		break;
	case SONDE_VAL_EMPTY:
	default: break;
	}
}

static bool ip_family(const sonde_value *v, int *af)
{
	if (!v || v->kind != SONDE_VAL_STRING)
		return false;
	*af = sonde__tj_ip_family(v->u.str.ptr, v->u.str.len);
	return *af != 0;
}

/* A port number: an INT in 1..65535, or a string of its canonical decimal digits. */
static uint32_t port_of(const sonde_value *v)
{
	if (!v)
		return 0;
	if (v->kind == SONDE_VAL_INT)
		return v->u.i > 0 && v->u.i <= 65535 ? (uint32_t)v->u.i : 0;
	if (v->kind != SONDE_VAL_STRING || v->u.str.len == 0 || v->u.str.len > 5 || v->u.str.ptr[0] == '0')
		return 0;
	uint32_t p = 0;
	for (size_t i = 0; i < v->u.str.len; i++) {
		char ch = v->u.str.ptr[i];
		if (ch < '0' || ch > '9')
			return 0;
		p = p * 10 + (uint32_t)(ch - '0');
	}
	return p <= 65535 ? p : 0;
}

static const sonde_value *first_of(const sonde_attrs *a, const char *const *keys)
{
	for (const char *const *k = keys; *k; k++) {
		const sonde_value *v = sonde_attrs_get(a, *k);
		if (v)
			return v;
	}
	return NULL;
}

/* Writes an endpoint member if any of its parts is known. */
static void endpoint(zwrite *z, const char *key, const sonde_value *service, const sonde_value *addr,
                     uint32_t port)
{
	int af = 0;
	bool has_addr = ip_family(addr, &af);
	sonde_buf_reset(&z->tmp);
	if (service)
		value_text(&z->tmp, service);
	if (z->tmp.len == 0 && !has_addr && port == 0)
		return;
	sonde_json_key_cstr(&z->w, key);
	sonde_json_obj_begin(&z->w);
	if (z->tmp.len) {
		sonde_json_key_cstr(&z->w, "serviceName");
		sonde_json_str(&z->w, z->tmp.data, z->tmp.len);
	}
	if (has_addr) {
		sonde_json_key_cstr(&z->w, af == AF_INET ? "ipv4" : "ipv6");
		sonde_json_str(&z->w, addr->u.str.ptr, addr->u.str.len);
	}
	if (port) {
		sonde_json_key_cstr(&z->w, "port");
		sonde_json_u64(&z->w, port);
	}
	sonde_json_obj_end(&z->w);
}

static void endpoints(zwrite *z, const sonde_span_data *s)
{
	const sonde_attrs *a = &s->attrs;
	int af;
	endpoint(z, "localEndpoint", sonde_attrs_get(&s->resource->attrs, "service.name"),
	         sonde_attrs_get(a, "network.local.address"),
	         port_of(sonde_attrs_get(a, "network.local.port")));

	bool outgoing = s->kind == SONDE_SPAN_KIND_CLIENT || s->kind == SONDE_SPAN_KIND_PRODUCER;
	const sonde_value *svc = sonde_attrs_get(a, "peer.service");
	const sonde_value *addr = sonde_attrs_get(a, "network.peer.address");
	uint32_t port = port_of(sonde_attrs_get(a, "network.peer.port"));
	if (!svc && outgoing)
		svc = first_of(a, sonde__tj_zipkin_name_sources);
	if (!ip_family(addr, &af) && outgoing) {
		for (const char *const *k = sonde__tj_zipkin_addr_sources; *k; k++) {
			addr = sonde_attrs_get(a, *k);
			if (ip_family(addr, &af))
				break;
		}
	}
	for (const char *const *k = sonde__tj_zipkin_port_sources; *k && !port && outgoing; k++)
		port = port_of(sonde_attrs_get(a, *k));
	endpoint(z, "remoteEndpoint", svc, addr, port);
}

/* Could a plain annotation value holding this name be read back as something else? */
static bool ambiguous(sonde_str name)
{
	const char *v = name.ptr;
	size_t n = name.len;
	size_t a, z;
	if (n > 0 && v[0] == '"')
		return true;
	return sonde__tj_zipkin_collector_bars(v, n, &a, &z);
}

static void annotation(zwrite *z, const sonde_span_event *ev)
{
	sonde_json_writer w2;
	sonde_json_obj_begin(&z->w);
	sonde_json_key_cstr(&z->w, "timestamp");
	sonde_json_u64(&z->w, ev->time_ns / 1000);
	sonde_json_key_cstr(&z->w, "value");
	if (ev->attrs.count == 0 && ev->dropped_attrs_count == 0 && !ambiguous(ev->name)) {
		sonde_json_str(&z->w, ev->name.ptr, ev->name.len);
		sonde_json_obj_end(&z->w);
		return;
	}
	/* "name":{attributes}, as the specification shows events with attributes. */
	sonde_buf_reset(&z->tmp);
	sonde_buf_reset(&z->tmp2);
	sonde_json_writer_init(&w2, &z->tmp, 0);
	sonde_json_str(&w2, ev->name.ptr, ev->name.len);
	sonde_json_writer_init(&w2, &z->tmp2, 0);
	sonde_json_obj_begin(&w2);
	for (uint32_t i = 0; i < ev->attrs.count; i++) {
		const sonde_kv *kv = &ev->attrs.items[i];
		if (sonde__tj_str_is(kv->key, "otel.dropped_attributes_count"))
			continue;
		sonde_json_key(&w2, kv->key.ptr, kv->key.len);
		value_json(&w2, &kv->value, 0);
	}
	if (ev->dropped_attrs_count) {
		sonde_json_key_cstr(&w2, "otel.dropped_attributes_count");
		sonde_json_u64(&w2, ev->dropped_attrs_count);
	}
	sonde_json_obj_end(&w2);
	sonde_buf_putc(&z->tmp, ':');
	sonde_buf_append(&z->tmp, z->tmp2.data ? z->tmp2.data : "", z->tmp2.len);
	if (z->tmp2.oom)
		z->tmp.oom = true;
	sonde_json_str(&z->w, z->tmp.data ? z->tmp.data : "", z->tmp.len);
	sonde_json_obj_end(&z->w);
}

static void str_tag(zwrite *z, const char *key, sonde_str val)
{
	sonde_json_key_cstr(&z->w, key);
	sonde_json_str(&z->w, val.ptr, val.len);
}

static void count_tag(zwrite *z, const char *key, uint32_t n)
{
	char num[16];
	if (n == 0)
		return;
	int len = snprintf(num, sizeof(num), "%u", n);
	sonde_json_key_cstr(&z->w, key);
	sonde_json_str(&z->w, num, (size_t)len);
}

static void tags(zwrite *z, const sonde_span_data *s)
{
	bool any = s->scope->name.len || s->scope->version.len || s->status_code != SONDE_STATUS_UNSET ||
	           s->dropped_attrs_count || s->dropped_events_count || s->dropped_links_count ||
	           s->trace_state.len;
	for (uint32_t i = 0; i < s->attrs.count && !any; i++)
		any = !is_reserved(s->attrs.items[i].key);
	if (!any)
		return;
	sonde_json_key_cstr(&z->w, "tags");
	sonde_json_obj_begin(&z->w);
	for (uint32_t i = 0; i < s->attrs.count; i++) {
		const sonde_kv *kv = &s->attrs.items[i];
		if (is_reserved(kv->key))
			continue;
		sonde_buf_reset(&z->tmp);
		value_text(&z->tmp, &kv->value);
		sonde_json_key(&z->w, kv->key.ptr, kv->key.len);
		sonde_json_str(&z->w, z->tmp.data ? z->tmp.data : "", z->tmp.len);
	}
	if (s->scope->name.len) {
		str_tag(z, "otel.scope.name", s->scope->name);
		str_tag(z, "otel.library.name", s->scope->name);
	}
	if (s->scope->version.len) {
		str_tag(z, "otel.scope.version", s->scope->version);
		str_tag(z, "otel.library.version", s->scope->version);
	}
	sonde_str msg = s->status_message;
	bool literal = sonde__tj_str_is(msg, "true") || sonde__tj_str_is(msg, "false");
	if (s->status_code == SONDE_STATUS_ERROR) {
		/* The reader takes error="true" as "no message" and error="false" as no error, so
		 * those two messages travel in otel.status_description instead. */
		str_tag(z, "otel.status_code", SONDE_STR_LIT("ERROR"));
		str_tag(z, "error", sonde__tj_str_is(msg, "false") ? SONDE_STR_LIT("true") : msg);
		if (literal)
			str_tag(z, "otel.status_description", msg);
	} else if (s->status_code == SONDE_STATUS_OK) {
		str_tag(z, "otel.status_code", SONDE_STR_LIT("OK"));
		if (msg.len)
			str_tag(z, "otel.status_description", msg);
	}
	count_tag(z, "otel.dropped_attributes_count", s->dropped_attrs_count);
	count_tag(z, "otel.dropped_events_count", s->dropped_events_count);
	count_tag(z, "otel.dropped_links_count", s->dropped_links_count);
	if (s->trace_state.len)
		str_tag(z, "w3c.tracestate", s->trace_state);
	sonde_json_obj_end(&z->w);
}

static void span(zwrite *z, const sonde_span_data *s)
{
	static const char *const kinds[] = {
	        [SONDE_SPAN_KIND_SERVER] = "SERVER",
	        [SONDE_SPAN_KIND_CLIENT] = "CLIENT",
	        [SONDE_SPAN_KIND_PRODUCER] = "PRODUCER",
	        [SONDE_SPAN_KIND_CONSUMER] = "CONSUMER",
	};
	char hex[32];
	sonde_json_writer *w = &z->w;

	sonde_json_obj_begin(w);
	sonde_json_key_cstr(w, "traceId");
	if (sonde_id_is_zero(s->trace_id, 8)) {
		sonde_hex_encode(hex, s->trace_id + 8, 8);
		sonde_json_str(w, hex, 16);
	} else {
		sonde_hex_encode(hex, s->trace_id, 16);
		sonde_json_str(w, hex, 32);
	}
	if (!sonde_id_is_zero(s->parent_span_id, 8)) {
		sonde_hex_encode(hex, s->parent_span_id, 8);
		sonde_json_key_cstr(w, "parentId");
		sonde_json_str(w, hex, 16);
	}
	sonde_hex_encode(hex, s->span_id, 8);
	sonde_json_key_cstr(w, "id");
	sonde_json_str(w, hex, 16);
	if ((unsigned)s->kind < sizeof(kinds) / sizeof(kinds[0]) && kinds[s->kind]) {
		sonde_json_key_cstr(w, "kind");
		sonde_json_str(w, kinds[s->kind], strlen(kinds[s->kind]));
	}
	if (s->name.len) {
		sonde_json_key_cstr(w, "name");
		sonde_json_str(w, s->name.ptr, s->name.len);
	}
	if (s->start_ns / 1000) {
		sonde_json_key_cstr(w, "timestamp");
		sonde_json_u64(w, s->start_ns / 1000);
	}
	uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
	if (dur == 0 && s->end_ns > s->start_ns)
		dur = 1; /* Zipkin rounds durations under 1us up */
	if (dur) {
		sonde_json_key_cstr(w, "duration");
		sonde_json_u64(w, dur);
	}
	endpoints(z, s);
	if (s->events_count) {
		sonde_json_key_cstr(w, "annotations");
		sonde_json_arr_begin(w);
		for (uint32_t i = 0; i < s->events_count; i++)
			annotation(z, &s->events[i]);
		sonde_json_arr_end(w);
	}
	tags(z, s);
	sonde_json_obj_end(w);
}

int sonde_zipkin_write(const sonde_batch *b, sonde_buf *out)
{
	return sonde_zipkin_write_pretty(b, out, 0);
}

int sonde_zipkin_write_pretty(const sonde_batch *b, sonde_buf *out, int pretty)
{
	size_t len0 = out->len;
	zwrite z;
	sonde_buf_init(&z.tmp);
	sonde_buf_init(&z.tmp2);
	sonde_json_writer_init(&z.w, out, pretty);
	sonde_json_arr_begin(&z.w);
	for (size_t i = 0; i < b->spans_count; i++)
		span(&z, &b->spans[i]);
	sonde_json_arr_end(&z.w);
	bool oom = out->oom || z.tmp.oom || z.tmp2.oom;
	sonde_buf_release(&z.tmp);
	sonde_buf_release(&z.tmp2);
	if (oom) {
		out->len = len0;
		if (out->cap)
			out->data[len0] = '\0';
		return -ENOMEM;
	}
	return 0;
}
