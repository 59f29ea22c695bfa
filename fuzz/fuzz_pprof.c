/*
 * fuzz_pprof.c - libFuzzer target for the pprof reader (raw protobuf, and gzip when the
 * input starts with the gzip magic).
 *
 * Checks on what it accepts: the table writes as pprof and reads back equal (every frame
 * field, inlined runs, threads, counts of every type), and writing what was read back
 * gives the same bytes; speedscope and the flame graph render. A refused input leaves
 * an empty table empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flame_svg.h"
#include "profile_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_stacktab *t = sonde_stacktab_new();
	if (!t)
		abort();
	sonde_wire_error err;
	sonde_profile_read_opts ro = {.max_inflated_bytes = 1 << 20};
	if (sonde_profile_read(t, SONDE_PROFILE_PPROF, (const char *)data, size, &ro, &err) == 0) {
		sonde_buf a = SONDE_BUF_INIT, b = SONDE_BUF_INIT, out = SONDE_BUF_INIT;
		sonde_stacktab *u = sonde_stacktab_new();
		sonde_profile_write_opts wo = {.pprof_raw = true};
		if (!u || sonde_pprof_write(t, &wo, &a) != 0)
			abort();
		if (sonde_pprof_read(u, a.data ? a.data : "", a.len, NULL, &err) != 0 ||
		    !sonde_stacktab_equal(t, u, NULL, 0))
			abort();
		if (sonde_pprof_write(u, &wo, &b) != 0 || a.len != b.len ||
		    (a.len && memcmp(a.data, b.data, a.len)))
			abort();
		if (sonde_speedscope_write(t, NULL, &out) != 0)
			abort();
		sonde_buf_reset(&out);
		if (sonde_flame_svg(t, NULL, &out) != 0)
			abort();
		sonde_buf_release(&a);
		sonde_buf_release(&b);
		sonde_buf_release(&out);
		sonde_stacktab_free(u);
	} else if (sonde_stacktab_frames_count(t) || sonde_stacktab_types_count(t)) {
		abort();
	}
	sonde_stacktab_free(t);
	return 0;
}
