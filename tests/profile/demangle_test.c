/* demangle_test.c - Rust v0 demangling (RFC 2603): paths, impls, closures and shims,
 * generic arguments, backrefs, punycode, lifetimes and binders, fn pointers, dyn traits,
 * integer/bool/char const generics; malformed names stay mangled; and, when llvm-cxxfilt
 * is installed, the same output as llvm-cxxfilt for every case. C++ and legacy Rust
 * demangling are tested in symbolize_test.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demangle.h"

/* Expected outputs follow the RFC's examples and its rules for printing (crate hashes left
 * out, as rustfilt and llvm-cxxfilt do). */
static const struct {
	const char *mangled, *want;
} cases[] = {
        {"_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar"},
        {"_RINvNtC3std3mem8align_ofjE", "std::mem::align_of::<usize>"},
        {"_RNvMCs1234_7mycrateINtCs1234_7mycrate3FoopE3bar", "<mycrate::Foo<_>>::bar"},
        {"_RNvXCs1234_7mycrateNtCs1234_7mycrate3FooNtNtC3std5clone5Clone5clone",
         "<mycrate::Foo as std::clone::Clone>::clone"},
        {"_RNCNvCsd_7mycrate4main0", "mycrate::main::{closure#0}"},
        {"_RNCNvC7mycrate4mains0_0", "mycrate::main::{closure#2}"},
        {"_RINvC7mycrate3fooNtB2_3BarE", "mycrate::foo::<mycrate::Bar>"},
        {"_RNvC7mycrateu8gdel_5qa", "mycrate::gödel"},
        {"_RINvC7mycrate3fooKj1f_E", "mycrate::foo::<31>"},
        {"_RINvC7mycrate3fooKb1_Kb0_E", "mycrate::foo::<true, false>"},
        {"_RINvC7mycrate3fooKc61_Kc27_Kc5c_Kca_E", "mycrate::foo::<'a', '\\'', '\\\\', '\\n'>"},
        {"_RINvC7mycrate3fooKln5_KpE", "mycrate::foo::<-5, _>"},
        {"_RINvC7mycrate3fooKo123456789abcdef0123_E", "mycrate::foo::<0x123456789abcdef0123>"},
        {"_RINvC1a1fTjbEE", "a::f::<(usize, bool)>"},
        {"_RINvC1a1fThEE", "a::f::<(u8,)>"},
        {"_RINvC1a1fTEE", "a::f::<()>"},
        {"_RINvC1a1fShE", "a::f::<[u8]>"},
        {"_RINvC1a1fAhj4_E", "a::f::<[u8; 4]>"},
        {"_RINvC1a1fRhQhPhOhE", "a::f::<&u8, &mut u8, *const u8, *mut u8>"},
        {"_RINvC1a1fFKCjEuE", "a::f::<extern \"C\" fn(usize)>"},
        {"_RINvC1a1fFjElE", "a::f::<fn(usize) -> i32>"},
        {"_RINvC1a1fFG_RL0_hEuE", "a::f::<for<'a> fn(&'a u8)>"},
        {"_RINvC1a1fFG0_RL1_hRL0_tEuE", "a::f::<for<'a, 'b> fn(&'a u8, &'b u16)>"},
        {"_RINvC1a1fDNtNtC3std3fmt5DebugEL_E", "a::f::<dyn std::fmt::Debug>"},
        {"_RINvC1a1fDNtC4core8Iteratorp4ItemhEL_E", "a::f::<dyn core::Iterator<Item = u8>>"},
        {"_RINvC1a1fDINtC4core2FnThEEp6OutputuEL_E", "a::f::<dyn core::Fn<(u8,), Output = ()>>"},
        {"_RINvC1a1fDNtC4core4SendNtC4core4SyncEL_E", "a::f::<dyn core::Send + core::Sync>"},
        {"_RINvC1a1fabcdefhijlmnostuvxyzpE", "a::f::<i8, bool, char, f64, str, f32, u8, isize, usize, i32, "
                                             "u32, i128, u128, i16, u16, (), ..., i64, u64, !, _>"},
        {"_RNvYNtC7mycrate3FooNtC7mycrate5Trait6method", "<mycrate::Foo as mycrate::Trait>::method"},
        {"_RNSNvC7mycrate3foo6vtable", "mycrate::foo::{shim:vtable#0}"},
        {"_RNvC7mycrate3fooC9somecrate", "mycrate::foo"},
        {"_RINvC7mycrate3fooINtB2_3BarNtB2_3BazEE", "mycrate::foo::<mycrate::Bar<mycrate::Baz>>"},
        {"_RNvMs_NtC7mycrate3fooNtB4_3Bar3new", "<mycrate::foo::Bar>::new"},
        {"_RINvC1a1fKc0_Kc7f_Kce9_Kc1f600_Kc22_E",
         "a::f::<'\\u{0}', '\\u{7f}', '\\u{e9}', '\\u{1f600}', '\"'>"},
        {"_RINvC1a1fFUK9rust_callEuE", "a::f::<unsafe extern \"rust-call\" fn()>"},
        /* A vendor suffix is dropped (llvm-cxxfilt shows it in parentheses). */
        {"_RNvC7mycrate3foo.llvm.1234", "mycrate::foo"},
};

