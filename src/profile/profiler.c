/*
 * profiler.c - the CPU profiler's engine (see profiler.h).
 *
 * Design notes. Samples are unwound as they are drained from the rings, while the maps
 * they refer to are current. Each frame becomes a raw frame: (module, file offset) for
 * addresses in files, (pid, address) for anonymous memory (JIT code), a kernel address,
 * or a thread; raw frames and raw stacks (sequences of raw frame ids, leaf first) are
 * interned in hash tables here, with a sample count and CPU time per stack. Nothing is
 * symbolized while recording. sonde_profiler_stacktab() symbolizes the raw frames added
 * since its last call (each becomes one or more stack-table frames: inlined ones first),
 * interns the new raw stacks into the stack table, and adds the counts that grew, so it
 * can be called once at the end (record) or every second (top).
 *
 * Non-leaf addresses are return addresses: they are looked up one byte earlier, inside
 * the call instruction, so that a call at the very end of a function (noreturn) and the
 * line of the call come out right.
 */
#define _GNU_SOURCE /* pipe2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "hash.h"
#include "intern.h"
#include "perf_events.h"
#include "procmodel_internal.h"
#include "profiler.h"
#include "symbolize.h"
#include "unwind_internal.h"

enum {
	KIND_MODULE = 0, /* module, addr = file offset */
	KIND_ANON = 1,   /* pid, addr = address (JIT or unknown memory) */
	KIND_KERNEL = 2, /* addr = kernel address */
	KIND_THREAD = 3, /* addr = index into threads[] names */
	FLAG_RET = 4,    /* a return address: look up addr - 1 */
	MAX_FRAMES = 256,
};

typedef struct rawframe {
	uint64_t addr;
	uint32_t module; /* KIND_MODULE: module id; KIND_ANON: pid */
	uint32_t kind;   /* KIND_* | FLAG_RET */
} rawframe;

typedef struct thread_name {
	uint32_t tid;
	const char *name; /* interned */
} thread_name;

typedef struct thread {
	uint32_t tid, pid;
	const char *comm; /* interned */
	int32_t name_id;  /* index in names of (tid, comm), -1 before the first sample */
	bool sampled;
	bool comm_read; /* /proc was asked for the name once */
} thread;

struct sonde_profiler {
	sonde_profiler_opts opts;
	sonde_perf *perf;
	sonde_symbolizer *sym;
	sonde__procmodel model;
	sonde_arena arena;
	sonde_intern strings;

	/* targets */
	pid_t *targets;
	size_t ntargets;
	pid_t child;   /* spawned command, 0 when none */
	int child_go;  /* write end: releases the child to exec */
	int child_err; /* read end: errno of a failed exec */
	bool child_reaped;
	int child_status;

	/* threads */
	thread *threads;
	size_t nthreads, threads_cap;
	thread_name *names;
	size_t nnames, names_cap;

	/* raw frames */
	rawframe *frames;
	size_t nframes, frames_cap;
	uint32_t *frame_index; /* id + 1, 0 empty */
	size_t frame_mask;

	/* raw stacks */
	uint32_t *pool;
	size_t pool_len, pool_cap;
	size_t *stack_off;
	uint32_t *stack_len;
	int64_t *stack_samples, *stack_cpu;
	size_t nstacks, stacks_cap;
	uint32_t *stack_index;
	size_t stack_mask;

	/* symbolized view */
	sonde_stacktab *tab;
	size_t synced_frames, synced_stacks;
	uint32_t *resolved_off, *resolved_len; /* per raw frame, into resolved_pool */
	uint32_t *resolved_pool;
	size_t resolved_len_total, resolved_cap;
	uint32_t *tab_stack; /* per raw stack */
	int64_t *pushed_samples, *pushed_cpu;

