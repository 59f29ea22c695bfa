/*
 * profile_diff.c - per-function self and total shares of two profiles and their change
 * (see profile_diff.h).
 *
 * Each profile's frames are named once and the names interned in the result's table, so
 * a function is a pointer; a frame -> function array then makes every stack a walk over
 * integers. "Total" counts a stack once per function even when the function recurses:
 * a per-function stamp of the last stack that counted it does that without a set.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "intern.h"
#include "profile_diff.h"
#include "profile_formats.h"

typedef struct fn_acc {
	const char *name;
	int64_t self[2], total[2];
	size_t stamp[2]; /* stack index + 1 that last counted total */
} fn_acc;

struct sonde_profile_diff {
	sonde_arena arena;
	sonde_intern names;
	fn_acc *fns;
	size_t nfns, cap;
	const char **by_ptr_keys; /* open addressing: name pointer -> fn index + 1 */
	uint32_t *by_ptr_vals;
	size_t mask;
	sonde_profile_delta *rows;
	int64_t totals[2];
};

static uint64_t ptr_hash(const void *p)
{
	uint64_t x = (uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* The accumulator of an interned name, or -1 when out of memory. */
static int64_t fn_index(sonde_profile_diff *d, const char *name)
{
	if ((d->nfns + 1) * 2 > (d->by_ptr_vals ? d->mask + 1 : 0)) {
		size_t cap = d->by_ptr_vals ? (d->mask + 1) * 2 : 256;
		const char **k = calloc(cap, sizeof(*k));
		uint32_t *v = calloc(cap, sizeof(*v));
		if (!k || !v) {
			free(k);
			free(v);
			return -1;
		}
		for (size_t i = 0; i < d->nfns; i++) {
			size_t j = ptr_hash(d->fns[i].name) & (cap - 1);
			while (v[j])
				j = (j + 1) & (cap - 1);
			k[j] = d->fns[i].name;
			v[j] = (uint32_t)(i + 1);
		}
		free(d->by_ptr_keys);
		free(d->by_ptr_vals);
		d->by_ptr_keys = k;
		d->by_ptr_vals = v;
		d->mask = cap - 1;
	}
	size_t j = ptr_hash(name) & d->mask;
	for (; d->by_ptr_vals[j]; j = (j + 1) & d->mask)
		if (d->by_ptr_keys[j] == name)
			return d->by_ptr_vals[j] - 1;
	if (d->nfns == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		fn_acc *f = realloc(d->fns, cap * sizeof(*f));
		if (!f)
			return -1;
		d->fns = f;
		d->cap = cap;
	}
	d->fns[d->nfns] = (fn_acc){.name = name};
	d->by_ptr_keys[j] = name;
	d->by_ptr_vals[j] = (uint32_t)(d->nfns + 1);
	return (int64_t)d->nfns++;
}

static int accumulate(sonde_profile_diff *d, const sonde_stacktab *t, size_t type, int side)
{
	size_t nframes = sonde_stacktab_frames_count(t), nstacks = sonde_stacktab_stacks_count(t);
	/* frame -> accumulator index, UINT32_MAX for thread markers. */
	uint32_t *fn_of = malloc((nframes ? nframes : 1) * sizeof(*fn_of));
	sonde_buf name = SONDE_BUF_INIT;
	int rc = -ENOMEM;
	if (!fn_of)
		goto out;
	for (size_t i = 0; i < nframes; i++) {
		const sonde_frame *f = sonde_stacktab_frame(t, (uint32_t)i);
		if (sonde_frame_kind_of(f) == SONDE_FRAME_THREAD) {
			fn_of[i] = UINT32_MAX;
			continue;
		}
		sonde_buf_reset(&name);
		sonde_profile_frame_name(f, &name);
		if (!name.len)
			sonde_buf_puts(&name, "[unknown]");
		const char *s = name.oom ? NULL : sonde_intern_str(&d->names, name.data, name.len);
		int64_t k = s ? fn_index(d, s) : -1;
		if (k < 0)
			goto out;
		fn_of[i] = (uint32_t)k;
	}
	for (size_t s = 0; s < nstacks; s++) {
		int64_t c = sonde_stacktab_count(t, (uint32_t)s, type);
		if (c <= 0)
			continue;
		d->totals[side] += c;
		size_t n;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
		bool self_done = false;
		for (size_t i = 0; i < n; i++) {
			uint32_t k = fn_of[fr[i]];
			if (k == UINT32_MAX)
				continue;
			fn_acc *a = &d->fns[k];
			if (!self_done) {
				a->self[side] += c;
				self_done = true;
			}
			if (a->stamp[side] != s + 1) {
				a->stamp[side] = s + 1;
				a->total[side] += c;
			}
		}
	}
	rc = 0;
out:
	free(fn_of);
	sonde_buf_release(&name);
	return rc;
}

static int row_cmp(const void *x, const void *y)
{
	const sonde_profile_delta *a = x, *b = y;
	double da = fabs(a->after_self - a->before_self), db = fabs(b->after_self - b->before_self);
	if (da != db)
		return da > db ? -1 : 1;
	da = fabs(a->after_total - a->before_total);
	db = fabs(b->after_total - b->before_total);
	if (da != db)
		return da > db ? -1 : 1;
	return strcmp(a->function, b->function);
}

int sonde_profile_diff_new(const sonde_stacktab *before, size_t before_type, const sonde_stacktab *after,
                           size_t after_type, sonde_profile_diff **out)
{
	if ((before_type >= sonde_stacktab_types_count(before) && sonde_stacktab_types_count(before)) ||
	    (after_type >= sonde_stacktab_types_count(after) && sonde_stacktab_types_count(after)))
		return -EINVAL;
	sonde_profile_diff *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	sonde_arena_init(&d->arena);
	sonde_intern_init(&d->names, &d->arena);
	int rc = 0;
	if (sonde_stacktab_types_count(before))
		rc = accumulate(d, before, before_type, 0);
	if (rc == 0 && sonde_stacktab_types_count(after))
		rc = accumulate(d, after, after_type, 1);
	if (rc == 0) {
		d->rows = malloc((d->nfns ? d->nfns : 1) * sizeof(*d->rows));
		if (!d->rows)
			rc = -ENOMEM;
	}
	if (rc < 0) {
		sonde_profile_diff_free(d);
		return rc;
	}
	double tb = d->totals[0] ? (double)d->totals[0] : 1, ta = d->totals[1] ? (double)d->totals[1] : 1;
	for (size_t i = 0; i < d->nfns; i++) {
		const fn_acc *a = &d->fns[i];
		d->rows[i] = (sonde_profile_delta){a->name, (double)a->self[0] / tb, (double)a->self[1] / ta,
		                                   (double)a->total[0] / tb, (double)a->total[1] / ta};
	}
	qsort(d->rows, d->nfns, sizeof(*d->rows), row_cmp);
	*out = d;
	return 0;
}

void sonde_profile_diff_free(sonde_profile_diff *d)
{
	if (!d)
		return;
	sonde_intern_release(&d->names);
	sonde_arena_release(&d->arena);
	free(d->fns);
	free(d->by_ptr_keys);
	free(d->by_ptr_vals);
	free(d->rows);
	free(d);
}

size_t sonde_profile_diff_count(const sonde_profile_diff *d)
{
	return d->nfns;
}

const sonde_profile_delta *sonde_profile_diff_row(const sonde_profile_diff *d, size_t i)
{
	return i < d->nfns ? &d->rows[i] : NULL;
}

void sonde_profile_diff_totals(const sonde_profile_diff *d, int64_t *before, int64_t *after)
{
	*before = d->totals[0];
	*after = d->totals[1];
}
