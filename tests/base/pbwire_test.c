/* pbwire_test.c - protobuf wire helpers: varints at their edges, bad input, zigzag, tags,
 * skipping, and nested messages whose lengths need one, two and three bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pbwire.h"
#include "sonde/status.h"

static void expect_bytes(const sonde_buf *b, const uint8_t *want, size_t n)
{
	if (b->len != n || memcmp(b->data, want, n) != 0) {
		fprintf(stderr, "got  %zu bytes:", b->len);
		for (size_t i = 0; i < b->len; i++)
			fprintf(stderr, " %02x", (uint8_t)b->data[i]);
		fprintf(stderr, "\nwant %zu bytes:", n);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", want[i]);
		fprintf(stderr, "\n");
		fail();
	}
}

static void test_varint_encode_decode_edges(void **state)
{
	(void)state;
	static const struct {
		uint64_t v;
		uint8_t bytes[10];
		size_t n;
	} cases[] = {
	        {0, {0x00}, 1},
	        {1, {0x01}, 1},
	        {127, {0x7f}, 1},
	        {128, {0x80, 0x01}, 2},
	        {150, {0x96, 0x01}, 2},
	        {300, {0xac, 0x02}, 2},
	        {16383, {0xff, 0x7f}, 2},
	        {16384, {0x80, 0x80, 0x01}, 3},
	        {0xffffffffu, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
	        {(uint64_t)1 << 63, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10},
	        {UINT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sonde_buf b = SONDE_BUF_INIT;
		sonde_pb_put_varint(&b, cases[i].v);
		expect_bytes(&b, cases[i].bytes, cases[i].n);
		assert_int_equal(sonde_pb_varint_len(cases[i].v), cases[i].n);

		sonde_pb_reader r;
		sonde_pb_reader_init(&r, b.data, b.len);
		uint64_t v = 12345;
		assert_int_equal(sonde_pb_read_varint(&r, &v), 0);
		assert_true(v == cases[i].v);
		assert_ptr_equal(r.pos, r.end);
		sonde_buf_release(&b);
	}
	/* Non-minimal encodings of small numbers are accepted, as protobuf does. */
	static const uint8_t padded[] = {0x81, 0x80, 0x00};
	sonde_pb_reader r;
	sonde_pb_reader_init(&r, padded, sizeof(padded));
	uint64_t v;
	assert_int_equal(sonde_pb_read_varint(&r, &v), 0);
	assert_int_equal(v, 1);
}

static void test_varint_rejects_bad_input(void **state)
{
	(void)state;
	uint64_t v;
	sonde_pb_reader r;
	/* 11 bytes: longer than any 64-bit varint. */
	static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	sonde_pb_reader_init(&r, eleven, sizeof(eleven));
	assert_int_equal(sonde_pb_read_varint(&r, &v), SONDE_EPARSE);
	assert_int_equal(r.err_offset, 0);
	assert_non_null(r.err_msg);
	/* 10 bytes whose last carries bits past 64. */
	static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	sonde_pb_reader_init(&r, big, sizeof(big));
	assert_int_equal(sonde_pb_read_varint(&r, &v), SONDE_EPARSE);
	/* Truncated: every prefix of a multi-byte varint fails, offset at its start. */
	static const uint8_t full[] = {0x05, 0xff, 0xff, 0xff, 0x7f};
	for (size_t n = 2; n < sizeof(full); n++) {
		sonde_pb_reader_init(&r, full, n);
		assert_int_equal(sonde_pb_read_varint(&r, &v), 0); /* the 0x05 */
		assert_int_equal(sonde_pb_read_varint(&r, &v), SONDE_EPARSE);
		assert_int_equal(r.err_offset, 1);
	}
	sonde_pb_reader_init(&r, full, 0);
	assert_int_equal(sonde_pb_read_varint(&r, &v), SONDE_EPARSE);
	sonde_pb_reader_init(&r, NULL, 0);
	assert_int_equal(sonde_pb_read_varint(&r, &v), SONDE_EPARSE);
}