	/* stats */
	sonde_profiler_stats st;
	uint64_t start_ns, stop_ns;
	bool started, stopped;
	int error; /* first out-of-memory while processing */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void release_proc_state(void *ctx, sonde__proc *p)
{
	(void)ctx;
	sonde__unwind_dwarf.proc_release(p);
}

int sonde_profiler_new(const sonde_profiler_opts *opts, sonde_profiler **out)
{
	sonde_profiler *pr = calloc(1, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	if (opts)
		pr->opts = *opts;
	if (!pr->opts.freq_hz)
		pr->opts.freq_hz = 99;
	if (!pr->opts.stack_bytes)
		pr->opts.stack_bytes = SONDE_PROFILER_STACK_BYTES;
	pr->child_go = pr->child_err = -1;
	sonde_arena_init(&pr->arena);
	sonde_intern_init(&pr->strings, &pr->arena);
	sonde_symbolizer_opts so = {pr->opts.debug_dirs, pr->opts.debug_dirs_count, false, false,
	                            pr->opts.debug_cache};
	pr->sym = sonde_symbolizer_new(&so);
	pr->tab = sonde_stacktab_new();
	if (!pr->sym || !pr->tab || sonde_stacktab_add_type(pr->tab, "samples", "count") != 0 ||
	    sonde_stacktab_add_type(pr->tab, "cpu", "nanoseconds") != 1) {
		sonde_profiler_free(pr);
		return -ENOMEM;
	}
	sonde__procmodel_init(&pr->model, pr->sym);
	pr->model.proc_release = release_proc_state;
	pr->model.dwarf_unwinder = (int)pr->opts.unwinder;
	sonde_perf_opts po = {
	        .freq_hz = pr->opts.freq_hz,
	        .kernel = pr->opts.kernel,
	        .user_callchain = pr->opts.callgraph != SONDE_CALLGRAPH_DWARF,
	        .stack_bytes = pr->opts.callgraph != SONDE_CALLGRAPH_FP ? pr->opts.stack_bytes : 0,
	};
	int rc = sonde_perf_new(&po, &pr->perf);
	if (rc) {
		sonde_profiler_free(pr);
		return rc;
	}
	*out = pr;
	return 0;
}

void sonde_profiler_free(sonde_profiler *pr)
{
	if (!pr)
		return;
	sonde_perf_free(pr->perf);
	if (pr->child && pr->child_go >= 0) { /* never released: it must not run */
		kill(pr->child, SIGKILL);
		waitpid(pr->child, NULL, 0);
	}
	if (pr->child_go >= 0)
		close(pr->child_go);
	if (pr->child_err >= 0)
		close(pr->child_err);
	sonde__procmodel_release(&pr->model);
	sonde_symbolizer_free(pr->sym);
	sonde_stacktab_free(pr->tab);
	sonde_intern_release(&pr->strings);
	sonde_arena_release(&pr->arena);
	free(pr->targets);
	free(pr->threads);
	free(pr->names);
	free(pr->frames);
	free(pr->frame_index);
	free(pr->pool);
	free(pr->stack_off);
	free(pr->stack_len);
	free(pr->stack_samples);
	free(pr->stack_cpu);
	free(pr->stack_index);
	free(pr->resolved_off);
	free(pr->resolved_len);
	free(pr->resolved_pool);
	free(pr->tab_stack);
	free(pr->pushed_samples);
	free(pr->pushed_cpu);
	free(pr);
}

/* --- threads --- */

static thread *thread_get(sonde_profiler *pr, uint32_t tid, uint32_t pid)
{
	for (size_t i = pr->nthreads; i > 0; i--)
		if (pr->threads[i - 1].tid == tid)
			return &pr->threads[i - 1];
	if (pr->nthreads == pr->threads_cap) {
		size_t nc = pr->threads_cap ? pr->threads_cap * 2 : 16;
		thread *t = realloc(pr->threads, nc * sizeof(*t));
		if (!t)
			return NULL;
		pr->threads = t;
		pr->threads_cap = nc;
	}
	thread *t = &pr->threads[pr->nthreads++];
	*t = (thread){tid, pid, "", -1, false, false};
	return t;
}

static void thread_set_comm(sonde_profiler *pr, thread *t, const char *comm)
{
	const char *c = sonde_intern_str(&pr->strings, comm, strlen(comm));
	if (c && c != t->comm) {
		t->comm = c;
		t->name_id = -1;
	}
}

/* The index of the thread's current (tid, comm) name, for its root frame. */
static int32_t thread_name_id(sonde_profiler *pr, thread *t)
{
	if (t->name_id >= 0)
		return t->name_id;
	for (size_t i = 0; i < pr->nnames; i++)
		if (pr->names[i].tid == t->tid && pr->names[i].name == t->comm)
			return t->name_id = (int32_t)i;
	if (pr->nnames == pr->names_cap) {
		size_t nc = pr->names_cap ? pr->names_cap * 2 : 16;
		thread_name *n = realloc(pr->names, nc * sizeof(*n));
		if (!n)
			return -1;
		pr->names = n;
		pr->names_cap = nc;
	}
	pr->names[pr->nnames] = (thread_name){t->tid, t->comm};
	return t->name_id = (int32_t)pr->nnames++;
}

static void read_comm(sonde_profiler *pr, pid_t pid, pid_t tid)
{
	char path[64], comm[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f)) {
			char *nl = strchr(comm, '\n');
			if (nl)
				*nl = '\0';
		}
		fclose(f);
	}
	thread *t = thread_get(pr, (uint32_t)tid, (uint32_t)pid);
	if (t)
		thread_set_comm(pr, t, comm);
}

