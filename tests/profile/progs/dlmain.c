/*
 * dlmain.c - loads a library with dlopen() after a pause (so that it is mapped while
 * sampling already runs) and calls its dl_hot() until SECONDS have passed.
 *
 * usage: dlmain LIBRARY SECONDS
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: dlmain LIBRARY SECONDS\n");
		return 2;
	}
	usleep(100000);
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "dlmain: %s\n", dlerror());
		return 1;
	}
	uint64_t (*hot)(uint64_t) = (uint64_t(*)(uint64_t))dlsym(h, "dl_hot");
	if (!hot)
		return 1;
	volatile uint64_t sink = 0, units = 10;
	double end = now() + atof(argv[2]);
	while (now() < end)
		for (int k = 0; k < 100; k++)
			sink += hot(units);
	return 0;
}
