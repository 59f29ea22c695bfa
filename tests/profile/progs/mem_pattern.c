/*
 * mem_pattern.c - known allocation patterns for tests/profile/mem_test.sh. It keeps its
 * own account of what it allocates and prints the truth on stdout, so the test can hold
 * `sonde mem report` against it.
 *
 * usage: mem_pattern all     threads (one frees what another allocated), a peak, leaks
 *                            in three named functions, and a forked child that leaks
 *        mem_pattern sample  many allocations of mixed sizes, all freed; prints totals
 *        mem_pattern stress  8 threads passing blocks to each other through a queue;
 *                            everything is freed; prints how many it allocated
 *        mem_pattern live    (for sampling) a window of thousands of live blocks, half of
 *                            them freed by another thread, and large leaks in one named
 *                            function; prints totals and the leaked bytes
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

__attribute__((noinline)) void leak_here(size_t n)
{
	sink = malloc(n);
}

__attribute__((noinline)) void thread_leak(size_t n)
{
	sink = calloc(1, n);
}

__attribute__((noinline)) void child_leak(size_t n)
{
	sink = malloc(n);
}

#define HANDOFF 200
static void *handoff[HANDOFF];

__attribute__((noinline)) static void *producer(void *arg)
{
	for (int i = 0; i < HANDOFF; i++)
		handoff[i] = malloc(100 + (size_t)i);
	for (int i = 0; i < 2000; i++) {
		void *p = malloc(64);
		sink = p;
		free(p);
	}
	thread_leak(777);
	return arg;
}

__attribute__((noinline)) static void *consumer(void *arg)
{
	void *blocks[500];
	for (int i = 0; i < 500; i++)
		blocks[i] = malloc(32 + (size_t)(i % 50));
	for (int i = 0; i < 500; i++)
		free(blocks[i]);
	return arg;
}

/* Builds the heap up to its peak and back down; returns the peak it reached. */
__attribute__((noinline)) static size_t make_peak(void)
{
	enum { N = 4000 };
	static void *b[N];
	static size_t sz[N];
	size_t live = 0, peak = 0;
	for (int i = 0; i < N; i++) {
		sz[i] = 16 + next() % 5000;
		b[i] = malloc(sz[i]);
		live += sz[i];
		if (i % 3 == 2) { /* free an earlier one now and then */
			int k = (int)(next() % (unsigned)i);
			if (b[k]) {
				free(b[k]);
				b[k] = NULL;
				live -= sz[k];
			}
		}
		if (live > peak)
			peak = live;
	}
	for (int i = 0; i < N; i++) {
		if (b[i]) {
			b[i] = realloc(b[i], sz[i] / 2 + 1);
			live -= sz[i] - (sz[i] / 2 + 1);
		}
	}
	for (int i = 0; i < N; i++)
		free(b[i]);
	return peak;
}

static int run_all(void)
{
	pthread_t a, b;
	pthread_create(&a, NULL, producer, NULL);
	pthread_create(&b, NULL, consumer, NULL);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	for (int i = 0; i < HANDOFF; i++)
		free(handoff[i]); /* allocated by the producer thread */
	size_t peak = make_peak();
	for (int i = 0; i < 5; i++)
		leak_here(1000 + (size_t)i);
	pid_t c = fork();
	if (c == 0) {
		for (int i = 0; i < 3; i++)
			child_leak(4096);
		exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("peak=%zu leak_here=5,%d thread_leak=1,777 child_leak=3,%d child=%d\n", peak,
	       1000 + 1001 + 1002 + 1003 + 1004, 3 * 4096, (int)c);
	return 0;
}

static int run_sample(void)
{
	uint64_t bytes = 0, count = 0;
	for (int i = 0; i < 400000; i++) {
		size_t n = 16 + next() % 8192;
		if (i % 1000 == 0)
			n = 256 * 1024; /* a few large ones */
		void *p = malloc(n);
		sink = p;
		free(p);
		bytes += n;
		count++;
	}
	printf("alloc_bytes=%llu alloc_count=%llu\n", (unsigned long long)bytes, (unsigned long long)count);
	return 0;
}

#define STRESS_THREADS 8
#define STRESS_N       20000
static void *stress_slots[STRESS_THREADS][64];
static void *queue[1024];
static int queued;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((noinline)) static void *stress_worker(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < STRESS_N; i++) {
		void *p = malloc(16 + (size_t)(i % 300));
		if (i % 3 == 0) { /* hand it to whichever thread takes it */
			pthread_mutex_lock(&queue_lock);
			if (queued < 1024) {
				queue[queued++] = p;
				p = NULL;
			}
			pthread_mutex_unlock(&queue_lock);
		} else if (i % 3 == 1) {
			void *o = NULL;
			pthread_mutex_lock(&queue_lock);
			if (queued)
				o = queue[--queued];
			pthread_mutex_unlock(&queue_lock);
			free(o);
		}
		if (p) {
			free(stress_slots[id][i % 64]);
			stress_slots[id][i % 64] = p;
		}
	}
	for (int k = 0; k < 64; k++)
		free(stress_slots[id][k]);
	return NULL;
}

