/* base_test.c - arena, buffer, interning, hex ids and status messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "clock.h"
#include "hash.h"
#include "hex.h"
#include "intern.h"
#include "sonde/status.h"

static void test_arena_alignment_and_big_blocks(void **state)
{
	(void)state;
	sonde_arena a;
	sonde_arena_init(&a);
	char *prev = NULL;
	for (size_t i = 0; i < 5000; i++) {
		size_t n = (i * 37) % 200 + 1;
		char *p = sonde_arena_alloc(&a, n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, (int)i, n);
		assert_ptr_not_equal(p, prev);
		prev = p;
	}
	/* A huge allocation gets its own block and leaves the current block usable. */
	char *big = sonde_arena_alloc(&a, 3 << 20);
	assert_non_null(big);
	memset(big, 1, 3 << 20);
	char *small = sonde_arena_zalloc(&a, 64);
	assert_non_null(small);
	for (int i = 0; i < 64; i++)
		assert_int_equal(small[i], 0);
	assert_non_null(sonde_arena_alloc(&a, 0));
	char *s = sonde_arena_strndup(&a, "hello world", 5);
	assert_string_equal(s, "hello");
	sonde_arena_release(&a);
	assert_null(a.head);
	sonde_arena_release(NULL);
}

static void test_arena_reset_reuses_blocks(void **state)
{
	(void)state;
	sonde_arena a;
	sonde_arena_init(&a);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 20000; i++) {
			char *p = sonde_arena_alloc(&a, 100);
			assert_non_null(p);
			memset(p, round, 100);
		}
		assert_true(a.bytes_used >= 20000 * 100);
		sonde_arena_reset(&a, 64 << 20);
		assert_int_equal(a.bytes_used, 0);
		assert_null(a.head);
		assert_true(a.spare_bytes > 0);
	}
	/* A budget of zero keeps nothing. */
	sonde_arena_alloc(&a, 100);
	sonde_arena_reset(&a, 0);
	assert_true(a.spare_bytes <= 64 << 20);
	sonde_arena_release(&a);
	assert_null(a.spare);
	assert_int_equal(a.spare_bytes, 0);
}

/* Adopted allocations keep their bytes and live as long as the arena that took them; the
 * current block of that arena stays in use. */
static void test_arena_adopt(void **state)
{
	(void)state;
	sonde_arena dst, src;
	sonde_arena_init(&dst);
	sonde_arena_init(&src);
	char *keep[600];
	for (int i = 0; i < 600; i++) {
		keep[i] = sonde_arena_alloc(&src, 1000 + (size_t)i);
		assert_non_null(keep[i]);
		memset(keep[i], i & 0xff, 1000 + (size_t)i);
	}
	char *big = sonde_arena_alloc(&src, 2 << 20);
	assert_non_null(big);
	memset(big, 7, 2 << 20);
	sonde_arena_alloc(&src, 10);
	sonde_arena_reset(&src, 0); /* spares: none */
	for (int i = 0; i < 600; i++) {
		keep[i] = sonde_arena_alloc(&src, 1000 + (size_t)i);
		memset(keep[i], i & 0xff, 1000 + (size_t)i);
	}
	/* Into an empty arena, then into one in use. */
	sonde_arena_adopt(&dst, &src);
	assert_null(src.head);
	assert_int_equal(src.bytes_used, 0);
	char *mine = sonde_arena_alloc(&dst, 100);
	memset(mine, 0xee, 100);
	for (int i = 0; i < 10; i++)
		assert_non_null(sonde_arena_alloc(&src, 5000));
	char *cur = dst.cur;
	size_t used = dst.bytes_used;
	sonde_arena_adopt(&dst, &src);
	assert_ptr_equal(dst.cur, cur);
	assert_int_equal(dst.bytes_used, used + 10 * 5008);
	for (int i = 0; i < 600; i++)
		for (size_t k = 0; k < 1000 + (size_t)i; k++)
			assert_int_equal((unsigned char)keep[i][k], i & 0xff);
	assert_int_equal((unsigned char)mine[99], 0xee);
	sonde_arena_release(&dst);
	sonde_arena_release(&src);
}

static void test_buf_appends(void **state)
{
	(void)state;
	sonde_buf b = SONDE_BUF_INIT;
	for (int i = 0; i < 10000; i++)
		sonde_buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.data[26], 'a');
	assert_int_equal(b.data[b.len], '\0');
	sonde_buf_reset(&b);
	sonde_buf_printf(&b, "%d-%s", 42, "x");
	assert_string_equal(b.data, "42-x");
	char longstr[1000];
	memset(longstr, 'z', sizeof(longstr) - 1);
	longstr[999] = '\0';
	sonde_buf_printf(&b, "%s", longstr);
	assert_int_equal(b.len, 4 + 999);
	size_t n;
	char *d = sonde_buf_detach(&b, &n);
	assert_int_equal(n, 1003);
	assert_null(b.data);
	free(d);
	sonde_buf_release(&b);
	sonde_buf_release(NULL);
}

static void test_intern_dedups(void **state)
{
	(void)state;
	sonde_arena a;
	sonde_arena_init(&a);
	sonde_intern t;
	sonde_intern_init(&t, &a);
	const char *first[3000];
	char key[32];
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(key, sizeof(key), "key.%d", i);
		first[i] = sonde_intern_str(&t, key, (size_t)n);
		assert_non_null(first[i]);
	}
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(key, sizeof(key), "key.%d", i);
		assert_ptr_equal(sonde_intern_str(&t, key, (size_t)n), first[i]);
		assert_string_equal(first[i], key);
	}
	assert_int_equal(t.count, 3000);
	/* Strings with NUL bytes and the empty string are interned by length. */
	const char *e1 = sonde_intern_str(&t, "", 0), *e2 = sonde_intern_str(&t, "", 0);
	assert_ptr_equal(e1, e2);
	const char *z1 = sonde_intern_str(&t, "a\0b", 3), *z2 = sonde_intern_str(&t, "a\0c", 3);
	assert_ptr_not_equal(z1, z2);
	sonde_intern_release(&t);
	sonde_arena_release(&a);
}

