/* hex.c - hex ids (see hex.h). */
#include "hex.h"

static const char digits[] = "0123456789abcdef";

static const int8_t unhex[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
        ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
        ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

void sonde_hex_encode(char *out, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
}

int sonde_hex_decode(uint8_t *out, size_t n, const char *s, size_t slen)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
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
