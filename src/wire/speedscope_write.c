/*
 * speedscope_write.c - writes a stack table as a speedscope JSON file: shared frames and
 * one "sampled" profile per thread (see profile_formats.h and
 * https://www.speedscope.app/file-format-schema.json).
 */
#define _GNU_SOURCE /* qsort_r, memmem */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "profile_formats.h"

#ifndef SONDE_VERSION
#define SONDE_VERSION "0"
#endif

/* A profile: the stacks of one thread marker (or of none). */
typedef struct group {
	uint32_t thread; /* frame id of the marker; UINT32_MAX: stacks without one */
	uint32_t orig;   /* index before sorting */
	int64_t total;
} group;

static int group_cmp(const void *a, const void *b, void *arg)
{
	const sonde_stacktab *t = arg;
	const group *x = a, *y = b;
	if (x->thread == y->thread)
		return 0;
	if (x->thread == UINT32_MAX)
		return 1;
	if (y->thread == UINT32_MAX)
		return -1;
	return strcmp(sonde_stacktab_frame(t, x->thread)->function,
	              sonde_stacktab_frame(t, y->thread)->function);
}

static const char *unit_of(const char *unit)
{
	static const char *const known[] = {"nanoseconds", "microseconds", "milliseconds", "seconds",
	                                    "bytes"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(unit, known[i]) == 0)
			return known[i];
	return "none";
}

