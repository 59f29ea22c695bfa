/* folded_test.c - folded stacks: reading (annotations, threads, errors, streaming), writing
 * (order, escaping), round trips, the all-or-nothing read, and format sniffing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_formats.h"
#include "sonde/status.h"

static sonde_stacktab *read_ok(const char *in, bool threads)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_profile_read_opts ro = {.threads = threads};
	sonde_wire_error err = {0};
	int rc = sonde_folded_read(t, in, strlen(in), &ro, &err);
	if (rc != 0)
		fail_msg("read: %d at line %zu offset %zu %s: %s", rc, err.line, err.offset, err.field,
		         err.msg);
	return t;
}

static char *write_str(const sonde_stacktab *t)
{
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_folded_write(t, 0, &out), 0);
	if (!out.data)
		return calloc(1, 1);
	return out.data;
}

/* The count of the stack whose frames, root first, are names[0..n). */
static int64_t count_of(const sonde_stacktab *t, const char *const *names, size_t n)
{
	for (size_t s = 0; s < sonde_stacktab_stacks_count(t); s++) {
		size_t depth;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &depth);
		if (depth != n)
			continue;
		bool same = true;
		for (size_t i = 0; i < n && same; i++)
			same = strcmp(sonde_stacktab_frame(t, fr[n - 1 - i])->function, names[i]) == 0;
		if (same)
			return sonde_stacktab_count(t, (uint32_t)s, 0);
	}
	return -1;
}

static void test_read_basic(void **state)
{
	(void)state;
	sonde_stacktab *t = read_ok("main;run;work 7\nmain;run 3\r\n\nmain;run;work 5\n  \nmain 1", false);
	assert_int_equal(sonde_stacktab_types_count(t), 1);
	assert_string_equal(sonde_stacktab_type(t, 0)->name, "samples");
	assert_string_equal(sonde_stacktab_type(t, 0)->unit, "count");
	assert_int_equal(sonde_stacktab_stacks_count(t), 3);
	assert_int_equal(sonde_stacktab_frames_count(t), 3);
	assert_int_equal(count_of(t, (const char *[]){"main", "run", "work"}, 3), 12);
	assert_int_equal(count_of(t, (const char *[]){"main", "run"}, 2), 3);
	assert_int_equal(count_of(t, (const char *[]){"main"}, 1), 1);
	assert_int_equal(sonde_stacktab_total(t, 0), 16);
	sonde_stacktab_free(t);
}

static void test_read_spaces_and_empty_frames(void **state)
{
	(void)state;
	/* Names may hold spaces: the count follows the last blank. Empty frames stay. */
	sonde_stacktab *t = read_ok("a b;operator new(unsigned long) 4\n;x; 2\n 9\nq\t3  \n", false);
	assert_int_equal(count_of(t, (const char *[]){"a b", "operator new(unsigned long)"}, 2), 4);
	assert_int_equal(count_of(t, (const char *[]){"", "x", ""}, 3), 2);
	assert_int_equal(count_of(t, NULL, 0), 9);
	assert_int_equal(count_of(t, (const char *[]){"q"}, 1), 3);
	char *w = write_str(t);
	assert_string_equal(w, " 9\n;x; 2\na b;operator new(unsigned long) 4\nq 3\n");
	free(w);
	sonde_stacktab_free(t);
}

