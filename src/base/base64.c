/* base64.c - base64 encoding and lenient decoding (see base64.h). */
#include "base64.h"

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value + 1 of each character of either alphabet; 0 marks a character of neither. */
static const uint8_t unb64[256] = {
        ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
        ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
        ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
        ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
        ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
        ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
        ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
        ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
        ['-'] = 63, ['_'] = 64,
};

size_t sonde_base64_encoded_len(size_t n)
{
	size_t groups = n / 3 + (n % 3 != 0);
	if (groups > SIZE_MAX / 4)
		return 0;
	return groups * 4;
}

size_t sonde_base64_encode(char *out, const uint8_t *in, size_t n)
{
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		o[0] = alphabet[v >> 18];
		o[1] = alphabet[(v >> 12) & 63];
		o[2] = alphabet[(v >> 6) & 63];
		o[3] = alphabet[v & 63];
		o += 4;
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		o[0] = alphabet[v >> 18];
		o[1] = alphabet[(v >> 12) & 63];
		o[2] = o[3] = '=';
		o += 4;
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		o[0] = alphabet[v >> 18];
		o[1] = alphabet[(v >> 12) & 63];
		o[2] = alphabet[(v >> 6) & 63];
		o[3] = '=';
		o += 4;
	}
	return (size_t)(o - out);
}

int sonde_base64_decode(uint8_t *out, size_t *out_len, const char *s, size_t n)
{
	/* Padding is optional, but when present it must complete the last quantum. */
	if (n > 0 && s[n - 1] == '=') {
		if (n % 4)
			return -1;
		n--;
		if (s[n - 1] == '=')
			n--;
	}
	if (n % 4 == 1)
		return -1;
	const unsigned char *p = (const unsigned char *)s;
	uint8_t *o = out;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		uint32_t a = unb64[p[i]], b = unb64[p[i + 1]], c = unb64[p[i + 2]], d = unb64[p[i + 3]];
		if (!a || !b || !c || !d)
			return -1;
		uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
		o[0] = (uint8_t)(v >> 16);
		o[1] = (uint8_t)(v >> 8);
		o[2] = (uint8_t)v;
		o += 3;
	}
	size_t rest = n - i;
	if (rest >= 2) {
		uint32_t a = unb64[p[i]], b = unb64[p[i + 1]], c = rest == 3 ? unb64[p[i + 2]] : 1;
		if (!a || !b || !c)
			return -1;
		uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6;
		*o++ = (uint8_t)(v >> 16);
		if (rest == 3)
			*o++ = (uint8_t)(v >> 8);
	}
	*out_len = (size_t)(o - out);
	return 0;
}
