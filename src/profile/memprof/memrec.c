/*
 * memrec.c - libsonde_mem.so, the allocation recorder that `sonde mem` preloads.
 *
 * It interposes the allocator (malloc and friends, large anonymous mmap/munmap), and for
 * each recorded allocation unwinds the stack, interns it, and appends a small event to a
 * per-thread buffer that is written to the output file in 256 KiB records. Nothing is
 * analysed here: `sonde mem report` reads the file afterwards (docs/memory.md).
 *
 * Design notes.
 * - Settings come from the environment: SONDE_MEM_OUT (the file; unset: the library does
 *   nothing), SONDE_MEM_PID (the pid that writes SONDE_MEM_OUT itself; any other process,
 *   a forked child or an exec'd grandchild, writes SONDE_MEM_OUT.<pid>), and
 *   SONDE_MEM_SAMPLE_BYTES (the mean sampling interval in bytes; 0 records everything).
 * - Bootstrap: the real functions come from dlsym(RTLD_NEXT); dlsym itself allocates, so
 *   calls made while it runs are served from a static arena whose blocks are never freed.
 * - Ordering: every event takes a number from one counter (after the real allocation
 *   returns, before the real free runs), so the reader can merge the threads' records
 *   into the true order of events; a plain increment while the process has one thread,
 *   atomic from its first pthread_create() on. A block freed by the thread that allocated
 *   it before that thread's next event becomes one TEMP event (no second number). An
 *   allocation that takes the number after its thread's previous event and has that
 *   event's stack is written without either (SONDE_MEMEV_NEXT): a run of allocations from
 *   one place costs kind, ptr and size. An ALLOC at the address of the record's last one
 *   of its size class (a block handed out again after a free) is written without the ptr
 *   (SONDE_MEMEV_SAME): a malloc/free loop costs kind and size.
 * - The output descriptor is moved above 500 and checked (fstat) before every write: a
 *   program that closes it and opens another file under its number stops the recording
 *   instead of receiving our records.
 * - Sampling: each thread draws exponentially distributed byte intervals (a Poisson
 *   process over allocated bytes); an allocation is sampled when the interval ends inside
 *   it. malloc() and calloc() subtract the size from an initial-exec TLS countdown and,
 *   while it stays non-negative, jump straight to the real function (four instructions);
 *   everything else takes a slow path. Sampled pointers are kept in a small
 *   open-addressing set read under a seqlock, summarised by a counting filter of one byte
 *   per hash bucket: free() reads one word (zero unless --all or sampled blocks are
 *   live) and, when that is not zero, one filter byte, then jumps to the real free; no
 *   lock, no TLS.
 * - Stacks: _Unwind_Backtrace from libgcc_s (dlopen'd at start, so that the library links
 *   nothing but libc, libdl and pthreads), behind a per-thread cache keyed by the caller's
 *   return address and stack pointer. A hit is verified by re-reading every return address
 *   from the stack slot it was found in, so a hit is the stack the unwinder would give.
 * - Fork: the child writes its own file, SONDE_MEM_OUT.<pid>, from the fork on; blocks it
 *   inherited are unknown to it (their frees are ignored by the reader).
 * - The library never changes what the program computes: it returns what the real
 *   functions return, keeps errno, and its own memory comes from mmap.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../mem_format.h"

#define EXPORT      __attribute__((visibility("default")))
#define TLS         __thread __attribute__((tls_model("initial-exec")))
#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum { MODE_OFF = 0, MODE_SAMPLE = 1, MODE_ALL = 2 };
/* BUF_BYTES: a thread's event buffer, written as one record by one write(): at 256 KiB
 * (against 32 KiB) an --all recording spends about a third less time in the kernel (fewer
 * calls, and the page cache takes the data in large folios). META_BYTES: the buffer of
 * the stack and maps records. */
enum { MAX_DEPTH = 64, CACHE_SLOTS = 128, BUF_BYTES = 262144, META_BYTES = 32768, TIME_EVERY = 128 };

typedef struct real_fns {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*dlopen)(const char *, int);
	int (*dlclose)(void *);
	int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
} real_fns;

typedef struct cache_entry {
	uintptr_t ra, sp;
	uint32_t stack, depth;
	uintptr_t ips[MAX_DEPTH];
	uintptr_t *slots[MAX_DEPTH]; /* where ips[i] was found on the stack */
} cache_entry;

/* One thread's state; mmap'd, registered in the global list, recycled after the thread
 * exits. */
typedef struct tstate {
	struct tstate *next;
	uint32_t tid;
	int in_use;
	_Atomic(size_t) pos; /* bytes of buf committed */
	size_t last_alloc;   /* offset of the last event when it is an ALLOC, else 0 */
	uintptr_t last_ptr;
	uintptr_t prev_ptr;  /* the previous event's ptr in this record (ptrs are deltas) */
	uint64_t last_seq;   /* the previous event's seq in this record */
	uint32_t prev_stack; /* the stack of the record's previous event with one (0 at its start) */
	uint32_t since_time;
	uint64_t rng;
	uintptr_t class_ptr[SONDE_MEM_SIZE_CLASSES]; /* per size class, the last ALLOC's ptr */
	uint8_t buf[BUF_BYTES];
	cache_entry cache[CACHE_SLOTS];
} tstate;

/* free() does not wait for the bootstrap: before it, the only pointers are NULL and the
 * boot arena's, which the real free must not see anyway. */
static void boot_free(void *p)
{
	(void)p;
}

/* What free() reads first: zero while it has nothing to look at beyond the real free;
 * else the number of live sampled blocks plus GATE_ALL in --all mode and GATE_BOOT once
 * the boot arena has handed out a block (which the real free must never see; glibc 2.36
 * allocates nothing while dlsym runs, so this stays clear there). Counts change by atomic
 * add and subtract, so that the flags are never lost. */
#define GATE_ALL  ((size_t)1 << 62)
#define GATE_BOOT ((size_t)1 << 61)
static _Atomic size_t g_free_gate;

static real_fns real = {.free = boot_free};
static _Atomic int boot_state; /* 0 unresolved, 1 resolving, 2 resolved */
static _Alignas(16) char boot_arena[1 << 16];
static _Atomic size_t boot_used;

static int g_mode;
static int g_fd = -1;
static int g_stopped;
static uint64_t g_sample_bytes;
static uint64_t g_start_ns;
static _Atomic uint64_t g_seq;
static _Atomic uint64_t g_lost;
static uint32_t g_gen;
static char g_out[4096];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_key;
static tstate *g_threads;

