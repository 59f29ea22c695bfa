/*
 * symbolize.c - object files, debug files, symbols, lines and inlined frames (see
 * symbolize.h).
 *
 * Design notes. A file is mapped privately and read by elfinfo.c; its DWARF (its own, or a
 * separate debug file's) is opened with libdw only when a first address asks for a line.
 * Address -> compile unit goes through our own index of every CU's address ranges,
 * because compilers do not all write .debug_aranges (clang does not). Inlined frames come
 * from dwarf_getscopes(): each DW_TAG_inlined_subroutine scope is one frame whose caller's
 * line is the scope's DW_AT_call_file/DW_AT_call_line; the enclosing DW_TAG_subprogram is
 * the outermost frame, named by the ELF symbol when there is one (the name that profiles
 * and other tools show).
 */
#include <errno.h>
#include <fcntl.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "demangle.h"
#include "elfinflate.h"
#include "intern.h"
#include "sonde/status.h"
#include "symbolize.h"

typedef struct cu_range {
	uint64_t start, end;
	Dwarf_Off die_off;
} cu_range;

typedef struct mapped {
	void *map;
	size_t len;
} mapped;

struct sonde_symfile {
	struct sonde_symfile *next;
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	mapped img;
	sonde_elf_info elf;

	bool dwarf_tried;
	mapped dbg_img;         /* a separate debug file, when one was used */
	sonde_elf_info dbg_elf; /* its ELF information */
	char *dbg_path;         /* owned; NULL without DWARF */
	Dwarf *dw;              /* NULL without DWARF */
	cu_range *cus;          /* sorted by start; built on the first address .debug_aranges misses */
	size_t ncus;
	bool cus_indexed;
	const sonde_elf_info *syms; /* where symbols come from: elf, or dbg_elf when richer */

	bool eh_cfi_tried;
	Dwarf_CFI *eh_cfi; /* the file's .eh_frame CFI (dwarf_getcfi_elf); owned */
	bool dbg_cfi_tried;
	Dwarf *cfi_dw;      /* DWARF opened for .debug_frame alone (no_lines); owned */
	Dwarf_CFI *dbg_cfi; /* .debug_frame CFI; owned by dw or cfi_dw */

	mapped cache_img;         /* the uncompressed copy the DWARF was opened from, if any */
	sonde_elf_info cache_elf; /* its ELF information */
	bool cache_pending;       /* cache_img was inflated here: write it to the debug cache */
};

typedef struct failed_path {
	struct failed_path *next;
	int err;
	char path[];
} failed_path;

typedef struct ksym {
	uint64_t addr;
	const char *name;   /* interned */
	const char *module; /* interned */
} ksym;

typedef struct perfmap_sym {
	uint64_t start, size;
	const char *name; /* interned */
} perfmap_sym;

typedef struct perfmap {
	struct perfmap *next;
	pid_t pid;
	perfmap_sym *syms; /* sorted by start */
	size_t n;
} perfmap;

struct sonde_symbolizer {
	sonde_arena arena;
	sonde_intern strings;
	char **debug_dirs;
	size_t ndebug_dirs;
	bool no_lines, no_demangle;
	char *debug_cache; /* NULL: none */
	sonde_symfile *files;
	failed_path *failed;
	bool kallsyms_loaded;
	ksym *ksyms;
	size_t nksyms;
	perfmap *perfmaps;
};

static int write_copy(const char *dir, const char *path, const mapped *img);
static bool cache_path(const sonde_symbolizer *s, const sonde_elf_info *src, char *path, size_t size);

static void mapped_release(mapped *m)
{
	if (m->map)
		munmap(m->map, m->len);
	m->map = NULL;
	m->len = 0;
}

/* Maps a whole file privately (copy-on-write: libelf may touch the image). */
static int map_fd(int fd, size_t len, mapped *out)
{
	if (len == 0)
		return SONDE_EPARSE;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	out->map = p;
	out->len = len;
	return 0;
}

