/* base64_test.c - base64 encoding, and decoding of both alphabets with and without padding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* RFC 4648 section 10 test vectors. */
static const struct {
	const char *plain, *enc;
} vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
};

static void check_decode(const char *enc, const void *want, size_t want_len)
{
	size_t n = strlen(enc);
	uint8_t out[256];
	size_t out_len = 12345;
	assert_true(sonde_base64_decoded_max(n) <= sizeof(out));
	if (sonde_base64_decode(out, &out_len, enc, n) != 0)
		fail_msg("decoding \"%s\" failed", enc);
	if (out_len != want_len || memcmp(out, want, want_len) != 0)
		fail_msg("decoding \"%s\": got %zu bytes, want %zu", enc, out_len, want_len);
}

static void check_reject(const char *enc)
{
	uint8_t out[256];
	size_t out_len;
	if (sonde_base64_decode(out, &out_len, enc, strlen(enc)) == 0)
		fail_msg("\"%s\" was accepted", enc);
}

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *p = vectors[i].plain, *e = vectors[i].enc;
		char out[64];
		size_t n = sonde_base64_encode(out, (const uint8_t *)p, strlen(p));
		assert_int_equal(n, strlen(e));
		assert_int_equal(n, sonde_base64_encoded_len(strlen(p)));
		assert_memory_equal(out, e, n);
		check_decode(e, p, strlen(p));
	}
}

static void test_unpadded_and_url_safe(void **state)
{
	(void)state;
	check_decode("Zg", "f", 1);
	check_decode("Zm8", "fo", 2);
	check_decode("Zm9vYg", "foob", 4);
	/* 0xfb 0xff 0xbf is "+/+/" in the standard alphabet and "-_-_" in the URL-safe one. */
	static const uint8_t hi[] = {0xfb, 0xff, 0xbf};
	check_decode("+/+/", hi, 3);
	check_decode("-_-_", hi, 3);
	check_decode("-/+_", hi, 3);
	static const uint8_t ff[] = {0xff};
	check_decode("_w==", ff, 1);
	check_decode("_w", ff, 1);
	char out[8];
	size_t n = sonde_base64_encode(out, hi, 3);
	assert_memory_equal(out, "+/+/", n);
}

static void test_rejects(void **state)
{
	(void)state;
	check_reject("Z"); /* no encoding is 1 mod 4 long */
	check_reject("Zm9vY");
	check_reject("=");
	check_reject("==");
	check_reject("====");
	check_reject("Z===");
	check_reject("Zg="); /* padding that does not complete the quantum */
	check_reject("Zg=A");
	check_reject("Z=g=");
	check_reject("Zm 9v");
	check_reject("Zm9v\n");
	check_reject("Zm9v!");
	check_reject("Zm.v");
	static const char nul[] = {'Z', 'm', '\0', 'v'};
	uint8_t out[8];
	size_t out_len;
	assert_int_equal(sonde_base64_decode(out, &out_len, nul, 4), -1);
}

static void test_all_lengths_round_trip(void **state)
{
	(void)state;
	uint8_t in[300], back[300];
	char enc[400];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof(in); n++) {
		size_t e = sonde_base64_encode(enc, in, n);
		assert_int_equal(e, sonde_base64_encoded_len(n));
		size_t m = 0;
		assert_int_equal(sonde_base64_decode(back, &m, enc, e), 0);
		assert_int_equal(m, n);
		assert_memory_equal(back, in, n);
		/* The same without padding. */
		while (e > 0 && enc[e - 1] == '=')
			e--;
		assert_int_equal(sonde_base64_decode(back, &m, enc, e), 0);
		assert_int_equal(m, n);
		assert_memory_equal(back, in, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc4648_vectors),
	        cmocka_unit_test(test_unpadded_and_url_safe),
	        cmocka_unit_test(test_rejects),
	        cmocka_unit_test(test_all_lengths_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
