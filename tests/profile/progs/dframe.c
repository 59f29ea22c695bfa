/*
 * dframe.c - a test program for modules whose call frame information is in .debug_frame
 * only: unwind_test builds it with -fno-asynchronous-unwind-tables -fno-unwind-tables -g
 * -fomit-frame-pointer, so its own functions have no .eh_frame entry and no frame pointer.
 * main -> d_outer -> d_middle -> d_hot, each keeping stack space of its own, until
 * SECONDS of CPU time have passed.
 *
 * usage: dframe SECONDS
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t d_hot(uint64_t n)
{
	uint64_t x = n;
	for (uint64_t i = 0; i < n * 1000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

__attribute__((noinline)) static uint64_t d_middle(uint64_t n)
{
	volatile uint64_t local[8];
	for (int i = 0; i < 8; i++)
		local[i] = n + (uint64_t)i;
	uint64_t r = d_hot(local[3] - 3);
	sink += local[5];
	return r;
}

__attribute__((noinline)) static uint64_t d_outer(uint64_t n)
{
	volatile uint64_t local[4];
	local[0] = n;
	uint64_t r = d_middle(local[0]);
	sink += local[0];
	return r;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.5;
	uint64_t n = 200 + (uint64_t)argc; /* not a constant: no specialised copies */
	clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
	while (clock() < end)
		sink += d_outer(n);
	return 0;
}
