/* flame_diff_test.c - profile_diff: self and total shares per function (recursion counted
 * once per stack, thread markers not functions, functions merged by name across modules),
 * normalisation by each profile's total, and the order of rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "profile_diff.h"
#include "profile_formats.h"

static sonde_stacktab *folded(const char *in, bool threads)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_profile_read_opts ro = {.threads = threads};
	sonde_wire_error err = {0};
	if (sonde_folded_read(t, in, strlen(in), &ro, &err) != 0)
		fail_msg("read: %s", err.msg);
	return t;
}

static const sonde_profile_delta *row(const sonde_profile_diff *d, const char *fn)
{
	for (size_t i = 0; i < sonde_profile_diff_count(d); i++)
		if (strcmp(sonde_profile_diff_row(d, i)->function, fn) == 0)
			return sonde_profile_diff_row(d, i);
	fail_msg("no row for %s", fn);
	return NULL;
}

static void near(double got, double want)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("got %.12f, want %.12f", got, want);
}

static void test_shares(void **state)
{
	(void)state;
	/* before: 100 samples; after: 200 (twice as long a recording). */
	sonde_stacktab *b = folded("t-1;main;f;f;f 30\nt-1;main;g 50\nt-2;main 20\n", true);
	sonde_stacktab *a = folded("t-1;main;f;f 40\nt-1;main;g 100\nmain;h_[k] 60\n", true);
	sonde_profile_diff *d = NULL;
	assert_int_equal(sonde_profile_diff_new(b, 0, a, 0, &d), 0);
	int64_t tb, ta;
	sonde_profile_diff_totals(d, &tb, &ta);
	assert_int_equal(tb, 100);
	assert_int_equal(ta, 200);
	/* f recurses: its total counts each stack once. */
	const sonde_profile_delta *f = row(d, "f");
	near(f->before_self, 0.30);
	near(f->before_total, 0.30);
	near(f->after_self, 0.20);
	near(f->after_total, 0.20);
	const sonde_profile_delta *m = row(d, "main");
	near(m->before_self, 0.20);
	near(m->after_self, 0.0);
	near(m->before_total, 1.0);
	near(m->after_total, 1.0);
	const sonde_profile_delta *h = row(d, "h");
	near(h->before_self, 0.0);
	near(h->after_self, 0.30);
	/* Thread markers are not functions. */
	for (size_t i = 0; i < sonde_profile_diff_count(d); i++)
		assert_true(strncmp(sonde_profile_diff_row(d, i)->function, "t-", 2) != 0);
	/* Order: h +30, main -20, f -10, g 0. */
	assert_string_equal(sonde_profile_diff_row(d, 0)->function, "h");
	assert_string_equal(sonde_profile_diff_row(d, 1)->function, "main");
	assert_string_equal(sonde_profile_diff_row(d, 2)->function, "f");
	assert_string_equal(sonde_profile_diff_row(d, 3)->function, "g");
	assert_null(sonde_profile_diff_row(d, 4));
	sonde_profile_diff_free(d);
	sonde_profile_diff_free(NULL);
	assert_int_equal(sonde_profile_diff_new(b, 3, a, 0, &d), -EINVAL);
	sonde_stacktab_free(a);
	sonde_stacktab_free(b);
}

static void test_same_name_across_modules(void **state)
{
	(void)state;
	sonde_stacktab *t = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	sonde_frame x1 = {.function = "memcpy", .module = "/lib/a.so"},
	            x2 = {.function = "memcpy", .module = "/lib/b.so"};
	uint32_t i1 = (uint32_t)sonde_stacktab_intern_frame(t, &x1),
	         i2 = (uint32_t)sonde_stacktab_intern_frame(t, &x2);
	sonde_stacktab_add(t, (uint32_t)sonde_stacktab_intern_stack(t, &i1, 1), 0, 3);
	sonde_stacktab_add(t, (uint32_t)sonde_stacktab_intern_stack(t, &i2, 1), 0, 1);
	sonde_stacktab *empty = sonde_stacktab_new();
	sonde_profile_diff *d = NULL;
	assert_int_equal(sonde_profile_diff_new(empty, 0, t, 0, &d), 0);
	assert_int_equal(sonde_profile_diff_count(d), 1);
	near(row(d, "memcpy")->after_self, 1.0);
	near(row(d, "memcpy")->before_self, 0.0);
	sonde_profile_diff_free(d);
	sonde_stacktab_free(empty);
	sonde_stacktab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_shares),
	        cmocka_unit_test(test_same_name_across_modules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
