/*
 * threaddump.c - stacks of a live process's threads through ptrace (see threaddump.h).
 *
 * Order matters for the pause: read names and states first, then seize and interrupt
 * every thread (so the stacks are one consistent moment), unwind each into raw addresses
 * with one libunwind address space (its caches serve every thread), detach all, and
 * symbolize afterwards from /proc/PID/maps and the files, with the process running again.
 */
#include <dirent.h>
#include <errno.h>
#include <libunwind-ptrace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include "procmodel_internal.h"
#include "symbolize.h"
#include "threaddump.h"

enum { MAX_DEPTH = 256 };

typedef struct raw_thread {
	bool seized;
	uint64_t ips[MAX_DEPTH];
	size_t n;
} raw_thread;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void read_line(const char *path, char *out, size_t cap)
{
	out[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(out, (int)cap, f)) {
		char *nl = strchr(out, '\n');
		if (nl)
			*nl = '\0';
	}
	fclose(f);
}

static char read_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	read_line(path, buf, sizeof(buf));
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] ? rp[2] : '?';
}

const char *sonde_dump_state_name(char state)
{
	switch (state) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk sleep";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	default: return "unknown";
	}
}

void sonde_dump_free(sonde_dump *d)
{
	if (!d)
		return;
	sonde_stacktab_free(d->tab);
	free(d->threads);
	free(d);
}

static int list_threads(sonde_dump *d)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)d->pid);
	DIR *dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (d->nthreads == cap) {
			size_t nc = cap ? cap * 2 : 16;
			sonde_dump_thread *t = realloc(d->threads, nc * sizeof(*t));
			if (!t) {
				closedir(dir);
				return -ENOMEM;
			}
			d->threads = t;
			cap = nc;
		}
		sonde_dump_thread *t = &d->threads[d->nthreads++];
		memset(t, 0, sizeof(*t));
		t->tid = (pid_t)atoi(de->d_name);
		char p2[96];
		snprintf(p2, sizeof(p2), "/proc/%d/task/%d/comm", (int)d->pid, (int)t->tid);
		read_line(p2, t->name, sizeof(t->name));
		t->state = read_state(d->pid, t->tid);
	}
	closedir(dir);
	return d->nthreads ? 0 : -ESRCH;
}

/* Seizes and stops one thread. Returns 0 or -errno. */
static int stop_thread(pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0) {
		int e = -errno;
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return e;
	}
	int status;
	if (waitpid(tid, &status, __WALL) != tid) {
		int e = -errno;
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return e;
	}
	return 0;
}

static void unwind_thread(unw_addr_space_t as, pid_t tid, raw_thread *r)
{
	void *upt = _UPT_create(tid);
	if (!upt)
		return;
	unw_cursor_t c;
	if (unw_init_remote(&c, as, upt) == 0) {
		do {
			unw_word_t ip;
			if (unw_get_reg(&c, UNW_REG_IP, &ip) != 0 || ip == 0)
				break;
			r->ips[r->n++] = ip;
		} while (r->n < MAX_DEPTH && unw_step(&c) > 0);
	}
	_UPT_destroy(upt);
}

/* Interns the frames of one address of process p (inlined ones first). */
static int intern_addr(sonde__procmodel *m, sonde__proc *p, sonde_stacktab *tab, uint64_t ip, bool ret,
                       uint32_t *ids, size_t *n, size_t max)
{
	sonde__resolved r;
	sonde_frame f = {0};
	if (!sonde__proc_resolve(m, p, ip, &r) || r.module == SONDE__NO_MODULE) {
		f.module = "[anon]";
		f.address = ip;
	} else if (!r.file || !r.vaddr_ok) {
		f.module = m->modules[r.module].path;
		f.address = r.offset;
	} else {
		sonde_symloc locs[16];
		size_t k = sonde_symfile_symbolize(m->sym, r.file, r.vaddr - (ret ? 1 : 0), locs, 16);
		for (size_t i = 0; i < k && *n < max; i++) {
			sonde_frame g = {locs[i].function, locs[i].file, m->modules[r.module].path,
			                 r.vaddr,          locs[i].line, locs[i].inlined};
			int64_t id = sonde_stacktab_intern_frame(tab, &g);
			if (id < 0)
				return (int)id;
			ids[(*n)++] = (uint32_t)id;
		}
		return 0;
	}
	int64_t id = sonde_stacktab_intern_frame(tab, &f);
	if (id < 0)
		return (int)id;
	if (*n < max)
		ids[(*n)++] = (uint32_t)id;
	return 0;
}

