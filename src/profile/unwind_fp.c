/*
 * unwind_fp.c - frame-pointer unwinding: the user part of the callchain the kernel
 * walked when it took the sample (PERF_SAMPLE_CALLCHAIN), without its context markers.
 * Cheap, and exact for code built with frame pointers; for code without them the chain
 * stops early or wanders, which is what the DWARF unwinder is for.
 */
#include <linux/perf_event.h>

#include "unwind_internal.h"

static size_t fp_unwind(sonde__procmodel *m, sonde__proc *p, const sonde_perf_record *s, uint64_t *ips,
                        size_t max, bool *complete)
{
	(void)m;
	(void)p;
	size_t n = 0;
	bool user = false;
	*complete = false;

	for (size_t i = 0; i < s->u.sample.chain_len && n < max; i++) {
		uint64_t ip = s->u.sample.chain[i];
		if (ip >= (uint64_t)PERF_CONTEXT_MAX) {
			user = ip == (uint64_t)PERF_CONTEXT_USER;
			continue;
		}
		if (user)
			ips[n++] = ip;
	}
	/* A chain that ends tells nothing: a zero frame pointer ends both a well-formed chain
	 * and one through code without frame pointers. */
	return n;
}

const sonde__unwinder_ops sonde__unwind_fp = {"fp", fp_unwind, NULL};
