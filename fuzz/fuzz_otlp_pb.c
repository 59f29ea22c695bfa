/*
 * fuzz_otlp_pb.c - libFuzzer target for the OTLP protobuf reader and writer.
 *
 * The first byte picks the signal (traces, metrics, logs); the rest is the request. A
 * failed read must leave the batch empty; a successful one must write, read back equal,
 * and write the same bytes again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_pb.h"
#include "telemetry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	sonde_signal sig = (sonde_signal)(data[0] % 3);
	sonde_batch *a = sonde_batch_new();
	if (!a)
		return 0;
	sonde_wire_error err;
	memset(&err, 0, sizeof(err));
	int rc = sonde_otlp_pb_read(a, sig, data + 1, size - 1, &err);
	if (rc < 0) {
		if (a->spans_count || a->logs_count || a->metrics_count)
			abort();
		if (rc != -ENOMEM && (err.offset > size - 1 || !err.msg[0]))
			abort();
		sonde_batch_free(a);
		return 0;
	}
	sonde_buf out = SONDE_BUF_INIT, again = SONDE_BUF_INIT;
	if (sonde_otlp_pb_write(a, sig, &out) != 0)
		abort();
	sonde_batch *b = sonde_batch_new();
	if (!b || sonde_otlp_pb_read(b, sig, out.data, out.len, &err) != 0)
		abort();
	char why[256];
	if (!sonde_batch_equal(a, b, why, sizeof(why)))
		abort();
	if (sonde_otlp_pb_write(b, sig, &again) != 0 || again.len != out.len ||
	    (out.len && memcmp(out.data, again.data, out.len) != 0))
		abort();
	sonde_buf_release(&out);
	sonde_buf_release(&again);
	sonde_batch_free(b);
	sonde_batch_free(a);
	return 0;
}
