/* unwind_test.c - DWARF unwinding of real recordings: sonde's fast CFI walk and libunwind
 * give the same stacks, sample by sample, on programs built without frame pointers (gcc and
 * clang); and a program whose own functions have only .debug_frame (no .eh_frame) unwinds
 * through them to main. Builds its programs from tests/profile/progs with the C compilers
 * found; skips when perf_event_open is not permitted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "profile_formats.h"
#include "profiler.h"
#include "symbolize.h"

static char tmpdir[] = "/tmp/sonde-unwind-test-XXXXXX";

/* Builds a program from tests/profile/progs; false when the compiler is missing or fails. */
static bool build(const char *cc, const char *flags, const char *src, const char *out)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s tests/profile/progs/%s -o %s/%s >/dev/null 2>&1", cc, flags, src,
	         tmpdir, out);
	return system(cmd) == 0;
}

/* Records argv (DWARF call graph) into folded text. Skips the test when perf_event_open
 * is refused. */
static void record(char *const argv[], sonde_unwinder unwinder, sonde_profiler_stats *st, sonde_buf *folded)
{
	sonde_profiler_opts o = {.freq_hz = 2999, .callgraph = SONDE_CALLGRAPH_DWARF, .unwinder = unwinder};
	sonde_profiler *pr;
	assert_int_equal(sonde_profiler_new(&o, &pr), 0);
	pid_t pid;
	int rc = sonde_profiler_spawn(pr, argv, &pid);
	if (rc == 0)
		rc = sonde_profiler_start(pr);
	if (rc == -EACCES || rc == -EPERM) {
		sonde_profiler_free(pr);
		skip();
	}
	assert_int_equal(rc, 0);
	while (sonde_profiler_alive(pr, NULL))
		sonde_profiler_poll(pr, 50);
	sonde_profiler_stop(pr);
	const sonde_stacktab *tab = sonde_profiler_stacktab(pr);
	assert_non_null(tab);
	assert_int_equal(sonde_folded_write(tab, 0, folded), 0);
	sonde_profiler_get_stats(pr, st);
	sonde_profiler_free(pr);
}

/* Samples of folded lines containing needle. */
static uint64_t count_with(const sonde_buf *folded, const char *needle)
{
	uint64_t total = 0;
	const char *p = (const char *)folded->data, *end = p + folded->len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		const char *sp = nl;
		while (sp > p && sp[-1] != ' ')
			sp--;
		char line[4096];
		size_t n = (size_t)(nl - p) < sizeof(line) - 1 ? (size_t)(nl - p) : sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (strstr(line, needle))
			total += strtoull(sp, NULL, 10);
		p = nl + 1;
	}
	return total;
}

static void check_same_stacks(const char *cc, const char *extra)
{
	char flags[256], name[64], path[512];
	snprintf(flags, sizeof(flags), "-O2 -g -fomit-frame-pointer -pthread %s", extra);
	snprintf(name, sizeof(name), "split_%s", cc);
	if (!build(cc, flags, "split.c", name)) {
		print_message("no %s: skipping that compiler\n", cc);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	char *argv[] = {path, "0.4", "1", NULL};
	sonde_profiler_stats st;
	sonde_buf folded = SONDE_BUF_INIT;
	record(argv, SONDE_UNWINDER_CHECK, &st, &folded);
	print_message("%s: %llu samples, %llu unwound by both, %llu differ\n", cc,
	              (unsigned long long)st.samples, (unsigned long long)st.unwind_checked,
	              (unsigned long long)st.unwind_differ);
	assert_true(st.samples > 200);
	/* The fast walk handles nearly every sample (the vDSO and the like go to libunwind). */
	assert_true(st.unwind_checked * 10 >= st.samples * 9);
	assert_int_equal(st.unwind_differ, 0);
	/* The kernel copied stacks, and no more than the default copy size per sample. */
	assert_true(st.stack_copied > 0);
	assert_true(st.stack_copied <= st.samples * SONDE_PROFILER_STACK_BYTES);
	assert_true(count_with(&folded, "main;work;hot_a ") > 0);
	assert_true(count_with(&folded, "worker;work;hot_b ") > 0);
	sonde_buf_release(&folded);
}

static void test_fast_walk_matches_libunwind(void **state)
{
	(void)state;
	check_same_stacks("gcc", "-fno-ipa-icf");
	check_same_stacks("clang", "");
}

/* The ELF virtual address of a function symbol of f. */
static uint64_t sym_addr(sonde_symfile *f, const char *name)
{
	const sonde_elf_info *e = sonde_symfile_elf(f);
	for (size_t i = 0; i < e->nsyms; i++)
		if (strcmp(e->syms[i].name, name) == 0)
			return e->syms[i].addr;
	fail_msg("no symbol %s", name);
	return 0;
}

static void test_debug_frame_only(void **state)
{
	(void)state;
	if (!build("gcc", "-O2 -g -fno-asynchronous-unwind-tables -fno-unwind-tables -fomit-frame-pointer",
	           "dframe.c", "dframe"))
		skip();
	char path[512];
	snprintf(path, sizeof(path), "%s/dframe", tmpdir);

	/* Its functions really have no .eh_frame entry, only .debug_frame ones. */
	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	sonde_symfile *f;
	assert_int_equal(sonde_symbolizer_file(sym, path, NULL, &f), 0);
	const char *fns[] = {"main", "d_outer", "d_middle", "d_hot"};
	for (size_t i = 0; i < 4; i++) {
		uint64_t a = sym_addr(f, fns[i]) + 4;
		Dwarf_Frame *fr = NULL;
		Dwarf_CFI *eh = sonde_symfile_eh_cfi(f);
		assert_true(!eh || dwarf_cfi_addrframe(eh, a, &fr) != 0);
		free(fr);
		fr = NULL;
		Dwarf_CFI *dbg = sonde_symfile_debug_cfi(sym, f);
		assert_non_null(dbg);
		assert_int_equal(dwarf_cfi_addrframe(dbg, a, &fr), 0);
		free(fr);
	}
	sonde_symbolizer_free(sym);

	char *argv[] = {path, "0.5", NULL};
	sonde_profiler_stats st;
	sonde_buf folded = SONDE_BUF_INIT;
	record(argv, SONDE_UNWINDER_DEFAULT, &st, &folded);
	uint64_t full = count_with(&folded, "__libc_start_call_main;main;d_outer;d_middle;d_hot ");
	print_message("dframe: %llu samples, %llu through main;d_outer;d_middle;d_hot\n",
	              (unsigned long long)st.samples, (unsigned long long)full);
	assert_true(st.samples > 200);
	assert_true(full * 10 >= st.samples * 9);
	sonde_buf_release(&folded);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fast_walk_matches_libunwind),
	        cmocka_unit_test(test_debug_frame_only),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