sonde_symbolizer *sonde_symbolizer_new(const sonde_symbolizer_opts *opts)
{
	static const char *const default_dirs[] = {"/usr/lib/debug"};
	sonde_symbolizer *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	sonde_arena_init(&s->arena);
	sonde_intern_init(&s->strings, &s->arena);
	const char *const *dirs = opts && opts->debug_dirs ? opts->debug_dirs : default_dirs;
	size_t n = opts && opts->debug_dirs ? opts->debug_dirs_count : 1;
	s->debug_dirs = sonde_arena_alloc(&s->arena, (n ? n : 1) * sizeof(char *));
	if (!s->debug_dirs)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		s->debug_dirs[i] = sonde_arena_strndup(&s->arena, dirs[i], strlen(dirs[i]));
		if (!s->debug_dirs[i])
			goto fail;
	}
	s->ndebug_dirs = n;
	s->no_lines = opts && opts->no_lines;
	s->no_demangle = opts && opts->no_demangle;
	if (opts && opts->debug_cache) {
		s->debug_cache = sonde_arena_strndup(&s->arena, opts->debug_cache, strlen(opts->debug_cache));
		if (!s->debug_cache)
			goto fail;
	}
	return s;
fail:
	sonde_symbolizer_free(s);
	return NULL;
}

static void symfile_free(sonde_symfile *f)
{
	if (f->eh_cfi)
		dwarf_cfi_end(f->eh_cfi);
	if (f->cfi_dw)
		dwarf_end(f->cfi_dw);
	if (f->dw)
		dwarf_end(f->dw);
	sonde_elf_info_release(&f->cache_elf);
	mapped_release(&f->cache_img);
	free(f->cus);
	sonde_elf_info_release(&f->dbg_elf);
	mapped_release(&f->dbg_img);
	free(f->dbg_path);
	sonde_elf_info_release(&f->elf);
	mapped_release(&f->img);
	free(f->path);
	free(f);
}

void sonde_symbolizer_free(sonde_symbolizer *s)
{
	if (!s)
		return;
	for (sonde_symfile *f = s->files, *next; f; f = next) {
		next = f->next;
		char path[PATH_MAX];
		/* A folder that cannot be written only costs the next run its speed. */
		if (f->cache_pending && cache_path(s, &f->cache_elf, path, sizeof(path)))
			(void)write_copy(s->debug_cache, path, &f->cache_img);
		symfile_free(f);
	}
	for (failed_path *p = s->failed, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	for (perfmap *m = s->perfmaps, *next; m; m = next) {
		next = m->next;
		free(m->syms);
		free(m);
	}
	free(s->ksyms);
	sonde_intern_release(&s->strings);
	sonde_arena_release(&s->arena);
	free(s);
}

const char *sonde_symbolizer_intern(sonde_symbolizer *s, const char *str)
{
	return sonde_intern_str(&s->strings, str, strlen(str));
}

static int remember_failure(sonde_symbolizer *s, const char *path, int err)
{
	size_t n = strlen(path);
	failed_path *p = malloc(sizeof(*p) + n + 1);
	if (p) {
		memcpy(p->path, path, n + 1);
		p->err = err;
		p->next = s->failed;
		s->failed = p;
	}
	return err;
}

static int open_one(sonde_symbolizer *s, const char *path, sonde_symfile **out)
{
	for (failed_path *p = s->failed; p; p = p->next)
		if (strcmp(p->path, path) == 0)
			return p->err;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return remember_failure(s, path, -errno);
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return remember_failure(s, path, SONDE_EPARSE);
	}
	for (sonde_symfile *f = s->files; f; f = f->next) {
		if (f->dev == st.st_dev && f->ino == st.st_ino && f->size == st.st_size &&
		    f->mtime.tv_sec == st.st_mtim.tv_sec && f->mtime.tv_nsec == st.st_mtim.tv_nsec) {
			close(fd);
			*out = f;
			return 0;
		}
	}
	sonde_symfile *f = calloc(1, sizeof(*f));
	int rc = -ENOMEM;
	if (!f || !(f->path = strdup(path)))
		goto fail;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	if ((rc = map_fd(fd, (size_t)st.st_size, &f->img)) != 0)
		goto fail;
	close(fd);
	fd = -1;
	if ((rc = sonde_elf_info_read(&f->elf, f->img.map, f->img.len, NULL)) != 0)
		goto fail;
	f->syms = &f->elf;
	/* Same build-id, same contents: keep the file already read. */
	if (f->elf.build_id_len) {
		for (sonde_symfile *g = s->files; g; g = g->next) {
			if (g->elf.build_id_len == f->elf.build_id_len &&
			    memcmp(g->elf.build_id, f->elf.build_id, f->elf.build_id_len) == 0) {
				symfile_free(f);
				*out = g;
				return 0;
			}
		}
	}
	f->next = s->files;
	s->files = f;
	*out = f;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (f)
		symfile_free(f);
	return rc == -ENOMEM ? rc : remember_failure(s, path, rc);
}