static int run_stress(void)
{
	pthread_t th[STRESS_THREADS];
	for (long i = 0; i < STRESS_THREADS; i++)
		pthread_create(&th[i], NULL, stress_worker, (void *)i);
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(th[i], NULL);
	while (queued)
		free(queue[--queued]);
	printf("stress_worker=%d\n", STRESS_THREADS * STRESS_N);
	return 0;
}

/* live: while many sampled blocks are live, the frees of unsampled blocks must not hide
 * the frees of sampled ones (else they would show up as leaks). */
#define LIVE_N      200000
#define LIVE_WINDOW 2048
static void *live_queue[256];
static int live_queued, live_done;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cond = PTHREAD_COND_INITIALIZER;

__attribute__((noinline)) void sample_leak(size_t n)
{
	sink = malloc(n);
	memset(sink, 1, n);
}

__attribute__((noinline)) static void *live_freer(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&live_lock);
		while (!live_queued && !live_done)
			pthread_cond_wait(&live_cond, &live_lock);
		if (!live_queued) {
			pthread_mutex_unlock(&live_lock);
			return arg;
		}
		void *p = live_queue[--live_queued];
		pthread_cond_broadcast(&live_cond);
		pthread_mutex_unlock(&live_lock);
		free(p);
	}
}

static int run_live(void)
{
	static void *win[LIVE_WINDOW];
	uint64_t bytes = 0, count = 0;
	pthread_t th;
	pthread_create(&th, NULL, live_freer, NULL);
	for (int i = 0; i < LIVE_N; i++) {
		size_t n = 16 + next() % 4096;
		void *p = malloc(n);
		bytes += n;
		count++;
		if (i % 2000 == 0) { /* the leaks, spread over the run */
			sample_leak(65536);
			bytes += 65536;
			count++;
		}
		void *old = win[i % LIVE_WINDOW];
		win[i % LIVE_WINDOW] = p;
		if (!old)
			continue;
		if (i % 2) {
			free(old);
			continue;
		}
		pthread_mutex_lock(&live_lock); /* the other thread frees this one */
		while (live_queued == 256)
			pthread_cond_wait(&live_cond, &live_lock);
		live_queue[live_queued++] = old;
		pthread_cond_broadcast(&live_cond);
		pthread_mutex_unlock(&live_lock);
	}
	pthread_mutex_lock(&live_lock);
	live_done = 1;
	pthread_cond_broadcast(&live_cond);
	pthread_mutex_unlock(&live_lock);
	pthread_join(th, NULL);
	for (int i = 0; i < LIVE_WINDOW; i++)
		free(win[i]);
	printf("alloc_bytes=%llu alloc_count=%llu leak_bytes=%d\n", (unsigned long long)bytes,
	       (unsigned long long)count, (LIVE_N / 2000) * 65536);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "sample") == 0)
		return run_sample();
	if (argc > 1 && strcmp(argv[1], "stress") == 0)
		return run_stress();
	if (argc > 1 && strcmp(argv[1], "live") == 0)
		return run_live();
	return run_all();
}
