/* pprof_test.c - pprof: write -> read gives the same stack table (every frame field,
 * inlined frames, threads, several sample types, gzipped and raw), what the writer puts
 * where, and the reader's errors on damaged input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbwire.h"
#include "profile_formats.h"
#include "sonde/status.h"

static uint32_t frame(sonde_stacktab *t, const char *fn, const char *file, const char *mod, uint64_t addr,
                      uint32_t line, bool inlined)
{
	sonde_frame f = {.function = fn,
	                 .file = file,
	                 .module = mod,
	                 .address = addr,
	                 .line = line,
	                 .inlined = inlined};
	int64_t id = sonde_stacktab_intern_frame(t, &f);
	assert_true(id >= 0);
	return (uint32_t)id;
}

static void add(sonde_stacktab *t, const uint32_t *fr, size_t n, int64_t samples, int64_t cpu)
{
	int64_t s = sonde_stacktab_intern_stack(t, fr, n);
	assert_true(s >= 0);
	sonde_stacktab_add(t, (uint32_t)s, 0, samples);
	sonde_stacktab_add(t, (uint32_t)s, 1, cpu);
}

/* A profile with everything pprof can carry. */
static sonde_stacktab *sample_profile(void)
{
	sonde_stacktab *t = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	assert_int_equal(sonde_stacktab_add_type(t, "cpu", "nanoseconds"), 1);
	uint32_t main_f = frame(t, "main", "app.c", "/bin/app", 0x1100, 10, false);
	uint32_t run = frame(t, "run", "app.c", "/bin/app", 0x1200, 20, false);
	/* memcpy_small inlined into copy inlined into run at 0x1234: one location. */
	uint32_t inl1 = frame(t, "memcpy_small", "string.h", "/bin/app", 0x1234, 5, true);
	uint32_t inl2 = frame(t, "copy", "app.c", "/bin/app", 0x1234, 31, true);
	uint32_t run2 = frame(t, "run", "app.c", "/bin/app", 0x1234, 22, false);
	uint32_t libc = frame(t, "write", "", "/usr/lib/libc.so.6", 0x9f00, 0, false);
	uint32_t unknown = frame(t, "", "", "/usr/lib/libfoo.so", 0x4242, 0, false);
	uint32_t kernel = frame(t, "ksys_write", "", SONDE_MODULE_KERNEL, 0, 0, false);
	uint32_t bare = frame(t, "", "", "", 0xdead, 0, false);
	int64_t th = sonde_stacktab_intern_thread(t, "worker", 77);
	assert_true(th >= 0);
	add(t, (uint32_t[]){run, main_f}, 2, 3, 3000);
	add(t, (uint32_t[]){inl1, inl2, run2, main_f}, 4, 5, 5000);
	add(t, (uint32_t[]){kernel, libc, run, main_f}, 4, 2, 2000);
	add(t, (uint32_t[]){unknown, run, main_f, (uint32_t)th}, 4, 7, 7000);
	add(t, (uint32_t[]){bare}, 1, 1, 1000);
	add(t, NULL, 0, 4, 4000);
	/* A stack with zero counts is not written. */
	add(t, (uint32_t[]){libc}, 1, 0, 0);
	return t;
}

static sonde_stacktab *read_back(const sonde_buf *b)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_wire_error err = {0};
	int rc = sonde_pprof_read(t, b->data, b->len, NULL, &err);
	if (rc != 0)
		fail_msg("read: %d at %zu %s: %s", rc, err.offset, err.field, err.msg);
	return t;
}

static void test_round_trip(void **state)
{
	(void)state;
	sonde_stacktab *t = sample_profile();
	for (int raw = 0; raw < 2; raw++) {
		sonde_buf out = SONDE_BUF_INIT;
		sonde_profile_write_opts wo = {.pprof_raw = raw,
		                               .time_ns = 1700000000000000000,
		                               .duration_ns = 5000000000,
		                               .period = 10000000,
		                               .period_type = "cpu",
		                               .period_unit = "nanoseconds"};
		assert_int_equal(sonde_pprof_write(t, &wo, &out), 0);
		const unsigned char *u = (const unsigned char *)out.data;
		if (raw)
			assert_int_equal(u[0], 0x0a); /* sample_type first */
		else
			assert_true(u[0] == 0x1f && u[1] == 0x8b);
		assert_int_equal(sonde_profile_format_detect(out.data, out.len), SONDE_PROFILE_PPROF);
		sonde_stacktab *back = read_back(&out);
		char why[256];
		if (!sonde_stacktab_equal(t, back, why, sizeof(why)))
			fail_msg("raw=%d: %s", raw, why);
		/* And once more: the table read back writes the same bytes. */
		sonde_buf again = SONDE_BUF_INIT;
		assert_int_equal(sonde_pprof_write(back, &wo, &again), 0);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.data, out.data, out.len);
		sonde_buf_release(&again);
		sonde_buf_release(&out);
		sonde_stacktab_free(back);
	}
	sonde_stacktab_free(t);
}