static void test_zigzag(void **state)
{
	(void)state;
	assert_int_equal(sonde_pb_zigzag64(0), 0);
	assert_int_equal(sonde_pb_zigzag64(-1), 1);
	assert_int_equal(sonde_pb_zigzag64(1), 2);
	assert_int_equal(sonde_pb_zigzag64(-2), 3);
	assert_true(sonde_pb_zigzag64(INT64_MAX) == UINT64_MAX - 1);
	assert_true(sonde_pb_zigzag64(INT64_MIN) == UINT64_MAX);
	assert_true(sonde_pb_zigzag64(INT32_MIN) == 0xffffffffu);
	const int64_t vals[] = {0, 1, -1, 63, -64, 1000000, -1000000, INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		assert_true(sonde_pb_unzigzag64(sonde_pb_zigzag64(vals[i])) == vals[i]);
	const int32_t v32[] = {0, 1, -1, 100, -100, INT32_MAX, INT32_MIN};
	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++)
		assert_int_equal(sonde_pb_unzigzag32(sonde_pb_zigzag64(v32[i])), v32[i]);
	/* sint32 uses the low 32 bits of the varint. */
	assert_int_equal(sonde_pb_unzigzag32(0x100000001ull), -1);

	sonde_pb_writer w;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_pb_writer_init(&w, &b);
	sonde_pb_put_sint64_field(&w, 1, -3);
	static const uint8_t want[] = {0x08, 0x05};
	expect_bytes(&b, want, sizeof(want));
	sonde_buf_release(&b);
}

static void test_tags_and_fields(void **state)
{
	(void)state;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_pb_writer w;
	sonde_pb_writer_init(&w, &b);
	sonde_pb_put_varint_field(&w, 1, 150);
	sonde_pb_put_bytes_field(&w, 2, "testing", 7);
	sonde_pb_put_fixed64_field(&w, 3, 0x0102030405060708ull);
	sonde_pb_put_fixed32_field(&w, 4, 0x0a0b0c0d);
	sonde_pb_put_double_field(&w, 5, 1.0);
	sonde_pb_put_varint_field(&w, 16, 1); /* two-byte tag */
	sonde_pb_put_varint_field(&w, SONDE_PB_MAX_FIELD, 0);
	static const uint8_t want[] = {
	        0x08, 0x96, 0x01, 0x12, 0x07, 't',  'e',  's',  't',  'i',  'n',  'g',  0x19, 0x08, 0x07,
	        0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x25, 0x0d, 0x0c, 0x0b, 0x0a, 0x29, 0,    0,    0,
	        0,    0,    0,    0xf0, 0x3f, 0x80, 0x01, 0x01, 0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00,
	};
	expect_bytes(&b, want, sizeof(want));

	sonde_pb_reader r;
	sonde_pb_reader_init(&r, b.data, b.len);
	uint32_t f, wt;
	uint64_t v;
	uint32_t v32;
	double d;
	const uint8_t *p;
	size_t n;
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(f, 1);
	assert_int_equal(wt, SONDE_PB_VARINT);
	assert_int_equal(sonde_pb_read_varint(&r, &v), 0);
	assert_int_equal(v, 150);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(wt, SONDE_PB_LEN);
	assert_int_equal(sonde_pb_read_bytes(&r, &p, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(p, "testing", 7);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(wt, SONDE_PB_I64);
	assert_int_equal(sonde_pb_read_fixed64(&r, &v), 0);
	assert_true(v == 0x0102030405060708ull);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(wt, SONDE_PB_I32);
	assert_int_equal(sonde_pb_read_fixed32(&r, &v32), 0);
	assert_int_equal(v32, 0x0a0b0c0d);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(sonde_pb_read_double(&r, &d), 0);
	assert_true(d == 1.0);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(f, 16);
	assert_int_equal(sonde_pb_skip(&r, wt), 0);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(f, SONDE_PB_MAX_FIELD);
	assert_int_equal(sonde_pb_skip(&r, wt), 0);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 0);
	sonde_buf_release(&b);
}

static void test_bad_tags_and_skips(void **state)
{
	(void)state;
	sonde_pb_reader r;
	uint32_t f, wt;
	static const uint8_t field0[] = {0x02, 0x00};                 /* field 0 */
	static const uint8_t wt6[] = {0x0e};                          /* wire type 6 */
	static const uint8_t wt7[] = {0x0f};                          /* wire type 7 */
	static const uint8_t huge[] = {0xf8, 0xff, 0xff, 0xff, 0x1f}; /* field 2^30-1 */
	static const uint8_t group[] = {0x0b, 0x0c};                  /* SGROUP 1, EGROUP 1 */
	static const uint8_t trunc_len[] = {0x0a, 0x05, 'a', 'b'};
	static const uint8_t trunc_i64[] = {0x09, 1, 2, 3};
	static const uint8_t trunc_i32[] = {0x0d, 1, 2, 3};
	static const uint8_t trunc_tag[] = {0x80};
	sonde_pb_reader_init(&r, field0, sizeof(field0));
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), SONDE_EPARSE);
	sonde_pb_reader_init(&r, wt6, sizeof(wt6));
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), SONDE_EPARSE);
	sonde_pb_reader_init(&r, wt7, sizeof(wt7));
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), SONDE_EPARSE);
	sonde_pb_reader_init(&r, huge, sizeof(huge));
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), SONDE_EPARSE);
	sonde_pb_reader_init(&r, trunc_tag, sizeof(trunc_tag));
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), SONDE_EPARSE);
	sonde_pb_reader_init(&r, group, sizeof(group));
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(wt, SONDE_PB_SGROUP);
	assert_int_equal(sonde_pb_skip(&r, wt), SONDE_EPARSE);

	const struct {
		const uint8_t *p;
		size_t n;
	} truncated[] = {
	        {trunc_len, sizeof(trunc_len)},
	        {trunc_i64, sizeof(trunc_i64)},
	        {trunc_i32, sizeof(trunc_i32)},
	};
	for (size_t i = 0; i < 3; i++) {
		sonde_pb_reader_init(&r, truncated[i].p, truncated[i].n);
		assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
		assert_int_equal(sonde_pb_skip(&r, wt), SONDE_EPARSE);
		assert_int_equal(r.err_offset, 1);
	}
	/* A length past the end of the range, with a huge 64-bit length. */
	static const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	sonde_pb_reader_init(&r, huge_len, sizeof(huge_len));
	const uint8_t *p;
	size_t n;
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(sonde_pb_read_bytes(&r, &p, &n), SONDE_EPARSE);
}

