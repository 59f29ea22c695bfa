/*
 * flame_svg.h - interactive flame graphs as standalone SVG, from a stack table: the
 * ordinary graph (one profile) and the differential graph (two profiles).
 *
 * The SVG works like flamegraph.pl's: hover shows a frame's details, click zooms into it,
 * "Search" (or Ctrl-F) highlights frames whose name matches a regular expression and
 * shows the share of the total they cover (nested matches counted once), "Reset Zoom"
 * and Escape undo. Frames are merged by name (and kind and module), siblings ordered
 * alphabetically, with an "all" frame at the root; thread markers (stacktab.h) show as
 * the frames above it. Runs of sibling frames each narrower than opts->min_share are drawn
 * as one grey frame "(N frames)"; narrower runs are left out. The output depends only on
 * the input and the options, so it can serve as a golden file.
 *
 * Differential: the shape is the AFTER profile's; before is normalised to after's total
 * (as flamegraph.pl's difffolded.pl -n); each frame is coloured by how its share changed:
 * red grew, blue shrank, white unchanged, the deepest colour for the largest change.
 *
 * Functions are reentrant; the tables are only read.
 */
#ifndef SONDE_FLAME_SVG_H
#define SONDE_FLAME_SVG_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "stacktab.h"

typedef enum sonde_flame_colors {
	SONDE_FLAME_COLOR_KIND,   /* user code warm, kernel orange, inlined aqua, JIT green */
	SONDE_FLAME_COLOR_MODULE, /* one hue per module */
} sonde_flame_colors;

typedef struct sonde_flame_opts {
	const char *title;    /* NULL: "Flame Graph" (or "Differential Flame Graph") */
	const char *subtitle; /* NULL: none */
	bool inverted;        /* icicle graph: the root at the top */
	sonde_flame_colors colors;
	/* The sample type drawn (an index of the table; for a diff, of AFTER, and BEFORE's
	 * type of the same name). */
	size_t type;
	double min_share;  /* merge frames narrower than this share of the total; 0: 0.001 */
	unsigned width_px; /* 0: 1200 */
} sonde_flame_opts;

/* Appends the flame graph of t to out. opts may be NULL. Returns 0, -EINVAL for a type
 * t does not have, or -ENOMEM. An empty profile gives a graph with just "all". */
int sonde_flame_svg(const sonde_stacktab *t, const sonde_flame_opts *opts, sonde_buf *out);

/* Appends the differential flame graph from before to after. Returns 0, -EINVAL when
 * after lacks opts->type or before lacks a type of that name, or -ENOMEM. */
int sonde_flame_diff_svg(const sonde_stacktab *before, const sonde_stacktab *after,
                         const sonde_flame_opts *opts, sonde_buf *out);

#endif
