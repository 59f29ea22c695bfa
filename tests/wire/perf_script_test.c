/* perf_script_test.c - the `perf script` reader: headers (command names with spaces,
 * PID/TID), frame lines (offsets, [unknown], kernel, "(inlined)"), threads, and errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "profile_formats.h"
#include "sonde/status.h"

static const char sample[] =
        "# ========\n"
        "# captured on    : Sat Nov 22 07:00:00 2025\n"
        "# ========\n"
        "#\n"
        "Web Content 4242/4250 [001] 6630.755907:    1001001 cpu-clock:ppp: \n"
        "\tffffffff81001234 do_syscall_64+0x5a ([kernel.kallsyms])\n"
        "\t    7f1234567890 [unknown] ([unknown])\n"
        "\t            126a leaf_a+0x2a (inlined)\n"
        "\t            12b4 work+0x14 (inlined)\n"
        "\t            131c thr+0x1c (/tmp/burn)\n"
        "\t           891f4 std::vector<int>::at(unsigned long) const+0x304 (/usr/lib/libstdc++.so.6)\n"
        "\n"
        "burn 23389  6630.756905:    1001001 cpu-clock:ppp: \n"
        "\t            124a leaf_a.constprop.0+0x2a (/tmp/burn)\n"
        "\t            10c1 main+0x21 (/tmp/burn)\n"
        "\n"
        "burn 23389  6630.757905:    1001001 cpu-clock:ppp: \n"
        "\t            124a leaf_a.constprop.0+0x2f (/tmp/burn)\n"
        "\t            10c1 main+0x21 (/tmp/burn)\n";

static sonde_stacktab *read_ok(const char *in, bool threads)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_profile_read_opts ro = {.threads = threads};
	sonde_wire_error err = {0};
	int rc = sonde_perf_script_read(t, in, strlen(in), &ro, &err);
	if (rc != 0)
		fail_msg("read: %d at line %zu offset %zu %s: %s", rc, err.line, err.offset, err.field,
		         err.msg);
	return t;
}

static const sonde_frame *find_leaf(const sonde_stacktab *t, const char *leaf, size_t *stack, size_t *depth)
{
	for (size_t s = 0; s < sonde_stacktab_stacks_count(t); s++) {
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, depth);
		if (*depth && strcmp(sonde_stacktab_frame(t, fr[0])->function, leaf) == 0) {
			*stack = s;
			return sonde_stacktab_frame(t, fr[0]);
		}
	}
	fail_msg("no stack with leaf %s", leaf);
	return NULL;
}

static void test_frames(void **state)
{
	(void)state;
	sonde_stacktab *t = read_ok(sample, false);
	assert_int_equal(sonde_stacktab_stacks_count(t), 2);
	assert_int_equal(sonde_stacktab_total(t, 0), 3);
	size_t s, n;
	const sonde_frame *k = find_leaf(t, "do_syscall_64", &s, &n);
	assert_int_equal(sonde_frame_kind_of(k), SONDE_FRAME_KERNEL);
	assert_int_equal(sonde_stacktab_count(t, (uint32_t)s, 0), 1);
	assert_int_equal(n, 7); /* 6 frames and the command */
	const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
	const sonde_frame *unknown = sonde_stacktab_frame(t, fr[1]);
	assert_string_equal(unknown->function, "");
	assert_string_equal(unknown->module, "");
	assert_int_equal(unknown->address, 0x7f1234567890);
	/* leaf_a and work were inlined into thr: its module and address are theirs. */
	const sonde_frame *la = sonde_stacktab_frame(t, fr[2]), *wk = sonde_stacktab_frame(t, fr[3]),
	                  *thr = sonde_stacktab_frame(t, fr[4]);
	assert_string_equal(la->function, "leaf_a");
	assert_true(la->inlined && wk->inlined && !thr->inlined);
	assert_string_equal(la->module, "/tmp/burn");
	assert_string_equal(wk->module, "/tmp/burn");
	assert_int_equal(la->address, thr->address);
	assert_string_equal(sonde_stacktab_frame(t, fr[5])->function,
	                    "std::vector<int>::at(unsigned long) const");
	assert_string_equal(sonde_stacktab_frame(t, fr[6])->function, "Web Content");
	assert_null(sonde_stacktab_stack_thread(t, (uint32_t)s));
	/* Two samples that differ only in the offset are one stack. */
	find_leaf(t, "leaf_a.constprop.0", &s, &n);
	assert_int_equal(sonde_stacktab_count(t, (uint32_t)s, 0), 2);
	sonde_stacktab_free(t);
}

