/*
 * procmodel_internal.h - the profiler's picture of the processes it samples: their
 * memory maps, the modules (mapped files) those maps point at, and their threads' names.
 *
 * Design notes. A module is one file (path + inode) whatever process maps it; ids are
 * dense from 0 and stable. A process's maps are a sorted array of non-overlapping ranges;
 * adding a map cuts away whatever it overlaps, as mmap() does. Maps come from
 * /proc/PID/maps (attach, and as a fallback when a sampled address is unknown) and from
 * the sampler's mmap records; exec empties a process's maps. The object file behind a
 * module is opened through the symbolizer the first time an address in it is resolved,
 * while the process is alive, so that files deleted later can still be read.
 *
 * Not thread-safe. Pointers into the model are borrowed until the next change to it.
 */
#ifndef SONDE_PROCMODEL_INTERNAL_H
#define SONDE_PROCMODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "symbolize.h"

enum { SONDE__NO_MODULE = UINT32_MAX };

typedef struct sonde__map {
	uint64_t start, end, pgoff;
	uint32_t module; /* SONDE__NO_MODULE for anonymous memory and pseudo files ([vdso] has one) */
	uint32_t prot;   /* SONDE_MAP_* */
} sonde__map;

typedef struct sonde__module {
	char *path; /* owned */
	uint64_t ino;
	pid_t pid;                   /* a process that mapped it, for /proc/PID/map_files fallbacks */
	uint64_t map_start, map_end; /* one of its mappings there */
	bool opened;
	int open_rc;
	sonde_symfile *file; /* borrowed from the symbolizer; NULL when it could not be read */
} sonde__module;

typedef struct sonde__proc {
	pid_t pid;
	sonde__map *maps;
	size_t nmaps, maps_cap;
	uint32_t generation; /* bumped whenever maps change (unwinder caches follow it) */
	uint32_t refreshed;  /* generation at the last /proc/PID/maps read */
	bool refresh_tried;
	bool exited;
	void *unwind_state; /* the DWARF unwinder's per-process state; owned by it */
} sonde__proc;

typedef struct sonde__procmodel {
	sonde_symbolizer *sym; /* borrowed */
	sonde__proc **procs;
	size_t nprocs, procs_cap;
	sonde__module *modules;
	size_t nmodules, modules_cap;
	void (*proc_release)(void *ctx, sonde__proc *p); /* called before a proc is freed */
	void *release_ctx;
	/* The DWARF unwinder's setting (SONDE_UNWINDER_*, profiler.h) and counters. */
	int dwarf_unwinder;
	uint64_t dwarf_fast;    /* samples the fast CFI walk unwound on its own */
	uint64_t dwarf_checked; /* samples unwound both ways (check mode) */
	uint64_t dwarf_differ;  /* ... whose stacks differed */
} sonde__procmodel;

/* An address resolved against a process's maps. */
typedef struct sonde__resolved {
	const sonde__map *map; /* NULL: in no known map */
	uint32_t module;       /* SONDE__NO_MODULE when not in a file */
	sonde_symfile *file;   /* NULL when the file could not be read */
	uint64_t offset;       /* file offset of the address */
	uint64_t vaddr;        /* ELF virtual address (valid when file != NULL and vaddr_ok) */
	bool vaddr_ok;
} sonde__resolved;

void sonde__procmodel_init(sonde__procmodel *m, sonde_symbolizer *sym);
void sonde__procmodel_release(sonde__procmodel *m);
/* The process, created empty when new (NULL when out of memory). */
sonde__proc *sonde__procmodel_proc(sonde__procmodel *m, pid_t pid);
/* The process, or NULL when unknown. */
sonde__proc *sonde__procmodel_find(sonde__procmodel *m, pid_t pid);
/* Adds (or replaces the range of) a mapping. path "" or a pseudo name ("[heap]", "//anon")
 * gives no module. Returns 0 or -ENOMEM. */
int sonde__proc_add_map(sonde__procmodel *m, sonde__proc *p, uint64_t start, uint64_t end, uint64_t pgoff,
                        uint32_t prot, const char *path, uint64_t ino);
/* Forgets every map (exec). */
void sonde__proc_clear(sonde__proc *p);
/* Reads /proc/PID/maps into the process. Returns 0 or -errno. */
int sonde__proc_load_maps(sonde__procmodel *m, sonde__proc *p);
/* Copies the maps of parent into child (fork), unless the child has maps already.
 * Returns 0 or -ENOMEM. */
int sonde__proc_copy_maps(sonde__proc *child, const sonde__proc *parent);
/* The map holding addr, or NULL. */
const sonde__map *sonde__proc_find_map(const sonde__proc *p, uint64_t addr);
/* Resolves addr in p: map, module, file (opened on first use) and ELF virtual address.
 * When addr lies in no known map and the process was not re-read since its maps last
 * changed, /proc/PID/maps is read again first. Returns true when addr is in a map. */
bool sonde__proc_resolve(sonde__procmodel *m, sonde__proc *p, uint64_t addr, sonde__resolved *out);
/* The module's object file (opened on first use), or NULL. */
sonde_symfile *sonde__module_file(sonde__procmodel *m, uint32_t module);

#endif
