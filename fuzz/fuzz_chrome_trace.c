/*
 * fuzz_chrome_trace.c - the Trace Event Format: any input the reader takes must read the
 * same again (ids included), hold only well-formed records, and survive a Zipkin write and
 * read; input it refuses must leave the batch empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "chrome_trace.h"
#include "hex.h"
#include "zipkin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_attrs(const sonde_attrs *a)
{
	if (a->count && !a->items)
		abort();
	for (uint32_t i = 0; i < a->count; i++) {
		const sonde_kv *kv = &a->items[i];
		if (!kv->key.ptr)
			abort();
		bool has_str = kv->value.kind == SONDE_VAL_STRING || kv->value.kind == SONDE_VAL_BYTES;
		if (has_str && !kv->value.u.str.ptr)
			abort();
	}
}

static void check(const sonde_batch *b)
{
	for (size_t i = 0; i < b->spans_count; i++) {
		const sonde_span_data *s = &b->spans[i];
		if (!s->resource || !s->scope || !s->name.ptr || !s->trace_state.ptr ||
		    !s->status_message.ptr || !s->scope->name.ptr || !s->scope->version.ptr)
			abort();
		if (sonde_id_is_zero(s->trace_id, 16) || sonde_id_is_zero(s->span_id, 8) ||
		    s->end_ns < s->start_ns)
			abort();
		check_attrs(&s->attrs);
		check_attrs(&s->resource->attrs);
		for (uint32_t e = 0; e < s->events_count; e++) {
			if (!s->events[e].name.ptr)
				abort();
			check_attrs(&s->events[e].attrs);
		}
		for (uint32_t l = 0; l < s->links_count; l++)
			check_attrs(&s->links[l].attrs);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_batch *a = sonde_batch_new(), *b = sonde_batch_new(), *z = sonde_batch_new();
	sonde_wire_error err;
	char why[256];
	if (!a || !b || !z)
		abort();
	if (sonde_chrome_trace_read(a, (const char *)data, size, &err) == 0) {
		check(a);
		if (sonde_chrome_trace_read(b, (const char *)data, size, &err) != 0 ||
		    !sonde_batch_equal(a, b, why, sizeof(why)))
			abort();
		sonde_buf out = SONDE_BUF_INIT;
		if (sonde_zipkin_write(a, &out) != 0)
			abort();
		if (sonde_zipkin_read(z, out.data, out.len, &err) != 0 || z->spans_count != a->spans_count) {
			fprintf(stderr, "zipkin re-read: %zu %s: %s\n%s\n", err.offset, err.field, err.msg,
			        out.data);
			abort();
		}
		sonde_buf_release(&out);
	} else if (a->spans_count != 0) {
		abort();
	}
	sonde_batch_free(a);
	sonde_batch_free(b);
	sonde_batch_free(z);
	return 0;
}
