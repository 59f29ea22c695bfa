/*
 * stats_internal.h - what stats.c and stats_rank.c share: GSL's normal distribution
 * behind guards for NaN and infinities, and the comparison for sorting doubles.
 */
#ifndef SONDE_STATS_INTERNAL_H
#define SONDE_STATS_INTERNAL_H

/* Upper tail, lower tail and inverse upper tail of the standard normal; NaN in, NaN out;
 * +-inf give the limits; sonde__norm_isf() answers NaN outside (0, 1). */
double sonde__norm_sf(double z);
double sonde__norm_cdf(double z);
double sonde__norm_isf(double p);
/* qsort() comparison of doubles, ascending (no NaN). */
int sonde__cmp_double(const void *a, const void *b);

#endif
