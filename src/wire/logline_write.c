/*
 * logline_write.c - log records as JSON lines, the form `sonde_logjson_read` and most log
 * tools read: one object per record, the trace context under the field names of
 * OpenTelemetry's guidance for non-OTLP log formats (trace_id, span_id, trace_flags), the
 * resource's service.name, then the attributes as top-level members.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "json.h"
#include "logline.h"

/* RFC 3339 UTC with nanoseconds: 2026-11-22T09:41:07.123456789Z. */
static void put_time(sonde_json_writer *w, uint64_t ns)
{
	char buf[40];
	time_t secs = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (!gmtime_r(&secs, &tm)) {
		sonde_json_u64_str(w, ns);
		return;
	}
	int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", tm.tm_year + 1900,
	                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	                 (unsigned)(ns % 1000000000u));
	sonde_json_str(w, buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : 0);
}

/* A value as plain JSON: strings, numbers, booleans, arrays, objects; bytes as hex. */
static void put_value(sonde_json_writer *w, const sonde_value *v)
{
	switch (v->kind) {
	case SONDE_VAL_STRING: sonde_json_str(w, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_BOOL: sonde_json_bool(w, v->u.b); break;
	case SONDE_VAL_INT: sonde_json_i64(w, v->u.i); break;
	case SONDE_VAL_DOUBLE: sonde_json_f64(w, v->u.d); break;
	case SONDE_VAL_ARRAY:
		sonde_json_arr_begin(w);
		for (uint32_t i = 0; i < v->u.array.count; i++)
			put_value(w, &v->u.array.items[i]);
		sonde_json_arr_end(w);
		break;
	case SONDE_VAL_KVLIST:
		sonde_json_obj_begin(w);
		for (uint32_t i = 0; i < v->u.kvlist.count; i++) {
			sonde_json_key(w, v->u.kvlist.items[i].key.ptr, v->u.kvlist.items[i].key.len);
			put_value(w, &v->u.kvlist.items[i].value);
		}
		sonde_json_obj_end(w);
		break;
	case SONDE_VAL_BYTES: {
		sonde_buf hex = SONDE_BUF_INIT;
		for (size_t i = 0; i < v->u.str.len; i++) {
			char h[2];
			sonde_hex_encode(h, (const uint8_t *)&v->u.str.ptr[i], 1);
			sonde_buf_append(&hex, h, 2);
		}
		sonde_json_str(w, hex.data ? hex.data : "", hex.len);
		sonde_buf_release(&hex);
		break;
	}
	default: sonde_json_null(w); break;
	}
}

static const sonde_kv *resource_attr(const sonde_resource *r, const char *key)
{
	if (!r)
		return NULL;
	size_t n = strlen(key);
	for (uint32_t i = 0; i < r->attrs.count; i++)
		if (r->attrs.items[i].key.len == n && memcmp(r->attrs.items[i].key.ptr, key, n) == 0)
			return &r->attrs.items[i];
	return NULL;
}

int sonde_logjson_write(const sonde_batch *b, sonde_buf *out)
{
	for (size_t i = 0; i < b->logs_count; i++) {
		const sonde_log_data *lg = &b->logs[i];
		sonde_json_writer w;
		sonde_json_writer_init(&w, out, 0);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "timestamp");
		put_time(&w, lg->time_ns ? lg->time_ns : lg->observed_time_ns);
		sonde_json_key_cstr(&w, "severity_text");
		sonde_json_str(&w, lg->severity_text.ptr, lg->severity_text.len);
		sonde_json_key_cstr(&w, "severity_number");
		sonde_json_i64(&w, lg->severity_number);
		sonde_json_key_cstr(&w, "body");
		put_value(&w, &lg->body);
		if (!sonde_id_is_zero(lg->trace_id, 16)) {
			char hex[32];
			sonde_hex_encode(hex, lg->trace_id, 16);
			sonde_json_key_cstr(&w, "trace_id");
			sonde_json_str(&w, hex, 32);
			sonde_hex_encode(hex, lg->span_id, 8);
			sonde_json_key_cstr(&w, "span_id");
			sonde_json_str(&w, hex, 16);
			uint8_t flags = (uint8_t)(lg->flags & 0xff);
			sonde_hex_encode(hex, &flags, 1);
			sonde_json_key_cstr(&w, "trace_flags");
			sonde_json_str(&w, hex, 2);
		}
		const sonde_kv *svc = resource_attr(lg->resource, "service.name");
		if (svc) {
			sonde_json_key_cstr(&w, "service.name");
			put_value(&w, &svc->value);
		}
		for (uint32_t k = 0; k < lg->attrs.count; k++) {
			sonde_json_key(&w, lg->attrs.items[k].key.ptr, lg->attrs.items[k].key.len);
			put_value(&w, &lg->attrs.items[k].value);
		}
		sonde_json_obj_end(&w);
		sonde_buf_putc(out, '\n');
	}
	return out->oom ? -ENOMEM : 0;
}