static void test_annotations(void **state)
{
	(void)state;
	sonde_stacktab *t =
	        read_ok("main;memcpy_[i];sys_write_[k] 2\nmain;Foo::bar_[j] 1\nmain;x_[w] 1\n", false);
	size_t n;
	for (size_t s = 0; s < sonde_stacktab_stacks_count(t); s++) {
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
		const sonde_frame *leaf = sonde_stacktab_frame(t, fr[0]);
		if (strcmp(leaf->function, "sys_write") == 0) {
			assert_int_equal(sonde_frame_kind_of(leaf), SONDE_FRAME_KERNEL);
			assert_string_equal(leaf->module, SONDE_MODULE_KERNEL);
			const sonde_frame *inl = sonde_stacktab_frame(t, fr[1]);
			assert_string_equal(inl->function, "memcpy");
			assert_true(inl->inlined);
			assert_int_equal(sonde_frame_kind_of(inl), SONDE_FRAME_INLINED);
		} else if (strcmp(leaf->function, "Foo::bar") == 0) {
			assert_int_equal(sonde_frame_kind_of(leaf), SONDE_FRAME_JIT);
		} else {
			/* Annotations sonde does not know stay in the name. */
			assert_string_equal(leaf->function, "x_[w]");
			assert_int_equal(sonde_frame_kind_of(leaf), SONDE_FRAME_USER);
		}
	}
	char *w = write_str(t);
	assert_string_equal(w, "main;Foo::bar_[j] 1\nmain;memcpy_[i];sys_write_[k] 2\nmain;x_[w] 1\n");
	free(w);
	sonde_stacktab_free(t);
}

static void test_threads(void **state)
{
	(void)state;
	sonde_stacktab *t = read_ok("worker-12;run;f-3 4\nmain;g 1\n-5;h 1\n", true);
	for (size_t s = 0; s < sonde_stacktab_stacks_count(t); s++) {
		size_t n;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
		const sonde_frame *th = sonde_stacktab_stack_thread(t, (uint32_t)s);
		const char *root = sonde_stacktab_frame(t, fr[n - 1])->function;
		if (strcmp(root, "worker-12") == 0) {
			assert_non_null(th);
			assert_string_equal(th->module, SONDE_MODULE_THREAD);
			/* Only the root is a thread marker. */
			assert_int_equal(sonde_frame_kind_of(sonde_stacktab_frame(t, fr[0])),
			                 SONDE_FRAME_USER);
		} else {
			assert_null(th);
		}
	}
	/* Thread markers are written as plain frames. */
	char *w = write_str(t);
	assert_string_equal(w, "-5;h 1\nmain;g 1\nworker-12;run;f-3 4\n");
	free(w);
	sonde_stacktab_free(t);
}

static void expect_error(const char *in, size_t line, size_t offset, const char *field, const char *msg_part)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_wire_error err = {0};
	int rc = sonde_folded_read(t, in, strlen(in), NULL, &err);
	assert_int_equal(rc, SONDE_EPARSE);
	assert_int_equal(err.line, line);
	assert_int_equal(err.offset, offset);
	assert_string_equal(err.field, field);
	if (!strstr(err.msg, msg_part))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg_part);
	sonde_stacktab_free(t);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("a;b 1\na;b\n", 2, 6, "count", "no space before a sample count");
	expect_error("a;b 1\n\na;c 12x\n", 3, 13, "count", "non-negative integer");
	expect_error("a -1\n", 1, 2, "count", "non-negative integer");
	expect_error("a 99999999999999999999\n", 1, 2, "count", "too large");
	expect_error("a 1.5\n", 1, 3, "count", "non-negative integer");
}