int sonde_symbolizer_file(sonde_symbolizer *s, const char *path, const char *alt_path, sonde_symfile **out)
{
	int rc = open_one(s, path, out);
	if (rc != 0 && alt_path)
		rc = open_one(s, alt_path, out);
	return rc;
}

const sonde_elf_info *sonde_symfile_elf(const sonde_symfile *f)
{
	return &f->elf;
}

const uint8_t *sonde_symfile_image(const sonde_symfile *f, size_t *len)
{
	*len = f->img.len;
	return f->img.map;
}

const char *sonde_symfile_debug_path(const sonde_symfile *f)
{
	return f->dbg_path;
}

/* Tries path as f's separate debug file: it must be ELF with DWARF and, when both have
 * one, the same build-id. */
static bool try_debug_file(sonde_symfile *f, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	mapped m = {0};
	sonde_elf_info e;
	bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && map_fd(fd, (size_t)st.st_size, &m) == 0;
	close(fd);
	if (!ok)
		return false;
	if (sonde_elf_info_read(&e, m.map, m.len, NULL) != 0) {
		mapped_release(&m);
		return false;
	}
	if (!e.has_debug_info || (f->elf.build_id_len && e.build_id_len &&
	                          (e.build_id_len != f->elf.build_id_len ||
	                           memcmp(e.build_id, f->elf.build_id, e.build_id_len) != 0))) {
		sonde_elf_info_release(&e);
		mapped_release(&m);
		return false;
	}
	f->dbg_img = m;
	f->dbg_elf = e;
	f->dbg_path = strdup(path);
	return f->dbg_path != NULL;
}

static bool find_debug_file(sonde_symbolizer *s, sonde_symfile *f)
{
	char path[PATH_MAX];
	if (f->elf.build_id_len >= 2) {
		char hex[2 * SONDE_ELF_MAX_BUILD_ID + 1];
		sonde_elf_info_build_id_hex(&f->elf, hex);
		for (size_t i = 0; i < s->ndebug_dirs; i++) {
			if ((size_t)snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug",
			                     s->debug_dirs[i], hex, hex + 2) < sizeof(path) &&
			    try_debug_file(f, path))
				return true;
		}
	}
	if (f->elf.debuglink[0] && !strchr(f->elf.debuglink, '/')) {
		const char *slash = strrchr(f->path, '/');
		int dirlen = slash ? (int)(slash - f->path) : 0;
		const char *dir = slash ? f->path : "";
		if ((size_t)snprintf(path, sizeof(path), "%.*s/%s", dirlen, dir, f->elf.debuglink) <
		            sizeof(path) &&
		    strcmp(path, f->path) != 0 && try_debug_file(f, path))
			return true;
		if ((size_t)snprintf(path, sizeof(path), "%.*s/.debug/%s", dirlen, dir, f->elf.debuglink) <
		            sizeof(path) &&
		    try_debug_file(f, path))
			return true;
		for (size_t i = 0; i < s->ndebug_dirs; i++)
			if ((size_t)snprintf(path, sizeof(path), "%s%.*s/%s", s->debug_dirs[i], dirlen, dir,
			                     f->elf.debuglink) < sizeof(path) &&
			    try_debug_file(f, path))
				return true;
	}
	return false;
}

