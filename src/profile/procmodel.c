/*
 * procmodel.c - processes, their maps and the modules they map (see
 * procmodel_internal.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"
#include "procmodel_internal.h"

void sonde__procmodel_init(sonde__procmodel *m, sonde_symbolizer *sym)
{
	memset(m, 0, sizeof(*m));
	m->sym = sym;
}

void sonde__procmodel_release(sonde__procmodel *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nprocs; i++) {
		if (m->proc_release)
			m->proc_release(m->release_ctx, m->procs[i]);
		free(m->procs[i]->maps);
		free(m->procs[i]);
	}
	free(m->procs);
	for (size_t i = 0; i < m->nmodules; i++)
		free(m->modules[i].path);
	free(m->modules);
	memset(m, 0, sizeof(*m));
}

sonde__proc *sonde__procmodel_find(sonde__procmodel *m, pid_t pid)
{
	/* Recent processes are asked for most: search from the end, move hits there. */
	for (size_t i = m->nprocs; i > 0; i--) {
		if (m->procs[i - 1]->pid == pid) {
			sonde__proc *p = m->procs[i - 1];
			if (i != m->nprocs) {
				m->procs[i - 1] = m->procs[m->nprocs - 1];
				m->procs[m->nprocs - 1] = p;
			}
			return p;
		}
	}
	return NULL;
}