/* --- raw frames and stacks --- */

static uint64_t rawframe_hash(const rawframe *f)
{
	return sonde_hash_mix(f->addr ^ ((uint64_t)f->module << 32 | f->kind), 0x9e3779b97f4a7c15ull);
}

static int frames_grow_index(sonde_profiler *pr)
{
	size_t cap = pr->frame_index ? (pr->frame_mask + 1) * 2 : 1024;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < pr->nframes; i++) {
		size_t j = rawframe_hash(&pr->frames[i]) & (cap - 1);
		while (idx[j])
			j = (j + 1) & (cap - 1);
		idx[j] = (uint32_t)i + 1;
	}
	free(pr->frame_index);
	pr->frame_index = idx;
	pr->frame_mask = cap - 1;
	return 0;
}

static int64_t rawframe_id(sonde_profiler *pr, uint32_t kind, uint32_t module, uint64_t addr)
{
	rawframe f = {addr, module, kind};
	if (!pr->frame_index || (pr->nframes + 1) * 2 > pr->frame_mask + 1)
		if (frames_grow_index(pr) != 0)
			return -ENOMEM;
	size_t j = rawframe_hash(&f) & pr->frame_mask;
	while (pr->frame_index[j]) {
		const rawframe *g = &pr->frames[pr->frame_index[j] - 1];
		if (g->addr == addr && g->module == module && g->kind == kind)
			return pr->frame_index[j] - 1;
		j = (j + 1) & pr->frame_mask;
	}
	if (pr->nframes == pr->frames_cap) {
		size_t nc = pr->frames_cap ? pr->frames_cap * 2 : 1024;
		rawframe *nf = realloc(pr->frames, nc * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		pr->frames = nf;
		pr->frames_cap = nc;
	}
	pr->frames[pr->nframes] = f;
	pr->frame_index[j] = (uint32_t)pr->nframes + 1;
	return (int64_t)pr->nframes++;
}

static uint64_t stack_hash(const uint32_t *ids, size_t n)
{
	return sonde_hash_bytes(ids, n * sizeof(*ids), 0x51ed270b);
}

static int stacks_grow_index(sonde_profiler *pr)
{
	size_t cap = pr->stack_index ? (pr->stack_mask + 1) * 2 : 1024;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < pr->nstacks; i++) {
		size_t j = stack_hash(pr->pool + pr->stack_off[i], pr->stack_len[i]) & (cap - 1);
		while (idx[j])
			j = (j + 1) & (cap - 1);
		idx[j] = (uint32_t)i + 1;
	}
	free(pr->stack_index);
	pr->stack_index = idx;
	pr->stack_mask = cap - 1;
	return 0;
}

#define GROW(arr, cap_new)                                              \
	do {                                                            \
		void *np_ = realloc((arr), (cap_new) * sizeof(*(arr))); \
		if (!np_)                                               \
			return -ENOMEM;                                 \
		(arr) = np_;                                            \
	} while (0)