static int cu_cmp(const void *a, const void *b)
{
	const cu_range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Indexes the address ranges of every compile unit. */
static void index_cus(sonde_symfile *f)
{
	Dwarf_Off off = 0, next;
	size_t hsize, cap = 0;
	while (dwarf_nextcu(f->dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		if (dwarf_offdie(f->dw, off + hsize, &cu)) {
			Dwarf_Addr base, start, end;
			ptrdiff_t r = 0;
			while ((r = dwarf_ranges(&cu, r, &base, &start, &end)) > 0) {
				if (end <= start)
					continue;
				if (f->ncus == cap) {
					size_t nc = cap ? cap * 2 : 64;
					cu_range *p = realloc(f->cus, nc * sizeof(*p));
					if (!p)
						return;
					f->cus = p;
					cap = nc;
				}
				f->cus[f->ncus++] = (cu_range){start, end, off + hsize};
			}
		}
		off = next;
	}
	if (f->ncus)
		qsort(f->cus, f->ncus, sizeof(*f->cus), cu_cmp);
}

/* True when one of the ELF's sections is compressed (SHF_COMPRESSED). */
static bool has_compressed(const sonde_elf_info *e)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e->elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED))
			return true;
	}
	return false;
}

/* Writes img[0..len), an uncompressed ELF image, to path: through a temporary file renamed
 * into place, so that readers never see half a copy. */
static int write_copy(const char *dir, const char *path, const mapped *img)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (size_t off = 0; off < img->len && rc == 0;) {
		ssize_t n = write(fd, (const char *)img->map + off, img->len - off);
		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* The path of src's copy in the debug cache, or false without a cache or a build-id. */
static bool cache_path(const sonde_symbolizer *s, const sonde_elf_info *src, char *path, size_t size)
{
	if (!s->debug_cache || !src->build_id_len)
		return false;
	char hex[2 * SONDE_ELF_MAX_BUILD_ID + 1];
	sonde_elf_info_build_id_hex(src, hex);
	return (size_t)snprintf(path, size, "%s/%s.debug", s->debug_cache, hex) < size;
}

/* Opens the ELF image m (taking it) as f's uncompressed copy of src, after checking that
 * it is one: same build-id, DWARF, nothing compressed. */
static const sonde_elf_info *use_copy(sonde_symfile *f, const sonde_elf_info *src, mapped m)
{
	sonde_elf_info e;
	if (sonde_elf_info_read_headers(&e, m.map, m.len, NULL) != 0) {
		mapped_release(&m);
		return NULL;
	}
	/* A copy of another file, or damaged: not used (and not trusted). */
	if (e.build_id_len != src->build_id_len || memcmp(e.build_id, src->build_id, e.build_id_len) != 0 ||
	    !e.has_debug_info || has_compressed(&e)) {
		sonde_elf_info_release(&e);
		mapped_release(&m);
		return NULL;
	}
	f->cache_img = m;
	f->cache_elf = e;
	return &f->cache_elf;
}

/* The ELF to open the DWARF of: src itself when nothing in it is compressed; else its
 * uncompressed copy from the debug cache, or one inflated here in memory (elfinflate.h),
 * which sonde_symbolizer_free() writes to the cache (after the output, off the critical
 * path); src itself when neither works (libdw then inflates the sections). */
static const sonde_elf_info *uncompressed_source(sonde_symbolizer *s, sonde_symfile *f,
                                                 const sonde_elf_info *src, const mapped *img)
{
	if (!has_compressed(src))
		return src;
	char path[PATH_MAX];
	bool cached = cache_path(s, src, path, sizeof(path));
	int fd = cached ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd >= 0) {
		struct stat st;
		mapped m = {0};
		bool ok =
		        fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && map_fd(fd, (size_t)st.st_size, &m) == 0;
		close(fd);
		const sonde_elf_info *copy = ok ? use_copy(f, src, m) : NULL;
		if (copy)
			return copy;
	}
	mapped m = {0};
	sonde_elf_inflate_opts io = {.drop_unread = true};
	if (sonde_elf_inflate(img->map, img->len, &io, &m.map, &m.len) != 0)
		return src;
	const sonde_elf_info *copy = use_copy(f, src, m);
	if (!copy)
		return src;
	f->cache_pending = cached;
	return copy;
}

