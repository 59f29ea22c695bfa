/* symbolize_test.c - the profiler's readers and symbolizer: /proc/PID/maps lines, the
 * process model's maps, the ELF reader on this very program and on garbage, demangling,
 * perf map files, symbolization with source lines, and the inflater of compressed
 * sections (on a copy of this program whose debug sections libelf compressed). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demangle.h"
#include "elfinflate.h"
#include "elfinfo.h"
#include "procmaps.h"
#include "procmodel_internal.h"
#include "sonde/status.h"
#include "symbolize.h"

typedef struct collected {
	sonde_map_entry e[8];
	char paths[8][256];
	size_t n;
} collected;

static int collect(void *ctx, const sonde_map_entry *e)
{
	collected *c = ctx;
	if (c->n == 8)
		return 1;
	c->e[c->n] = *e;
	snprintf(c->paths[c->n], sizeof(c->paths[0]), "%s", e->path);
	c->n++;
	return 0;
}

static void test_procmaps_lines(void **state)
{
	(void)state;
	const char text[] =
	        "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n"
	        "7f0000001000-7f0000002000 rw-s 00001000 fd:01 1234   /opt/my app/lib.so (deleted)\n"
	        "7ffd1000-7ffd3000 rw-p 00000000 00:00 0                          [stack]\n"
	        "7ffd4000-7ffd5000 ---p 00000000 00:00 0\n";
	collected c = {0};
	sonde_wire_error err;
	assert_int_equal(sonde_procmaps_parse(text, strlen(text), collect, &c, &err), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.e[0].start, 0x400000);
	assert_int_equal(c.e[0].end, 0x452000);
	assert_int_equal(c.e[0].prot, SONDE_MAP_READ | SONDE_MAP_EXEC);
	assert_int_equal(c.e[0].inode, 173521);
	assert_int_equal(c.e[0].dev_major, 8);
	assert_string_equal(c.paths[0], "/usr/bin/dbus-daemon");
	assert_string_equal(c.paths[1], "/opt/my app/lib.so");
	assert_int_equal(c.e[1].deleted, 1);
	assert_int_equal(c.e[1].pgoff, 0x1000);
	assert_int_equal(c.e[1].prot, SONDE_MAP_READ | SONDE_MAP_WRITE | SONDE_MAP_SHARED);
	assert_string_equal(c.paths[2], "[stack]");
	assert_string_equal(c.paths[3], "");
	assert_int_equal(c.e[3].prot, 0);
}

static void test_procmaps_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t line, offset;
		const char *field;
	} bad[] = {
	        {"00400000-00452000 r-xp 00000000 08:02 1 /x\nzz-1 r-xp 0 0:0 0\n", 2, 43, "start"},
	        {"1000-0800 r-xp 0 0:0 0\n", 1, 5, "end"},
	        {"1000-2000 rwxq 0 0:0 0\n", 1, 13, "perms"},
	        {"1000-2000 r-xp 0 08 0\n", 1, 19, "dev"},
	        {"1000-2000 r-xp 0 0:0 x\n", 1, 21, "inode"},
	        {"1000-2000 r-xp 0 0:0 12x\n", 1, 23, "inode"},
	        {"11111111111111111-2000 r-xp 0 0:0 0\n", 1, 0, "start"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		collected c = {0};
		sonde_wire_error err;
		assert_int_equal(sonde_procmaps_parse(bad[i].text, strlen(bad[i].text), collect, &c, &err),
		                 SONDE_EPARSE);
		assert_int_equal(err.line, bad[i].line);
		assert_int_equal(err.offset, bad[i].offset);
		assert_string_equal(err.field, bad[i].field);
	}
}

/* Maps added over others cut them, as mmap() does. */
static void test_procmodel_overlaps(void **state)
{
	(void)state;
	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	sonde__procmodel m;
	sonde__procmodel_init(&m, sym);
	sonde__proc *p = sonde__procmodel_proc(&m, 4242);
	assert_non_null(p);
	p->exited = true;
	assert_int_equal(sonde__proc_add_map(&m, p, 0x1000, 0x5000, 0, 5, "/lib/a.so", 1), 0);
	assert_int_equal(sonde__proc_add_map(&m, p, 0x8000, 0x9000, 0, 5, "/lib/b.so", 2), 0);
	/* Into the middle of a.so: three pieces. */
	assert_int_equal(sonde__proc_add_map(&m, p, 0x2000, 0x3000, 0, 5, "//anon", 0), 0);
	assert_int_equal(p->nmaps, 4);
	assert_int_equal(p->maps[0].end, 0x2000);
	assert_int_equal(p->maps[1].module, SONDE__NO_MODULE);
	assert_int_equal(p->maps[2].start, 0x3000);
	assert_int_equal(p->maps[2].pgoff, 0x2000); /* the tail keeps its file offset */
	assert_int_equal(p->maps[2].module, p->maps[0].module);
	/* Over everything. */
	assert_int_equal(sonde__proc_add_map(&m, p, 0x0, 0x10000, 0x100, 5, "/lib/c.so", 3), 0);
	assert_int_equal(p->nmaps, 1);
	const sonde__map *map = sonde__proc_find_map(p, 0x8800);
	assert_non_null(map);
	assert_int_equal(map->pgoff, 0x100);
	assert_string_equal(m.modules[map->module].path, "/lib/c.so");
	assert_null(sonde__proc_find_map(p, 0x10000));
	assert_int_equal(m.nmodules, 3);
	sonde__proc_clear(p);
	assert_null(sonde__proc_find_map(p, 0x8800));
	sonde__procmodel_release(&m);
	sonde_symbolizer_free(sym);
}