static int count_stack(sonde_profiler *pr, const uint32_t *ids, size_t n, uint64_t period)
{
	if (!pr->stack_index || (pr->nstacks + 1) * 2 > pr->stack_mask + 1)
		if (stacks_grow_index(pr) != 0)
			return -ENOMEM;
	size_t j = stack_hash(ids, n) & pr->stack_mask;
	while (pr->stack_index[j]) {
		size_t s = pr->stack_index[j] - 1;
		if (pr->stack_len[s] == n &&
		    memcmp(pr->pool + pr->stack_off[s], ids, n * sizeof(*ids)) == 0) {
			pr->stack_samples[s]++;
			pr->stack_cpu[s] += (int64_t)period;
			return 0;
		}
		j = (j + 1) & pr->stack_mask;
	}
	if (pr->pool_cap - pr->pool_len < n) {
		size_t nc = pr->pool_cap ? pr->pool_cap * 2 : 65536;
		while (nc - pr->pool_len < n)
			nc *= 2;
		GROW(pr->pool, nc);
		pr->pool_cap = nc;
	}
	if (pr->nstacks == pr->stacks_cap) {
		size_t nc = pr->stacks_cap ? pr->stacks_cap * 2 : 1024;
		GROW(pr->stack_off, nc);
		GROW(pr->stack_len, nc);
		GROW(pr->stack_samples, nc);
		GROW(pr->stack_cpu, nc);
		pr->stacks_cap = nc;
	}
	memcpy(pr->pool + pr->pool_len, ids, n * sizeof(*ids));
	size_t s = pr->nstacks++;
	pr->stack_off[s] = pr->pool_len;
	pr->stack_len[s] = (uint32_t)n;
	pr->stack_samples[s] = 1;
	pr->stack_cpu[s] = (int64_t)period;
	pr->pool_len += n;
	pr->stack_index[j] = (uint32_t)s + 1;
	return 0;
}

/* --- records --- */

static int64_t user_frame(sonde_profiler *pr, sonde__proc *p, uint64_t ip, uint32_t ret)
{
	sonde__resolved r;
	if (sonde__proc_resolve(&pr->model, p, ip, &r) && r.module != SONDE__NO_MODULE)
		return rawframe_id(pr, KIND_MODULE | ret, r.module, r.offset);
	return rawframe_id(pr, KIND_ANON | ret, (uint32_t)p->pid, ip);
}