static void test_hex(void **state)
{
	(void)state;
	uint8_t id[16];
	assert_int_equal(sonde_hex_decode(id, 16, "5B8EFFF798038103D269B633813FC60C", 32), 0);
	assert_int_equal(id[0], 0x5b);
	assert_int_equal(id[15], 0x0c);
	char out[33] = {0};
	sonde_hex_encode(out, id, 16);
	assert_string_equal(out, "5b8efff798038103d269b633813fc60c");
	/* Every byte value at every position of 16-, 8- and 3-byte ids, against printf. */
	for (size_t n = 16; n >= 3; n = n == 16 ? 8 : n == 8 ? 3 : 0) {
		for (size_t pos = 0; pos < n; pos++) {
			for (int v = 0; v < 256; v++) {
				uint8_t in[16];
				char want[33], got[33];
				for (size_t k = 0; k < n; k++)
					in[k] = (uint8_t)(k * 37 + 11);
				in[pos] = (uint8_t)v;
				for (size_t k = 0; k < n; k++)
					snprintf(want + 2 * k, 3, "%02x", in[k]);
				memset(got, 'Z', sizeof got);
				sonde_hex_encode(got, in, n);
				assert_memory_equal(got, want, 2 * n);
				assert_int_equal(got[2 * n], 'Z');
			}
		}
	}
	assert_int_equal(sonde_hex_decode(id, 16, "5b8e", 4), -1);
	assert_int_equal(sonde_hex_decode(id, 2, "zz00", 4), -1);
	assert_int_equal(sonde_hex_decode(id, 2, "0g00", 4), -1);
	/* Every byte value at every position of a 16-byte id (eight digits at a time, in a
	 * word): a hex digit of either case decodes, anything else fails the id. */
	const char *good = "0123456789abcdefABCDEF0123456789";
	const uint8_t good_id[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	                             0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89};
	assert_int_equal(sonde_hex_decode(id, 16, good, 32), 0);
	assert_memory_equal(id, good_id, 16);
	for (int pos = 0; pos < 32; pos++) {
		for (int c = 1; c < 256; c++) {
			char s[32];
			memcpy(s, good, 32);
			s[pos] = (char)c;
			int nib = c >= '0' && c <= '9'   ? c - '0'
			          : c >= 'a' && c <= 'f' ? c - 'a' + 10
			          : c >= 'A' && c <= 'F' ? c - 'A' + 10
			                                 : -1;
			int rc = sonde_hex_decode(id, 16, s, 32);
			if (nib < 0) {
				assert_int_equal(rc, -1);
				continue;
			}
			uint8_t want[16];
			memcpy(want, good_id, 16);
			want[pos / 2] = (uint8_t)(pos & 1 ? (want[pos / 2] & 0xf0) | nib
			                                  : (want[pos / 2] & 0x0f) | nib << 4);
			assert_int_equal(rc, 0);
			assert_memory_equal(id, want, 16);
		}
	}
	uint8_t zero[8] = {0};
	assert_true(sonde_id_is_zero(zero, 8));
	zero[7] = 1;
	assert_false(sonde_id_is_zero(zero, 8));
}

static void test_hash_spreads(void **state)
{
	(void)state;
	/* Every length from 0 to 40 hashes differently from its one-byte-changed twin. */
	char a[40], b[40];
	memset(a, 'x', sizeof(a));
	for (size_t n = 1; n <= sizeof(a); n++) {
		memcpy(b, a, n);
		b[n - 1] ^= 1;
		assert_true(sonde_hash_bytes(a, n, 0) != sonde_hash_bytes(b, n, 0));
		assert_true(sonde_hash_bytes(a, n, 0) != sonde_hash_bytes(a, n, 1));
	}
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(sonde_strerror(0), "success");
	assert_string_equal(sonde_strerror(SONDE_EPARSE), "malformed input");
	assert_string_equal(sonde_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(sonde_strerror(-99999), "unknown error");
}

/* A deadline ms from now, normalised, for pthread_cond_timedwait. */
static void test_realtime_after(void **state)
{
	(void)state;
	for (uint64_t ms = 0; ms < 3000; ms += 137) {
		struct timespec now, t;
		clock_gettime(CLOCK_REALTIME, &now);
		sonde_clock_realtime_after(&t, ms);
		assert_true(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L);
		int64_t d =
		        ((int64_t)t.tv_sec - (int64_t)now.tv_sec) * 1000000000 + (t.tv_nsec - now.tv_nsec);
		/* At least ms later, and not by a second more (the calls are microseconds apart). */
		assert_true(d >= (int64_t)ms * 1000000);
		assert_true(d < (int64_t)ms * 1000000 + 1000000000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_arena_alignment_and_big_blocks),
	        cmocka_unit_test(test_arena_reset_reuses_blocks),
	        cmocka_unit_test(test_arena_adopt),
	        cmocka_unit_test(test_buf_appends),
	        cmocka_unit_test(test_intern_dedups),
	        cmocka_unit_test(test_hex),
	        cmocka_unit_test(test_hash_spreads),
	        cmocka_unit_test(test_strerror),
	        cmocka_unit_test(test_realtime_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
