/*
 * writeback_test.c - the SQLite VFS that starts write-back early (store_writeback.c):
 * a WAL database written through it, in transactions of several of its write-back chunks,
 * read at the same time by a connection on the default VFS, checkpointed and truncated,
 * reads back whole and passes SQLite's integrity check on the default VFS; the VFS's own
 * descriptors (one per database and log file written) are there while the file is open
 * and are closed with it, and a reader has none.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define STORE_TEST_NAME "writeback-test"
#include "../lib/store_tmpdir.h"

enum { ROWS = 24000, BODY = 1000 };

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : sqlite3_errstr(rc));
}

static long long count_rows(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(length(body)) FROM t", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	if (n)
		assert_int_equal(sqlite3_column_int64(st, 1), n * BODY);
	sqlite3_finalize(st);
	return n;
}

static void test_write_read_check(void **state)
{
	(void)state;
	const char *vfs = sonde__sqlite_writeback_vfs();
	assert_non_null(vfs);
	assert_non_null(sqlite3_vfs_find(vfs));
	int fds0 = open_fds();
	sqlite3 *db, *rd;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
	                 SQLITE_OK);
	exec_ok(db, "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	            " PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB)");
	exec_ok(db, "INSERT INTO t(body) VALUES(zeroblob(0)); DELETE FROM t");
	/* SQLite's descriptors of the database, its log and their shared memory, and the
	 * VFS's own of the database and the log, both written. */
	assert_int_equal(open_fds() - fds0, 3 + 2);
	assert_int_equal(sqlite3_open_v2(path, &rd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(count_rows(rd), 0);

	sqlite3_stmt *ins;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES(randomblob(?1))", -1, &ins, NULL),
	                 SQLITE_OK);
	for (int tx = 0; tx < 4; tx++) {
		exec_ok(db, "BEGIN");
		for (int i = 0; i < ROWS / 4; i++) {
			sqlite3_bind_int(ins, 1, BODY);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
		}
		exec_ok(db, "COMMIT");
		/* The reader on the default VFS shares the log index with the writer. */
		assert_int_equal(count_rows(rd), (long long)(tx + 1) * ROWS / 4);
	}
	sqlite3_finalize(ins);
	sqlite3_close(rd);
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_int_equal(count_rows(db), ROWS);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(open_fds(), fds0);

	/* Read back on the default VFS. */
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(count_rows(db), ROWS);
	sqlite3_stmt *chk;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &chk, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(chk), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(chk, 0), "ok");
	sqlite3_finalize(chk);
	sqlite3_close(db);

	/* Read-only, through the VFS and through the default one: the same descriptors. */
	int fds_ro[2];
	for (int k = 0; k < 2; k++) {
		int fds1 = open_fds();
		assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, k ? vfs : NULL), SQLITE_OK);
		assert_int_equal(count_rows(db), ROWS);
		fds_ro[k] = open_fds() - fds1;
		sqlite3_close(db);
		assert_int_equal(open_fds(), fds1);
	}
	assert_int_equal(fds_ro[1], fds_ro[0]);
}

static void test_missing_file(void **state)
{
	(void)state;
	char absent[200];
	snprintf(absent, sizeof absent, "%s/absent/x.db", dir);
	sqlite3 *db = NULL;
	int fds0 = open_fds();
	int rc = sqlite3_open_v2(absent, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                         sonde__sqlite_writeback_vfs());
	assert_int_equal(rc, SQLITE_CANTOPEN);
	sqlite3_close(db);
	assert_int_equal(open_fds(), fds0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_write_read_check, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
