/*
 * fuzz_perf_script.c - libFuzzer target for the `perf script` text reader.
 *
 * Also runs the format sniffing on the input. Checks on what the reader accepts: every
 * stack ends in a root frame (the command or thread), the samples count one each, and
 * the table survives a pprof write and read unchanged and a folded write and read with
 * the same total; the flame graph renders.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flame_svg.h"
#include "profile_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_profile_read_opts ro = {.threads = size && (data[0] & 1)};
	sonde_stacktab *t = sonde_stacktab_new();
	if (!t)
		abort();
	sonde_wire_error err;
	/* Sniffing reads only what it is given. */
	(void)sonde_profile_format_detect((const char *)data, size);
	if (sonde_perf_script_read(t, (const char *)data, size, &ro, &err) == 0) {
		for (size_t s = 0; s < sonde_stacktab_stacks_count(t); s++) {
			size_t n;
			sonde_stacktab_stack(t, (uint32_t)s, &n);
			if (n == 0 || sonde_stacktab_count(t, (uint32_t)s, 0) <= 0)
				abort();
			if (ro.threads && !sonde_stacktab_stack_thread(t, (uint32_t)s))
				abort();
		}
		sonde_buf pb = SONDE_BUF_INIT, folded = SONDE_BUF_INIT, svg = SONDE_BUF_INIT;
		sonde_stacktab *u = sonde_stacktab_new(), *v = sonde_stacktab_new();
		sonde_profile_write_opts wo = {.pprof_raw = data[0] & 2};
		if (!u || !v || sonde_pprof_write(t, &wo, &pb) != 0)
			abort();
		if (sonde_pprof_read(u, pb.data ? pb.data : "", pb.len, NULL, &err) != 0 ||
		    !sonde_stacktab_equal(t, u, NULL, 0))
			abort();
		if (sonde_folded_write(t, 0, &folded) != 0 ||
		    sonde_folded_read(v, folded.data ? folded.data : "", folded.len, NULL, &err) != 0 ||
		    sonde_stacktab_total(v, 0) != sonde_stacktab_total(t, 0))
			abort();
		if (sonde_flame_svg(t, NULL, &svg) != 0)
			abort();
		sonde_buf_release(&pb);
		sonde_buf_release(&folded);
		sonde_buf_release(&svg);
		sonde_stacktab_free(u);
		sonde_stacktab_free(v);
	}
	sonde_stacktab_free(t);
	return 0;
}