int sonde_speedscope_write(const sonde_stacktab *t, const sonde_profile_write_opts *opts, sonde_buf *out)
{
	static const sonde_profile_write_opts none;
	if (!opts)
		opts = &none;
	size_t nframes = sonde_stacktab_frames_count(t), nstacks = sonde_stacktab_stacks_count(t);
	size_t type = opts->type, ntypes = sonde_stacktab_types_count(t);
	if (ntypes && type >= ntypes)
		return -EINVAL;
	const char *name = opts->name ? opts->name : "sonde";
	/* index[f]: the frame's index in shared.frames + 1, 0 when unused. gid[f]: for a
	 * thread marker, its group + 1. */
	uint32_t *index = calloc(nframes + 1, sizeof(*index));
	uint32_t *gid = calloc(nframes + 1, sizeof(*gid));
	uint32_t *order = malloc((nframes + 1) * sizeof(*order));
	group *groups = malloc((nframes + 2) * sizeof(*groups));
	uint32_t *rank = malloc((nframes + 2) * sizeof(*rank));
	size_t ngroups = 0, nshared = 0;
	uint32_t nothread = 0; /* group + 1 of the stacks without a marker */
	int rc = -ENOMEM;
	if (!index || !gid || !order || !groups || !rank)
		goto out;
	for (size_t s = 0; ntypes && s < nstacks; s++) {
		int64_t c = sonde_stacktab_count(t, (uint32_t)s, type);
		if (c <= 0)
			continue;
		size_t n;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
		const sonde_frame *th = sonde_stacktab_stack_thread(t, (uint32_t)s);
		uint32_t *g = th ? &gid[fr[n - 1]] : &nothread;
		if (!*g) {
			groups[ngroups] = (group){th ? fr[n - 1] : UINT32_MAX, (uint32_t)ngroups, 0};
			*g = (uint32_t)++ngroups;
		}
		groups[*g - 1].total += c;
		for (size_t i = 0; i < n - (th ? 1 : 0); i++)
			if (!index[fr[i]]) {
				order[nshared] = fr[i];
				index[fr[i]] = (uint32_t)++nshared;
			}
	}
	/* Profiles sorted by thread name; rank[old group] = new position; the stacks of
	 * profile p are bystack[start[p] .. start[p + 1]). */
	group *sorted = malloc((ngroups + 1) * sizeof(*sorted));
	size_t *start = calloc(ngroups + 2, sizeof(*start));
	uint32_t *bystack = malloc((nstacks + 1) * sizeof(*bystack));
	if (!sorted || !start || !bystack) {
		free(sorted);
		free(start);
		free(bystack);
		goto out;
	}
	memcpy(sorted, groups, ngroups * sizeof(*groups));
	qsort_r(sorted, ngroups, sizeof(*sorted), group_cmp, (void *)t);
	size_t active = 0;
	for (size_t i = 0; i < ngroups; i++) {
		if (sorted[i].total > sorted[active].total)
			active = i;
		rank[sorted[i].orig] = (uint32_t)i;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (size_t s = 0; ntypes && s < nstacks; s++) {
			if (sonde_stacktab_count(t, (uint32_t)s, type) <= 0)
				continue;
			size_t n;
			const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
			uint32_t p = rank[(sonde_stacktab_stack_thread(t, (uint32_t)s) ? gid[fr[n - 1]]
			                                                               : nothread) -
			                  1];
			if (pass == 0)
				start[p + 2]++;
			else
				bystack[start[p + 1]++] = (uint32_t)s;
		}
		for (size_t p = 0; pass == 0 && p < ngroups; p++)
			start[p + 2] += start[p + 1];
	}

	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 0);
	sonde_buf tmp = SONDE_BUF_INIT;
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "$schema");
	sonde_json_str(&w, "https://www.speedscope.app/file-format-schema.json", 50);
	sonde_json_key_cstr(&w, "name");
	sonde_json_str(&w, name, strlen(name));
	sonde_json_key_cstr(&w, "exporter");
	sonde_json_str(&w, "sonde " SONDE_VERSION, strlen("sonde " SONDE_VERSION));
	sonde_json_key_cstr(&w, "activeProfileIndex");
	sonde_json_u64(&w, active);
	sonde_json_key_cstr(&w, "shared");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "frames");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < nshared; i++) {
		const sonde_frame *f = sonde_stacktab_frame(t, order[i]);
		sonde_buf_reset(&tmp);
		sonde_profile_frame_name(f, &tmp);
		if (!tmp.len)
			sonde_buf_puts(&tmp, "[unknown]");
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "name");
		sonde_json_str(&w, tmp.data ? tmp.data : "", tmp.len);
		const char *file = f->file[0] ? f->file : f->module;
		if (file[0]) {
			sonde_json_key_cstr(&w, "file");
			sonde_json_str(&w, file, strlen(file));
		}
		if (f->line) {
			sonde_json_key_cstr(&w, "line");
			sonde_json_u64(&w, f->line);
		}
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	const sonde_sample_type *st = ntypes ? sonde_stacktab_type(t, type) : NULL;
	const char *unit = unit_of(st ? st->unit : "");
	sonde_json_key_cstr(&w, "profiles");
	sonde_json_arr_begin(&w);
	for (size_t p = 0; p < ngroups; p++) {
		const group *g = &sorted[p];
		const char *pname =
		        g->thread == UINT32_MAX ? name : sonde_stacktab_frame(t, g->thread)->function;
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "type");
		sonde_json_str(&w, "sampled", 7);
		sonde_json_key_cstr(&w, "name");
		sonde_json_str(&w, pname, strlen(pname));
		sonde_json_key_cstr(&w, "unit");
		sonde_json_str(&w, unit, strlen(unit));
		sonde_json_key_cstr(&w, "startValue");
		sonde_json_i64(&w, 0);
		sonde_json_key_cstr(&w, "endValue");
		sonde_json_i64(&w, g->total);
		/* Samples and weights: two walks over the same stacks. */
		for (int pass = 0; pass < 2; pass++) {
			sonde_json_key_cstr(&w, pass == 0 ? "samples" : "weights");
			sonde_json_arr_begin(&w);
			for (size_t k = start[p]; k < start[p + 1]; k++) {
				uint32_t s = bystack[k];
				int64_t c = sonde_stacktab_count(t, s, type);
				size_t n;
				const uint32_t *fr = sonde_stacktab_stack(t, s, &n);
				const sonde_frame *th = sonde_stacktab_stack_thread(t, s);
				if (pass == 1) {
					sonde_json_i64(&w, c);
					continue;
				}
				sonde_json_arr_begin(&w);
				for (size_t i = n - (th ? 1 : 0); i-- > 0;)
					sonde_json_u64(&w, index[fr[i]] - 1);
				sonde_json_arr_end(&w);
			}
			sonde_json_arr_end(&w);
		}
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_release(&tmp);
	free(sorted);
	free(start);
	free(bystack);
	rc = out->oom ? -ENOMEM : 0;
out:
	free(index);
	free(gid);
	free(order);
	free(groups);
	free(rank);
	return rc;
}