__attribute__((noinline)) int sonde_test_marker_function(int x);
__attribute__((noinline)) int sonde_test_marker_function(int x)
{
	return x * 3 + 1;
}

/* This program's own ELF: segments, build-id, and its function symbols. */
static void test_elf_self(void **state)
{
	(void)state;
	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	sonde_symfile *f;
	assert_int_equal(sonde_symbolizer_file(sym, "/proc/self/exe", NULL, &f), 0);
	const sonde_elf_info *e = sonde_symfile_elf(f);
	assert_true(e->nsegs > 0);
	assert_true(e->build_id_len > 0);
	assert_true(e->eh_frame_hdr_size > 0);
	const sonde_elf_sym *s = NULL;
	for (size_t i = 0; i < e->nsyms && !s; i++)
		if (strcmp(e->syms[i].name, "sonde_test_marker_function") == 0)
			s = &e->syms[i];
	assert_non_null(s);
	assert_ptr_equal(sonde_elf_info_lookup(e, s->addr), s);
	assert_ptr_equal(sonde_elf_info_lookup(e, s->addr + 1), s);
	uint64_t off, vaddr;
	assert_int_equal(sonde_elf_info_offset(e, s->addr, &off), 0);
	assert_int_equal(sonde_elf_info_vaddr(e, off, &vaddr), 0);
	assert_int_equal(vaddr, s->addr);
	/* Symbolized, with a source line of this file. */
	sonde_symloc locs[8];
	size_t n = sonde_symfile_symbolize(sym, f, s->addr + 1, locs, 8);
	assert_true(n >= 1);
	assert_string_equal(locs[n - 1].function, "sonde_test_marker_function");
	assert_non_null(strstr(locs[n - 1].file, "symbolize_test.c"));
	assert_true(locs[n - 1].line > 0);
	/* The same file again is the same entry (cached). */
	sonde_symfile *g;
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	assert_int_equal(sonde_symbolizer_file(sym, exe, NULL, &g), 0);
	assert_ptr_equal(f, g);
	/* A missing file fails, and fails again from memory. */
	assert_int_equal(sonde_symbolizer_file(sym, "/nonexistent/lib.so", NULL, &g), -ENOENT);
	assert_int_equal(sonde_symbolizer_file(sym, "/nonexistent/lib.so", NULL, &g), -ENOENT);
	sonde_symbolizer_free(sym);
}

