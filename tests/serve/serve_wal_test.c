/*
 * serve_wal_test.c - the write-ahead journal of sonde serve (serve_journal.h): records
 * read back as written, rotation to a new segment, segments unlinked once their records
 * are committed (and only then), a reopened journal listing what was left and numbering
 * after it, a torn tail and a bad CRC found at their offsets, the span bound.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve.h"
#include "serve_journal.h"
#include "sonde/status.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sonde_journal_test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	rmdir(dir); /* sonde__journal_open creates it */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		char p[600];
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
	return 0;
}

static size_t count_segments(void)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "journal-", 8) == 0;
	closedir(d);
	return n;
}

static uint8_t *slurp(uint64_t seq, sonde__journal *j, size_t *len)
{
	char path[600];
	sonde__journal_path(j, seq, path, sizeof path);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static void test_write_read(void **state)
{
	(void)state;
	sonde__journal *j;
	char err[300];
	assert_int_equal(sonde__journal_open(dir, 0, false, &j, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	sonde__journal *j2;
	assert_int_equal(sonde__journal_open(dir, 0, false, &j2, err, sizeof err), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	sonde__journal_span span;
	memset(&span, 0, sizeof span);
	const char *bodies[3] = {"{\"resourceSpans\":[]}", "", "\x0a\x00\x01\x02"};
	size_t lens[3] = {strlen(bodies[0]), 0, 4};
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		        sonde__journal_append(j, (unsigned)i, (unsigned)(i & 1), bodies[i], lens[i], &span),
		        0);
	assert_int_equal(span.n, 1);
	assert_int_equal(span.seg[0].records, 3);
	assert_int_equal(sonde__journal_backlog(j), 3 * SONDE__JOURNAL_HEADER + lens[0] + lens[2]);
	size_t len;
	uint8_t *data = slurp(span.seg[0].seq, j, &len);
	size_t off = 0;
	for (int i = 0; i < 3; i++) {
		sonde__journal_rec rec;
		bool torn;
		char why[300];
		assert_int_equal(sonde__journal_next(data, len, &off, &rec, &torn, why, sizeof why), 1);
		assert_int_equal(rec.route, (unsigned)i);
		assert_int_equal(rec.enc, (unsigned)(i & 1));
		assert_int_equal(rec.len, lens[i]);
		assert_memory_equal(rec.body, bodies[i], lens[i]);
	}
	sonde__journal_rec rec;
	bool torn;
	char why[300];
	assert_int_equal(sonde__journal_next(data, len, &off, &rec, &torn, why, sizeof why), 0);
	free(data);
	/* Not committed: the segment stays when the journal is closed. */
	sonde__journal_close(j);
	assert_int_equal(count_segments(), 1);
}

static void test_rotate_and_unlink(void **state)
{
	(void)state;
	sonde__journal *j;
	char err[300], body[50];
	memset(body, 'x', sizeof body);
	/* 70-byte records, 100-byte segments: one record a segment. */
	assert_int_equal(sonde__journal_open(dir, 100, true, &j, err, sizeof err), 0);
	sonde__journal_span a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	assert_int_equal(sonde__journal_append(j, 0, 0, body, sizeof body, &a), 0);
	assert_int_equal(sonde__journal_append(j, 0, 0, body, sizeof body, &a), 0);
	assert_int_equal(sonde__journal_sync(j), 0);
	assert_int_equal(sonde__journal_append(j, 0, 0, body, sizeof body, &b), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(b.n, 1);
	assert_true(a.seg[0].seq < a.seg[1].seq && a.seg[1].seq < b.seg[0].seq);
	assert_int_equal(count_segments(), 3);
	/* b's segment is the active one: it stays until the journal closes. */
	sonde__journal_done(j, &b);
	assert_int_equal(count_segments(), 3);
	sonde__journal_done(j, &a);
	assert_int_equal(count_segments(), 1);
	assert_int_equal(sonde__journal_backlog(j), 0);
	sonde__journal_close(j);
	assert_int_equal(count_segments(), 0);
}

/* A journal of 30-byte segments holding n records of 10 bytes, all in *s: one record a
 * segment (a record and its header outgrow one). */
static sonde__journal *open_filled(sonde__journal_span *s, int n)
{
	sonde__journal *j;
	char err[300];
	assert_int_equal(sonde__journal_open(dir, 30, false, &j, err, sizeof err), 0);
	memset(s, 0, sizeof *s);
	for (int i = 0; i < n; i++)
		assert_int_equal(sonde__journal_append(j, 0, 0, "0123456789", 10, s), 0);
	return j;
}

static void test_reopen_lists_and_numbers_after(void **state)
{
	(void)state;
	char err[300];
	sonde__journal_span s;
	sonde__journal *j = open_filled(&s, 3);
	sonde__journal_close(j);
	assert_int_equal(count_segments(), 3);
	assert_int_equal(sonde__journal_open(dir, 30, false, &j, err, sizeof err), 0);
	uint64_t *seqs;
	size_t n;
	assert_int_equal(sonde__journal_segments(j, &seqs, &n, err, sizeof err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(seqs[0], s.seg[0].seq);
	assert_int_equal(seqs[2], s.seg[2].seq);
	sonde__journal_span t;
	memset(&t, 0, sizeof t);
	assert_int_equal(sonde__journal_append(j, 0, 0, "x", 1, &t), 0);
	assert_true(t.seg[0].seq > seqs[2]);
	free(seqs);
	sonde__journal_done(j, &t);
	sonde__journal_close(j);
	assert_int_equal(count_segments(), 3);
}

static void test_span_bound(void **state)
{
	(void)state;
	sonde__journal_span s;
	sonde__journal *j = open_filled(&s, SONDE__JOURNAL_SEGS_MAX);
	uint64_t before = sonde__journal_backlog(j);
	assert_int_equal(sonde__journal_append(j, 0, 0, "0123456789", 10, &s), -E2BIG);
	assert_int_equal(s.n, SONDE__JOURNAL_SEGS_MAX);
	assert_int_equal(sonde__journal_backlog(j), before);
	sonde__journal_done(j, &s);
	sonde__journal_close(j);
	assert_int_equal(count_segments(), 0);
}

/* Three records of 30-byte bodies in one segment; returns its bytes. */
static uint8_t *three_records(size_t *len)
{
	sonde__journal *j;
	char err[300];
	assert_int_equal(sonde__journal_open(dir, 0, false, &j, err, sizeof err), 0);
	sonde__journal_span s;
	memset(&s, 0, sizeof s);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sonde__journal_append(j, 2, 1, "abcdefghijklmnopqrstuvwxyz0123", 30, &s), 0);
	uint8_t *data = slurp(s.seg[0].seq, j, len);
	sonde__journal_close(j);
	return data;
}

static void test_torn_tail(void **state)
{
	(void)state;
	size_t len;
	uint8_t *data = three_records(&len);
	assert_int_equal(len, 150);
	size_t cuts[2] = {140, 110}; /* mid-body, mid-header */
	for (int c = 0; c < 2; c++) {
		size_t off = 0;
		sonde__journal_rec rec;
		bool torn;
		char why[300];
		assert_int_equal(sonde__journal_next(data, cuts[c], &off, &rec, &torn, why, sizeof why), 1);
		assert_int_equal(sonde__journal_next(data, cuts[c], &off, &rec, &torn, why, sizeof why), 1);
		assert_int_equal(off, 100);
		assert_int_equal(sonde__journal_next(data, cuts[c], &off, &rec, &torn, why, sizeof why),
		                 SONDE_EPARSE);
		assert_true(torn);
		assert_int_equal(off, 100);
		assert_non_null(strstr(why, "offset 100: expected a"));
	}
	free(data);
}

static void test_bad_crc_and_magic(void **state)
{
	(void)state;
	size_t len;
	uint8_t *data = three_records(&len);
	data[50 + SONDE__JOURNAL_HEADER + 3] ^= 0x20; /* the second record's body */
	size_t off = 0;
	sonde__journal_rec rec;
	bool torn;
	char why[300];
	assert_int_equal(sonde__journal_next(data, len, &off, &rec, &torn, why, sizeof why), 1);
	assert_int_equal(sonde__journal_next(data, len, &off, &rec, &torn, why, sizeof why), SONDE_EPARSE);
	assert_false(torn);
	assert_int_equal(off, 50);
	assert_non_null(strstr(why, "offset 50: bad CRC"));
	data[50] = 'X';
	assert_int_equal(sonde__journal_next(data, len, &off, &rec, &torn, why, sizeof why), SONDE_EPARSE);
	assert_non_null(strstr(why, "offset 50: expected the record magic"));
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rotate_and_unlink, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reopen_lists_and_numbers_after, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_span_bound, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_crc_and_magic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