/* Writes a message of depth 3 whose innermost body is n bytes, and checks its bytes. */
static void nested_case(size_t n)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_pb_writer w;
	sonde_pb_writer_init(&w, &b);
	char *body = malloc(n);
	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	sonde_pb_put_varint_field(&w, 1, 7);
	sonde_pb_open(&w, 2);
	sonde_pb_open(&w, 3);
	sonde_pb_put_bytes_field(&w, 4, body, n);
	sonde_pb_close(&w);
	sonde_pb_put_varint_field(&w, 5, 1);
	sonde_pb_close(&w);
	sonde_pb_put_varint_field(&w, 6, 2);
	assert_int_equal(w.depth, 0);
	assert_false(w.overflow);
	assert_false(b.oom);

	/* Expected: 08 07 | 12 L2 | 1a L3 | 22 Ln body | 28 01 | 30 02 */
	size_t ln = sonde_pb_varint_len(n);
	size_t l3 = 1 + ln + n;
	size_t l2 = 1 + sonde_pb_varint_len(l3) + l3 + 2;
	sonde_buf want = SONDE_BUF_INIT;
	sonde_buf_append(&want, "\x08\x07\x12", 3);
	sonde_pb_put_varint(&want, l2);
	sonde_buf_putc(&want, 0x1a);
	sonde_pb_put_varint(&want, l3);
	sonde_buf_putc(&want, 0x22);
	sonde_pb_put_varint(&want, n);
	sonde_buf_append(&want, body, n);
	sonde_buf_append(&want, "\x28\x01\x30\x02", 4);
	expect_bytes(&b, (const uint8_t *)want.data, want.len);

	/* And read it back through sub-readers. */
	sonde_pb_reader r, s2, s3;
	uint32_t f, wt;
	uint64_t v;
	const uint8_t *p;
	size_t len;
	sonde_pb_reader_init(&r, b.data, b.len);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(sonde_pb_read_varint(&r, &v), 0);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(f, 2);
	assert_int_equal(sonde_pb_read_submsg(&r, &s2), 0);
	assert_int_equal(sonde_pb_next_field(&s2, &f, &wt), 1);
	assert_int_equal(f, 3);
	assert_int_equal(sonde_pb_read_submsg(&s2, &s3), 0);
	assert_int_equal(sonde_pb_next_field(&s3, &f, &wt), 1);
	assert_int_equal(sonde_pb_read_bytes(&s3, &p, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(p, body, n);
	assert_int_equal(sonde_pb_next_field(&s3, &f, &wt), 0);
	assert_int_equal(sonde_pb_next_field(&s2, &f, &wt), 1);
	assert_int_equal(f, 5);
	assert_int_equal(sonde_pb_read_varint(&s2, &v), 0);
	assert_int_equal(sonde_pb_next_field(&s2, &f, &wt), 0);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 1);
	assert_int_equal(f, 6);
	assert_int_equal(sonde_pb_read_varint(&r, &v), 0);
	assert_int_equal(sonde_pb_next_field(&r, &f, &wt), 0);

	/* A sub-reader stops at its own end even when the parent has more bytes. */
	sonde_pb_reader_init(&r, b.data, b.len);
	sonde_pb_next_field(&r, &f, &wt);
	sonde_pb_read_varint(&r, &v);
	sonde_pb_next_field(&r, &f, &wt);
	sonde_pb_read_submsg(&r, &s2);
	assert_ptr_equal(s2.base, r.base);
	assert_int_equal(s2.end - s2.pos, (ptrdiff_t)l2);

	free(body);
	sonde_buf_release(&b);
	sonde_buf_release(&want);
}