static void open_dwarf(sonde_symbolizer *s, sonde_symfile *f)
{
	f->dwarf_tried = true;
	const sonde_elf_info *src = NULL;
	if (f->elf.has_debug_info) {
		src = &f->elf;
		f->dbg_path = strdup(f->path);
	} else if (find_debug_file(s, f)) {
		src = &f->dbg_elf;
		if (!f->elf.has_symtab && f->dbg_elf.has_symtab)
			f->syms = &f->dbg_elf;
	}
	if (!src || s->no_lines)
		return;
	src = uncompressed_source(s, f, src, src == &f->elf ? &f->img : &f->dbg_img);
	f->dw = dwarf_begin_elf(src->elf, DWARF_C_READ, NULL);
}

Dwarf_CFI *sonde_symfile_eh_cfi(sonde_symfile *f)
{
	if (!f->eh_cfi_tried) {
		f->eh_cfi_tried = true;
		if (f->elf.elf)
			f->eh_cfi = dwarf_getcfi_elf(f->elf.elf);
	}
	return f->eh_cfi;
}

Dwarf_CFI *sonde_symfile_debug_cfi(sonde_symbolizer *s, sonde_symfile *f)
{
	if (f->dbg_cfi_tried)
		return f->dbg_cfi;
	f->dbg_cfi_tried = true;
	if (!f->dwarf_tried)
		open_dwarf(s, f);
	Dwarf *dw = f->dw;
	if (!dw && f->dbg_path) { /* lines are off: open the DWARF for its CFI alone */
		const sonde_elf_info *src = f->elf.has_debug_info ? &f->elf : &f->dbg_elf;
		if (src->elf)
			dw = f->cfi_dw = dwarf_begin_elf(src->elf, DWARF_C_READ, NULL);
	}
	if (dw)
		f->dbg_cfi = dwarf_getcfi(dw);
	return f->dbg_cfi;
}

/* The compile unit holding vaddr: through .debug_aranges when the file has it (gcc writes
 * it; libdw reads it once, and no other CU is touched), else through our index of every
 * CU's ranges, built on the first miss (clang writes no .debug_aranges). */
static bool find_cu(sonde_symfile *f, uint64_t vaddr, Dwarf_Die *cu)
{
	if (dwarf_addrdie(f->dw, vaddr, cu) != NULL)
		return true;
	if (!f->cus_indexed) {
		f->cus_indexed = true;
		index_cus(f);
	}
	size_t lo = 0, hi = f->ncus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->cus[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Ranges of distinct CUs may nest (rarely); look back a little. */
	for (size_t k = lo; k > 0 && lo - k < 8; k--) {
		const cu_range *r = &f->cus[k - 1];
		if (vaddr >= r->start && vaddr < r->end)
			return dwarf_offdie(f->dw, r->die_off, cu) != NULL;
	}
	return false;
}

static const char *intern_cstr(sonde_symbolizer *s, const char *str)
{
	const char *r = str ? sonde_intern_str(&s->strings, str, strlen(str)) : NULL;
	return r ? r : "";
}

/* Interns a symbol name, demangled when it is mangled. */
static const char *intern_name(sonde_symbolizer *s, const char *name)
{
	if (!name)
		return "";
	char *d = s->no_demangle ? NULL : sonde_demangle(name);
	const char *r = intern_cstr(s, d ? d : name);
	free(d);
	return r;
}

static const char *die_name(sonde_symbolizer *s, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!linkage)
		linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (linkage)
		return intern_name(s, linkage);
	return intern_cstr(s, dwarf_diename(die));
}

