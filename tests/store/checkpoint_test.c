/*
 * checkpoint_test.c - SONDE_STORE_BG_CHECKPOINT: while a writer keeps appending, the
 * store's own thread copies the write-ahead log into the database (the main file grows
 * with the store still open, which SQLite's automatic checkpoints at this store's
 * threshold would not do for this much data), the log does not grow with the data (it is
 * started over although the writer never pauses), and every record is there after close
 * and reopen. Without the flag the main file stays as it was until close.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define STORE_TEST_NAME "checkpoint-test"
#include "../lib/store_tmpdir.h"

#define T0 1700000000000000000ull

enum { BATCHES = 32, PER_BATCH = 2000, BODY = 300 };

/* Appends batch k: PER_BATCH log records with bodies of BODY bytes that differ. */
static void append_batch(sonde_store *s, int k)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res = sonde_batch_new_resource(b);
	res->attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
	res->attrs.count = 1;
	res->attrs.items[0].key = sonde_batch_intern(b, "service.name", 12);
	res->attrs.items[0].value.kind = SONDE_VAL_STRING;
	res->attrs.items[0].value.u.str = sonde_batch_strdup(b, "svc", 3);
	sonde_scope *sc = sonde_batch_new_scope(b);
	char body[BODY + 1];
	uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
	for (int i = 0; i < PER_BATCH; i++) {
		sonde_log_data *lg = sonde_batch_add_log(b, res, sc);
		lg->time_ns = T0 + (uint64_t)(k * PER_BATCH + i) * 1000;
		lg->severity_number = 9;
		for (int j = 0; j < BODY; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			body[j] = (char)('a' + x % 26);
		}
		lg->body.kind = SONDE_VAL_STRING;
		lg->body.u.str = sonde_batch_strdup(b, body, BODY);
	}
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_batch_free(b);
}

static uint64_t main_file_bytes(sonde_store *s)
{
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	return info.size_bytes - info.wal_bytes;
}

static void check_all_there(int batches)
{
	sonde_store *s = NULL;
	char msg[256];
	assert_int_equal(sonde_store_open(path, SONDE_STORE_READONLY, &s, msg, sizeof msg), 0);
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.logs, (uint64_t)batches * PER_BATCH);
	sonde_store_close(s);
}

static void run(unsigned flags, bool want_copied)
{
	sonde_store *s = NULL;
	char msg[256];
	assert_int_equal(sonde_store_open(path, flags, &s, msg, sizeof msg), 0);
	uint64_t before = main_file_bytes(s);
	int k = 0;
	for (; k < BATCHES; k++)
		append_batch(s, k);
	/* The data written is several times the thread's threshold (4 MB): the thread has
	 * checkpointed at least once, and the log has started over (its file cut back) rather
	 * than grown with everything written. On a loaded machine the thread may not have
	 * kept up with a writer that never paused: give it pauses, each followed by a batch
	 * (a log starts over at a commit that writes). */
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	uint64_t after = main_file_bytes(s);
	for (int i = 0;
	     want_copied && i < 200 &&
	     (after < before + (4u << 20) || info.wal_bytes >= (uint64_t)BATCHES * PER_BATCH * BODY);
	     i++) {
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		append_batch(s, k++);
		assert_int_equal(sonde_store_info_get(s, &info), 0);
		after = main_file_bytes(s);
	}
	if (want_copied) {
		assert_true(after >= before + (4u << 20));
		assert_true(info.wal_bytes < (uint64_t)BATCHES * PER_BATCH * BODY);
	} else {
		assert_true(after < before + (1u << 20));
	}
	sonde_store_close(s);
	check_all_there(k);
}

static void test_background_checkpoints(void **state)
{
	(void)state;
	run(SONDE_STORE_BG_CHECKPOINT, true);
}

static void test_without_flag_main_file_waits(void **state)
{
	(void)state;
	run(0, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_background_checkpoints, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_without_flag_main_file_waits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