/* Every piece size gives the table a whole read gives, errors at the same place. */
static void test_streaming_pieces(void **state)
{
	(void)state;
	const char *in = "main;run;work 7\nmain;run 3\r\n\nmain;long_function_name_here;x_[k] 5\nmain 1";
	sonde_stacktab *whole = read_ok(in, false);
	for (size_t piece = 1; piece <= 20; piece++) {
		sonde_stacktab *t = sonde_stacktab_new();
		sonde_folded_reader *r = sonde_folded_reader_new(t, NULL);
		assert_non_null(r);
		sonde_wire_error err = {0};
		size_t len = strlen(in);
		for (size_t i = 0; i < len; i += piece)
			assert_int_equal(
			        sonde_folded_reader_feed(r, in + i, i + piece > len ? len - i : piece, &err),
			        0);
		assert_int_equal(sonde_folded_reader_finish(r, &err), 0);
		sonde_folded_reader_free(r);
		char why[256];
		if (!sonde_stacktab_equal(whole, t, why, sizeof(why)))
			fail_msg("piece %zu: %s", piece, why);
		sonde_stacktab_free(t);
	}
	const char *bad = "a 1\nb 2\nc x\n";
	for (size_t piece = 1; piece <= 12; piece++) {
		sonde_stacktab *t = sonde_stacktab_new();
		sonde_folded_reader *r = sonde_folded_reader_new(t, NULL);
		sonde_wire_error err = {0};
		int rc = 0;
		size_t len = strlen(bad);
		for (size_t i = 0; i < len && rc == 0; i += piece)
			rc = sonde_folded_reader_feed(r, bad + i, i + piece > len ? len - i : piece, &err);
		if (rc == 0)
			rc = sonde_folded_reader_finish(r, &err);
		assert_int_equal(rc, SONDE_EPARSE);
		assert_int_equal(err.line, 3);
		assert_int_equal(err.offset, 10);
		/* A failed reader stays failed. */
		assert_int_equal(sonde_folded_reader_feed(r, "d 1\n", 4, &err), SONDE_EPARSE);
		sonde_folded_reader_free(r);
		sonde_stacktab_free(t);
	}
	sonde_folded_reader_free(NULL);
	sonde_stacktab_free(whole);
}

static void test_writer_escapes_and_skips(void **state)
{
	(void)state;
	sonde_stacktab *t = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	sonde_frame f1 = {.function = "a;b\nc"}, f2 = {.module = "/usr/lib/libc.so.6", .address = 0x1a2b},
	            f3 = {.address = 0xff}, f4 = {.function = "zero"};
	uint32_t s1[] = {(uint32_t)sonde_stacktab_intern_frame(t, &f1)};
	uint32_t s2[] = {(uint32_t)sonde_stacktab_intern_frame(t, &f2),
	                 (uint32_t)sonde_stacktab_intern_frame(t, &f3)};
	uint32_t s3[] = {(uint32_t)sonde_stacktab_intern_frame(t, &f4)};
	sonde_stacktab_add(t, (uint32_t)sonde_stacktab_intern_stack(t, s1, 1), 0, 2);
	sonde_stacktab_add(t, (uint32_t)sonde_stacktab_intern_stack(t, s2, 2), 0, 3);
	sonde_stacktab_add(t, (uint32_t)sonde_stacktab_intern_stack(t, s3, 1), 0, 0);
	char *w = write_str(t);
	assert_string_equal(w, "0xff;libc.so.6+0x1a2b 3\na:b?c 2\n");
	/* What was written reads back and writes the same. */
	sonde_stacktab *back = read_ok(w, false);
	char *w2 = write_str(back);
	assert_string_equal(w, w2);
	free(w);
	free(w2);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_folded_write(t, 1, &out), -EINVAL);
	sonde_buf_release(&out);
	sonde_stacktab_free(back);
	sonde_stacktab_free(t);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot open (tests run from the repository root)", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* folded -> stack table -> folded is byte for byte the input. */
static void test_round_trip_golden(void **state)
{
	(void)state;
	static const char *const files[] = {"tests/golden/flame-basic.folded",
	                                    "tests/golden/flame-after.folded",
	                                    "tests/golden/perf-script-fp.folded"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t len;
		char *in = slurp(files[i], &len);
		sonde_stacktab *t = read_ok(in, false);
		char *out = write_str(t);
		if (strcmp(in, out) != 0)
			fail_msg("%s: the round trip differs:\n%s", files[i], out);
		free(in);
		free(out);
		sonde_stacktab_free(t);
	}
}

