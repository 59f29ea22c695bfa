/*
 * fuzz_common.h - what the fuzz targets of the trace readers share: running a reader on
 * the input, checking that a batch holds only well-formed spans, and taking a batch
 * through a Zipkin write and read.
 *
 * Header-only (static inline), as fuzz/CMakeLists.txt builds each fuzz_*.c on its own.
 * Every check aborts on failure, which is how a libFuzzer target reports one.
 */
#ifndef SONDE_FUZZ_COMMON_H
#define SONDE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hex.h"
#include "zipkin.h"

/* A format reader, as sonde_zipkin_read(), sonde_jaeger_read(), ... */
typedef int (*fuzz_read_fn)(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);
/* Checks a batch that read took from data[0..size); aborts on a failed check. */
typedef void (*fuzz_accept_fn)(fuzz_read_fn read, const sonde_batch *a, const uint8_t *data, size_t size);

/* Reads data[0..size) with read: input it takes goes to accepted; input it refuses must
 * leave the batch empty. Returns 0, as LLVMFuzzerTestOneInput() does. */
static inline int fuzz_read_input(fuzz_read_fn read, const uint8_t *data, size_t size,
                                  fuzz_accept_fn accepted)
{
	sonde_batch *a = sonde_batch_new();
	sonde_wire_error err;
	if (!a)
		abort();
	if (read(a, (const char *)data, size, &err) == 0)
		accepted(read, a, data, size);
	else if (a->spans_count != 0)
		abort();
	sonde_batch_free(a);
	return 0;
}

/* Aborts unless every attribute in a has a key, and every string or bytes value a
 * pointer. */
static inline void fuzz_check_attrs(const sonde_attrs *a)
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

/* Aborts unless every span in b is well-formed: resource, scope and strings set, ids
 * non-zero, an end not before the start, and well-formed attributes throughout. */
static inline void fuzz_check_spans(const sonde_batch *b)
{
	for (size_t i = 0; i < b->spans_count; i++) {
		const sonde_span_data *s = &b->spans[i];
		if (!s->resource || !s->scope || !s->name.ptr || !s->trace_state.ptr ||
		    !s->status_message.ptr || !s->scope->name.ptr || !s->scope->version.ptr)
			abort();
		if (sonde_id_is_zero(s->trace_id, 16) || sonde_id_is_zero(s->span_id, 8) ||
		    s->end_ns < s->start_ns)
			abort();
		fuzz_check_attrs(&s->attrs);
		fuzz_check_attrs(&s->resource->attrs);
		for (uint32_t e = 0; e < s->events_count; e++) {
			if (!s->events[e].name.ptr)
				abort();
			fuzz_check_attrs(&s->events[e].attrs);
		}
		for (uint32_t l = 0; l < s->links_count; l++)
			fuzz_check_attrs(&s->links[l].attrs);
	}
}

/* Writes a as Zipkin JSON into out (the caller releases it) and reads that back into
 * back; aborts if the write fails. Returns what the read returned, with err filled when
 * it failed. */
static inline int fuzz_zipkin_reread(const sonde_batch *a, sonde_batch *back, sonde_buf *out,
                                     sonde_wire_error *err)
{
	if (sonde_zipkin_write(a, out) != 0)
		abort();
	return sonde_zipkin_read(back, out->data, out->len, err);
}

/* A fuzz_accept_fn for the readers of formats that Zipkin cannot carry whole: what read
 * took must read the same again, hold only well-formed spans, and survive a Zipkin write
 * and read with as many spans. */
static inline void fuzz_trace_accepted(fuzz_read_fn read, const sonde_batch *a, const uint8_t *data,
                                       size_t size)
{
	sonde_batch *b = sonde_batch_new(), *z = sonde_batch_new();
	sonde_wire_error err;
	char why[256];
	if (!b || !z)
		abort();
	fuzz_check_spans(a);
	if (read(b, (const char *)data, size, &err) != 0 || !sonde_batch_equal(a, b, why, sizeof(why)))
		abort();
	sonde_buf out = SONDE_BUF_INIT;
	if (fuzz_zipkin_reread(a, z, &out, &err) != 0 || z->spans_count != a->spans_count) {
		fprintf(stderr, "zipkin re-read: %zu %s: %s\n%s\n", err.offset, err.field, err.msg, out.data);
		abort();
	}
	sonde_buf_release(&out);
	sonde_batch_free(b);
	sonde_batch_free(z);
}

#endif