static void test_nested_lengths(void **state)
{
	(void)state;
	const size_t sizes[] = {0,   1,     100,   120,   121,   122,   125,   126,   127,     128,
	                        200, 16370, 16377, 16378, 16380, 16383, 16384, 20000, 2097150, 2097152};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		nested_case(sizes[i]);
}

/* Whatever the size hint, the bytes are those of a plain open. */
static void test_open_hint_any_guess(void **state)
{
	(void)state;
	const size_t sizes[] = {0, 5, 127, 128, 300, 16383, 16384, 70000};
	const size_t hints[] = {0, 1, 127, 128, 5000, 16384, 1 << 21, 1 << 28, SIZE_MAX};
	char *body = calloc(1, 70000);
	assert_non_null(body);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sonde_buf want = SONDE_BUF_INIT;
		sonde_pb_writer w;
		sonde_pb_writer_init(&w, &want);
		sonde_pb_open(&w, 7);
		sonde_pb_put_bytes_field(&w, 1, body, sizes[i]);
		sonde_pb_close(&w);
		for (size_t k = 0; k < sizeof(hints) / sizeof(hints[0]); k++) {
			sonde_buf got = SONDE_BUF_INIT;
			sonde_pb_writer_init(&w, &got);
			sonde_pb_put_varint_field(&w, 2, 1);
			sonde_pb_open_hint(&w, 7, hints[k]);
			sonde_pb_put_bytes_field(&w, 1, body, sizes[i]);
			sonde_pb_close(&w);
			assert_int_equal(got.len, want.len + 2);
			assert_memory_equal(got.data + 2, want.data, want.len);
			assert_int_equal(got.data[got.len], '\0');
			sonde_buf_release(&got);
		}
		sonde_buf_release(&want);
	}
	free(body);
}

static void test_writer_depth_limit(void **state)
{
	(void)state;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_pb_writer w;
	sonde_pb_writer_init(&w, &b);
	for (int i = 0; i < SONDE_PB_MAX_DEPTH; i++)
		sonde_pb_open(&w, 1);
	assert_false(w.overflow);
	sonde_pb_open(&w, 1);
	assert_true(w.overflow);
	for (int i = 0; i <= SONDE_PB_MAX_DEPTH; i++)
		sonde_pb_close(&w);
	assert_int_equal(w.depth, 0);
	sonde_buf_release(&b);

	sonde_pb_writer_init(&w, &b);
	sonde_pb_close(&w);
	assert_true(w.overflow);
	sonde_buf_release(&b);
}

static void test_packed_by_hand(void **state)
{
	(void)state;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_pb_writer w;
	sonde_pb_writer_init(&w, &b);
	sonde_pb_put_tag(&w, 4, SONDE_PB_LEN);
	sonde_pb_put_varint(&b, 6);
	sonde_pb_put_varint(&b, 3);
	sonde_pb_put_varint(&b, 270);
	sonde_pb_put_varint(&b, 86942);
	static const uint8_t want[] = {0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05};
	expect_bytes(&b, want, sizeof(want));
	sonde_buf_reset(&b);
	sonde_pb_put_le64(&b, 0x1122334455667788ull);
	static const uint8_t le[] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
	expect_bytes(&b, le, sizeof(le));
	sonde_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_varint_encode_decode_edges),
	        cmocka_unit_test(test_varint_rejects_bad_input),
	        cmocka_unit_test(test_zigzag),
	        cmocka_unit_test(test_tags_and_fields),
	        cmocka_unit_test(test_bad_tags_and_skips),
	        cmocka_unit_test(test_nested_lengths),
	        cmocka_unit_test(test_open_hint_any_guess),
	        cmocka_unit_test(test_writer_depth_limit),
	        cmocka_unit_test(test_packed_by_hand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