static void test_elf_garbage(void **state)
{
	(void)state;
	char junk[256];
	memset(junk, 'x', sizeof(junk));
	sonde_elf_info info;
	sonde_wire_error err;
	assert_int_equal(sonde_elf_info_read(&info, junk, sizeof(junk), &err), SONDE_EPARSE);
	assert_string_equal(err.field, "header");
	/* An ELF header cut short. */
	memcpy(junk,
	       "\x7f"
	       "ELF\x02\x01\x01",
	       7);
	assert_int_equal(sonde_elf_info_read(&info, junk, 20, &err), SONDE_EPARSE);
	sonde_elf_info_release(NULL);
}

static void test_demangle(void **state)
{
	(void)state;
	if (!sonde_demangle_available())
		skip();
	char *d = sonde_demangle("_ZN3foo3barEv");
	assert_non_null(d);
	assert_string_equal(d, "foo::bar()");
	free(d);
	d = sonde_demangle("_ZNSt6vectorIiSaIiEE9push_backERKi");
	assert_non_null(d);
	assert_string_equal(d, "std::vector<int, std::allocator<int> >::push_back(int const&)");
	free(d);
	/* Rust legacy: the hash goes, escapes are decoded. */
	d = sonde_demangle("_ZN4core3fmt5write17h0123456789abcdefE");
	assert_non_null(d);
	assert_string_equal(d, "core::fmt::write");
	free(d);
	d = sonde_demangle("_ZN4core3ptr42drop_in_place$LT$alloc..string..String$GT$17h0123456789abcdefE");
	assert_non_null(d);
	assert_string_equal(d, "core::ptr::drop_in_place<alloc::string::String>");
	free(d);
	assert_null(sonde_demangle("main"));
	assert_null(sonde_demangle("_Znotmangled"));
	assert_null(sonde_demangle(NULL));
}

typedef struct pm {
	uint64_t start[4], size[4];
	char name[4][64];
	size_t n;
} pm;

static int pm_collect(void *ctx, uint64_t start, uint64_t size, const char *name, size_t len)
{
	pm *p = ctx;
	if (p->n == 4)
		return 1;
	p->start[p->n] = start;
	p->size[p->n] = size;
	snprintf(p->name[p->n], sizeof(p->name[0]), "%.*s", (int)len, name);
	p->n++;
	return 0;
}

static void test_perfmap(void **state)
{
	(void)state;
	const char text[] = "7f1234560000 40 jit_one\n0x7f1234560040 0x20 Interp::run(int) [cold]\n\n";
	pm p = {0};
	sonde_wire_error err;
	assert_int_equal(sonde_perfmap_parse(text, strlen(text), pm_collect, &p, &err), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.start[0], 0x7f1234560000);
	assert_int_equal(p.size[0], 0x40);
	assert_string_equal(p.name[0], "jit_one");
	assert_int_equal(p.start[1], 0x7f1234560040);
	assert_string_equal(p.name[1], "Interp::run(int) [cold]");
	const char bad[] = "7f00 40 ok\n7f40 zz nope\n";
	memset(&p, 0, sizeof(p));
	assert_int_equal(sonde_perfmap_parse(bad, strlen(bad), pm_collect, &p, &err), SONDE_EPARSE);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.offset, 16);
	assert_string_equal(err.field, "size");
	/* Through the symbolizer: a file for a pid that has none gives nothing. */
	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	assert_null(sonde_symbolizer_perfmap(sym, 0x3ffffffe, 0x1000));
	sonde_symbolizer_free(sym);
}

/* Copies this program to a temporary file named after tag, with (add_unread) a section
 * ".debug_loclists" of 64 KiB appended, and (compress) its .debug_* and .comment sections
 * compressed by libelf (as objcopy --compress-debug-sections=zlib does). Returns how many
 * sections were compressed; path receives the file's name. */