/* The structure of what is written: one location for an inlined run, a "thread" label,
 * mappings per module, functions per (name, file). */
static void test_written_structure(void **state)
{
	(void)state;
	sonde_stacktab *t = sample_profile();
	sonde_buf out = SONDE_BUF_INIT;
	sonde_profile_write_opts wo = {.pprof_raw = true};
	assert_int_equal(sonde_pprof_write(t, &wo, &out), 0);
	sonde_pb_reader r;
	sonde_pb_reader_init(&r, out.data, out.len);
	uint32_t field, wt;
	size_t counts[16] = {0};
	size_t max_lines = 0;
	bool thread_label = false;
	while (sonde_pb_next_field(&r, &field, &wt) > 0) {
		assert_int_equal(wt, SONDE_PB_LEN);
		sonde_pb_reader sub;
		assert_int_equal(sonde_pb_read_submsg(&r, &sub), 0);
		counts[field]++;
		if (field != 2 && field != 4)
			continue;
		uint32_t f2, w2;
		size_t lines = 0;
		while (sonde_pb_next_field(&sub, &f2, &w2) > 0) {
			if (field == 4 && f2 == 4)
				lines++;
			if (field == 2 && f2 == 3)
				thread_label = true;
			assert_int_equal(sonde_pb_skip(&sub, w2), 0);
		}
		if (lines > max_lines)
			max_lines = lines;
	}
	assert_int_equal(counts[1], 2); /* sample types */
	assert_int_equal(counts[2], 6); /* samples: the zero one is left out */
	assert_int_equal(counts[3], 4); /* mappings: app, libc, libfoo, kernel */
	assert_int_equal(counts[4],
	                 7); /* locations: main, run, the inlined run, write, libfoo, kernel, bare */
	assert_int_equal(counts[5], 6); /* functions: main, run, memcpy_small, copy, write, ksys_write */
	assert_int_equal(max_lines, 3); /* the inlined run */
	assert_true(thread_label);
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

/* Folded text through pprof comes back the same. */
static void test_folded_through_pprof(void **state)
{
	(void)state;
	const char *in = "main;run;memcpy_[i];sys_write_[k] 4\nmain;run;work 10\nworker-3;loop;jit_[j] 2\n";
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_folded_read(t, in, strlen(in), NULL, &err), 0);
	sonde_buf pb = SONDE_BUF_INIT, folded = SONDE_BUF_INIT;
	assert_int_equal(sonde_pprof_write(t, NULL, &pb), 0);
	sonde_stacktab *back = read_back(&pb);
	assert_int_equal(sonde_folded_write(back, 0, &folded), 0);
	assert_string_equal(folded.data, in);
	sonde_buf_release(&pb);
	sonde_buf_release(&folded);
	sonde_stacktab_free(back);
	sonde_stacktab_free(t);
}

/* A hand-made Profile with one sample of one location. Fields past the basics are
 * spliced in by the callers to break it. */
static void build(sonde_buf *out, uint64_t loc_ref, uint64_t fn_ref, uint64_t str_idx, int nvalues,
                  bool empty_first_string)
{
	sonde_pb_writer w;
	sonde_pb_writer_init(&w, out);
	sonde_pb_open(&w, 1);
	sonde_pb_put_varint_field(&w, 1, 1);
	sonde_pb_put_varint_field(&w, 2, 2);
	sonde_pb_close(&w);
	sonde_pb_open(&w, 2);
	sonde_pb_put_varint_field(&w, 1, loc_ref);
	for (int i = 0; i < nvalues; i++)
		sonde_pb_put_varint_field(&w, 2, 9);
	sonde_pb_close(&w);
	sonde_pb_open(&w, 4);
	sonde_pb_put_varint_field(&w, 1, 1);
	sonde_pb_put_varint_field(&w, 3, 0x400);
	sonde_pb_open(&w, 4);
	sonde_pb_put_varint_field(&w, 1, fn_ref);
	sonde_pb_put_varint_field(&w, 2, 12);
	sonde_pb_close(&w);
	sonde_pb_close(&w);
	sonde_pb_open(&w, 5);
	sonde_pb_put_varint_field(&w, 1, 1);
	sonde_pb_put_varint_field(&w, 2, str_idx);
	sonde_pb_close(&w);
	sonde_pb_put_bytes_field(&w, 6, empty_first_string ? "" : "x", empty_first_string ? 0 : 1);
	sonde_pb_put_bytes_field(&w, 6, "samples", 7);
	sonde_pb_put_bytes_field(&w, 6, "count", 5);
	sonde_pb_put_bytes_field(&w, 6, "handler", 7);
}

