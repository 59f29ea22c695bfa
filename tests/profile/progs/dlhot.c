/* dlhot.c - a shared library the dlopen test loads at run time: dl_hot() burns CPU. */
#include <stdint.h>

__attribute__((noinline)) uint64_t dl_hot(uint64_t n);

uint64_t dl_hot(uint64_t n)
{
	uint64_t x = n;
	for (uint64_t i = 0; i < n * 1000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}