static int write_copy_of_self(char *path, size_t size, const char *tag, bool add_unread, bool compress)
{
	snprintf(path, size, "/tmp/sonde-symbolize-test-%d-%s.elf", (int)getpid(), tag);
	int in = open("/proc/self/exe", O_RDONLY);
	int out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(in >= 0 && out >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(out, ELF_C_RDWR, NULL);
	assert_non_null(e);
	size_t shstrndx;
	assert_int_equal(elf_getshdrstrndx(e, &shstrndx), 0);
	static char unread[65536];
	static char names[1 << 16];
	if (add_unread) {
		/* Its name goes at the end of the section name table. */
		Elf_Scn *strscn = elf_getscn(e, shstrndx);
		Elf_Data *sd = elf_getdata(strscn, NULL);
		assert_true(sd && sd->d_size + 32 < sizeof(names));
		memcpy(names, sd->d_buf, sd->d_size);
		size_t name_off = sd->d_size;
		memcpy(names + name_off, ".debug_loclists", sizeof(".debug_loclists"));
		sd->d_buf = names;
		sd->d_size = name_off + sizeof(".debug_loclists");
		elf_flagdata(sd, ELF_C_SET, ELF_F_DIRTY);
		for (size_t i = 0; i < sizeof(unread); i++)
			unread[i] = (char)(i * 7 / 13);
		Elf_Scn *scn = elf_newscn(e);
		assert_non_null(scn);
		Elf_Data *d = elf_newdata(scn);
		d->d_buf = unread;
		d->d_size = sizeof(unread);
		d->d_align = 1;
		d->d_type = ELF_T_BYTE;
		GElf_Shdr sh;
		assert_non_null(gelf_getshdr(scn, &sh));
		sh.sh_name = (GElf_Word)name_off;
		sh.sh_type = SHT_PROGBITS;
		sh.sh_addralign = 1;
		assert_true(gelf_update_shdr(scn, &sh));
	}
	int count = 0;
	for (Elf_Scn *scn = NULL; compress && (scn = elf_nextscn(e, scn)) != NULL;) {
		GElf_Shdr sh;
		assert_non_null(gelf_getshdr(scn, &sh));
		const char *name = elf_strptr(e, shstrndx, sh.sh_name);
		if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0 || (sh.sh_flags & SHF_ALLOC) || !name ||
		    (strncmp(name, ".debug_", 7) != 0 && strcmp(name, ".comment") != 0))
			continue;
		assert_int_equal(elf_compress(scn, ELFCOMPRESS_ZLIB, ELF_CHF_FORCE), 1);
		count++;
	}
	assert_true(elf_update(e, ELF_C_WRITE) > 0);
	elf_end(e);
	close(out);
	return count;
}

static int write_compressed_self(char *path, size_t size)
{
	return write_copy_of_self(path, size, "z", false, true);
}

static void *map_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	*len = (size_t)st.st_size;
	return m;
}

static Elf *open_image(void *img, size_t len)
{
	Elf *e = elf_memory(img, len);
	assert_non_null(e);
	return e;
}

/* The file at path symbolizes sonde_test_marker_function as this program does (lines
 * when it has DWARF). */
static void assert_symbolizes_like_self(const char *path)
{
	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	sonde_symfile *self, *copy;
	assert_int_equal(sonde_symbolizer_file(sym, "/proc/self/exe", NULL, &self), 0);
	sonde_symbolizer *sym2 = sonde_symbolizer_new(NULL);
	assert_int_equal(sonde_symbolizer_file(sym2, path, NULL, &copy), 0);
	const sonde_elf_info *e = sonde_symfile_elf(self);
	const sonde_elf_sym *s = NULL;
	for (size_t i = 0; i < e->nsyms && !s; i++)
		if (strcmp(e->syms[i].name, "sonde_test_marker_function") == 0)
			s = &e->syms[i];
	assert_non_null(s);
	sonde_symloc a[8], b[8];
	size_t na = sonde_symfile_symbolize(sym, self, s->addr + 1, a, 8);
	size_t nb = sonde_symfile_symbolize(sym2, copy, s->addr + 1, b, 8);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].function, b[i].function);
		assert_string_equal(a[i].file, b[i].file);
		assert_int_equal(a[i].line, b[i].line);
	}
	sonde_symbolizer_free(sym2);
	sonde_symbolizer_free(sym);
}

