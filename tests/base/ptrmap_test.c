/* ptrmap_test.c - the pointer-keyed hash map: lookups, keys that differ in one part, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "ptrmap.h"

enum { N = 1000 };

/* Distinct addresses to use as keys and values. */
static char names[N], objs[N];

static void test_empty(void **state)
{
	(void)state;
	sonde_ptrmap zeroed, m;
	memset(&zeroed, 0, sizeof(zeroed));
	sonde_ptrmap_init(&m);
	sonde_ptrmap_key k = {names, NULL, 0};
	assert_null(sonde_ptrmap_find(&zeroed, k));
	assert_null(sonde_ptrmap_find(&m, k));
	assert_null(sonde_ptrmap_find(&m, (sonde_ptrmap_key){NULL, NULL, 0}));
	sonde_ptrmap_release(&m);
	sonde_ptrmap_release(NULL);
}

/* Keys equal but for one part are different keys; NULL parts are ordinary values. */
static void test_key_parts(void **state)
{
	(void)state;
	sonde_ptrmap m;
	sonde_ptrmap_init(&m);
	const sonde_ptrmap_key keys[] = {
	        {NULL, NULL, 0},       {names, NULL, 0},      {NULL, names, 0},
	        {names, names + 1, 0}, {names + 1, names, 0}, {names, names + 1, 7},
	};
	const size_t n = sizeof(keys) / sizeof(keys[0]);
	for (size_t i = 0; i < n; i++) {
		assert_null(sonde_ptrmap_find(&m, keys[i]));
		assert_int_equal(sonde_ptrmap_add(&m, keys[i], &objs[i]), 0);
	}
	assert_int_equal(m.count, n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(sonde_ptrmap_find(&m, keys[i]), &objs[i]);
	assert_null(sonde_ptrmap_find(&m, (sonde_ptrmap_key){names, names + 1, 8}));
	assert_null(sonde_ptrmap_find(&m, (sonde_ptrmap_key){names + 2, NULL, 0}));
	sonde_ptrmap_release(&m);
	assert_null(m.slots);
	assert_int_equal(m.count, 0);
}

/* Many keys: the table grows past half full and keeps every entry. */
static void test_growth(void **state)
{
	(void)state;
	sonde_ptrmap m;
	sonde_ptrmap_init(&m);
	for (size_t i = 0; i < N; i++) {
		sonde_ptrmap_key k = {&names[i], i % 3 ? NULL : &names[N - 1 - i], i / 7};
		assert_int_equal(sonde_ptrmap_add(&m, k, &objs[i]), 0);
		assert_true(m.count * 2 <= m.mask + 1);
	}
	assert_int_equal(m.count, N);
	for (size_t i = 0; i < N; i++) {
		sonde_ptrmap_key k = {&names[i], i % 3 ? NULL : &names[N - 1 - i], i / 7};
		if (sonde_ptrmap_find(&m, k) != &objs[i])
			fail_msg("key %zu: got %p, want %p", i, sonde_ptrmap_find(&m, k), (void *)&objs[i]);
		k.n++;
		if (sonde_ptrmap_find(&m, k))
			fail_msg("key %zu with n + 1 found", i);
	}
	/* Released, the map is empty and usable again. */
	sonde_ptrmap_release(&m);
	assert_null(sonde_ptrmap_find(&m, (sonde_ptrmap_key){&names[0], &names[N - 1], 0}));
	assert_int_equal(sonde_ptrmap_add(&m, (sonde_ptrmap_key){&names[0], NULL, 0}, &objs[0]), 0);
	assert_ptr_equal(sonde_ptrmap_find(&m, (sonde_ptrmap_key){&names[0], NULL, 0}), &objs[0]);
	sonde_ptrmap_release(&m);
}

/* A NULL value would read as an empty slot: refused, and the map is unchanged. */
static void test_null_value(void **state)
{
	(void)state;
	sonde_ptrmap m;
	sonde_ptrmap_init(&m);
	assert_int_equal(sonde_ptrmap_add(&m, (sonde_ptrmap_key){names, NULL, 0}, NULL), -EINVAL);
	assert_null(m.slots);
	assert_int_equal(sonde_ptrmap_add(&m, (sonde_ptrmap_key){names, NULL, 0}, objs), 0);
	assert_int_equal(sonde_ptrmap_add(&m, (sonde_ptrmap_key){names + 1, NULL, 0}, NULL), -EINVAL);
	assert_int_equal(m.count, 1);
	assert_null(sonde_ptrmap_find(&m, (sonde_ptrmap_key){names + 1, NULL, 0}));
	assert_ptr_equal(sonde_ptrmap_find(&m, (sonde_ptrmap_key){names, NULL, 0}), objs);
	sonde_ptrmap_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty),
	        cmocka_unit_test(test_key_parts),
	        cmocka_unit_test(test_growth),
	        cmocka_unit_test(test_null_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
