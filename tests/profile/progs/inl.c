/*
 * inl.c - a hot function inlined into its caller, for the symbolization tests: the
 * samples must show inline_hot() as an inlined frame of outer_fn(), with source lines.
 * The tests also strip it and move its debug information to a separate file.
 *
 * usage: inl SECONDS
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

static inline __attribute__((always_inline)) uint64_t inline_hot(uint64_t n)
{
	uint64_t x = n;
	for (uint64_t i = 0; i < n * 1000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

__attribute__((noinline)) static uint64_t outer_fn(uint64_t n)
{
	return inline_hot(n) ^ n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	volatile uint64_t units = 10;
	do {
		for (int k = 0; k < 100; k++)
			sink += outer_fn(units);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	return 0;
}
