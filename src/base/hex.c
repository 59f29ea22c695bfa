/* hex.c - hex ids (see hex.h). */
#include "hex.h"

#include <string.h>

static const char digits[] = "0123456789abcdef";

static const int8_t unhex[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
        ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
        ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

void sonde_hex_encode(char *out, const uint8_t *bytes, size_t n)
{
	size_t i = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Four bytes at a time: each byte into a 16-bit lane, its high nibble in the lane's
	 * first byte and its low one in the second, then every nibble to its digit. */
	for (; i + 4 <= n; i += 4) {
		uint32_t b;
		memcpy(&b, bytes + i, 4);
		uint64_t t = b;
		t = (t | t << 16) & 0x0000ffff0000ffffull;
		t = (t | t << 8) & 0x00ff00ff00ff00ffull;
		uint64_t nib = ((t >> 4) & 0x000f000f000f000full) | (t & 0x000f000f000f000full) << 8;
		uint64_t letter = ((nib + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
		uint64_t c = nib + 0x3030303030303030ull + letter * ('a' - '0' - 10);
		memcpy(out + 2 * i, &c, 8);
	}
#endif
	for (; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ONES 0x0101010101010101ull

/* Per byte of x (each below 0x80): 0x80 where the byte is in [lo, hi], else 0. The sums
 * stay below 0x100 in every byte, so nothing carries into the next. */
static inline uint64_t in_range(uint64_t x, unsigned lo, unsigned hi)
{
	return (x + (0x80 - lo) * ONES) & ~(x + (0x7f - hi) * ONES) & 0x80 * ONES;
}

/* Decodes 8 hex digits (s[0] the high nibble of out[0]) into 4 bytes; false when one is
 * not a hex digit. */
static inline bool hex8(uint8_t *out, const char *s)
{
	uint64_t x;
	memcpy(&x, s, 8);
	if (x & 0x80 * ONES)
		return false;
	uint64_t letter = in_range(x | 0x20 * ONES, 'a', 'f');
	if ((in_range(x, '0', '9') | letter) != 0x80 * ONES)
		return false;
	/* Each byte's value: its low nibble, plus 9 for a letter. */
	uint64_t nib = (x & 0x0f * ONES) + (letter >> 7) * 9;
	/* Byte 2k becomes digit 2k's nibble above digit 2k+1's; then the even bytes close up. */
	uint64_t t = ((nib << 4) | (nib >> 8)) & 0x00ff00ff00ff00ffull;
	t = (t | t >> 8) & 0x0000ffff0000ffffull;
	uint32_t v = (uint32_t)(t | t >> 16);
	memcpy(out, &v, 4);
	return true;
}
#endif

int sonde_hex_decode(uint8_t *out, size_t n, const char *s, size_t slen)
{
	if (slen != 2 * n)
		return -1;
	size_t i = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Ids are 8 or 16 bytes: eight digits at a time, in a word. */
	for (; i + 4 <= n; i += 4)
		if (!hex8(out + i, s + 2 * i))
			return -1;
#endif
	for (; i < n; i++) {
		int hi = unhex[(unsigned char)s[2 * i]], lo = unhex[(unsigned char)s[2 * i + 1]];
		if (!hi || !lo)
			return -1;
		out[i] = (uint8_t)(((hi - 1) << 4) | (lo - 1));
	}
	return 0;
}

bool sonde_id_is_zero(const uint8_t *id, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= id[i];
	return acc == 0;
}
