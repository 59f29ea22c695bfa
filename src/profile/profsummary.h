/*
 * profsummary.h - the hottest functions of a profile, by self and by total share, and how
 * many samples unwound all the way to their thread's first frame.
 *
 * Functions are grouped by the name a frame is shown by (sonde_profile_frame_name():
 * inlined functions count under their own name). Self counts samples whose leaf frame is
 * the function; total counts samples with the function anywhere in the stack, once per
 * sample however often it recurs. Thread marker frames are not functions. Used by the end
 * of `sonde record`, by `sonde top`, and by the accuracy tests. Stateless; thread-safe.
 */
#ifndef SONDE_PROFSUMMARY_H
#define SONDE_PROFSUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "stacktab.h"

typedef struct sonde_fn_share {
	char *name;   /* owned by the array (see sonde_fn_shares_free) */
	int64_t self; /* count of the chosen sample type */
	int64_t total;
} sonde_fn_share;

/* Computes every function's self and total count of sample type `type`, over the stacks
 * whose thread marker's name (function "<name>-<tid>") contains thread_filter, or over
 * all stacks when thread_filter is NULL. The array (*out, *n) is sorted by self count,
 * then total, then name, and freed with sonde_fn_shares_free(). *sum receives the filter's
 * total count. Returns 0 or -ENOMEM. */
int sonde_fn_shares(const sonde_stacktab *t, size_t type, const char *thread_filter, sonde_fn_share **out,
                    size_t *n, int64_t *sum);
void sonde_fn_shares_free(sonde_fn_share *a, size_t n);

/* The share (0..1) of sample type `type` whose stack's outermost frame (under the thread
 * marker) is where a program or a thread begins: _start, __libc_start_main,
 * __libc_start_call_main, main, start_thread, clone, clone3, __clone, __clone3,
 * thread_start. 0 for an empty profile. */
double sonde_profile_rooted_share(const sonde_stacktab *t, size_t type);

#endif
