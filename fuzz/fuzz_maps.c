/*
 * fuzz_maps.c - libFuzzer target for the /proc/PID/maps reader (src/profile/procmaps.c):
 * any bytes either parse into well-formed entries or fail with SONDE_EPARSE naming a line
 * and field; the entries then go into a process model, whose maps must stay sorted and
 * disjoint however they overlap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"
#include "procmodel_internal.h"
#include "sonde/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ctx {
	sonde__procmodel *m;
	sonde__proc *p;
	size_t n;
} ctx;

static int on_entry(void *arg, const sonde_map_entry *e)
{
	ctx *c = arg;
	if (e->end < e->start || strlen(e->path) != e->path_len || (e->prot & ~15u))
		abort();
	c->n++;
	if (sonde__proc_add_map(c->m, c->p, e->start, e->end, e->pgoff, e->prot, e->path, e->inode) != 0)
		abort();
	for (size_t i = 0; i < c->p->nmaps; i++) {
		const sonde__map *a = &c->p->maps[i];
		if (a->end <= a->start || (i && a->start < c->p->maps[i - 1].end))
			abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	if (!sym)
		return 0;
	sonde__procmodel m;
	sonde__procmodel_init(&m, sym);
	sonde__proc *p = sonde__procmodel_proc(&m, 1);
	if (!p)
		abort();
	p->exited = true; /* never read the real /proc/1/maps */
	ctx c = {&m, p, 0};
	sonde_wire_error err;
	int rc = sonde_procmaps_parse((const char *)data, size, on_entry, &c, &err);
	if (rc != 0 && (rc != SONDE_EPARSE || err.line == 0 || err.offset > size || !err.field[0]))
		abort();
	for (size_t i = 0; i < p->nmaps; i++)
		if (sonde__proc_find_map(p, p->maps[i].start) != &p->maps[i] ||
		    sonde__proc_find_map(p, p->maps[i].end - 1) != &p->maps[i])
			abort();
	sonde__procmodel_release(&m);
	sonde_symbolizer_free(sym);
	return 0;
}
