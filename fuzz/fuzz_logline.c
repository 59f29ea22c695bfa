/*
 * fuzz_logline.c - the log readers, their sniffers and the timestamp and level
 * recognisers: no input crashes them; refused input leaves the batch empty; what the
 * JSON-lines reader takes is well-formed and survives an OTLP JSON write and read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "logline.h"
#include "otlp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_logs(const sonde_batch *b)
{
	for (size_t i = 0; i < b->logs_count; i++) {
		const sonde_log_data *l = &b->logs[i];
		if (!l->resource || !l->scope || !l->severity_text.ptr || !l->event_name.ptr)
			abort();
		if (l->body.kind == SONDE_VAL_STRING && !l->body.u.str.ptr)
			abort();
		if (l->severity_number < 0 || l->severity_number > 24)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const uint64_t now = 1718409600ull * 1000000000u;
	uint64_t ns;
	size_t at, len;
	sonde_logtime_parse(s, size, now, &ns);
	sonde_logtime_find(s, size, now, &ns, &at, &len);
	sonde_log_severity_find(s, size, &at, &len);
	sonde_logjson_sniff(s, size);
	sonde_logtext_sniff(s, size);

	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	if (!b)
		abort();
	if (sonde_logtext_read(b, s, size, now, &err) == 0) {
		check_logs(b);
		size_t lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (b->logs_count > lines)
			abort();
	} else if (b->logs_count) {
		abort();
	}
	sonde_batch_clear(b);
	if (sonde_logjson_read(b, s, size, now, &err) == 0) {
		check_logs(b);
		sonde_buf out = SONDE_BUF_INIT;
		sonde_batch *c = sonde_batch_new();
		if (!c || sonde_otlp_json_write(b, SONDE_SIGNAL_LOGS, &out, 0) != 0 ||
		    sonde_otlp_json_read(c, out.data, out.len, &err) != 0) {
			fprintf(stderr, "re-read failed: %s\n%s\n", err.msg, out.data);
			abort();
		}
		/* Records compare one by one: OTLP regroups them by resource and scope. */
		if (c->logs_count != b->logs_count)
			abort();
		for (size_t i = 0; i < b->logs_count; i++)
			if (!sonde_log_data_equal(&b->logs[i], &c->logs[i]) ||
			    !sonde_resource_equal(b->logs[i].resource, c->logs[i].resource) ||
			    !sonde_scope_equal(b->logs[i].scope, c->logs[i].scope)) {
				fprintf(stderr, "round trip differs at log %zu\n%s\n", i, out.data);
				abort();
			}
		sonde_buf_release(&out);
		sonde_batch_free(c);
	} else if (b->logs_count) {
		abort();
	}
	sonde_batch_free(b);
	return 0;
}
