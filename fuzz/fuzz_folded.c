/*
 * fuzz_folded.c - libFuzzer target for the folded stacks reader (whole and streamed) and,
 * on what it accepts, the folded writer and the flame graph renderer.
 *
 * Checks: a streamed read split anywhere gives the table a whole read gives; writing is
 * idempotent after one pass (write, read, write gives the same text, the same total);
 * a failed read through sonde_profile_read leaves a non-empty table as it was; the SVG of
 * any accepted input is produced without error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flame_svg.h"
#include "profile_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	sonde_profile_read_opts ro = {.threads = size && (data[0] & 1)};
	sonde_stacktab *t = sonde_stacktab_new(), *s = sonde_stacktab_new();
	if (!t || !s)
		abort();
	sonde_wire_error err;
	int rc = sonde_folded_read(t, in, size, &ro, &err);
	/* Sniffing reads only what it is given. */
	(void)sonde_profile_format_detect(in, size);

	/* Streamed in two pieces, cut at a place the input picks. */
	size_t cut = size ? (data[size - 1] * 131u) % (size + 1) : 0;
	sonde_folded_reader *r = sonde_folded_reader_new(s, &ro);
	if (!r)
		abort();
	int src = sonde_folded_reader_feed(r, in, cut, &err);
	if (src == 0)
		src = sonde_folded_reader_feed(r, in + cut, size - cut, &err);
	if (src == 0)
		src = sonde_folded_reader_finish(r, &err);
	sonde_folded_reader_free(r);
	if ((rc == 0) != (src == 0))
		abort();
	if (rc == 0 && !sonde_stacktab_equal(t, s, NULL, 0))
		abort();

	if (rc == 0) {
		sonde_buf a = SONDE_BUF_INIT, b = SONDE_BUF_INIT, svg = SONDE_BUF_INIT;
		sonde_stacktab *u = sonde_stacktab_new();
		if (sonde_folded_write(t, 0, &a) != 0 || !u)
			abort();
		if (sonde_folded_read(u, a.data ? a.data : "", a.len, NULL, &err) != 0)
			abort();
		if (sonde_folded_write(u, 0, &b) != 0 || a.len != b.len ||
		    (a.len && memcmp(a.data, b.data, a.len)))
			abort();
		if (sonde_stacktab_total(t, 0) != sonde_stacktab_total(u, 0))
			abort();
		if (sonde_flame_svg(t, NULL, &svg) != 0 || !strstr(svg.data, "</svg>"))
			abort();
		sonde_buf_release(&a);
		sonde_buf_release(&b);
		sonde_buf_release(&svg);
		sonde_stacktab_free(u);
	} else {
		/* A table that already holds something is left as it was. */
		sonde_stacktab_clear(s);
		if (sonde_folded_read(s, "x;y 3\n", 6, NULL, &err) != 0)
			abort();
		size_t frames = sonde_stacktab_frames_count(s);
		if (sonde_profile_read(s, SONDE_PROFILE_FOLDED, in, size, &ro, &err) == 0)
			abort();
		if (sonde_stacktab_frames_count(s) != frames || sonde_stacktab_total(s, 0) != 3)
			abort();
	}
	sonde_stacktab_free(t);
	sonde_stacktab_free(s);
	return 0;
}