int sonde_dump_process(pid_t pid, sonde_dump **out)
{
	sonde_dump *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pid = pid;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	read_line(path, d->name, sizeof(d->name));
	int rc = list_threads(d);
	raw_thread *raw = rc ? NULL : calloc(d->nthreads, sizeof(*raw));
	if (!rc && !raw)
		rc = -ENOMEM;
	d->tab = rc ? NULL : sonde_stacktab_new();
	if (!rc && (!d->tab || sonde_stacktab_add_type(d->tab, "samples", "count") != 0))
		rc = -ENOMEM;
	if (rc) {
		free(raw);
		sonde_dump_free(d);
		return rc;
	}

	unw_addr_space_t as = unw_create_addr_space(&_UPT_accessors, 0);
	if (as)
		unw_set_caching_policy(as, UNW_CACHE_GLOBAL);
	uint64_t t0 = mono_ns();
	size_t stopped = 0;
	for (size_t i = 0; i < d->nthreads; i++) {
		d->threads[i].error = stop_thread(d->threads[i].tid);
		raw[i].seized = d->threads[i].error == 0;
		stopped += raw[i].seized;
	}
	for (size_t i = 0; i < d->nthreads && as; i++)
		if (raw[i].seized)
			unwind_thread(as, d->threads[i].tid, &raw[i]);
	for (size_t i = 0; i < d->nthreads; i++)
		if (raw[i].seized)
			ptrace(PTRACE_DETACH, d->threads[i].tid, NULL, NULL);
	d->pause_ns = mono_ns() - t0;
	if (as)
		unw_destroy_addr_space(as);
	if (stopped == 0) {
		rc = d->threads[0].error == -ESRCH ? -ESRCH : d->threads[0].error;
		free(raw);
		sonde_dump_free(d);
		return rc ? rc : -ESRCH;
	}

	sonde_symbolizer *sym = sonde_symbolizer_new(NULL);
	sonde__procmodel m;
	sonde__procmodel_init(&m, sym);
	sonde__proc *p = sym ? sonde__procmodel_proc(&m, pid) : NULL;
	rc = p ? 0 : -ENOMEM;
	if (p)
		sonde__proc_load_maps(&m, p);
	uint32_t ids[MAX_DEPTH * 4 + 1];
	for (size_t i = 0; i < d->nthreads && rc == 0; i++) {
		size_t n = 0;
		for (size_t k = 0; k < raw[i].n && rc == 0; k++)
			rc = intern_addr(&m, p, d->tab, raw[i].ips[k], k > 0, ids, &n, MAX_DEPTH * 4);
		int64_t th =
		        rc ? -1 : sonde_stacktab_intern_thread(d->tab, d->threads[i].name, d->threads[i].tid);
		if (th < 0) {
			rc = -ENOMEM;
			break;
		}
		ids[n++] = (uint32_t)th;
		int64_t sid = sonde_stacktab_intern_stack(d->tab, ids, n);
		if (sid < 0) {
			rc = (int)sid;
			break;
		}
		d->threads[i].stack = (uint32_t)sid;
		sonde_stacktab_add(d->tab, (uint32_t)sid, 0, 1);
	}
	sonde__procmodel_release(&m);
	sonde_symbolizer_free(sym);
	free(raw);
	if (rc) {
		sonde_dump_free(d);
		return rc;
	}
	*out = d;
	return 0;
}
