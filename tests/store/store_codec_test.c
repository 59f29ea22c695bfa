/*
 * store_codec_test.c - the store codec's attribute encodings: well-known keys written as
 * references (sonde__enc_attrs_known) decode, are found by sonde__attrs_find_text and
 * skipped inside nested values exactly as keys written as text, and blobs of either form
 * stay readable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store_codec_internal.h"

static sonde_kv kv_str(const char *k, const char *v)
{
	sonde_kv kv = {.key = {k, strlen(k)}};
	kv.value.kind = SONDE_VAL_STRING;
	kv.value.u.str = (sonde_str){v, strlen(v)};
	return kv;
}

static sonde_kv kv_int(const char *k, int64_t v)
{
	sonde_kv kv = {.key = {k, strlen(k)}};
	kv.value.kind = SONDE_VAL_INT;
	kv.value.u.i = v;
	return kv;
}

/* Well-known and other keys, one of them holding a kvlist with a well-known key inside. */
static void make_attrs(sonde_kv *items, sonde_kv *inner, sonde_attrs *a)
{
	inner[0] = kv_int("http.response.status_code", 503);
	inner[1] = kv_str("my.key", "x");
	items[0] = kv_str("http.request.method", "GET");
	items[1] = kv_str("url.full", "https://example.com/a?b=1");
	items[2] = kv_int("server.port", 8080);
	items[3] = kv_str("app.tenant", "acme");
	items[4] = kv_str("", "empty key");
	items[5].key = (sonde_str){"nested", 6};
	items[5].value.kind = SONDE_VAL_KVLIST;
	items[5].value.u.kvlist = (sonde_attrs){inner, 2};
	items[6] = kv_str("db.system", "postgresql");
	*a = (sonde_attrs){items, 7};
}

static void test_known_keys_round_trip(void **state)
{
	(void)state;
	sonde_kv items[7], inner[2];
	sonde_attrs a;
	make_attrs(items, inner, &a);
	sonde_buf text = SONDE_BUF_INIT, known = SONDE_BUF_INIT;
	sonde__enc_attrs(&text, &a);
	sonde__enc_attrs_known(&known, &a);
	/* The references are shorter than the keys they stand for. */
	assert_true(known.len < text.len);
	assert_true(known.len + 30 < text.len); /* four top-level keys: 51 bytes as text, 12 as references */
	const sonde_buf *blobs[2] = {&text, &known};
	for (int i = 0; i < 2; i++) {
		sonde_batch *b = sonde_batch_new();
		sonde__dec d;
		sonde__dec_init(&d, b, blobs[i]->data, blobs[i]->len);
		sonde_attrs got;
		assert_int_equal(sonde__dec_attrs(&d, &got, 0), 0);
		assert_ptr_equal(d.p, d.end);
		assert_true(sonde_attrs_equal(&a, &got));
		assert_string_equal(got.items[0].key.ptr, "http.request.method");
		assert_int_equal(got.items[0].key.len, 19);
		sonde_batch_free(b);

		sonde_buf out = SONDE_BUF_INIT;
		assert_int_equal(sonde__attrs_find_text(blobs[i]->data, blobs[i]->len, "url.full", 8, &out),
		                 1);
		assert_string_equal(out.data, "https://example.com/a?b=1");
		sonde_buf_reset(&out);
		/* Found after the nested kvlist was skipped. */
		assert_int_equal(sonde__attrs_find_text(blobs[i]->data, blobs[i]->len, "db.system", 9, &out),
		                 1);
		assert_string_equal(out.data, "postgresql");
		sonde_buf_reset(&out);
		assert_int_equal(
		        sonde__attrs_find_text(blobs[i]->data, blobs[i]->len, "server.port", 11, &out), 1);
		assert_string_equal(out.data, "8080");
		sonde_buf_reset(&out);
		assert_int_equal(
		        sonde__attrs_find_text(blobs[i]->data, blobs[i]->len, "app.tenant", 10, &out), 1);
		assert_string_equal(out.data, "acme");
		/* A key that is a prefix of a well-known one is not it. */
		assert_int_equal(sonde__attrs_find_text(blobs[i]->data, blobs[i]->len, "url.ful", 7, &out),
		                 0);
		assert_int_equal(
		        sonde__attrs_find_text(blobs[i]->data, blobs[i]->len, "http.method", 11, &out), 0);
		sonde_buf_release(&out);
	}
	sonde_buf_release(&text);
	sonde_buf_release(&known);
}

/* A reference past the end of the list, or cut short, is a damaged blob. */
static void test_bad_reference(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	static const uint8_t past_end[] = {1, 0x80, 0x00, 0x7f, SONDE_VAL_EMPTY};
	static const uint8_t cut[] = {1, 0x80, 0x00};
	static const uint8_t huge[] = {1, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, SONDE_VAL_EMPTY};
	const uint8_t *blobs[] = {past_end, cut, huge};
	size_t lens[] = {sizeof past_end, sizeof cut, sizeof huge};
	for (int i = 0; i < 3; i++) {
		sonde__dec d;
		sonde__dec_init(&d, b, blobs[i], lens[i]);
		sonde_attrs got;
		assert_int_equal(sonde__dec_attrs(&d, &got, 0), -1);
		sonde_buf out = SONDE_BUF_INIT;
		assert_int_equal(sonde__attrs_find_text(blobs[i], lens[i], "k", 1, &out), -1);
		sonde_buf_release(&out);
	}
	sonde_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_known_keys_round_trip),
	        cmocka_unit_test(test_bad_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