/* The inflated image has every section of the original, uncompressed, byte for byte; the
 * compressed file symbolizes as the original does; garbage and files without compressed
 * sections are refused. */
static void test_elf_inflate(void **state)
{
	(void)state;
	char path[256];
	int compressed = write_compressed_self(path, sizeof(path));
	assert_true(compressed >= 1);
	int fd = open(path, O_RDONLY);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	void *cimg = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(cimg != MAP_FAILED);
	void *img;
	size_t len;
	assert_int_equal(sonde_elf_inflate(cimg, (size_t)st.st_size, NULL, &img, &len), 0);

	int sfd = open("/proc/self/exe", O_RDONLY);
	struct stat sst;
	assert_int_equal(fstat(sfd, &sst), 0);
	void *simg = mmap(NULL, (size_t)sst.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, sfd, 0);
	close(sfd);
	assert_true(simg != MAP_FAILED);
	Elf *orig = open_image(simg, (size_t)sst.st_size), *infl = open_image(img, len);
	size_t no, ni;
	assert_int_equal(elf_getshdrnum(orig, &no), 0);
	assert_int_equal(elf_getshdrnum(infl, &ni), 0);
	assert_int_equal(no, ni);
	for (size_t i = 1; i < no; i++) {
		GElf_Shdr a, b;
		assert_non_null(gelf_getshdr(elf_getscn(orig, i), &a));
		assert_non_null(gelf_getshdr(elf_getscn(infl, i), &b));
		assert_int_equal(a.sh_type, b.sh_type);
		assert_int_equal(a.sh_flags, b.sh_flags);
		assert_int_equal(a.sh_size, b.sh_size);
		if (a.sh_type == SHT_NOBITS || a.sh_size == 0)
			continue;
		assert_true(b.sh_offset + b.sh_size <= len);
		assert_memory_equal((const char *)simg + a.sh_offset, (const char *)img + b.sh_offset,
		                    (size_t)a.sh_size);
	}
	elf_end(infl);
	elf_end(orig);
	munmap(simg, (size_t)sst.st_size);

	/* Nothing left to inflate, or not ELF at all: refused. */
	void *again;
	size_t again_len;
	assert_int_equal(sonde_elf_inflate(img, len, NULL, &again, &again_len), SONDE_EPARSE);
	assert_int_equal(sonde_elf_inflate("\x7f"
	                                   "ELF garbage",
	                                   11, NULL, &again, &again_len),
	                 SONDE_EPARSE);
	/* A truncated compressed file: refused, never read past its end. */
	assert_int_equal(sonde_elf_inflate(cimg, (size_t)st.st_size / 2, NULL, &again, &again_len),
	                 SONDE_EPARSE);
	munmap(img, len);
	munmap(cimg, (size_t)st.st_size);

	assert_symbolizes_like_self(path);
	unlink(path);
}

/* The zlib fallback gives the same bytes as libdeflate; drop_unread turns the sections a
 * symbolizer never reads into SHT_NOBITS ones and keeps every other section byte for
 * byte; the symbolizer (which drops them) still gives the same functions and lines. */
