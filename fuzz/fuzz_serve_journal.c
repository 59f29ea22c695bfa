/*
 * fuzz_serve_journal.c - the record reader of sonde serve's write-ahead journal on any
 * segment bytes, as a restarting server meets them: it walks records until the end or the
 * first short or corrupt one. Every record it returns must lie inside the input and end
 * where the next begins; a refusal must leave the offset where it was and say why; a
 * record it returns is decoded the way replay decodes it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "serve_journal.h"
#include "sonde/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	sonde_batch *b = sonde_batch_new();
	if (!b)
		abort();
	for (;;) {
		sonde__journal_rec rec;
		bool torn;
		char why[300];
		why[0] = '\0';
		size_t before = off;
		int rc = sonde__journal_next(data, size, &off, &rec, &torn, why, sizeof why);
		if (rc == 0) {
			if (off != size)
				abort();
			break;
		}
		if (rc < 0) {
			if (rc != SONDE_EPARSE || off != before || !why[0] || strncmp(why, "offset ", 7) != 0)
				abort();
			break;
		}
		if (rec.offset != before || off != before + SONDE__JOURNAL_HEADER + rec.len || off > size ||
		    rec.body != data + before + SONDE__JOURNAL_HEADER || rec.route > SONDE_ROUTE_ZIPKIN ||
		    rec.enc > SONDE_SERVE_JSON)
			abort();
		sonde_wire_error err;
		sonde_batch_clear(b);
		sonde_serve_decode(b, (sonde_serve_route)rec.route, (sonde_serve_encoding)rec.enc,
		                   rec.len ? rec.body : (const uint8_t *)"", rec.len, &err);
	}
	sonde_batch_free(b);
	return 0;
}
