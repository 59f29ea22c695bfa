/*
 * fuzz_otlp_json.c - libFuzzer target for the OTLP/JSON reader and writer.
 *
 * Each input is read as one document and as JSON lines. A failed read must leave the
 * batch empty; a successful one must survive a round trip (written per signal, compact or
 * indented, and as JSON lines, then read back) unchanged, or the target aborts. The
 * document is also read streaming (sonde_otlp_json_read_stream): the same batch, and the
 * spans it declares final (with their resources and scopes) never change afterwards; or,
 * when it answers that they would have, the batch is as it was. It is read streaming once
 * more with spans taken out of the batch as they are declared final (check_stream_take).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_json.h"

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_otlp_json: %s: %s\n", what, detail);
	abort();
}

static void check_equal(const sonde_batch *a, const sonde_batch *b, const char *what)
{
	char why[256];
	if (!sonde_batch_equal(a, b, why, sizeof(why)))
		die(what, why);
}

static void check_empty(const sonde_batch *b)
{
	if (b->spans_count || b->logs_count || b->metrics_count)
		die("failed read", "records were left in the batch");
}

static void round_trip(const sonde_batch *b, int pretty)
{
	sonde_wire_error err;
	sonde_batch *back = sonde_batch_new();
	sonde_buf out = SONDE_BUF_INIT;
	if (!back)
		abort();
	for (int sig = 0; sig < 3; sig++) {
		sonde_buf_reset(&out);
		if (sonde_otlp_json_write(b, (sonde_signal)sig, &out, pretty) != 0)
			die("write", "failed");
		if (sonde_otlp_json_read(back, out.data, out.len, &err) != 0)
			die("re-read of written document", err.msg);
	}
	check_equal(b, back, "document round trip");

	sonde_batch_clear(back);
	sonde_buf_reset(&out);
	if (sonde_otlp_jsonl_write(b, &out) != 0)
		die("jsonl write", "failed");
	if (sonde_otlp_jsonl_read(back, out.data ? out.data : "", out.len, &err) != 0)
		die("re-read of written JSON lines", err.msg);
	check_equal(b, back, "jsonl round trip");
	sonde_buf_release(&out);
	sonde_batch_free(back);
}

/* What the streaming read declared final: copies of those spans, resources and scopes. */
typedef struct finals {
	size_t n, cap;
	sonde_span_data *spans;
	sonde_resource *res;
	sonde_scope *scopes;
} finals;

static int on_final(void *ctx, sonde_batch *b, size_t final)
{
	finals *f = ctx;
	if (final < f->n || final > b->spans_count)
		die("stream", "final count went back or past the spans read");
	if (final > f->cap) {
		size_t cap = final * 2;
		f->spans = realloc(f->spans, cap * sizeof *f->spans);
		f->res = realloc(f->res, cap * sizeof *f->res);
		f->scopes = realloc(f->scopes, cap * sizeof *f->scopes);
		if (!f->spans || !f->res || !f->scopes)
			abort();
		f->cap = cap;
	}
	for (size_t i = f->n; i < final; i++) {
		memcpy(&f->spans[i], &b->spans[i], sizeof f->spans[i]); /* padding too */
		memcpy(&f->res[i], b->spans[i].resource, sizeof f->res[i]);
		memcpy(&f->scopes[i], b->spans[i].scope, sizeof f->scopes[i]);
	}
	f->n = final;
	return 0;
}

static void check_stream(const char *text, size_t size, const sonde_batch *whole)
{
	finals f = {0};
	sonde_wire_error err;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		abort();
	int rc = sonde_otlp_json_read_stream(b, text, size, &err, on_final, &f);
	/* 1: a resource or scope set after spans of it; b as it was, to be read whole. */
	if (rc != 1 && (rc == 0) != (whole != NULL))
		die("stream", "the streaming read and the whole read disagree");
	if (rc == 0) {
		check_equal(whole, b, "streaming read");
		if (f.n != b->spans_count)
			die("stream", "not every span was declared final");
		for (size_t i = 0; i < f.n; i++)
			if (memcmp(&f.spans[i], &b->spans[i], sizeof f.spans[i]) != 0 ||
			    memcmp(&f.res[i], b->spans[i].resource, sizeof f.res[i]) != 0 ||
			    memcmp(&f.scopes[i], b->spans[i].scope, sizeof f.scopes[i]) != 0)
				die("stream", "a span declared final changed afterwards");
	} else {
		check_empty(b);
	}
	free(f.spans);
	free(f.res);
	free(f.scopes);
	sonde_batch_free(b);
}

/* A streaming read whose callback takes spans out of the batch (all of them, or half,
 * by turns), so that the reader reuses their memory: each span taken holds, when taken,
 * what the whole read gives, and what is left at the end is the rest of it. */
typedef struct takes {
	const sonde_batch *whole;
	size_t next, calls;
	int differ;
} takes;

static int on_take(void *ctx, sonde_batch *b, size_t final)
{
	takes *t = ctx;
	size_t n = ++t->calls % 3 ? final : final / 2;
	for (size_t i = 0; i < n && t->whole; i++)
		if (t->next + i >= t->whole->spans_count ||
		    !sonde_span_data_equal(&b->spans[i], &t->whole->spans[t->next + i]))
			t->differ = 1;
	t->next += n;
	return (int)n;
}

static void check_stream_take(const char *text, size_t size, const sonde_batch *whole)
{
	takes t = {.whole = whole};
	sonde_wire_error err;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		abort();
	int rc = sonde_otlp_json_read_stream(b, text, size, &err, on_take, &t);
	if (rc != 1 && (rc == 0) != (whole != NULL))
		die("stream (taking)", "the streaming read and the whole read disagree");
	if (rc == 0) {
		if (t.differ)
			die("stream (taking)", "a span taken differs from the whole read's");
		if (t.next + b->spans_count != whole->spans_count)
			die("stream (taking)", "spans taken and left do not add up");
		for (size_t i = 0; i < b->spans_count; i++)
			if (!sonde_span_data_equal(&b->spans[i], &whole->spans[t.next + i]))
				die("stream (taking)",
				    "a span left in the batch differs from the whole read's");
	} else if (b->spans_count || b->logs_count || b->metrics_count) {
		die("stream (taking)", "a failed read left records in the batch");
	}
	sonde_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	sonde_wire_error err;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return 0;
	if (sonde_otlp_json_read(b, text, size, &err) == 0) {
		check_stream(text, size, b);
		check_stream_take(text, size, b);
		round_trip(b, (int)(size % 3));
	} else {
		check_empty(b);
		check_stream(text, size, NULL);
		check_stream_take(text, size, NULL);
	}
	sonde_batch_clear(b);
	if (sonde_otlp_jsonl_read(b, text, size, &err) == 0)
		round_trip(b, 0);
	else
		check_empty(b);
	sonde_batch_free(b);
	return 0;
}
