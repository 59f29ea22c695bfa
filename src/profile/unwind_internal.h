/*
 * unwind_internal.h - unwinders: a sample's user stack as a list of addresses.
 *
 * Each unwinder is one implementation of sonde__unwinder_ops in its own file:
 * unwind_fp.c takes the frame-pointer walk the kernel already made (the sample's
 * callchain); unwind_dwarf.c unwinds the copy of the user stack with the registers, using
 * the DWARF call frame information of each module: its own walk over cached rules
 * (unwind_cfi.c), and libunwind's remote interface where that walk gives up.
 * The profiler picks one per sample (--call-graph fp|dwarf, or auto). Not thread-safe.
 */
#ifndef SONDE_UNWIND_INTERNAL_H
#define SONDE_UNWIND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perf_events.h"
#include "procmodel_internal.h"

typedef struct sonde__unwinder_ops {
	const char *name;
	/* Writes the user frames of sample s of process p into ips[0..max), leaf first: the
	 * sampled address, then return addresses. Returns how many; *complete is set when the
	 * walk ended at the outermost frame (not cut short by a missing rule, memory or max). */
	size_t (*unwind)(sonde__procmodel *m, sonde__proc *p, const sonde_perf_record *s, uint64_t *ips,
	                 size_t max, bool *complete);
	/* Frees what the unwinder keeps for a process (p->unwind_state). May be NULL. */
	void (*proc_release)(sonde__proc *p);
} sonde__unwinder_ops;

extern const sonde__unwinder_ops sonde__unwind_fp;
extern const sonde__unwinder_ops sonde__unwind_dwarf;

/* The fast DWARF walk (unwind_cfi.c), used by unwind_dwarf.c: cached x86-64 CFI rules per
 * (module, address). Writes frames like unwind(); *gave_up is set when it met what it does
 * not handle (the frames written so far are then a prefix of the stack), *debug_frame when
 * a rule came from .debug_frame. *cache is created on first use (owned by the caller, freed
 * with sonde__cfi_cache_free()). */
typedef struct sonde__cfi_cache sonde__cfi_cache;
size_t sonde__cfi_unwind(sonde__cfi_cache **cache, sonde__procmodel *m, sonde__proc *p,
                         const sonde_perf_record *s, uint64_t *ips, size_t max, bool *complete, bool *gave_up,
                         bool *debug_frame);
void sonde__cfi_cache_free(sonde__cfi_cache *c);

#endif