typedef int (*unwind_trace_fn)(int (*)(void *, void *), void *);
static unwind_trace_fn u_backtrace;
static uintptr_t (*u_getip)(void *);
static uintptr_t (*u_getcfa)(void *);

static TLS tstate *t_state;
static TLS int t_busy; /* inside the recorder: allocations pass straight through */
static TLS int t_dead; /* the thread's key destructor ran */
/* Bytes left in this thread's sampling interval. Below zero sends the next allocation
 * to the slow path: -1 at a thread's start (its first interval is not drawn yet), and
 * always in --all mode (every allocation is recorded there). */
static TLS int64_t t_remaining = -1;
static TLS int t_armed; /* the thread's first interval is drawn */

/* ---- raw memory and I/O (never through the interposed functions) ---- */

static void *raw_map(size_t n)
{
	int e = errno;
	void *p = (void *)syscall(SYS_mmap, NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	                          0);
	errno = e;
	return p == MAP_FAILED ? NULL : p;
}

static void raw_unmap(void *p, size_t n)
{
	int e = errno;
	syscall(SYS_munmap, p, n);
	errno = e;
}

/* The output file's identity: a program that closes every descriptor and opens another
 * file under the same number must not get our records. */
static dev_t g_fd_dev;
static ino_t g_fd_ino;

static void write_all(const void *p, size_t n)
{
	int e = errno;
	const char *c = p;
	struct stat st;
	if (g_fd >= 0 && (fstat(g_fd, &st) != 0 || st.st_dev != g_fd_dev || st.st_ino != g_fd_ino))
		g_fd = -1; /* closed under us: stop writing */
	while (n > 0 && g_fd >= 0) {
		ssize_t w = write(g_fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		c += w;
		n -= (size_t)w;
	}
	errno = e;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- bootstrap ---- */

static void *boot_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	for (;;) {
		size_t used = atomic_load(&boot_used);
		size_t start = (used + 16 + align - 1) & ~(align - 1);
		if (start + n > sizeof boot_arena)
			return NULL;
		if (atomic_compare_exchange_weak(&boot_used, &used, start + n)) {
			atomic_fetch_or(&g_free_gate, GATE_BOOT);
			memcpy(boot_arena + start - sizeof(size_t), &n, sizeof n);
			return boot_arena + start;
		}
	}
}

static int in_boot(const void *p)
{
	return (const char *)p >= boot_arena && (const char *)p < boot_arena + sizeof boot_arena;
}

static void resolve(void)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong(&boot_state, &expected, 1)) {
		while (atomic_load(&boot_state) != 2)
			; /* another thread resolves; its dlsym allocations use the arena */
		return;
	}
	real.malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real.free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real.calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real.realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real.posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	real.aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	real.memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	real.valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
	real.pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
	real.mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
	real.munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	real.dlopen = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	real.dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
	real.pthread_create = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
	        RTLD_NEXT, "pthread_create");
	atomic_store(&boot_state, 2);
}

static inline int booting(void)
{
	if (LIKELY(atomic_load_explicit(&boot_state, memory_order_acquire) == 2))
		return 0;
	if (atomic_load(&boot_state) == 0)
		resolve();
	return atomic_load(&boot_state) != 2;
}

/* ---- sampling ---- */

static double ln(double x)
{
	union {
		double d;
		uint64_t u;
	} v = {.d = x};
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	v.u = (v.u & ~(0x7ffull << 52)) | (1023ull << 52); /* mantissa in [1, 2) */
	double m = v.d;
	if (m > 1.41421356237) {
		m /= 2;
		e++;
	}
	/* ln m = 2 atanh s = 2 (s + s^3/3 + s^5/5 + ... + s^19/19), |s| <= 0.1716, in Horner
	 * form: one division in all (a sampled allocation draws an interval each time). */
	double s = (m - 1) / (m + 1), s2 = s * s;
	double p = 1.0 / 19;
	p = p * s2 + 1.0 / 17;
	p = p * s2 + 1.0 / 15;
	p = p * s2 + 1.0 / 13;
	p = p * s2 + 1.0 / 11;
	p = p * s2 + 1.0 / 9;
	p = p * s2 + 1.0 / 7;
	p = p * s2 + 1.0 / 5;
	p = p * s2 + 1.0 / 3;
	p = p * s2 + 1.0;
	return e * 0.69314718055994531 + 2 * s * p;
}