size_t sonde_symfile_symbolize(sonde_symbolizer *s, sonde_symfile *f, uint64_t vaddr, sonde_symloc *out,
                               size_t max)
{
	if (max == 0)
		return 0;
	if (!f->dwarf_tried)
		open_dwarf(s, f);
	const sonde_elf_sym *sym = sonde_elf_info_lookup(f->syms, vaddr);
	if (!sym && f->syms != &f->elf)
		sym = sonde_elf_info_lookup(&f->elf, vaddr);
	const char *fn = sym ? intern_name(s, sym->name) : "";
	size_t n = 0;
	Dwarf_Die cu;
	if (f->dw && find_cu(f, vaddr, &cu)) {
		const char *file = "";
		int lineno = 0;
		Dwarf_Line *line = dwarf_getsrc_die(&cu, vaddr);
		if (line) {
			file = intern_cstr(s, dwarf_linesrc(line, NULL, NULL));
			dwarf_lineno(line, &lineno);
		}
		Dwarf_Files *files = NULL;
		size_t nfiles = 0;
		Dwarf_Die *scopes = NULL;
		int nscopes = dwarf_getscopes(&cu, vaddr, &scopes);
		for (int i = 0; i < nscopes && n + 1 < max; i++) {
			int tag = dwarf_tag(&scopes[i]);
			if (tag == DW_TAG_subprogram) {
				if (!*fn)
					fn = die_name(s, &scopes[i]);
				break;
			}
			if (tag != DW_TAG_inlined_subroutine)
				continue;
			out[n++] = (sonde_symloc){die_name(s, &scopes[i]), file,
			                          lineno > 0 ? (uint32_t)lineno : 0, true};
			Dwarf_Attribute attr;
			Dwarf_Word call_file = 0, call_line = 0;
			file = "";
			lineno = 0;
			if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &call_file) ==
			            0 &&
			    (files || dwarf_getsrcfiles(&cu, &files, &nfiles) == 0) && call_file < nfiles)
				file = intern_cstr(s, dwarf_filesrc(files, call_file, NULL, NULL));
			if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &call_line) ==
			            0 &&
			    call_line <= INT32_MAX)
				lineno = (int)call_line;
		}
		free(scopes);
		out[n++] = (sonde_symloc){fn, file, lineno > 0 ? (uint32_t)lineno : 0, false};
		return n;
	}
	out[0] = (sonde_symloc){fn, "", 0, false};
	return 1;
}

/* --- kernel symbols --- */

static int ksym_cmp(const void *a, const void *b)
{
	const ksym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(sonde_symbolizer *s)
{
	s->kallsyms_loaded = true;
	FILE *fp = fopen("/proc/kallsyms", "re");
	if (!fp)
		return;
	char line[512];
	size_t cap = 0;
	const char *kernel = intern_cstr(s, "[kernel.kallsyms]");
	while (fgets(line, sizeof(line), fp)) {
		char *end;
		uint64_t addr = strtoull(line, &end, 16);
		if (end == line || addr == 0 || end[0] != ' ' || !end[1] || end[2] != ' ')
			continue;
		char type = end[1];
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		char *name = end + 3, *nl = strchr(name, '\n');
		if (nl)
			*nl = '\0';
		const char *module = kernel;
		char *tab = strchr(name, '\t');
		if (tab) {
			*tab = '\0';
			module = intern_cstr(s, tab + 1);
		}
		if (s->nksyms == cap) {
			size_t nc = cap ? cap * 2 : 4096;
			ksym *p = realloc(s->ksyms, nc * sizeof(*p));
			if (!p)
				break;
			s->ksyms = p;
			cap = nc;
		}
		s->ksyms[s->nksyms++] = (ksym){addr, intern_cstr(s, name), module};
	}
	fclose(fp);
	qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), ksym_cmp);
}

const char *sonde_symbolizer_kernel(sonde_symbolizer *s, uint64_t addr, const char **module)
{
	if (!s->kallsyms_loaded)
		load_kallsyms(s);
	*module = intern_cstr(s, "[kernel.kallsyms]");
	size_t lo = 0, hi = s->nksyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return "";
	*module = s->ksyms[lo - 1].module;
	return s->ksyms[lo - 1].name;
}

