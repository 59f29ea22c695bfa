/* stacktab_test.c - interning of frames and stacks, counts per sample type. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>

#include "stacktab.h"

static void test_frames_and_stacks_intern(void **state)
{
	(void)state;
	sonde_stacktab *t = sonde_stacktab_new();
	assert_non_null(t);
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	assert_int_equal(sonde_stacktab_add_type(t, "cpu", "nanoseconds"), 1);
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);

	sonde_frame main_f = {.function = "main", .file = "app.c", .module = "/bin/app", .line = 10};
	sonde_frame work_f = {.function = "work", .file = "app.c", .module = "/bin/app", .line = 20};
	sonde_frame work_inl = work_f;
	work_inl.inlined = true;
	int64_t m = sonde_stacktab_intern_frame(t, &main_f);
	int64_t w = sonde_stacktab_intern_frame(t, &work_f);
	int64_t wi = sonde_stacktab_intern_frame(t, &work_inl);
	assert_int_equal(m, 0);
	assert_int_equal(w, 1);
	assert_int_equal(wi, 2);
	/* Same content, different string storage: same id. */
	char fn[] = "work";
	sonde_frame again = work_f;
	again.function = fn;
	assert_int_equal(sonde_stacktab_intern_frame(t, &again), w);
	/* NULL strings mean "". */
	sonde_frame unknown = {.address = 0x1234};
	int64_t u = sonde_stacktab_intern_frame(t, &unknown);
	assert_string_equal(sonde_stacktab_frame(t, (uint32_t)u)->function, "");

	uint32_t s1[] = {(uint32_t)w, (uint32_t)m};
	uint32_t s2[] = {(uint32_t)m};
	int64_t a = sonde_stacktab_intern_stack(t, s1, 2);
	int64_t b = sonde_stacktab_intern_stack(t, s2, 1);
	assert_int_not_equal(a, b);
	assert_int_equal(sonde_stacktab_intern_stack(t, s1, 2), a);
	assert_int_equal(sonde_stacktab_intern_stack(t, s1, 1),
	                 sonde_stacktab_intern_stack(t, (uint32_t[]){(uint32_t)w}, 1));
	uint32_t bad[] = {999};
	assert_int_equal(sonde_stacktab_intern_stack(t, bad, 1), -EINVAL);

	assert_int_equal(sonde_stacktab_add(t, (uint32_t)a, 0, 7), 0);
	assert_int_equal(sonde_stacktab_add(t, (uint32_t)a, 0, 3), 0);
	assert_int_equal(sonde_stacktab_add(t, (uint32_t)b, 1, 1000), 0);
	assert_int_equal(sonde_stacktab_add(t, (uint32_t)b, 5, 1), -EINVAL);
	assert_int_equal(sonde_stacktab_count(t, (uint32_t)a, 0), 10);
	assert_int_equal(sonde_stacktab_count(t, (uint32_t)b, 1), 1000);
	assert_int_equal(sonde_stacktab_total(t, 0), 10);
	size_t n;
	const uint32_t *frames = sonde_stacktab_stack(t, (uint32_t)a, &n);
	assert_int_equal(n, 2);
	assert_int_equal(frames[0], w);
	assert_int_equal(frames[1], m);
	sonde_stacktab_free(t);
	sonde_stacktab_free(NULL);
}

static void test_many_stacks_grow(void **state)
{
	(void)state;
	sonde_stacktab *t = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	char name[32];
	uint32_t ids[64];
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		sonde_frame f = {.function = name, .module = "m"};
		ids[i] = (uint32_t)sonde_stacktab_intern_frame(t, &f);
	}
	/* 20,000 distinct stacks; each added twice. */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < 20000; i++) {
			uint32_t st[4] = {ids[i % 64], ids[(i / 64) % 64], ids[(i / 4096) % 64], ids[63]};
			int64_t id = sonde_stacktab_intern_stack(t, st, 4);
			assert_true(id >= 0);
			assert_int_equal(sonde_stacktab_add(t, (uint32_t)id, 0, 1), 0);
		}
	}
	assert_int_equal(sonde_stacktab_stacks_count(t), 20000);
	assert_int_equal(sonde_stacktab_frames_count(t), 64);
	assert_int_equal(sonde_stacktab_total(t, 0), 40000);
	sonde_stacktab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_frames_and_stacks_intern),
	        cmocka_unit_test(test_many_stacks_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