static int64_t draw_interval(void)
{
	uint64_t x = t_state ? t_state->rng : 88172645463325252ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	if (t_state)
		t_state->rng = x;
	double u = ((x * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
	double d = -ln(1.0 - u) * (double)g_sample_bytes; /* 1 - u in (0, 1] */
	return d < 1 ? 1 : (int64_t)d;
}

/* The set of sampled pointers: open addressing, linear probing, deletion by backward
 * shift, all under g_lock; readers retry while g_set_ver is odd or changed. Old tables
 * stay mapped when the set grows, so a reader never touches unmapped memory. */
static _Atomic(uintptr_t *) g_set;
static _Atomic size_t g_set_mask;
static size_t g_set_count;
static _Atomic unsigned g_set_ver;

/* The number of live sampled blocks (g_set_count, readable without g_lock): g_free_gate's
 * count, below its flags. */
static inline size_t set_live(void)
{
	return atomic_load_explicit(&g_free_gate, memory_order_relaxed) & (GATE_BOOT - 1);
}

/* A counting filter over the set, so that free() of an unsampled block does not probe
 * the set even while sampled blocks are live: one byte per hash bucket, the number of
 * sampled pointers in the set that fall in it (updated under g_lock, read without it). A
 * count that reaches 255 sticks there (the bucket then always sends free() to the set,
 * which stays correct). The add happens before malloc() returns the block, so a free()
 * of it, wherever it runs, sees the count. */
enum { FILTER_BITS = 16 };
static uint8_t g_filter[1u << FILTER_BITS];

static inline size_t filter_slot(uintptr_t p)
{
	return (size_t)(((p >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - FILTER_BITS));
}

static inline int filter_maybe(uintptr_t p)
{
	return __atomic_load_n(&g_filter[filter_slot(p)], __ATOMIC_RELAXED) != 0;
}

static void filter_change_locked(uintptr_t p, int add)
{
	uint8_t *c = &g_filter[filter_slot(p)];
	uint8_t v = *c;
	if (v != 255)
		__atomic_store_n(c, (uint8_t)(add ? v + 1 : v - 1), __ATOMIC_RELAXED);
}

static inline size_t set_hash(uintptr_t p, size_t mask)
{
	return (size_t)(((p >> 4) * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static int set_contains(uintptr_t p)
{
	for (;;) {
		unsigned v = atomic_load_explicit(&g_set_ver, memory_order_acquire);
		if (v & 1)
			continue;
		uintptr_t *t = atomic_load_explicit(&g_set, memory_order_relaxed);
		size_t mask = atomic_load_explicit(&g_set_mask, memory_order_relaxed);
		int found = 0;
		for (size_t i = set_hash(p, mask);; i = (i + 1) & mask) {
			uintptr_t k = __atomic_load_n(&t[i], __ATOMIC_RELAXED);
			if (k == 0)
				break;
			if (k == p) {
				found = 1;
				break;
			}
		}
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&g_set_ver, memory_order_relaxed) == v)
			return found;
	}
}

static void set_put_locked(uintptr_t *t, size_t mask, uintptr_t p)
{
	size_t i = set_hash(p, mask);
	while (t[i] != 0 && t[i] != p)
		i = (i + 1) & mask;
	__atomic_store_n(&t[i], p, __ATOMIC_RELAXED);
}

/* Call with g_lock held. Returns 0, or -1 when the set could not grow (the sample is
 * then dropped and counted as lost). */
static int set_add_locked(uintptr_t p)
{
	uintptr_t *t = atomic_load(&g_set);
	size_t mask = atomic_load(&g_set_mask);
	if (!t || (g_set_count + 1) * 2 > mask + 1) {
		size_t cap = t ? (mask + 1) * 2 : 4096;
		uintptr_t *n = raw_map(cap * sizeof *n);
		if (!n)
			return -1;
		for (size_t i = 0; t && i <= mask; i++)
			if (t[i])
				set_put_locked(n, cap - 1, t[i]);
		atomic_fetch_add(&g_set_ver, 1);
		atomic_store(&g_set, n);
		atomic_store(&g_set_mask, cap - 1);
		atomic_fetch_add(&g_set_ver, 1);
		t = n;
		mask = cap - 1;
	}
	atomic_fetch_add(&g_set_ver, 1);
	set_put_locked(t, mask, p);
	atomic_fetch_add(&g_set_ver, 1);
	filter_change_locked(p, 1);
	g_set_count++;
	atomic_fetch_add(&g_free_gate, 1);
	return 0;
}

/* Call with g_lock held. Returns 1 when p was in the set (and is removed). */
static int set_remove_locked(uintptr_t p)
{
	uintptr_t *t = atomic_load(&g_set);
	size_t mask = atomic_load(&g_set_mask);
	if (!t)
		return 0;
	size_t i = set_hash(p, mask);
	while (t[i] != p) {
		if (t[i] == 0)
			return 0;
		i = (i + 1) & mask;
	}
	atomic_fetch_add(&g_set_ver, 1);
	size_t j = i;
	for (;;) {
		t[i] = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (t[j] == 0)
				goto done;
			size_t h = set_hash(t[j], mask);
			/* t[j] may move into the hole at i unless its home lies cyclically in (i, j]. */
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			t[i] = t[j];
			i = j;
			break;
		}
	}
done:
	atomic_fetch_add(&g_set_ver, 1);
	filter_change_locked(p, 0);
	g_set_count--;
	atomic_fetch_sub(&g_free_gate, 1);
	return 1;
}

/* ---- stacks ---- */

static uint32_t *g_stab; /* hash slots: stack id + 1, 0 empty */
static size_t g_stab_mask;
static uint64_t *g_stack_off; /* per id: offset into g_frames; [id + 1] - [id] = depth */
static size_t g_stack_cap;
static uint32_t g_nstacks;
static uintptr_t *g_frames;
static size_t g_frames_len, g_frames_cap;
static uint8_t g_meta[META_BYTES];
static size_t g_meta_len;

static void meta_flush_locked(void)
{
	if (g_meta_len && !g_stopped)
		write_all(g_meta, g_meta_len);
	g_meta_len = 0;
}

static void meta_record_locked(int type, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t hdr[5];
	hdr[0] = (uint8_t)type;
	put_u32(hdr + 1, (uint32_t)(alen + blen));
	if (g_meta_len + 5 + alen + blen > sizeof g_meta)
		meta_flush_locked();
	if (5 + alen + blen > sizeof g_meta) {
		if (!g_stopped) {
			write_all(hdr, 5);
			write_all(a, alen);
			write_all(b, blen);
		}
		return;
	}
	memcpy(g_meta + g_meta_len, hdr, 5);
	memcpy(g_meta + g_meta_len + 5, a, alen);
	if (blen)
		memcpy(g_meta + g_meta_len + 5 + alen, b, blen);
	g_meta_len += 5 + alen + blen;
}

static uint64_t hash_ips(const uintptr_t *ips, size_t n)
{
	uint64_t h = 1469598103934665603ull ^ n;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ips[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 4096;
	while (n < need)
		n *= 2;
	void *q = raw_map(n * elem);
	if (!q)
		return -1;
	if (*p) {
		memcpy(q, *p, *cap * elem);
		raw_unmap(*p, *cap * elem);
	}
	*p = q;
	*cap = n;
	return 0;
}

/* Interns a stack (call with g_lock held); writes its STACK record when new. Returns its
 * id, or UINT32_MAX when out of memory. */
static uint32_t intern_locked(const uintptr_t *ips, size_t n)
{
	uint64_t h = hash_ips(ips, n);
	if (g_stab) {
		for (size_t i = h & g_stab_mask; g_stab[i]; i = (i + 1) & g_stab_mask) {
			uint32_t id = g_stab[i] - 1;
			size_t d = g_stack_off[id + 1] - g_stack_off[id];
			if (d == n && memcmp(g_frames + g_stack_off[id], ips, n * sizeof *ips) == 0)
				return id;
		}
	}
	if ((g_nstacks + 1) * 2 > (g_stab ? g_stab_mask + 1 : 0)) {
		size_t cap = g_stab ? (g_stab_mask + 1) * 2 : 4096;
		uint32_t *t = raw_map(cap * sizeof *t);
		if (!t)
			return UINT32_MAX;
		for (uint32_t id = 0; id < g_nstacks; id++) {
			size_t d = g_stack_off[id + 1] - g_stack_off[id];
			size_t i = hash_ips(g_frames + g_stack_off[id], d) & (cap - 1);
			while (t[i])
				i = (i + 1) & (cap - 1);
			t[i] = id + 1;
		}
		if (g_stab)
			raw_unmap(g_stab, (g_stab_mask + 1) * sizeof *g_stab);
		g_stab = t;
		g_stab_mask = cap - 1;
	}
	if (grow((void **)&g_stack_off, &g_stack_cap, g_nstacks + 2, sizeof *g_stack_off) ||
	    grow((void **)&g_frames, &g_frames_cap, g_frames_len + n, sizeof *g_frames))
		return UINT32_MAX;
	uint32_t id = g_nstacks++;
	g_stack_off[id] = g_frames_len;
	memcpy(g_frames + g_frames_len, ips, n * sizeof *ips);
	g_frames_len += n;
	g_stack_off[id + 1] = g_frames_len;
	size_t i = h & g_stab_mask;
	while (g_stab[i])
		i = (i + 1) & g_stab_mask;
	g_stab[i] = id + 1;

	uint8_t rec[16 + MAX_DEPTH * 10], *p = rec;
	p = put_varint(p, id);
	p = put_varint(p, g_gen);
	p = put_varint(p, n);
	for (size_t k = 0; k < n; k++)
		p = put_varint(p, ips[k]);
	meta_record_locked(SONDE_MEMREC_STACK, rec, (size_t)(p - rec), NULL, 0);
	return id;
}

typedef struct walk {
	uintptr_t ra;
	int started;
	size_t n;
	uintptr_t ips[MAX_DEPTH];
	uintptr_t cfas[MAX_DEPTH];
} walk;

static int walk_cb(void *ctx, void *arg)
{
	walk *w = arg;
	uintptr_t ip = u_getip(ctx);
	if (!w->started) {
		if (ip != w->ra)
			return 0; /* still in the recorder's own frames */
		w->started = 1;
	}
	if (ip == 0 || w->n == MAX_DEPTH)
		return 5; /* _URC_END_OF_STACK */
	w->ips[w->n] = ip;
	w->cfas[w->n] = u_getcfa(ctx);
	w->n++;
	return 0;
}

/* The stack id of the current call: ra is the return address into the allocator's caller,
 * sp the interposed function's frame address. UINT32_MAX when it cannot be had. */
/* The stack id of the current call when the cache does not have it: unwind, intern,
 * and remember it in c (NULL: no cache). */
__attribute__((noinline)) static uint32_t stack_walk(cache_entry *c, uintptr_t ra, uintptr_t sp)
{
	walk w;
	w.ra = ra;
	w.started = 0;
	w.n = 0;
	if (u_backtrace)
		u_backtrace(walk_cb, &w);
	int walked = w.n > 0;
	if (!walked) { /* no unwinder, or ra not found: the caller alone */
		w.ips[0] = ra;
		w.n = 1;
	}
	pthread_mutex_lock(&g_lock);
	uint32_t id = intern_locked(w.ips, w.n);
	pthread_mutex_unlock(&g_lock);
	if (id == UINT32_MAX || !c || !walked) /* (without a walk there is no CFA to check) */
		return id;
	/* Cache only when every return address sits just below the CFA _Unwind_GetCFA gives
	 * for its frame (the callee's canonical frame address), where the x86-64 call
	 * instruction leaves it; then the check in stack_id() re-reads the whole chain. */
	for (size_t i = 0; i < w.n; i++)
		if (w.cfas[i] < 8 || *(uintptr_t *)(w.cfas[i] - 8) != w.ips[i])
			return id;
	c->ra = ra;
	c->sp = sp;
	c->stack = id;
	c->depth = (uint32_t)w.n;
	for (size_t i = 0; i < w.n; i++) {
		c->ips[i] = w.ips[i];
		c->slots[i] = (uintptr_t *)(w.cfas[i] - 8);
	}
	return id;
}

/* The stack id of the current call: ra is the return address into the allocator's caller,
 * sp the interposed function's frame address. UINT32_MAX when it cannot be had. A cache
 * hit is a stack whose every return address is still in its slot. */
static inline uint32_t stack_id(tstate *t, uintptr_t ra, uintptr_t sp)
{
	cache_entry *c = t ? &t->cache[((ra ^ (sp >> 4)) * 0x9E3779B97F4A7C15ull) >> 57] : NULL;
	if (LIKELY(c != NULL) && c->ra == ra && c->sp == sp) {
		uint32_t i = 0;
		while (i < c->depth && *c->slots[i] == c->ips[i])
			i++;
		if (LIKELY(i == c->depth))
			return c->stack;
	}
	return stack_walk(c, ra, sp);
}

/* ---- threads and buffers ---- */

static void buf_reset(tstate *t)
{
	t->buf[0] = SONDE_MEMREC_EVENTS;
	put_u32(t->buf + 5, t->tid);
	atomic_store_explicit(&t->pos, 9, memory_order_relaxed);
	t->last_alloc = 0;
	t->last_seq = 0;
	t->prev_ptr = 0;
	t->prev_stack = 0;
	memset(t->class_ptr, 0, sizeof t->class_ptr);
}

/* Writes the thread's record; call with g_lock held. */
static void buf_flush_locked(tstate *t)
{
	size_t pos = atomic_load_explicit(&t->pos, memory_order_acquire);
	if (pos > 9 && !g_stopped) {
		put_u32(t->buf + 1, (uint32_t)(pos - 5));
		write_all(t->buf, pos);
	}
	buf_reset(t);
}

static void thread_exit(void *arg)
{
	tstate *t = arg;
	t_busy++;
	pthread_mutex_lock(&g_lock);
	buf_flush_locked(t);
	t->in_use = 0;
	pthread_mutex_unlock(&g_lock);
	t_state = NULL;
	t_dead = 1;
	t_busy--;
}

static tstate *thread_state(void)
{
	if (LIKELY(t_state != NULL))
		return t_state;
	if (t_dead)
		return NULL;
	t_busy++;
	pthread_mutex_lock(&g_lock);
	tstate *t = g_threads;
	while (t && t->in_use)
		t = t->next;
	if (!t) {
		t = raw_map(sizeof *t);
		if (t) {
			t->next = g_threads;
			g_threads = t;
		}
	}
	if (t) {
		if (t->tid)
			memset(t->cache, 0, sizeof t->cache); /* recycled */
		t->in_use = 1;
		t->tid = (uint32_t)syscall(SYS_gettid);
		t->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)t->tid << 32) ^ mono_ns();
		t->since_time = 0;
		buf_reset(t);
	}
	pthread_mutex_unlock(&g_lock);
	if (t) {
		t_state = t;
		pthread_setspecific(g_key, t);
	}
	t_busy--;
	return t;
}

/* Makes room for an event of up to 48 bytes and returns where it goes. */
static inline uint8_t *ev_begin(tstate *t)
{
	size_t pos = atomic_load_explicit(&t->pos, memory_order_relaxed);
	if (UNLIKELY(pos + 48 > BUF_BYTES)) {
		pthread_mutex_lock(&g_lock);
		buf_flush_locked(t);
		pthread_mutex_unlock(&g_lock);
		pos = atomic_load_explicit(&t->pos, memory_order_relaxed);
	}
	return t->buf + pos;
}

static inline void ev_end(tstate *t, uint8_t *end)
{
	atomic_store_explicit(&t->pos, (size_t)(end - t->buf), memory_order_release);
}

/* The next sequence number. While the process has one thread a plain increment is
 * enough; pthread_create() switches to the atomic one before the second thread exists. */
static _Atomic int g_multi;

static inline uint64_t next_seq(void)
{
	if (atomic_load_explicit(&g_multi, memory_order_relaxed))
		return atomic_fetch_add_explicit(&g_seq, 1, memory_order_relaxed);
	uint64_t s = atomic_load_explicit(&g_seq, memory_order_relaxed);
	atomic_store_explicit(&g_seq, s + 1, memory_order_relaxed);
	return s;
}

static inline uint8_t *put_ptr(tstate *t, uint8_t *p, uintptr_t ptr)
{
	int64_t d = (int64_t)(ptr - t->prev_ptr);
	t->prev_ptr = ptr;
	return put_varint(p, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
}

static void ev_time(tstate *t)
{
	uint8_t *p = ev_begin(t);
	uint64_t seq = atomic_load_explicit(&g_seq, memory_order_relaxed);
	if (seq < t->last_seq)
		seq = t->last_seq;
	*p++ = SONDE_MEMEV_TIME;
	p = put_varint(p, seq - t->last_seq);
	p = put_varint(p, mono_ns() - g_start_ns);
	t->last_seq = seq;
	t->last_alloc = 0;
	t->since_time = 0;
	ev_end(t, p);
}

/* An event of a thread whose key destructor ran (it is exiting: its last frees): one
 * record of its own, written under the lock. */
static void orphan_event(int kind, uintptr_t ptr, size_t size, uint32_t stack)
{
	uint8_t rec[64], *p = rec + 4;
	put_u32(rec, (uint32_t)syscall(SYS_gettid));
	*p++ = (uint8_t)kind;
	pthread_mutex_lock(&g_lock);
	p = put_varint(p, atomic_fetch_add(&g_seq, 1));
	p = put_varint(p, ((uint64_t)ptr << 1) ^ (uint64_t)((int64_t)ptr >> 63));
	if (kind != SONDE_MEMEV_FREE)
		p = put_varint(p, size);
	if (kind == SONDE_MEMEV_ALLOC || kind == SONDE_MEMEV_MMAP)
		p = put_varint(p, stack);
	meta_record_locked(SONDE_MEMREC_EVENTS, rec, (size_t)(p - rec), NULL, 0);
	pthread_mutex_unlock(&g_lock);
}

static void record_alloc(int kind, uintptr_t ptr, size_t size, uintptr_t ra, uintptr_t sp)
{
	if (t_busy)
		return;
	t_busy++;
	tstate *t = thread_state();
	uint32_t stack = stack_id(t, ra, sp);
	if (g_mode == MODE_SAMPLE) {
		pthread_mutex_lock(&g_lock);
		int bad = set_add_locked(ptr);
		pthread_mutex_unlock(&g_lock);
		if (bad)
			stack = UINT32_MAX;
	}
	if (stack == UINT32_MAX) {
		atomic_fetch_add(&g_lost, 1);
		t_busy--;
		return;
	}
	if (!t) {
		orphan_event(kind, ptr, size, stack);
		t_busy--;
		return;
	}
	/* A clock reading before every sample, every TIME_EVERY events, and first in every
	 * record. */
	if (g_mode == MODE_SAMPLE || ++t->since_time >= TIME_EVERY ||
	    atomic_load_explicit(&t->pos, memory_order_relaxed) == 9)
		ev_time(t);
	uint8_t *p = ev_begin(t);
	uint64_t seq = next_seq();
	size_t off = (size_t)(p - t->buf);
	/* An ALLOC at the address its size class had last (a block handed out again after a
	 * free of the same size) leaves the ptr out. */
	int same = 0;
	if (kind == SONDE_MEMEV_ALLOC) {
		uintptr_t *cp = &t->class_ptr[sonde_mem_size_class(size)];
		same = *cp == ptr;
		*cp = ptr;
	}
	if (kind == SONDE_MEMEV_ALLOC && seq - t->last_seq == 1 && stack == t->prev_stack) {
		/* The common case of a run of allocations from one place: no seq, no stack. */
		if (same) {
			*p++ = SONDE_MEMEV_ALLOC | SONDE_MEMEV_NEXT | SONDE_MEMEV_SAME;
			t->prev_ptr = ptr;
		} else {
			*p++ = SONDE_MEMEV_ALLOC | SONDE_MEMEV_NEXT;
			p = put_ptr(t, p, ptr);
		}
		p = put_varint(p, size);
	} else {
		*p++ = (uint8_t)(kind | (same ? SONDE_MEMEV_SAME : 0));
		p = put_varint(p, seq - t->last_seq);
		if (same)
			t->prev_ptr = ptr;
		else
			p = put_ptr(t, p, ptr);
		p = put_varint(p, size);
		p = put_varint(p, stack);
		t->prev_stack = stack;
	}
	t->last_seq = seq;
	t->last_alloc = kind == SONDE_MEMEV_ALLOC ? off : 0;
	t->last_ptr = ptr;
	ev_end(t, p);
	t_busy--;
}

/* Records the release of ptr (size: munmap's length, else 0). Called before the real
 * release, so that the number it takes precedes any reuse of the address. */
static int record_free(int kind, uintptr_t ptr, size_t size)
{
	if (t_busy)
		return 0;
	if (g_mode == MODE_SAMPLE) {
		if (LIKELY(set_live() == 0) || !set_contains(ptr))
			return 0;
		t_busy++;
		pthread_mutex_lock(&g_lock);
		int had = set_remove_locked(ptr);
		pthread_mutex_unlock(&g_lock);
		t_busy--;
		if (!had)
			return 0;
	}
	t_busy++;
	tstate *t = thread_state();
	if (!t) {
		orphan_event(kind, ptr, size, 0);
		t_busy--;
		return 1;
	}
	if (kind == SONDE_MEMEV_FREE && t->last_alloc && t->last_ptr == ptr) {
		t->buf[t->last_alloc] |= SONDE_MEMEV_TEMP; /* ALLOC (| NEXT) -> TEMP (| NEXT) */
		t->last_alloc = 0;
		t_busy--;
		return 1;
	}
	uint8_t *p = ev_begin(t);
	uint64_t seq = next_seq();
	*p++ = (uint8_t)kind;
	p = put_varint(p, seq - t->last_seq);
	p = put_ptr(t, p, ptr);
	if (kind == SONDE_MEMEV_MUNMAP)
		p = put_varint(p, size);
	t->last_seq = seq;
	t->last_alloc = 0;
	ev_end(t, p);
	t_busy--;
	return 1;
}

/* ---- the entry points' fast paths ----
 *
 * malloc() and calloc() subtract the size from the thread's countdown before anything
 * else; while it stays at or above zero (nearly always when sampling) they jump straight
 * to the real function: no frame, one initial-exec TLS read-modify-write and a branch.
 * Everything else (the first allocation of a thread, the end of an interval, --all mode,
 * the bootstrap, the time before the constructor decided the mode) takes the slow path.
 * free() looks at one word, g_free_gate (zero unless --all, sampled blocks live, or a
 * boot arena block handed out), before it jumps to the real free; past the gate, at the
 * boot arena's bounds and, while sampling, one byte of the counting filter (in --all
 * mode, at the thread's last allocation, which it turns into a TEMP event). */

static _Atomic int g_ready; /* the constructor decided g_mode */

static inline int64_t sub_bytes(int64_t r, size_t n)
{
	return (int64_t)((uint64_t)r - (uint64_t)n);
}

/* The thread's countdown went below zero once size was subtracted (ptr: what the real
 * function returned). Returns 1 when the allocation is to be recorded, and sets the
 * countdown for the next one. */
__attribute__((noinline)) static int countdown_expired(void *ptr, size_t size)
{
	if (!ptr || t_busy || !atomic_load_explicit(&g_ready, memory_order_acquire)) {
		/* Not counted: a failed allocation, the recorder's own, or one before the mode is
		 * known (the countdown stays below zero until it is). */
		t_remaining = sub_bytes(t_remaining, -size);
		return 0;
	}
	int mode = g_mode;
	if (mode == MODE_OFF) {
		t_remaining = INT64_MAX / 2;
		return 0;
	}
	if (mode == MODE_ALL) {
		t_remaining = -1;
		return 1;
	}
	t_busy++;
	thread_state(); /* seeds the thread's generator */
	int record = 1;
	if (!t_armed) { /* a thread's first interval, drawn now */
		t_armed = 1;
		t_remaining = sub_bytes(draw_interval(), size);
		record = t_remaining < 0;
	}
	if (record)
		t_remaining = draw_interval();
	t_busy--;
	return record;
}

/* countdown_expired() with --all's case, where every allocation comes here, inline
 * (record_alloc() itself passes over the recorder's own allocations). */
static inline int count_alloc(void *ptr, size_t size)
{
	if (LIKELY(g_mode == MODE_ALL) && ptr) {
		t_remaining = -1;
		return 1;
	}
	return countdown_expired(ptr, size);
}

/* Counts an allocation made (ptr, size: its bytes) and records it when the countdown
 * says so. */
static inline void on_alloc(int kind, void *ptr, size_t size, uintptr_t ra, uintptr_t sp)
{
	int64_t r = sub_bytes(t_remaining, size);
	t_remaining = r;
	if (UNLIKELY(r < 0) && count_alloc(ptr, size))
		record_alloc(kind, (uintptr_t)ptr, size, ra, sp);
}

static inline int on_free(int kind, void *ptr, size_t size)
{
	int mode = g_mode;
	if (!ptr || mode == MODE_OFF)
		return 0;
	/* Every allocation: a block freed right after its allocation turns that event into
	 * a TEMP one, with nothing else to write. */
	tstate *t = t_state;
	if (mode == MODE_ALL && kind == SONDE_MEMEV_FREE && t && t->last_alloc &&
	    t->last_ptr == (uintptr_t)ptr && !t_busy) {
		t->buf[t->last_alloc] |= SONDE_MEMEV_TEMP; /* ALLOC (| NEXT) -> TEMP (| NEXT) */
		t->last_alloc = 0;
		return 1;
	}
	/* Sampling: nothing to look up while no sampled block is live (the common case), or
	 * when the filter says ptr is not one of them. */
	if (mode == MODE_SAMPLE && (LIKELY(set_live() == 0) || !filter_maybe((uintptr_t)ptr)))
		return 0;
	return record_free(kind, (uintptr_t)ptr, size);
}

#define RA() ((uintptr_t)__builtin_return_address(0))
#define SP() ((uintptr_t)__builtin_frame_address(0))

/* ---- the interposed functions ---- */

/* malloc() and calloc() past their countdown (ra: the return address into their caller;
 * the stack cache's key is this function's frame, a fixed distance from the caller's). */
__attribute__((noinline)) static void *malloc_slow(size_t n, uintptr_t ra)
{
	if (UNLIKELY(booting())) {
		t_remaining = sub_bytes(t_remaining, -n); /* not counted */
		return boot_alloc(n, 16);
	}
	void *p = real.malloc(n);
	if (count_alloc(p, n))
		record_alloc(SONDE_MEMEV_ALLOC, (uintptr_t)p, n, ra, SP());
	return p;
}

__attribute__((noinline)) static void *calloc_slow(size_t n, size_t size, uintptr_t ra)
{
	size_t bytes;
	int over = __builtin_mul_overflow(n, size, &bytes);
	if (over)
		bytes = SIZE_MAX / 2; /* what calloc() subtracted */
	if (UNLIKELY(booting())) {
		t_remaining = sub_bytes(t_remaining, -bytes);
		return over ? NULL : boot_alloc(bytes, 16); /* the arena is static, so zeroed */
	}
	void *p = real.calloc(n, size);
	if (count_alloc(over ? NULL : p, bytes))
		record_alloc(SONDE_MEMEV_ALLOC, (uintptr_t)p, bytes, ra, SP());
	return p;
}

EXPORT void *malloc(size_t n)
{
	int64_t r = sub_bytes(t_remaining, n);
	t_remaining = r;
	if (LIKELY(r >= 0))
		return real.malloc(n);
	return malloc_slow(n, RA());
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t bytes;
	if (UNLIKELY(__builtin_mul_overflow(n, size, &bytes)))
		bytes = SIZE_MAX / 2; /* fails; the slow path does not count it */
	int64_t r = sub_bytes(t_remaining, bytes);
	t_remaining = r;
	if (LIKELY(r >= 0))
		return real.calloc(n, size);
	return calloc_slow(n, size, RA());
}

/* The boot arena's blocks are never released; nothing else is looked at unless --all
 * records every free or a sampled block may be the one freed. */
__attribute__((noinline)) static void free_slow(void *p)
{
	if (in_boot(p))
		return;
	on_free(SONDE_MEMEV_FREE, p, 0);
	real.free(p);
}

EXPORT void free(void *p)
{
	uintptr_t u = (uintptr_t)p;
	size_t gate = atomic_load_explicit(&g_free_gate, memory_order_relaxed);
	if (LIKELY(gate == 0)) {
		real.free(p);
		return;
	}
	if (LIKELY(u - (uintptr_t)boot_arena >= sizeof boot_arena)) {
		if (!(gate & GATE_ALL)) {
			if (!filter_maybe(u)) {
				real.free(p);
				return;
			}
		} else {
			/* --all: the block allocated last by this thread becomes a TEMP event (as in
			 * on_free()), without a call. */
			tstate *t = t_state;
			if (t && t->last_alloc && t->last_ptr == u && !t_busy) {
				t->buf[t->last_alloc] |=
				        SONDE_MEMEV_TEMP; /* ALLOC (| NEXT) -> TEMP (| NEXT) */
				t->last_alloc = 0;
				real.free(p);
				return;
			}
		}
	}
	free_slow(p);
}

static void *realloc_impl(void *old, size_t n, uintptr_t ra, uintptr_t sp)
{
	if (UNLIKELY(booting()))
		return boot_alloc(n, 16);
	if (old && in_boot(old)) {
		size_t had;
		memcpy(&had, (char *)old - sizeof had, sizeof had);
		void *p = real.malloc(n);
		if (p)
			memcpy(p, old, had < n ? had : n);
		on_alloc(SONDE_MEMEV_ALLOC, p, n, ra, sp);
		return p;
	}
	if (!old) {
		void *p = real.realloc(NULL, n);
		on_alloc(SONDE_MEMEV_ALLOC, p, n, ra, sp);
		return p;
	}
	/* The free is recorded first (its number precedes the reuse of the address), which
	 * is wrong only when realloc fails; then the block is recorded again. */
	int had = on_free(SONDE_MEMEV_FREE, old, 0);
	void *p = real.realloc(old, n);
	if (p)
		on_alloc(SONDE_MEMEV_ALLOC, p, n, ra, sp);
	else if (n != 0 && had)
		record_alloc(SONDE_MEMEV_ALLOC, (uintptr_t)old, malloc_usable_size(old), ra,
		             sp); /* still live */
	return p;
}

EXPORT void *realloc(void *old, size_t n)
{
	return realloc_impl(old, n, RA(), SP());
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_impl(old, n * size, RA(), SP());
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (UNLIKELY(booting())) {
		*out = boot_alloc(n, align);
		return *out ? 0 : ENOMEM;
	}
	int rc = real.posix_memalign(out, align, n);
	if (rc == 0)
		on_alloc(SONDE_MEMEV_ALLOC, *out, n, RA(), SP());
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (UNLIKELY(booting()))
		return boot_alloc(n, align);
	void *p = real.aligned_alloc(align, n);
	on_alloc(SONDE_MEMEV_ALLOC, p, n, RA(), SP());
	return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (UNLIKELY(booting()))
		return boot_alloc(n, align);
	void *p = real.memalign(align, n);
	on_alloc(SONDE_MEMEV_ALLOC, p, n, RA(), SP());
	return p;
}

EXPORT void *valloc(size_t n)
{
	if (UNLIKELY(booting()))
		return boot_alloc(n, 4096);
	void *p = real.valloc(n);
	on_alloc(SONDE_MEMEV_ALLOC, p, n, RA(), SP());
	return p;
}

EXPORT void *pvalloc(size_t n)
{
	if (UNLIKELY(booting()))
		return boot_alloc((n + 4095) & ~(size_t)4095, 4096);
	void *p = real.pvalloc(n);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	on_alloc(SONDE_MEMEV_ALLOC, p, n ? (n + page - 1) / page * page : page, RA(), SP());
	return p;
}

/* Anonymous private mappings of at least this size count as heap. */
#define MMAP_MIN_BYTES (64u * 1024)

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (UNLIKELY(booting()))
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	void *p = real.mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && !(flags & MAP_SHARED) && len >= MMAP_MIN_BYTES)
		on_alloc(SONDE_MEMEV_MMAP, p, len, RA(), SP());
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (UNLIKELY(booting()))
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	void *p = real.mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && (flags & MAP_ANONYMOUS) && !(flags & MAP_SHARED) && len >= MMAP_MIN_BYTES)
		on_alloc(SONDE_MEMEV_MMAP, p, len, RA(), SP());
	return p;
}