sonde__proc *sonde__procmodel_proc(sonde__procmodel *m, pid_t pid)
{
	sonde__proc *p = sonde__procmodel_find(m, pid);
	if (p)
		return p;
	if (m->nprocs == m->procs_cap) {
		size_t nc = m->procs_cap ? m->procs_cap * 2 : 8;
		sonde__proc **np = realloc(m->procs, nc * sizeof(*np));
		if (!np)
			return NULL;
		m->procs = np;
		m->procs_cap = nc;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->generation = 1;
	m->procs[m->nprocs++] = p;
	return p;
}

static uint32_t module_id(sonde__procmodel *m, const char *path, uint64_t ino, pid_t pid, uint64_t start,
                          uint64_t end)
{
	if (!path[0] || strcmp(path, "//anon") == 0 || strncmp(path, "[anon", 5) == 0 ||
	    strcmp(path, "[heap]") == 0 || strncmp(path, "[stack", 6) == 0)
		return SONDE__NO_MODULE;
	for (size_t i = 0; i < m->nmodules; i++)
		if (m->modules[i].ino == ino && strcmp(m->modules[i].path, path) == 0)
			return (uint32_t)i;
	if (m->nmodules == m->modules_cap) {
		size_t nc = m->modules_cap ? m->modules_cap * 2 : 32;
		sonde__module *nm = realloc(m->modules, nc * sizeof(*nm));
		if (!nm)
			return SONDE__NO_MODULE;
		m->modules = nm;
		m->modules_cap = nc;
	}
	char *copy = strdup(path);
	if (!copy)
		return SONDE__NO_MODULE;
	m->modules[m->nmodules] = (sonde__module){copy, ino, pid, start, end, false, 0, NULL};
	return (uint32_t)m->nmodules++;
}

int sonde__proc_add_map(sonde__procmodel *m, sonde__proc *p, uint64_t start, uint64_t end, uint64_t pgoff,
                        uint32_t prot, const char *path, uint64_t ino)
{
	if (end <= start)
		return 0;
	/* Room for the new map and for one split. */
	if (p->maps_cap - p->nmaps < 2) {
		size_t nc = p->maps_cap ? p->maps_cap * 2 : 64;
		sonde__map *nm = realloc(p->maps, nc * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		p->maps = nm;
		p->maps_cap = nc;
	}
	uint32_t mod = module_id(m, path, ino, p->pid, start, end);
	sonde__map *a = p->maps;
	size_t w = 0, ins = 0;
	sonde__map tail = {0, 0, 0, 0, 0};
	bool have_tail = false;
	for (size_t r = 0; r < p->nmaps; r++) {
		sonde__map cur = a[r];
		if (cur.end <= start || cur.start >= end) {
			a[w++] = cur;
			continue;
		}
		if (cur.start < start) { /* keep the part before */
			sonde__map left = cur;
			left.end = start;
			a[w++] = left;
		}
		if (cur.end > end) { /* keep the part after */
			tail = cur;
			tail.pgoff += end - cur.start;
			tail.start = end;
			have_tail = true;
		}
	}
	p->nmaps = w;
	while (ins < p->nmaps && a[ins].start < start)
		ins++;
	/* Insert the new map (and the cut tail) at ins, keeping the order. */
	size_t add = have_tail ? 2 : 1;
	memmove(a + ins + add, a + ins, (p->nmaps - ins) * sizeof(*a));
	a[ins] = (sonde__map){start, end, pgoff, mod, prot};
	if (have_tail)
		a[ins + 1] = tail;
	p->nmaps += add;
	p->generation++;
	return 0;
}

void sonde__proc_clear(sonde__proc *p)
{
	p->nmaps = 0;
	p->generation++;
	p->refresh_tried = false;
}

int sonde__proc_copy_maps(sonde__proc *child, const sonde__proc *parent)
{
	if (child->nmaps) /* read from /proc already (its samples came first): newer than the parent's */
		return 0;
	if (parent->nmaps > child->maps_cap) {
		sonde__map *nm = realloc(child->maps, (parent->nmaps + 2) * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		child->maps = nm;
		child->maps_cap = parent->nmaps + 2;
	}
	if (parent->nmaps)
		memcpy(child->maps, parent->maps, parent->nmaps * sizeof(*child->maps));
	child->nmaps = parent->nmaps;
	child->generation++;
	return 0;
}

typedef struct load_ctx {
	sonde__procmodel *m;
	sonde__proc *p;
} load_ctx;

static int load_one(void *ctx, const sonde_map_entry *e)
{
	load_ctx *c = ctx;
	return sonde__proc_add_map(c->m, c->p, e->start, e->end, e->pgoff, e->prot, e->path, e->inode);
}

int sonde__proc_load_maps(sonde__procmodel *m, sonde__proc *p)
{
	char *buf;
	size_t len;
	int rc = sonde_procmaps_load(p->pid, &buf, &len);
	if (rc)
		return rc;
	load_ctx c = {m, p};
	sonde__proc_clear(p);
	rc = sonde_procmaps_parse(buf, len, load_one, &c, NULL);
	free(buf);
	p->refreshed = p->generation;
	p->refresh_tried = true;
	return rc;
}

const sonde__map *sonde__proc_find_map(const sonde__proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nmaps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->maps[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && addr < p->maps[lo - 1].end)
		return &p->maps[lo - 1];
	return NULL;
}

sonde_symfile *sonde__module_file(sonde__procmodel *m, uint32_t module)
{
	if (module >= m->nmodules)
		return NULL;
	sonde__module *mod = &m->modules[module];
	if (!mod->opened) {
		mod->opened = true;
		if (mod->path[0] != '/')
			return NULL;
		char alt[96];
		snprintf(alt, sizeof(alt), "/proc/%d/map_files/%llx-%llx", (int)mod->pid,
		         (unsigned long long)mod->map_start, (unsigned long long)mod->map_end);
		mod->open_rc = sonde_symbolizer_file(m->sym, mod->path, alt, &mod->file);
		if (mod->open_rc)
			mod->file = NULL;
	}
	return mod->file;
}

bool sonde__proc_resolve(sonde__procmodel *m, sonde__proc *p, uint64_t addr, sonde__resolved *out)
{
	memset(out, 0, sizeof(*out));
	out->module = SONDE__NO_MODULE;
	const sonde__map *map = sonde__proc_find_map(p, addr);
	if (!map && !p->exited && (!p->refresh_tried || p->refreshed != p->generation)) {
		sonde__proc_load_maps(m, p);
		map = sonde__proc_find_map(p, addr);
	}
	if (!map)
		return false;
	out->map = map;
	out->module = map->module;
	out->offset = addr - map->start + map->pgoff;
	if (map->module != SONDE__NO_MODULE) {
		out->file = sonde__module_file(m, map->module);
		if (out->file)
			out->vaddr_ok = sonde_elf_info_vaddr(sonde_symfile_elf(out->file), out->offset,
			                                     &out->vaddr) == 0;
	}
	return true;
}
