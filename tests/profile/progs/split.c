/*
 * split.c - a test program with a known CPU split: every thread spends 70% of its work in
 * hot_a() and 30% in hot_b() (the same loop, 7 and 3 units), until SECONDS have passed.
 *
 * usage: split SECONDS [THREADS]     (THREADS workers besides main, default 1; main works too)
 * Built -O2 -fomit-frame-pointer (and -fno-ipa-icf with gcc) by the profile tests, with gcc
 * and with clang. Each call lasts much longer than a sampling period, so that the shares do
 * not depend on how the sampling period and the call pattern line up.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;
static double seconds;

/* hot_a and hot_b are the same machine code at the same alignment, so a unit of work
 * costs the same in both; the tests build with -fno-ipa-icf (gcc) so that they are not
 * merged into one function. */
#define HOT_LOOP(name)                                                           \
	__attribute__((noinline, aligned(64))) static uint64_t name(uint64_t n)  \
	{                                                                        \
		uint64_t x = n;                                                  \
		for (uint64_t i = 0; i < n * 1000; i++)                          \
			x = x * 6364136223846793005ull + 1442695040888963407ull; \
		return x;                                                        \
	}
HOT_LOOP(hot_a)
HOT_LOOP(hot_b)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void work(void)
{
	volatile uint64_t units_a = 700, units_b = 300; /* about 1 ms and 0.4 ms */
	uint64_t acc = 0; /* not sink: threads writing one cache line would slow work() down */
	double end = now() + seconds;
	while (now() < end) {
		for (int k = 0; k < 4; k++) {
			acc += hot_a(units_a);
			acc += hot_b(units_b);
		}
	}
	sink += acc;
}

static void *worker(void *arg)
{
	(void)arg;
	work();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: split SECONDS [THREADS]\n");
		return 2;
	}
	seconds = atof(argv[1]);
	int nthreads = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t th[64];
	if (nthreads > 64)
		nthreads = 64;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	work();
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return 0;
}