EXPORT int munmap(void *addr, size_t len)
{
	if (UNLIKELY(booting()))
		return (int)syscall(SYS_munmap, addr, len);
	if (len >= MMAP_MIN_BYTES)
		on_free(SONDE_MEMEV_MUNMAP, addr, len);
	return real.munmap(addr, len);
}

/* ---- modules ---- */

/* Writes a MAPS record with the current /proc/self/maps; call with g_lock held. */
static void maps_snapshot_locked(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size_t cap = 1 << 16, len = 0;
	char *buf = raw_map(cap);
	for (;;) {
		if (!buf)
			break;
		if (len == cap) {
			char *n = raw_map(cap * 2);
			if (n)
				memcpy(n, buf, len);
			raw_unmap(buf, cap);
			buf = n;
			cap *= 2;
			continue;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (buf) {
		uint8_t gen[10];
		size_t glen = (size_t)(put_varint(gen, g_gen) - gen);
		meta_record_locked(SONDE_MEMREC_MAPS, gen, glen, buf, len);
		raw_unmap(buf, cap);
	}
}

static void modules_changed(void)
{
	if (g_mode == MODE_OFF)
		return;
	int e = errno;
	t_busy++;
	pthread_mutex_lock(&g_lock);
	g_gen++;
	maps_snapshot_locked();
	pthread_mutex_unlock(&g_lock);
	t_busy--;
	errno = e;
}

EXPORT void *dlopen(const char *file, int mode)
{
	if (UNLIKELY(booting()))
		return NULL;
	void *h = real.dlopen(file, mode);
	if (h)
		modules_changed();
	return h;
}

EXPORT int dlclose(void *h)
{
	if (UNLIKELY(booting()))
		return -1;
	int rc = real.dlclose(h);
	if (rc == 0)
		modules_changed();
	return rc;
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	booting();
	atomic_store(&g_multi, 1);
	return real.pthread_create(th, attr, fn, arg);
}

/* ---- start, fork, exit ---- */

static int open_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	/* Out of the way of programs that dup2() onto low descriptors. */
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 500);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	g_fd_dev = st.st_dev;
	g_fd_ino = st.st_ino;
	g_fd = fd;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	g_start_ns = mono_ns();
	uint8_t h[SONDE_MEMFILE_HEADER_BYTES];
	memcpy(h, SONDE_MEMFILE_MAGIC, 8);
	put_u32(h + 8, SONDE_MEMFILE_VERSION);
	put_u32(h + 12, g_mode == MODE_ALL ? SONDE_MEMFILE_ALL : 0);
	put_u64(h + 16, g_sample_bytes);
	put_u64(h + 24, (uint64_t)getpid());
	put_u64(h + 32, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
	put_u64(h + 40, g_start_ns);
	write_all(h, sizeof h);
	g_gen = 0;
	maps_snapshot_locked();
	return 0;
}

static void child_path(char *out, size_t cap)
{
	size_t n = strlen(g_out);
	char digits[24];
	int k = 0;
	for (unsigned long v = (unsigned long)getpid(); v; v /= 10)
		digits[k++] = (char)('0' + v % 10);
	if (n + 2 + (size_t)k > cap) {
		out[0] = 0;
		return;
	}
	memcpy(out, g_out, n);
	out[n++] = '.';
	while (k)
		out[n++] = digits[--k];
	out[n] = 0;
}

static void at_prepare(void)
{
	if (g_mode != MODE_OFF)
		pthread_mutex_lock(&g_lock);
}

static void at_parent(void)
{
	if (g_mode != MODE_OFF)
		pthread_mutex_unlock(&g_lock);
}

static void at_child(void)
{
	if (g_mode == MODE_OFF)
		return;
	pthread_mutex_init(&g_lock, NULL);
	t_busy++;
	close(g_fd);
	g_fd = -1;
	/* The parent writes what its threads buffered; the child starts afresh. */
	for (tstate *t = g_threads; t; t = t->next)
		if (t != t_state)
			t->in_use = 0;
	if (t_state) {
		buf_reset(t_state);
		memset(t_state->cache, 0, sizeof t_state->cache);
		t_state->tid = (uint32_t)syscall(SYS_gettid);
	}
	g_nstacks = 0;
	g_frames_len = 0;
	if (g_stab)
		memset(g_stab, 0, (g_stab_mask + 1) * sizeof *g_stab);
	g_meta_len = 0;
	char path[sizeof g_out];
	child_path(path, sizeof path);
	if (!path[0] || open_output(path) < 0) {
		g_mode = MODE_OFF;
		atomic_fetch_and(&g_free_gate, ~GATE_ALL);
	}
	t_busy--;
}

__attribute__((constructor)) static void memrec_start(void)
{
	booting();
	const char *out = getenv("SONDE_MEM_OUT");
	if (!out || !*out || strlen(out) + 1 > sizeof g_out) {
		atomic_store_explicit(&g_ready, 1, memory_order_release); /* MODE_OFF */
		return;
	}
	strcpy(g_out, out);
	const char *sb = getenv("SONDE_MEM_SAMPLE_BYTES");
	g_sample_bytes = sb ? strtoull(sb, NULL, 10) : 512 * 1024;
	t_busy++;
	void *gcc = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
	if (gcc) {
		u_backtrace = (unwind_trace_fn)dlsym(gcc, "_Unwind_Backtrace");
		u_getip = (uintptr_t(*)(void *))dlsym(gcc, "_Unwind_GetIP");
		u_getcfa = (uintptr_t(*)(void *))dlsym(gcc, "_Unwind_GetCFA");
		if (!u_getip || !u_getcfa)
			u_backtrace = NULL;
	}
	pthread_key_create(&g_key, thread_exit);
	pthread_atfork(at_prepare, at_parent, at_child);
	const char *pid = getenv("SONDE_MEM_PID");
	char path[sizeof g_out];
	g_mode = g_sample_bytes == 0 ? MODE_ALL : MODE_SAMPLE;
	if (pid && strtol(pid, NULL, 10) == (long)getpid())
		strcpy(path, g_out);
	else
		child_path(path, sizeof path);
	pthread_mutex_lock(&g_lock);
	if (!path[0] || open_output(path) < 0)
		g_mode = MODE_OFF;
	pthread_mutex_unlock(&g_lock);
	if (g_mode == MODE_ALL)
		atomic_fetch_or(&g_free_gate, GATE_ALL);
	atomic_store_explicit(&g_ready, 1, memory_order_release);
	t_busy--;
}

__attribute__((destructor)) static void memrec_stop(void)
{
	if (g_mode == MODE_OFF)
		return;
	t_busy++;
	pthread_mutex_lock(&g_lock);
	for (tstate *t = g_threads; t; t = t->next)
		if (t->in_use)
			buf_flush_locked(t);
	g_gen++;
	maps_snapshot_locked();
	meta_flush_locked();
	uint8_t rec[40], *p = rec + 5;
	p = put_varint(p, atomic_load(&g_seq));
	p = put_varint(p, mono_ns() - g_start_ns);
	p = put_varint(p, atomic_load(&g_lost));
	rec[0] = SONDE_MEMREC_END;
	put_u32(rec + 1, (uint32_t)(p - rec - 5));
	write_all(rec, (size_t)(p - rec));
	g_stopped = 1;
	g_mode = MODE_OFF;
	atomic_fetch_and(&g_free_gate, ~GATE_ALL);
	pthread_mutex_unlock(&g_lock);
	t_busy--;
}