/* Malformed or unsupported: NULL (the name is shown as it is). */
static const char *const malformed[] = {
        "_RINvC1a1fFUKrust_callEuE",
        "_RNvNvC7mycrate3foo1_",
        "_RINvC1a1fGs_E",
        "_RNvC7mycrate",
        "_R",
        "_RX",
        "_RB_",
        "_RNvC7mycrate3fo",
        "_RINvC1a1fKj1gE",
        "_RINvC1a1fKjE",
        "_RNvC7mycrate3foo1",       /* identifier longer than the name */
        "_RB0_",                    /* backref to itself */
        "_RINvC1a1fB_E",            /* backref forward */
        "_RINvC1a1fKe3a_E",         /* str const: not handled */
        "_RINvC1a1fKb2_E",          /* bool out of range */
        "_RINvC1a1fKcd800_E",       /* surrogate char */
        "_RNvC7mycrateu3a_A",       /* bad punycode digit */
        "_RNvC7mycrateu9zzzzzzzzz", /* punycode overflow */
        "_R0NvC1a1f",               /* encoding version */
        "_RNvC1a1fzz",              /* trailing junk */
};

static void test_v0_expected(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = sonde_demangle(cases[i].mangled);
		if (!d || strcmp(d, cases[i].want) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].mangled, d ? d : "(null)",
			         cases[i].want);
		free(d);
	}
}

/* prefix, then generic arguments u8 and `levels` tuples of two backrefs to the argument
 * before (each doubling what it prints), "E", then suffix. */
static void make_bomb(char *out, size_t cap, const char *prefix, const char *suffix, int levels)
{
	size_t n = (size_t)snprintf(out, cap, "%sh", prefix);
	size_t prev = n - 1 - 2; /* positions count from after "_R" */
	for (int level = 0; level < levels; level++) {
		size_t at = n - 2, v = prev - 1, k = 0; /* base 62 of prev - 1 (prev > 0) */
		char digits[16], ref[16];
		do {
			digits[k++] =
			        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[v % 62];
			v /= 62;
		} while (v);
		size_t r = 0;
		while (k)
			ref[r++] = digits[--k];
		ref[r] = '\0';
		n += (size_t)snprintf(out + n, cap - n, "TB%s_B%s_E", ref, ref);
		prev = at;
	}
	snprintf(out + n, cap - n, "E%s", suffix);
}

static void test_v0_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		char *d = sonde_demangle(malformed[i]);
		if (d)
			fail_msg("%s: got '%s', want NULL", malformed[i], d);
	}
	/* Deep nesting and backref blow-up stop at the limits, without a crash. */
	char deep[4096] = "_R";
	for (size_t i = 2; i + 3 < sizeof(deep); i += 2)
		memcpy(deep + i, "NvNv", 2);
	deep[sizeof(deep) - 1] = '\0';
	assert_null(sonde_demangle(deep));
	/* Backref blow-up: the output cap stops it, and in a muted impl path the step cap. */
	char bomb[2048];
	make_bomb(bomb, sizeof(bomb), "_RINvC1a1f", "", 3);
	char *d = sonde_demangle(bomb);
	assert_non_null(d);
	assert_string_equal(
	        d,
	        "a::f::<u8, (u8, u8), ((u8, u8), (u8, u8)), (((u8, u8), (u8, u8)), ((u8, u8), (u8, u8)))>");
	free(d);
	make_bomb(bomb, sizeof(bomb), "_RINvC1a1f", "", 30);
	assert_null(sonde_demangle(bomb));
	make_bomb(bomb, sizeof(bomb), "_RNvMINvC1a1f", "u3foo", 3);
	d = sonde_demangle(bomb);
	assert_non_null(d);
	assert_string_equal(d, "<()>::foo");
	free(d);
	make_bomb(bomb, sizeof(bomb), "_RNvMINvC1a1f", "u3foo", 30);
	assert_null(sonde_demangle(bomb));
}

/* The llvm-cxxfilt found on PATH (Rust v0 since LLVM 13), or NULL. */
static const char *find_cxxfilt(void)
{
	static const char *const names[] = {"llvm-cxxfilt",    "llvm-cxxfilt-19", "llvm-cxxfilt-18",
	                                    "llvm-cxxfilt-17", "llvm-cxxfilt-16", "llvm-cxxfilt-15",
	                                    "llvm-cxxfilt-14"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "echo _RNvC1a1f | %s 2>/dev/null | grep -qx 'a::f'", names[i]);
		if (system(cmd) == 0)
			return names[i];
	}
	return NULL;
}

static void test_v0_same_as_llvm_cxxfilt(void **state)
{
	(void)state;
	const char *tool = find_cxxfilt();
	if (!tool)
		skip();
	char path[] = "/tmp/sonde-demangle-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	size_t n = sizeof(cases) / sizeof(cases[0]) - 1; /* not the vendor suffix case */
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", cases[i].mangled);
	fclose(f);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "%s < %s", tool, path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[4096];
	for (size_t i = 0; i < n; i++) {
		assert_non_null(fgets(line, sizeof(line), p));
		line[strcspn(line, "\n")] = '\0';
		char *d = sonde_demangle(cases[i].mangled);
		if (!d || strcmp(d, line) != 0)
			fail_msg("%s: sonde '%s', %s '%s'", cases[i].mangled, d ? d : "(null)", tool, line);
		free(d);
	}
	pclose(p);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_v0_expected),
	        cmocka_unit_test(test_v0_malformed),
	        cmocka_unit_test(test_v0_same_as_llvm_cxxfilt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
