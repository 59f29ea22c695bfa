/*
 * profsummary.c - self and total shares per function (see profsummary.h).
 *
 * Names are interned per call in a small open-addressing table; each stack adds its count
 * to the self of its leaf's name and to the total of each distinct name in it (a stamp
 * per name remembers the last stack that counted it, so recursion counts once).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "profile_formats.h"
#include "profsummary.h"

typedef struct entry {
	sonde_fn_share s;
	size_t stamp; /* last stack + 1 that added to total */
} entry;

typedef struct table {
	entry *e;
	size_t n, cap;
	uint32_t *index; /* id + 1 */
	size_t mask;
} table;

static int64_t lookup(table *t, const char *name, size_t len)
{
	if (!t->index || (t->n + 1) * 2 > t->mask + 1) {
		size_t cap = t->index ? (t->mask + 1) * 2 : 256;
		uint32_t *idx = calloc(cap, sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		for (size_t i = 0; i < t->n; i++) {
			size_t j = sonde_hash_bytes(t->e[i].s.name, strlen(t->e[i].s.name), 0) & (cap - 1);
			while (idx[j])
				j = (j + 1) & (cap - 1);
			idx[j] = (uint32_t)i + 1;
		}
		free(t->index);
		t->index = idx;
		t->mask = cap - 1;
	}
	size_t j = sonde_hash_bytes(name, len, 0) & t->mask;
	while (t->index[j]) {
		entry *e = &t->e[t->index[j] - 1];
		if (strncmp(e->s.name, name, len) == 0 && e->s.name[len] == '\0')
			return t->index[j] - 1;
		j = (j + 1) & t->mask;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		entry *ne = realloc(t->e, nc * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		t->e = ne;
		t->cap = nc;
	}
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = '\0';
	t->e[t->n] = (entry){{copy, 0, 0}, 0};
	t->index[j] = (uint32_t)t->n + 1;
	return (int64_t)t->n++;
}

static int share_cmp(const void *a, const void *b)
{
	const sonde_fn_share *x = a, *y = b;
	if (x->self != y->self)
		return x->self > y->self ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->name, y->name);
}

int sonde_fn_shares(const sonde_stacktab *t, size_t type, const char *thread_filter, sonde_fn_share **out,
                    size_t *n, int64_t *sum)
{
	table tb = {0};
	sonde_buf name = SONDE_BUF_INIT;
	/* Frame id -> name id, filled lazily (-1: not yet; -2: a thread marker). */
	size_t nframes = sonde_stacktab_frames_count(t);
	int64_t *fname = malloc((nframes ? nframes : 1) * sizeof(*fname));
	int rc = 0;
	*sum = 0;
	if (!fname)
		return -ENOMEM;
	for (size_t i = 0; i < nframes; i++)
		fname[i] = -1;
	size_t nstacks = sonde_stacktab_stacks_count(t);
	for (size_t s = 0; s < nstacks && rc == 0; s++) {
		int64_t c = sonde_stacktab_count(t, (uint32_t)s, type);
		if (c == 0)
			continue;
		if (thread_filter) {
			const sonde_frame *th = sonde_stacktab_stack_thread(t, (uint32_t)s);
			if (!th || !strstr(th->function, thread_filter))
				continue;
		}
		*sum += c;
		size_t depth;
		const uint32_t *frames = sonde_stacktab_stack(t, (uint32_t)s, &depth);
		bool leaf = true;
		for (size_t k = 0; k < depth; k++) {
			uint32_t f = frames[k];
			if (fname[f] == -1) {
				const sonde_frame *fr = sonde_stacktab_frame(t, f);
				if (sonde_frame_kind_of(fr) == SONDE_FRAME_THREAD) {
					fname[f] = -2;
				} else {
					sonde_buf_reset(&name);
					sonde_profile_frame_name(fr, &name);
					if (name.oom) {
						rc = -ENOMEM;
						break;
					}
					int64_t id = lookup(&tb, name.data ? name.data : "", name.len);
					if (id < 0) {
						rc = (int)id;
						break;
					}
					fname[f] = id;
				}
			}
			if (fname[f] < 0)
				continue;
			entry *e = &tb.e[fname[f]];
			if (leaf)
				e->s.self += c;
			leaf = false;
			if (e->stamp != s + 1) {
				e->stamp = s + 1;
				e->s.total += c;
			}
		}
	}
	free(fname);
	free(tb.index);
	sonde_buf_release(&name);
	sonde_fn_share *a = NULL;
	if (rc == 0 && tb.n && !(a = malloc(tb.n * sizeof(*a))))
		rc = -ENOMEM;
	for (size_t i = 0; i < tb.n; i++) {
		if (rc == 0)
			a[i] = tb.e[i].s;
		else
			free(tb.e[i].s.name);
	}
	free(tb.e);
	if (rc)
		return rc;
	if (tb.n)
		qsort(a, tb.n, sizeof(*a), share_cmp);
	*out = a;
	*n = tb.n;
	return 0;
}

void sonde_fn_shares_free(sonde_fn_share *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		free(a[i].name);
	free(a);
}

static bool is_root_function(const char *f)
{
	static const char *const roots[] = {"_start",      "__libc_start_main", "__libc_start_call_main",
	                                    "main",        "start_thread",      "clone",
	                                    "clone3",      "__clone",           "__clone3",
	                                    "thread_start"};
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (strcmp(f, roots[i]) == 0)
			return true;
	return false;
}

double sonde_profile_rooted_share(const sonde_stacktab *t, size_t type)
{
	int64_t all = 0, rooted = 0;
	size_t nstacks = sonde_stacktab_stacks_count(t);
	for (size_t s = 0; s < nstacks; s++) {
		int64_t c = sonde_stacktab_count(t, (uint32_t)s, type);
		if (c == 0)
			continue;
		all += c;
		size_t depth;
		const uint32_t *frames = sonde_stacktab_stack(t, (uint32_t)s, &depth);
		while (depth > 0 &&
		       sonde_frame_kind_of(sonde_stacktab_frame(t, frames[depth - 1])) == SONDE_FRAME_THREAD)
			depth--;
		if (depth > 0 && is_root_function(sonde_stacktab_frame(t, frames[depth - 1])->function))
			rooted += c;
	}
	return all ? (double)rooted / (double)all : 0.0;
}