/* sonde_profile_read: a failed read leaves the table as it was. */
static void test_read_all_or_nothing(void **state)
{
	(void)state;
	sonde_stacktab *t = read_ok("a;b 2\n", false);
	sonde_wire_error err = {0};
	const char *bad = "a;b 5\nc 1\nbroken\n";
	assert_int_equal(sonde_profile_read(t, SONDE_PROFILE_FOLDED, bad, strlen(bad), NULL, &err),
	                 SONDE_EPARSE);
	assert_int_equal(err.line, 3);
	assert_int_equal(sonde_stacktab_stacks_count(t), 1);
	assert_int_equal(sonde_stacktab_frames_count(t), 2);
	assert_int_equal(sonde_stacktab_total(t, 0), 2);
	const char *good = "a;b 5\nc 1\n";
	assert_int_equal(sonde_profile_read(t, SONDE_PROFILE_FOLDED, good, strlen(good), NULL, &err), 0);
	assert_int_equal(sonde_stacktab_total(t, 0), 8);
	assert_int_equal(sonde_stacktab_stacks_count(t), 2);
	/* An empty table stays empty. */
	sonde_stacktab *e = sonde_stacktab_new();
	assert_int_equal(sonde_profile_read(e, SONDE_PROFILE_FOLDED, bad, strlen(bad), NULL, &err),
	                 SONDE_EPARSE);
	assert_int_equal(sonde_stacktab_types_count(e), 0);
	assert_int_equal(sonde_stacktab_frames_count(e), 0);
	assert_int_equal(sonde_profile_read(e, SONDE_PROFILE_SPEEDSCOPE, good, strlen(good), NULL, &err),
	                 SONDE_EFORMAT);
	sonde_stacktab_free(e);
	sonde_stacktab_free(t);
}

static void test_detect(void **state)
{
	(void)state;
	struct {
		const char *in;
		size_t len;
		sonde_profile_format want;
	} cases[] = {
	        {"main;work 12\n", 0, SONDE_PROFILE_FOLDED},
	        {"\n\nmain 1\r\n", 0, SONDE_PROFILE_FOLDED},
	        {"burn 23389  6630.755907:    1001001 cpu-clock:ppp: \n\t            1246 leaf+0x26 "
	         "(/tmp/burn)\n",
	         0, SONDE_PROFILE_PERF_SCRIPT},
	        {"# ========\n# captured on: x\nperf 1/1 1.0: 1 cycles: \n  ffffffff81000000 f "
	         "([kernel.kallsyms])\n",
	         0, SONDE_PROFILE_PERF_SCRIPT},
	        {"\x1f\x8b\x08\x00", 4, SONDE_PROFILE_PPROF},
	        {"\x0a\x04\x08\x01\x10\x02", 6, SONDE_PROFILE_PPROF},
	        {"{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\"}", 0,
	         SONDE_PROFILE_SPEEDSCOPE},
	        {"{\"resourceSpans\":[]}", 0, SONDE_PROFILE_UNKNOWN},
	        {"hello world\n", 0, SONDE_PROFILE_UNKNOWN},
	        {"", 0, SONDE_PROFILE_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		sonde_profile_format got = sonde_profile_format_detect(cases[i].in, len);
		if (got != cases[i].want)
			fail_msg("case %zu: detected %s, want %s", i, sonde_profile_format_name(got),
			         sonde_profile_format_name(cases[i].want));
	}
	assert_int_equal(sonde_profile_format_find("perf-script"), SONDE_PROFILE_PERF_SCRIPT);
	assert_int_equal(sonde_profile_format_find("svg"), SONDE_PROFILE_UNKNOWN);
	assert_true(sonde_profile_format_writable(SONDE_PROFILE_SPEEDSCOPE));
	assert_false(sonde_profile_format_readable(SONDE_PROFILE_SPEEDSCOPE));
	assert_false(sonde_profile_format_writable(SONDE_PROFILE_PERF_SCRIPT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_read_basic),
	        cmocka_unit_test(test_read_spaces_and_empty_frames),
	        cmocka_unit_test(test_annotations),
	        cmocka_unit_test(test_threads),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_streaming_pieces),
	        cmocka_unit_test(test_writer_escapes_and_skips),
	        cmocka_unit_test(test_round_trip_golden),
	        cmocka_unit_test(test_read_all_or_nothing),
	        cmocka_unit_test(test_detect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