static void test_elf_inflate_options(void **state)
{
	(void)state;
	char plain_path[256], comp_path[256];
	write_copy_of_self(plain_path, sizeof(plain_path), "plain", true, false);
	assert_true(write_copy_of_self(comp_path, sizeof(comp_path), "comp", true, true) >= 1);
	size_t plain_len, comp_len;
	void *plain = map_file(plain_path, &plain_len), *comp = map_file(comp_path, &comp_len);

	void *all, *all_z, *dropped, *dropped_z;
	size_t all_len, all_z_len, dropped_len, dropped_z_len;
	sonde_elf_inflate_opts zo = {.zlib_only = true}, dro = {.drop_unread = true},
	                       drzo = {.drop_unread = true, .zlib_only = true};
	assert_int_equal(sonde_elf_inflate(comp, comp_len, NULL, &all, &all_len), 0);
	assert_int_equal(sonde_elf_inflate(comp, comp_len, &zo, &all_z, &all_z_len), 0);
	assert_int_equal(sonde_elf_inflate(comp, comp_len, &dro, &dropped, &dropped_len), 0);
	assert_int_equal(sonde_elf_inflate(comp, comp_len, &drzo, &dropped_z, &dropped_z_len), 0);
	assert_int_equal(all_len, all_z_len);
	assert_memory_equal(all, all_z, all_len);
	assert_int_equal(dropped_len, dropped_z_len);
	assert_memory_equal(dropped, dropped_z, dropped_len);
	assert_true(dropped_len + 65536 <= all_len);

	Elf *orig = open_image(plain, plain_len), *full = open_image(all, all_len),
	    *drop = open_image(dropped, dropped_len);
	size_t no, nf, nd, shstrndx;
	assert_int_equal(elf_getshdrnum(orig, &no), 0);
	assert_int_equal(elf_getshdrnum(full, &nf), 0);
	assert_int_equal(elf_getshdrnum(drop, &nd), 0);
	assert_int_equal(no, nf);
	assert_int_equal(no, nd);
	assert_int_equal(elf_getshdrstrndx(orig, &shstrndx), 0);
	int seen_unread = 0;
	for (size_t i = 1; i < no; i++) {
		GElf_Shdr a, b, c;
		assert_non_null(gelf_getshdr(elf_getscn(orig, i), &a));
		assert_non_null(gelf_getshdr(elf_getscn(full, i), &b));
		assert_non_null(gelf_getshdr(elf_getscn(drop, i), &c));
		const char *name = elf_strptr(orig, shstrndx, a.sh_name);
		assert_non_null(name);
		assert_int_equal(a.sh_size, b.sh_size);
		assert_int_equal(a.sh_size, c.sh_size);
		if (strcmp(name, ".debug_loclists") == 0 || strcmp(name, ".debug_loc") == 0 ||
		    strcmp(name, ".debug_macro") == 0) {
			seen_unread += strcmp(name, ".debug_loclists") == 0 && a.sh_size == 65536;
			assert_int_equal(c.sh_type, SHT_NOBITS);
			assert_int_equal(c.sh_flags & SHF_COMPRESSED, 0);
		} else {
			assert_int_equal(a.sh_type, c.sh_type);
			assert_int_equal(a.sh_flags, c.sh_flags);
			if (a.sh_type != SHT_NOBITS && a.sh_size != 0)
				assert_memory_equal((const char *)plain + a.sh_offset,
				                    (const char *)dropped + c.sh_offset, (size_t)a.sh_size);
		}
		if (a.sh_type != SHT_NOBITS && a.sh_size != 0)
			assert_memory_equal((const char *)plain + a.sh_offset,
			                    (const char *)all + b.sh_offset, (size_t)a.sh_size);
	}
	assert_int_equal(seen_unread, 1);
	elf_end(drop);
	elf_end(full);
	elf_end(orig);
	munmap(all, all_len);
	munmap(all_z, all_z_len);
	munmap(dropped, dropped_len);
	munmap(dropped_z, dropped_z_len);
	munmap(plain, plain_len);
	munmap(comp, comp_len);
	assert_symbolizes_like_self(comp_path);
	unlink(plain_path);
	unlink(comp_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_procmaps_lines),
	        cmocka_unit_test(test_procmaps_errors),
	        cmocka_unit_test(test_procmodel_overlaps),
	        cmocka_unit_test(test_elf_self),
	        cmocka_unit_test(test_elf_garbage),
	        cmocka_unit_test(test_elf_inflate),
	        cmocka_unit_test(test_elf_inflate_options),
	        cmocka_unit_test(test_demangle),
	        cmocka_unit_test(test_perfmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
