/*
 * mem_report.h - the analysis behind `sonde mem report`: replays a recording
 * (mem_file.h) and finds the peak heap and the stacks holding it, the leaks (live at
 * exit), the allocation sites by bytes and by count, the temporary allocations, and the
 * heap size over time; then symbolizes the stacks into a stack table (stacktab.h) whose
 * sample types are the figures, so that every profile format and the flame graph
 * renderer can draw any of them.
 *
 * Sampled recordings are scaled without bias: an allocation of s bytes recorded with
 * mean interval T was sampled with probability p = 1 - exp(-s/T), so it stands for 1/p
 * allocations and s/p bytes (docs/memory.md).
 *
 * Ownership: a report owns its table and arrays; free it with sonde_mem_report_free().
 * Not thread-safe.
 */
#ifndef SONDE_MEM_REPORT_H
#define SONDE_MEM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mem_file.h"
#include "stacktab.h"

/* The sample types of a report's table, in this order. */
enum {
	SONDE_MEM_ALLOC_SPACE,   /* "alloc_space" bytes allocated in total */
	SONDE_MEM_ALLOC_OBJECTS, /* "alloc_objects" allocations */
	SONDE_MEM_PEAK_SPACE,    /* "peak_space" bytes live at the peak */
	SONDE_MEM_PEAK_OBJECTS,  /* "peak_objects" */
	SONDE_MEM_LEAK_SPACE,    /* "leak_space" bytes live at exit */
	SONDE_MEM_LEAK_OBJECTS,  /* "leak_objects" */
	SONDE_MEM_TEMP_OBJECTS,  /* "temp_objects" allocations freed before their thread's next event */
	SONDE_MEM_TYPES
};

typedef struct sonde_mem_report {
	sonde_memfile_info info;
	double alloc_bytes, alloc_count; /* estimates when sampled */
	double free_count, temp_count, temp_bytes;
	double peak_bytes; /* heap (bytes requested and not yet freed) at its largest */
	uint64_t peak_ns;  /* when, in ns from the start */
	double leak_bytes, leak_count;
	/* The heap over time: timeline_len points, point i covering the time from
	 * i * end_ns / len, holding the largest heap size in that interval. */
	size_t timeline_len;
	double *timeline_bytes;
	sonde_stacktab *tab; /* owned; types as above */
} sonde_mem_report;

typedef struct sonde_mem_report_opts {
	size_t timeline_points;        /* 0: 512 */
	const char *const *debug_dirs; /* for the symbolizer; NULL: its default */
	size_t debug_dirs_count;
	bool no_symbols; /* frames keep their raw addresses (module "[unknown]"); opens no file */
} sonde_mem_report_opts;

/* Analyses f (borrowed for the call). opts may be NULL. Returns 0 with *out set (caller
 * frees with sonde_mem_report_free()), or -ENOMEM. */
int sonde_mem_report_build(const sonde_memfile *f, const sonde_mem_report_opts *opts, sonde_mem_report **out);
/* NULL is a no-op. */
void sonde_mem_report_free(sonde_mem_report *r);

/* The sampling weight of an allocation of size bytes: 1 when every allocation was
 * recorded, else 1 / (1 - exp(-size / sample_bytes)). */
double sonde_mem_weight(const sonde_memfile_info *info, uint64_t size);

/* Appends an SVG plot of the heap over time (with the peak marked) to out. Returns 0 or
 * -ENOMEM. */
int sonde_mem_plot_svg(const sonde_mem_report *r, const char *title, sonde_buf *out);

#endif