static void expect_fail(const sonde_buf *b, const char *field, const char *msg_part)
{
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_profile_read(t, SONDE_PROFILE_PPROF, b->data, b->len, NULL, &err),
	                 SONDE_EPARSE);
	if (strcmp(err.field, field) != 0 || !strstr(err.msg, msg_part))
		fail_msg("got field '%s' message '%s', want '%s' and '%s'", err.field, err.msg, field,
		         msg_part);
	assert_int_equal(sonde_stacktab_frames_count(t), 0);
	sonde_stacktab_free(t);
}

static void test_hand_made_and_errors(void **state)
{
	(void)state;
	sonde_buf b = SONDE_BUF_INIT;
	build(&b, 1, 1, 3, 1, true);
	sonde_stacktab *t = read_back(&b);
	assert_int_equal(sonde_stacktab_stacks_count(t), 1);
	size_t n;
	const uint32_t *fr = sonde_stacktab_stack(t, 0, &n);
	assert_int_equal(n, 1);
	const sonde_frame *f = sonde_stacktab_frame(t, fr[0]);
	assert_string_equal(f->function, "handler");
	assert_int_equal(f->line, 12);
	assert_int_equal(f->address, 0x400);
	assert_int_equal(sonde_stacktab_total(t, 0), 9);
	sonde_stacktab_free(t);

	sonde_buf_reset(&b);
	build(&b, 2, 1, 3, 1, true);
	expect_fail(&b, "sample[0].location_id[0]", "names no location");
	sonde_buf_reset(&b);
	build(&b, 1, 5, 3, 1, true);
	expect_fail(&b, "location[0].line[0]", "function_id names no function");
	sonde_buf_reset(&b);
	build(&b, 1, 1, 9, 1, true);
	expect_fail(&b, "function[0]", "string index past the end");
	sonde_buf_reset(&b);
	build(&b, 1, 1, 3, 2, true);
	expect_fail(&b, "sample[0]", "expected 1 values (one per sample_type), found 2");
	sonde_buf_reset(&b);
	build(&b, 1, 1, 3, 1, false);
	expect_fail(&b, "string_table[0]", "expected the empty string");
	/* Truncated anywhere: an error, never a crash. */
	sonde_buf_reset(&b);
	build(&b, 1, 1, 3, 1, true);
	for (size_t cut = 1; cut < b.len; cut++) {
		sonde_stacktab *c = sonde_stacktab_new();
		sonde_wire_error err = {0};
		int rc = sonde_pprof_read(c, b.data, cut, NULL, &err);
		assert_true(rc == 0 || rc == SONDE_EPARSE);
		sonde_stacktab_free(c);
	}
	sonde_buf_release(&b);
}

static void test_gzip_errors(void **state)
{
	(void)state;
	sonde_stacktab *t = sample_profile();
	sonde_buf gz = SONDE_BUF_INIT;
	assert_int_equal(sonde_pprof_write(t, NULL, &gz), 0);
	sonde_stacktab_free(t);
	sonde_stacktab *c = sonde_stacktab_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_pprof_read(c, gz.data, gz.len / 2, NULL, &err), SONDE_EPARSE);
	assert_string_equal(err.field, "gzip");
	gz.data[gz.len / 2] ^= 0x55;
	sonde_stacktab_clear(c);
	int rc = sonde_pprof_read(c, gz.data, gz.len, NULL, &err);
	assert_true(rc == SONDE_EPARSE);
	gz.data[gz.len / 2] ^= 0x55;
	sonde_stacktab_clear(c);
	sonde_profile_read_opts small = {.max_inflated_bytes = 64};
	assert_int_equal(sonde_pprof_read(c, gz.data, gz.len, &small, &err), SONDE_EPARSE);
	if (!strstr(err.msg, "inflates to more than 64 bytes"))
		fail_msg("message: %s", err.msg);
	sonde_stacktab_free(c);
	sonde_buf_release(&gz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_trip),           cmocka_unit_test(test_written_structure),
	        cmocka_unit_test(test_folded_through_pprof), cmocka_unit_test(test_hand_made_and_errors),
	        cmocka_unit_test(test_gzip_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
