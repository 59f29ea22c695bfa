/*
 * profile_diff.h - what changed between two profiles: per function, its self share (the
 * samples where it is the leaf) and total share (the samples whose stack holds it) before
 * and after, sorted by how much the self share changed.
 *
 * Functions are keyed by the name a frame is shown by (sonde_profile_frame_name()), so
 * the same function merges across modules, files and lines, and across two profiles
 * recorded by different tools; thread markers are not functions. Shares are fractions of
 * each profile's own total (0..1), which normalises two profiles of different lengths.
 * A result owns its strings; it is immutable and may be read from any thread.
 */
#ifndef SONDE_PROFILE_DIFF_H
#define SONDE_PROFILE_DIFF_H

#include <stddef.h>

#include "stacktab.h"

typedef struct sonde_profile_delta {
	const char *function; /* borrowed from the result */
	double before_self, after_self;
	double before_total, after_total;
} sonde_profile_delta;

typedef struct sonde_profile_diff sonde_profile_diff;

/* Compares sample type before_type of before with after_type of after. Returns 0 with
 * *out set (free with sonde_profile_diff_free()), -EINVAL for an unknown type, or
 * -ENOMEM. Rows are sorted by |after_self - before_self|, largest first, then by |change
 * of total share|, then by name. */
int sonde_profile_diff_new(const sonde_stacktab *before, size_t before_type, const sonde_stacktab *after,
                           size_t after_type, sonde_profile_diff **out);
void sonde_profile_diff_free(sonde_profile_diff *d);
size_t sonde_profile_diff_count(const sonde_profile_diff *d);
/* Row i (borrowed until the result is freed); NULL past the end. */
const sonde_profile_delta *sonde_profile_diff_row(const sonde_profile_diff *d, size_t i);
/* The totals compared (positive counts only). */
void sonde_profile_diff_totals(const sonde_profile_diff *d, int64_t *before, int64_t *after);

#endif