static void on_sample(sonde_profiler *pr, const sonde_perf_record *s)
{
	sonde__proc *p = sonde__procmodel_proc(&pr->model, (pid_t)s->pid);
	thread *t = thread_get(pr, s->tid, s->pid);
	if (!p || !t) {
		pr->error = -ENOMEM;
		return;
	}
	if (!t->sampled) {
		t->sampled = true;
		pr->st.threads++;
	}
	if (!t->comm[0] && !t->comm_read) { /* no comm or fork record told its name */
		t->comm_read = true;
		read_comm(pr, (pid_t)s->pid, (pid_t)s->tid);
	}
	uint32_t ids[MAX_FRAMES + 1];
	size_t n = 0;
	/* Kernel frames, leaf first, from the callchain. */
	bool kernel = false;
	for (size_t i = 0; i < s->u.sample.chain_len && n < MAX_FRAMES / 2; i++) {
		uint64_t ip = s->u.sample.chain[i];
		if (ip >= (uint64_t)PERF_CONTEXT_MAX) {
			kernel = ip == (uint64_t)PERF_CONTEXT_KERNEL;
			continue;
		}
		if (kernel) {
			int64_t id = rawframe_id(pr, KIND_KERNEL | (n ? FLAG_RET : 0), 0, ip);
			if (id >= 0)
				ids[n++] = (uint32_t)id;
		}
	}
	if (s->u.sample.in_kernel && n == 0) {
		int64_t id = rawframe_id(pr, KIND_KERNEL, 0, s->u.sample.ip);
		if (id >= 0)
			ids[n++] = (uint32_t)id;
	}
	/* User frames. */
	uint64_t ips[MAX_FRAMES];
	size_t nu = 0;
	bool complete = false;
	sonde_callgraph cg = pr->opts.callgraph;
	if (cg != SONDE_CALLGRAPH_FP)
		nu = sonde__unwind_dwarf.unwind(&pr->model, p, s, ips, MAX_FRAMES - n, &complete);
	if (complete)
		pr->st.dwarf_complete++;
	if (cg == SONDE_CALLGRAPH_FP || (cg == SONDE_CALLGRAPH_AUTO && !complete)) {
		uint64_t fips[MAX_FRAMES];
		bool fc;
		size_t nf = sonde__unwind_fp.unwind(&pr->model, p, s, fips, MAX_FRAMES - n, &fc);
		if (cg == SONDE_CALLGRAPH_FP || nf > nu) {
			memcpy(ips, fips, nf * sizeof(*ips));
			nu = nf;
			pr->st.fp_used++;
		} else {
			pr->st.dwarf_used++;
		}
	} else {
		pr->st.dwarf_used++;
	}
	if (nu == 0 && !s->u.sample.in_kernel) {
		ips[0] = s->u.sample.ip;
		nu = 1;
	}
	for (size_t i = 0; i < nu && n < MAX_FRAMES; i++) {
		int64_t id = user_frame(pr, p, ips[i], i ? FLAG_RET : 0);
		if (id >= 0)
			ids[n++] = (uint32_t)id;
	}
	if (pr->opts.threads) {
		int32_t name = thread_name_id(pr, t);
		int64_t id = name >= 0 ? rawframe_id(pr, KIND_THREAD, 0, (uint64_t)name) : -ENOMEM;
		if (id >= 0)
			ids[n++] = (uint32_t)id;
	}
	if (count_stack(pr, ids, n, s->u.sample.period) != 0) {
		pr->error = -ENOMEM;
	} else {
		pr->st.samples++;
		pr->st.stack_copied += s->u.sample.stack_len;
	}
}

static void on_record(void *ctx, const sonde_perf_record *r)
{
	sonde_profiler *pr = ctx;
	switch (r->kind) {
	case SONDE_PERF_SAMPLE: on_sample(pr, r); break;
	case SONDE_PERF_MMAP: {
		sonde__proc *p = sonde__procmodel_proc(&pr->model, (pid_t)r->pid);
		if (p &&
		    sonde__proc_add_map(&pr->model, p, r->u.mmap.start, r->u.mmap.start + r->u.mmap.len,
		                        r->u.mmap.pgoff, r->u.mmap.prot, r->u.mmap.path, r->u.mmap.ino) != 0)
			pr->error = -ENOMEM;
		break;
	}
	case SONDE_PERF_COMM: {
		thread *t = thread_get(pr, r->tid, r->pid);
		if (t)
			thread_set_comm(pr, t, r->u.comm.comm);
		if (r->u.comm.exec) {
			sonde__proc *p = sonde__procmodel_proc(&pr->model, (pid_t)r->pid);
			if (p)
				sonde__proc_clear(p);
		}
		break;
	}
	case SONDE_PERF_FORK: {
		thread *parent = thread_get(pr, r->u.task.ptid, r->u.task.ppid);
		const char *comm = parent ? parent->comm : "";
		thread *t = thread_get(pr, r->tid, r->pid);
		if (t)
			thread_set_comm(pr, t, comm);
		if (r->pid != r->u.task.ppid) {
			sonde__proc *pp = sonde__procmodel_find(&pr->model, (pid_t)r->u.task.ppid);
			sonde__proc *cp = sonde__procmodel_proc(&pr->model, (pid_t)r->pid);
			if (pp && cp) {
				cp->exited = false;
				if (sonde__proc_copy_maps(cp, pp) != 0)
					pr->error = -ENOMEM;
			}
		}
		break;
	}
	case SONDE_PERF_EXIT:
		if (r->pid == r->tid) {
			sonde__proc *p = sonde__procmodel_find(&pr->model, (pid_t)r->pid);
			if (p)
				p->exited = true;
		}
		break;
	case SONDE_PERF_LOST: pr->st.lost += r->u.lost.count; break;
	}
}

/* --- targets --- */

