/*
 * profile_internal.h - what the tests of scoped profiling (profile_scope.c) may
 * see beyond include/sonde/profile.h.
 */
#ifndef SONDE_PROFILE_INTERNAL_H
#define SONDE_PROFILE_INTERNAL_H

#include <stdint.h>

/* The value reported for the latency bucket that a duration of `ticks` falls in
 * (ticks below 2^48; longer ones share the last bucket). */
double sonde__profile_bucket_value(uint64_t ticks);

#endif