/* --- /tmp/perf-PID.map --- */

static int perfmap_hex(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	if (end - q >= 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
		q += 2;
	uint64_t v = 0;
	const char *start = q;
	while (q < end) {
		int d = *q >= '0' && *q <= '9'   ? *q - '0'
		        : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
		        : *q >= 'A' && *q <= 'F' ? *q - 'A' + 10
		                                 : -1;
		if (d < 0)
			break;
		if (v >> 60)
			return -1;
		v = v << 4 | (uint64_t)d;
		q++;
	}
	if (q == start)
		return -1;
	*p = q;
	*out = v;
	return 0;
}

int sonde_perfmap_parse(const char *buf, size_t len, sonde_perfmap_fn fn, void *ctx, sonde_wire_error *err)
{
	const char *p = buf, *end = buf + len;
	size_t line = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		if (eol > p) {
			uint64_t start, size;
			const char *q = p;
			if (perfmap_hex(&q, eol, &start) != 0)
				return sonde_wire_fail(err, (size_t)(q - buf), line, "start",
				                       "expected a hex address");
			if (q >= eol || *q != ' ')
				return sonde_wire_fail(err, (size_t)(q - buf), line, "start",
				                       "expected a space");
			q++;
			if (perfmap_hex(&q, eol, &size) != 0)
				return sonde_wire_fail(err, (size_t)(q - buf), line, "size",
				                       "expected a hex size");
			if (q >= eol || *q != ' ')
				return sonde_wire_fail(err, (size_t)(q - buf), line, "size",
				                       "expected a space");
			q++;
			int rc = fn(ctx, start, size, q, (size_t)(eol - q));
			if (rc)
				return rc;
		}
		p = eol < end ? eol + 1 : end;
	}
	return 0;
}

typedef struct perfmap_build {
	sonde_symbolizer *s;
	perfmap *m;
	size_t cap;
} perfmap_build;

static int perfmap_add(void *ctx, uint64_t start, uint64_t size, const char *name, size_t name_len)
{
	perfmap_build *b = ctx;
	if (b->m->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		perfmap_sym *p = realloc(b->m->syms, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		b->m->syms = p;
		b->cap = nc;
	}
	const char *n = sonde_intern_str(&b->s->strings, name, name_len);
	if (!n)
		return -ENOMEM;
	b->m->syms[b->m->n++] = (perfmap_sym){start, size, n};
	return 0;
}

static int perfmap_cmp(const void *a, const void *b)
{
	const perfmap_sym *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

const char *sonde_symbolizer_perfmap(sonde_symbolizer *s, pid_t pid, uint64_t addr)
{
	perfmap *m = s->perfmaps;
	while (m && m->pid != pid)
		m = m->next;
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m)
			return NULL;
		m->pid = pid;
		m->next = s->perfmaps;
		s->perfmaps = m;
		char path[64];
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)pid);
		FILE *fp = fopen(path, "re");
		if (fp) {
			char *text = NULL;
			size_t cap = 0, len = 0;
			char chunk[8192];
			size_t got;
			while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
				if (len + got > cap) {
					size_t nc = (len + got) * 2;
					char *p = realloc(text, nc);
					if (!p)
						break;
					text = p;
					cap = nc;
				}
				memcpy(text + len, chunk, got);
				len += got;
			}
			fclose(fp);
			perfmap_build b = {s, m, 0};
			/* A JIT may be writing the file: a bad line ends it, what came before stays. */
			if (text)
				sonde_perfmap_parse(text, len, perfmap_add, &b, NULL);
			free(text);
			if (m->n)
				qsort(m->syms, m->n, sizeof(*m->syms), perfmap_cmp);
		}
	}
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->syms[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && addr - m->syms[lo - 1].start < m->syms[lo - 1].size)
		return m->syms[lo - 1].name;
	return NULL;
}