static void test_threads(void **state)
{
	(void)state;
	sonde_stacktab *t = read_ok(sample, true);
	size_t s, n;
	find_leaf(t, "do_syscall_64", &s, &n);
	const sonde_frame *th = sonde_stacktab_stack_thread(t, (uint32_t)s);
	assert_non_null(th);
	assert_string_equal(th->function, "Web Content-4250");
	find_leaf(t, "leaf_a.constprop.0", &s, &n);
	th = sonde_stacktab_stack_thread(t, (uint32_t)s);
	assert_non_null(th);
	assert_string_equal(th->function, "burn-23389");
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_folded_write(t, 0, &out), 0);
	assert_string_equal(
	        out.data,
	        "Web Content-4250;std::vector<int>::at(unsigned long) const;thr;work_[i];leaf_a_[i];"
	        "0x7f1234567890;do_syscall_64_[k] 1\n"
	        "burn-23389;main;leaf_a.constprop.0 2\n");
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

/* perf record without -g: one line per sample, the command padded. */
static void test_without_call_chains(void **state)
{
	(void)state;
	const char *in = "            burn 20888  8428.930098:   10101010 cpu-clock:ppp:      55c8658b626a "
	                 "leaf_a.constprop.0+0x2a (/tmp/b2-perf/burn)\n"
	                 "          worker 20891  8428.956569:   10101010 cpu-clock:ppp:      55c8658b6271 "
	                 "leaf_a.constprop.0+0x31 (/tmp/b2-perf/burn)\n"
	                 "   my long comm  20891  8428.966678:   10101010 cpu-clock:ppp:      55c8658b626a "
	                 "leaf_a.constprop.0+0x2a (/tmp/b2-perf/burn)\n";
	assert_int_equal(sonde_profile_format_detect(in, strlen(in)), SONDE_PROFILE_PERF_SCRIPT);
	sonde_stacktab *t = read_ok(in, true);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_folded_write(t, 0, &out), 0);
	assert_string_equal(out.data, "burn-20888;leaf_a.constprop.0 1\n"
	                              "my long comm-20891;leaf_a.constprop.0 1\n"
	                              "worker-20891;leaf_a.constprop.0 1\n");
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

static void expect_error(const char *in, size_t line, const char *field, const char *msg_part)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_profile_read(t, SONDE_PROFILE_PERF_SCRIPT, in, strlen(in), NULL, &err),
	                 SONDE_EPARSE);
	if (err.line != line || strcmp(err.field, field) != 0 || !strstr(err.msg, msg_part))
		fail_msg("got line %zu field '%s' message '%s'; want line %zu field '%s' with '%s'", err.line,
		         err.field, err.msg, line, field, msg_part);
	assert_int_equal(sonde_stacktab_frames_count(t), 0);
	sonde_stacktab_free(t);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("\t 1234 main (/bin/x)\n", 1, "header", "COMM PID[/TID]");
	expect_error("noheader\n\t1 main (/x)\n", 1, "header", "COMM PID[/TID]");
	expect_error("a 1 1.0: x:\n\tzz main (/x)\n", 2, "address", "ADDRESS SYMBOL (MODULE)");
	expect_error("a 1 1.0: x:\n\t11112222333344445 main (/x)\n", 2, "address", "longer than 64 bits");
	expect_error("# only a header\n", 1, "header", "found none");
	expect_error("", 1, "header", "found none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frames),
	        cmocka_unit_test(test_threads),
	        cmocka_unit_test(test_without_call_chains),
	        cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
