/*
 * hash.h - fast non-cryptographic hashing for hash tables and interning.
 *
 * sonde_hash_bytes() is a 64-bit multiply-mix hash over 8-byte words (the same family as
 * wyhash and rapidhash, written from the published idea). Never use it where an attacker
 * choosing colliding keys matters beyond a slower table.
 */
#ifndef SONDE_HASH_H
#define SONDE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t sonde_hash_mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t sonde__hash_rd8(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t sonde__hash_rd4(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Hashes n bytes at p with a seed. */
static inline uint64_t sonde_hash_bytes(const void *p, size_t n, uint64_t seed)
{
	static const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL,
	                      k2 = 0x8ebc6af09c88c6e3ULL;
	const unsigned char *s = p;
	uint64_t h = seed ^ k0 ^ (uint64_t)n * k2;
	while (n >= 16) {
		h = sonde_hash_mix(sonde__hash_rd8(s) ^ k1, sonde__hash_rd8(s + 8) ^ h);
		s += 16;
		n -= 16;
	}
	uint64_t a = 0, b = 0;
	if (n >= 8) {
		a = sonde__hash_rd8(s);
		b = sonde__hash_rd8(s + n - 8);
	} else if (n >= 4) {
		a = sonde__hash_rd4(s);
		b = sonde__hash_rd4(s + n - 4);
	} else if (n > 0) {
		a = ((uint64_t)s[0] << 16) | ((uint64_t)s[n >> 1] << 8) | s[n - 1];
	}
	return sonde_hash_mix(k1 ^ (uint64_t)n, sonde_hash_mix(a ^ k1, b ^ h));
}

static inline uint64_t sonde_hash_u64(uint64_t x)
{
	return sonde_hash_mix(x ^ 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL);
}

#endif
