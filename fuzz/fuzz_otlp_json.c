/*
 * fuzz_otlp_json.c - libFuzzer target for the OTLP/JSON reader and writer.
 *
 * Each input is read as one document and as JSON lines. A failed read must leave the
 * batch empty; a successful one must survive a round trip (written per signal, compact or
 * indented, and as JSON lines, then read back) unchanged, or the target aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	sonde_wire_error err;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return 0;
	if (sonde_otlp_json_read(b, text, size, &err) == 0)
		round_trip(b, (int)(size % 3));
	else
		check_empty(b);
	sonde_batch_clear(b);
	if (sonde_otlp_jsonl_read(b, text, size, &err) == 0)
		round_trip(b, 0);
	else
		check_empty(b);
	sonde_batch_free(b);
	return 0;
}