static int add_target(sonde_profiler *pr, pid_t pid)
{
	pid_t *t = realloc(pr->targets, (pr->ntargets + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	pr->targets = t;
	pr->targets[pr->ntargets++] = pid;
	return 0;
}

int sonde_profiler_attach(sonde_profiler *pr, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	sonde__proc *p = sonde__procmodel_proc(&pr->model, pid);
	if (!p) {
		closedir(d);
		return -ENOMEM;
	}
	int rc = sonde__proc_load_maps(&pr->model, p);
	struct dirent *de;
	size_t added = 0;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid_t tid = (pid_t)atoi(de->d_name);
		int e = sonde_perf_add_task(pr->perf, tid);
		if (e == -ESRCH) /* the thread ended meanwhile */
			continue;
		if (e) {
			rc = e;
			break;
		}
		read_comm(pr, pid, tid);
		added++;
	}
	closedir(d);
	if (rc == 0 && added == 0)
		rc = -ESRCH;
	if (rc == -ENOENT)
		rc = -ESRCH;
	return rc ? rc : add_target(pr, pid);
}

int sonde_profiler_spawn(sonde_profiler *pr, char *const argv[], pid_t *pid)
{
	int go[2], err[2];
	if (pipe2(go, O_CLOEXEC) != 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) != 0) {
		int e = -errno;
		close(go[0]);
		close(go[1]);
		return e;
	}
	pid_t child = fork();
	if (child < 0) {
		int e = -errno;
		close(go[0]);
		close(go[1]);
		close(err[0]);
		close(err[1]);
		return e;
	}
	if (child == 0) {
		char c;
		close(go[1]);
		close(err[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(argv[0], argv);
		int e = errno;
		if (write(err[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	pr->child = child;
	pr->child_go = go[1];
	pr->child_err = err[0];
	/* The child waits on the pipe: its events may be opened now and start at exec. */
	sonde_perf_free(pr->perf);
	pr->perf = NULL;
	sonde_perf_opts po = {
	        .freq_hz = pr->opts.freq_hz,
	        .kernel = pr->opts.kernel,
	        .user_callchain = pr->opts.callgraph != SONDE_CALLGRAPH_DWARF,
	        .stack_bytes = pr->opts.callgraph != SONDE_CALLGRAPH_FP ? pr->opts.stack_bytes : 0,
	        .enable_on_exec = true,
	};
	int rc = sonde_perf_new(&po, &pr->perf);
	if (rc == 0)
		rc = sonde_perf_add_task(pr->perf, child);
	if (rc == 0 && !sonde__procmodel_proc(&pr->model, child))
		rc = -ENOMEM;
	if (rc == 0)
		rc = add_target(pr, child);
	if (rc) {
		close(pr->child_go);
		pr->child_go = -1;
		waitpid(child, NULL, 0);
		pr->child = 0;
		return rc;
	}
	*pid = child;
	return 0;
}

int sonde_profiler_start(sonde_profiler *pr)
{
	pr->start_ns = mono_ns();
	pr->started = true;
	if (pr->child && pr->child_go >= 0) {
		ssize_t w = write(pr->child_go, "g", 1);
		close(pr->child_go);
		pr->child_go = -1;
		int e = 0;
		ssize_t got;
		do
			got = read(pr->child_err, &e, sizeof(e));
		while (got < 0 && errno == EINTR);
		close(pr->child_err);
		pr->child_err = -1;
		if (w != 1 || got == (ssize_t)sizeof(e)) {
			waitpid(pr->child, &pr->child_status, 0);
			pr->child_reaped = true;
			return w != 1 ? -EPIPE : -e;
		}
	}
	/* A spawned child's events start at exec; enabling them all is harmless then. */
	return sonde_perf_enable(pr->perf);
}

int sonde_profiler_poll(sonde_profiler *pr, int timeout_ms)
{
	int rc = sonde_perf_poll(pr->perf, timeout_ms);
	if (rc < 0 && rc != -EINTR)
		return rc;
	ssize_t n = sonde_perf_drain(pr->perf, on_record, pr);
	if (n < 0)
		return (int)n;
	if (pr->error)
		return pr->error;
	return rc == -EINTR ? -EINTR : 0;
}

int sonde_profiler_stop(sonde_profiler *pr)
{
	if (pr->stopped)
		return 0;
	pr->stopped = true;
	pr->stop_ns = mono_ns();
	int rc = sonde_perf_disable(pr->perf);
	ssize_t n = sonde_perf_drain(pr->perf, on_record, pr);
	if (n < 0)
		return (int)n;
	return pr->error ? pr->error : rc;
}

static bool process_alive(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

bool sonde_profiler_alive(sonde_profiler *pr, int *status)
{
	bool alive = false;
	for (size_t i = 0; i < pr->ntargets; i++) {
		pid_t pid = pr->targets[i];
		if (pid == pr->child) {
			if (!pr->child_reaped) {
				pid_t w = waitpid(pid, &pr->child_status, WNOHANG);
				if (w == pid || (w < 0 && errno == ECHILD))
					pr->child_reaped = true;
			}
			if (pr->child_reaped && status)
				*status = pr->child_status;
			alive |= !pr->child_reaped;
		} else {
			alive |= process_alive(pid);
		}
	}
	return alive;
}

/* --- symbolization into the stack table --- */

/* An address that could not be symbolized: no function, so that writers name it
 * "module+0xOFFSET" (stacktab.h's convention). */
static int64_t unresolved_frame(sonde_profiler *pr, const char *module, uint64_t off)
{
	sonde_frame f = {"", "", module, off, 0, false};
	return sonde_stacktab_intern_frame(pr->tab, &f);
}

static int push_resolved(sonde_profiler *pr, int64_t id)
{
	if (id < 0)
		return (int)id;
	if (pr->resolved_len_total == pr->resolved_cap) {
		size_t nc = pr->resolved_cap ? pr->resolved_cap * 2 : 4096;
		GROW(pr->resolved_pool, nc);
		pr->resolved_cap = nc;
	}
	pr->resolved_pool[pr->resolved_len_total++] = (uint32_t)id;
	return 0;
}

/* Symbolizes raw frame i into stack-table frames appended to resolved_pool. */
static int resolve_frame(sonde_profiler *pr, size_t i)
{
	const rawframe *rf = &pr->frames[i];
	uint32_t kind = rf->kind & 3;
	uint64_t back = (rf->kind & FLAG_RET) ? 1 : 0;
	char buf[64];
	switch (kind) {
	case KIND_THREAD: {
		const thread_name *tn = &pr->names[rf->addr];
		return push_resolved(pr, sonde_stacktab_intern_thread(pr->tab, tn->name, tn->tid));
	}
	case KIND_KERNEL: {
		const char *module;
		const char *name = sonde_symbolizer_kernel(pr->sym, rf->addr - back, &module);
		if (!*name)
			return push_resolved(pr, unresolved_frame(pr, module, rf->addr));
		sonde_frame f = {name, "", module, rf->addr, 0, false};
		return push_resolved(pr, sonde_stacktab_intern_frame(pr->tab, &f));
	}
	case KIND_ANON: {
		const char *name = sonde_symbolizer_perfmap(pr->sym, (pid_t)rf->module, rf->addr - back);
		if (!name)
			return push_resolved(pr, unresolved_frame(pr, "[anon]", rf->addr));
		snprintf(buf, sizeof(buf), "/tmp/perf-%u.map", rf->module);
		sonde_frame f = {name, "", buf, rf->addr, 0, false};
		return push_resolved(pr, sonde_stacktab_intern_frame(pr->tab, &f));
	}
	default: {
		const sonde__module *mod = &pr->model.modules[rf->module];
		sonde_symfile *file = sonde__module_file(&pr->model, rf->module);
		uint64_t vaddr;
		if (!file || sonde_elf_info_vaddr(sonde_symfile_elf(file), rf->addr, &vaddr) != 0)
			return push_resolved(pr, unresolved_frame(pr, mod->path, rf->addr));
		sonde_symloc locs[32];
		size_t n = sonde_symfile_symbolize(pr->sym, file, vaddr - back, locs, 32);
		if (n == 1 && !*locs[0].function)
			return push_resolved(pr, unresolved_frame(pr, mod->path, vaddr));
		for (size_t k = 0; k < n; k++) {
			sonde_frame f = {locs[k].function, locs[k].file,   mod->path, vaddr,
			                 locs[k].line,     locs[k].inlined};
			int rc = push_resolved(pr, sonde_stacktab_intern_frame(pr->tab, &f));
			if (rc)
				return rc;
		}
		return 0;
	}
	}
}

static int sync_tab(sonde_profiler *pr)
{
	if (pr->synced_frames < pr->nframes) {
		GROW(pr->resolved_off, pr->frames_cap);
		GROW(pr->resolved_len, pr->frames_cap);
		for (size_t i = pr->synced_frames; i < pr->nframes; i++) {
			size_t before = pr->resolved_len_total;
			int rc = resolve_frame(pr, i);
			if (rc)
				return rc;
			pr->resolved_off[i] = (uint32_t)before;
			pr->resolved_len[i] = (uint32_t)(pr->resolved_len_total - before);
		}
		pr->synced_frames = pr->nframes;
	}
	if (pr->synced_stacks < pr->nstacks) {
		GROW(pr->tab_stack, pr->stacks_cap);
		GROW(pr->pushed_samples, pr->stacks_cap);
		GROW(pr->pushed_cpu, pr->stacks_cap);
		uint32_t *ids = NULL;
		size_t cap = 0;
		for (size_t s = pr->synced_stacks; s < pr->nstacks; s++) {
			size_t n = 0;
			const uint32_t *raw = pr->pool + pr->stack_off[s];
			for (uint32_t k = 0; k < pr->stack_len[s]; k++) {
				uint32_t len = pr->resolved_len[raw[k]];
				if (cap - n < len) {
					size_t nc = (cap + len) * 2 + 64;
					uint32_t *ni = realloc(ids, nc * sizeof(*ni));
					if (!ni) {
						free(ids);
						return -ENOMEM;
					}
					ids = ni;
					cap = nc;
				}
				memcpy(ids + n, pr->resolved_pool + pr->resolved_off[raw[k]],
				       len * sizeof(*ids));
				n += len;
			}
			int64_t id = sonde_stacktab_intern_stack(pr->tab, ids, n);
			if (id < 0) {
				free(ids);
				return (int)id;
			}
			pr->tab_stack[s] = (uint32_t)id;
			pr->pushed_samples[s] = 0;
			pr->pushed_cpu[s] = 0;
		}
		free(ids);
		pr->synced_stacks = pr->nstacks;
	}
	for (size_t s = 0; s < pr->nstacks; s++) {
		int64_t ds = pr->stack_samples[s] - pr->pushed_samples[s];
		int64_t dc = pr->stack_cpu[s] - pr->pushed_cpu[s];
		if (ds) {
			sonde_stacktab_add(pr->tab, pr->tab_stack[s], 0, ds);
			pr->pushed_samples[s] = pr->stack_samples[s];
		}
		if (dc) {
			sonde_stacktab_add(pr->tab, pr->tab_stack[s], 1, dc);
			pr->pushed_cpu[s] = pr->stack_cpu[s];
		}
	}
	return 0;
}

const sonde_stacktab *sonde_profiler_stacktab(sonde_profiler *pr)
{
	return sync_tab(pr) == 0 ? pr->tab : NULL;
}

void sonde_profiler_get_stats(const sonde_profiler *pr, sonde_profiler_stats *out)
{
	*out = pr->st;
	out->unwind_fast = pr->model.dwarf_fast;
	out->unwind_checked = pr->model.dwarf_checked;
	out->unwind_differ = pr->model.dwarf_differ;
	out->processes = 0;
	for (size_t i = 0; i < pr->nthreads; i++) {
		if (!pr->threads[i].sampled)
			continue;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = pr->threads[j].sampled && pr->threads[j].pid == pr->threads[i].pid;
		out->processes += !seen;
	}
	if (pr->started)
		out->duration_ns = (pr->stopped ? pr->stop_ns : mono_ns()) - pr->start_ns;
}
