/*
 * perf_events.c - the sampler over perf_event_open (see perf_events.h).
 *
 * Design notes. For every task and every CPU one cpu-clock event is opened with inherit,
 * so children (threads and processes) are followed by the kernel itself; per-task events
 * with inherit cannot be mmapped on their own (the kernel refuses rings shared by inherited
 * per-task counters), which is why events are per CPU: the first event of a CPU owns that
 * CPU's ring and the others redirect into it (PERF_EVENT_IOC_SET_OUTPUT). The tracking
 * bits (mmap, comm, task) are set on every event; the kernel delivers side-band records
 * only to the event of the CPU the task runs on, so they are not duplicated. A record
 * that wraps around the end of a ring is copied into a scratch buffer before decoding.
 * drain() merges the rings by time, so records reach the caller in time order across
 * CPUs as far as what was in the rings allows.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "perf_events.h"

/* perf's x86-64 register numbers of SONDE_REG_*, in order. */
static const int perf_reg_ids[SONDE_REG_COUNT] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 18, 19, 20, 21, 22, 23};

typedef struct ring {
	int fd; /* the leader event of this CPU */
	struct perf_event_mmap_page *meta;
	uint8_t *data;
	size_t size;      /* data bytes, a power of two */
	uint8_t *scratch; /* 64 KiB, for a record that wraps around the end */
} ring;

/* The next record of a ring, decoded (rec points into the ring or into its scratch). */
typedef struct cursor {
	uint64_t tail, head;
	bool ready;
	sonde_perf_record r;
} cursor;

struct sonde_perf {
	sonde_perf_opts opts;
	int ncpus;
	ring *rings; /* ncpus; fd -1 for a CPU that could not be opened */
	int *fds;    /* every event */
	size_t nfds, fds_cap;
	pid_t *tasks;
	size_t ntasks, tasks_cap;
	uint64_t regs_mask;
	struct pollfd *pfds;
	cursor *cursors; /* ncpus, for drain() */
};

int sonde_perf_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int v = INT32_MIN;
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = INT32_MIN;
		fclose(f);
	}
	return v;
}

int sonde_perf_new(const sonde_perf_opts *opts, sonde_perf **out)
{
	sonde_perf *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (opts)
		p->opts = *opts;
	if (!p->opts.freq_hz)
		p->opts.freq_hz = 99;
	if (p->opts.stack_bytes > 65528)
		p->opts.stack_bytes = 65528;
	p->opts.stack_bytes &= ~7u;
	if (!p->opts.ring_pages)
		p->opts.ring_pages = p->opts.stack_bytes ? 1024 : 128;
	while (p->opts.ring_pages & (p->opts.ring_pages - 1))
		p->opts.ring_pages &= p->opts.ring_pages - 1;
	long n = sysconf(_SC_NPROCESSORS_CONF);
	p->ncpus = n > 0 ? (int)n : 1;
	p->rings = calloc((size_t)p->ncpus, sizeof(*p->rings));
	p->pfds = calloc((size_t)p->ncpus, sizeof(*p->pfds));
	p->cursors = calloc((size_t)p->ncpus, sizeof(*p->cursors));
	if (!p->rings || !p->pfds || !p->cursors) {
		sonde_perf_free(p);
		return -ENOMEM;
	}
	for (int c = 0; c < p->ncpus; c++)
		p->rings[c].fd = -1;
	for (int i = 0; i < SONDE_REG_COUNT; i++)
		p->regs_mask |= 1ull << perf_reg_ids[i];
	*out = p;
	return 0;
}

void sonde_perf_free(sonde_perf *p)
{
	if (!p)
		return;
	for (int c = 0; p->rings && c < p->ncpus; c++) {
		if (p->rings[c].meta)
			munmap(p->rings[c].meta, p->rings[c].size + (size_t)sysconf(_SC_PAGESIZE));
		free(p->rings[c].scratch);
	}
	for (size_t i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	free(p->fds);
	free(p->rings);
	free(p->pfds);
	free(p->cursors);
	free(p->tasks);
	free(p);
}

static int open_event(sonde_perf *p, pid_t tid, int cpu)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_CPU_CLOCK;
	a.sample_period = 1000000000ull / p->opts.freq_hz;
	a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD |
	                PERF_SAMPLE_CALLCHAIN;
	if (p->opts.stack_bytes) {
		a.sample_type |= PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
		a.sample_regs_user = p->regs_mask;
		a.sample_stack_user = p->opts.stack_bytes;
	}
	a.exclude_callchain_user = !p->opts.user_callchain;
	a.exclude_kernel = !p->opts.kernel;
	a.exclude_callchain_kernel = !p->opts.kernel;
	a.exclude_hv = 1;
	a.exclude_idle = 1;
	a.disabled = 1;
	a.enable_on_exec = p->opts.enable_on_exec;
	a.inherit = 1;
	a.mmap = 1;
	a.mmap2 = 1;
	a.comm = 1;
	a.comm_exec = 1;
	a.task = 1;
	a.sample_id_all = 1;
	a.watermark = 1;
	/* Wake the reader when half the ring is full: each wake-up is work in the sampled
	 * thread's context (an irq_work) and may preempt it for the reader; the other half
	 * is the reader's time to drain before the kernel drops samples. */
	a.wakeup_watermark = (uint32_t)(p->opts.ring_pages * (size_t)sysconf(_SC_PAGESIZE) / 2);
	a.sample_max_stack = 127;
	long fd = syscall(SYS_perf_event_open, &a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

static int map_ring(sonde_perf *p, ring *r, int fd)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (p->opts.ring_pages + 1) * page;
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	r->meta = m;
	r->data = (uint8_t *)m + page;
	r->size = p->opts.ring_pages * page;
	r->fd = fd;
	return 0;
}

int sonde_perf_add_task(sonde_perf *p, pid_t tid)
{
	for (size_t i = 0; i < p->ntasks; i++)
		if (p->tasks[i] == tid)
			return 0;
	if (p->ntasks == p->tasks_cap) {
		size_t nc = p->tasks_cap ? p->tasks_cap * 2 : 16;
		pid_t *t = realloc(p->tasks, nc * sizeof(*t));
		if (!t)
			return -ENOMEM;
		p->tasks = t;
		p->tasks_cap = nc;
	}
	if (p->fds_cap - p->nfds < (size_t)p->ncpus) {
		size_t nc = (p->fds_cap + (size_t)p->ncpus) * 2;
		int *f = realloc(p->fds, nc * sizeof(*f));
		if (!f)
			return -ENOMEM;
		p->fds = f;
		p->fds_cap = nc;
	}
	size_t first = p->nfds;
	int opened = 0, rc = 0;
	for (int c = 0; c < p->ncpus; c++) {
		int fd = open_event(p, tid, c);
		if (fd == -ENODEV || fd == -EINVAL) { /* an offline CPU */
			if (!rc)
				rc = fd;
			continue;
		}
		if (fd < 0) {
			rc = fd;
			goto fail;
		}
		p->fds[p->nfds++] = fd;
		ring *r = &p->rings[c];
		int e = r->fd < 0 ? map_ring(p, r, fd)
		                  : (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd) ? -errno : 0);
		if (e) {
			rc = e;
			goto fail;
		}
		opened++;
	}
	if (!opened)
		goto fail;
	p->tasks[p->ntasks++] = tid;
	return 0;
fail:
	/* A ring whose leader event is closed here goes with it. */
	for (size_t i = first; i < p->nfds; i++) {
		for (int c = 0; c < p->ncpus; c++) {
			if (p->rings[c].fd == p->fds[i]) {
				munmap(p->rings[c].meta, p->rings[c].size + (size_t)sysconf(_SC_PAGESIZE));
				free(p->rings[c].scratch);
				memset(&p->rings[c], 0, sizeof(p->rings[c]));
				p->rings[c].fd = -1;
			}
		}
		close(p->fds[i]);
	}
	p->nfds = first;
	return rc ? rc : -ENODEV;
}

size_t sonde_perf_tasks(const sonde_perf *p)
{
	return p->ntasks;
}

static int ioctl_all(sonde_perf *p, unsigned long req)
{
	for (size_t i = 0; i < p->nfds; i++)
		if (ioctl(p->fds[i], req, 0) != 0)
			return -errno;
	return 0;
}

int sonde_perf_enable(sonde_perf *p)
{
	return ioctl_all(p, PERF_EVENT_IOC_ENABLE);
}

int sonde_perf_disable(sonde_perf *p)
{
	return ioctl_all(p, PERF_EVENT_IOC_DISABLE);
}

int sonde_perf_poll(sonde_perf *p, int timeout_ms)
{
	nfds_t n = 0;
	for (int c = 0; c < p->ncpus; c++) {
		if (p->rings[c].fd < 0)
			continue;
		p->pfds[n].fd = p->rings[c].fd;
		p->pfds[n].events = POLLIN;
		p->pfds[n].revents = 0;
		n++;
	}
	int rc = poll(p->pfds, n, timeout_ms);
	if (rc < 0)
		return -errno;
	return rc > 0;
}

/* Cursor over one record's body. */
typedef struct rd {
	const uint8_t *p, *end;
	bool bad;
} rd;

static uint64_t rd_u64(rd *r)
{
	uint64_t v = 0;
	if (r->end - r->p < 8) {
		r->bad = true;
		r->p = r->end;
		return 0;
	}
	memcpy(&v, r->p, 8);
	r->p += 8;
	return v;
}

static void rd_u32x2(rd *r, uint32_t *a, uint32_t *b)
{
	uint64_t v = rd_u64(r);
	*a = (uint32_t)v;
	*b = (uint32_t)(v >> 32);
}

/* The sample_id_all trailer: pid/tid and time at the end of a side-band record. */
static void read_trailer(const uint8_t *rec, size_t size, sonde_perf_record *out)
{
	if (size < sizeof(struct perf_event_header) + 16)
		return;
	const uint8_t *t = rec + size - 16;
	memcpy(&out->pid, t, 4);
	memcpy(&out->tid, t + 4, 4);
	memcpy(&out->time_ns, t + 8, 8);
}

static bool decode_sample(sonde_perf *p, const struct perf_event_header *h, rd *r, sonde_perf_record *o)
{
	o->kind = SONDE_PERF_SAMPLE;
	o->u.sample.ip = rd_u64(r);
	o->u.sample.in_kernel = (h->misc & PERF_RECORD_MISC_CPUMODE_MASK) == PERF_RECORD_MISC_KERNEL;
	rd_u32x2(r, &o->pid, &o->tid);
	o->time_ns = rd_u64(r);
	o->u.sample.period = rd_u64(r);
	uint64_t nr = rd_u64(r);
	if (nr > (uint64_t)(r->end - r->p) / 8)
		return false;
	o->u.sample.chain = (const uint64_t *)(const void *)r->p;
	o->u.sample.chain_len = (size_t)nr;
	r->p += nr * 8;
	if (p->opts.stack_bytes) {
		uint64_t abi = rd_u64(r);
		if (abi != PERF_SAMPLE_REGS_ABI_NONE) {
			for (int i = 0; i < SONDE_REG_COUNT; i++)
				o->u.sample.regs[i] = rd_u64(r);
			o->u.sample.has_regs = true;
		}
		uint64_t size = rd_u64(r);
		if (size) {
			if (size > (uint64_t)(r->end - r->p) || (uint64_t)(r->end - r->p) - size < 8)
				return false;
			const uint8_t *data = r->p;
			r->p += size;
			uint64_t dyn = rd_u64(r);
			o->u.sample.stack = data;
			o->u.sample.stack_len = (size_t)(dyn < size ? dyn : size);
		}
	}
	return !r->bad;
}

static bool decode(sonde_perf *p, const uint8_t *rec, size_t size, sonde_perf_record *o)
{
	struct perf_event_header h;
	memcpy(&h, rec, sizeof(h));
	rd r = {rec + sizeof(h), rec + size, false};
	memset(o, 0, sizeof(*o));
	switch (h.type) {
	case PERF_RECORD_SAMPLE: return decode_sample(p, &h, &r, o);
	case PERF_RECORD_MMAP2:
	case PERF_RECORD_MMAP: {
		o->kind = SONDE_PERF_MMAP;
		rd_u32x2(&r, &o->pid, &o->tid);
		o->u.mmap.start = rd_u64(&r);
		o->u.mmap.len = rd_u64(&r);
		o->u.mmap.pgoff = rd_u64(&r);
		if (h.type == PERF_RECORD_MMAP2) {
			if (h.misc & PERF_RECORD_MISC_MMAP_BUILD_ID) {
				r.p += 24;
			} else {
				rd_u32x2(&r, &o->u.mmap.maj, &o->u.mmap.min);
				o->u.mmap.ino = rd_u64(&r);
				rd_u64(&r); /* ino_generation */
			}
			uint32_t flags;
			rd_u32x2(&r, &o->u.mmap.prot, &flags);
		} else {
			o->u.mmap.prot = (h.misc & PERF_RECORD_MISC_MMAP_DATA) ? 1 : 5;
		}
		if (r.bad || r.p >= r.end || !memchr(r.p, '\0', (size_t)(r.end - r.p)))
			return false;
		o->u.mmap.path = (const char *)r.p;
		uint32_t pid = o->pid, tid = o->tid;
		read_trailer(rec, size, o);
		o->pid = pid;
		o->tid = tid;
		return true;
	}
	case PERF_RECORD_COMM:
		o->kind = SONDE_PERF_COMM;
		rd_u32x2(&r, &o->pid, &o->tid);
		if (r.bad || r.p >= r.end || !memchr(r.p, '\0', (size_t)(r.end - r.p)))
			return false;
		o->u.comm.comm = (const char *)r.p;
		o->u.comm.exec = (h.misc & PERF_RECORD_MISC_COMM_EXEC) != 0;
		{
			uint32_t pid = o->pid, tid = o->tid;
			read_trailer(rec, size, o);
			o->pid = pid;
			o->tid = tid;
		}
		return true;
	case PERF_RECORD_FORK:
	case PERF_RECORD_EXIT:
		o->kind = h.type == PERF_RECORD_FORK ? SONDE_PERF_FORK : SONDE_PERF_EXIT;
		rd_u32x2(&r, &o->pid, &o->u.task.ppid);
		rd_u32x2(&r, &o->tid, &o->u.task.ptid);
		o->time_ns = rd_u64(&r);
		return !r.bad;
	case PERF_RECORD_LOST:
		o->kind = SONDE_PERF_LOST;
		rd_u64(&r);
		o->u.lost.count = rd_u64(&r);
		read_trailer(rec, size, o);
		return !r.bad;
	case PERF_RECORD_LOST_SAMPLES:
		o->kind = SONDE_PERF_LOST;
		o->u.lost.count = rd_u64(&r);
		read_trailer(rec, size, o);
		return !r.bad;
	default: return false;
	}
}

/* Decodes the next usable record of ring c into cur; false when the ring is empty. */
static bool ring_next(sonde_perf *p, int c, cursor *cur)
{
	ring *rg = &p->rings[c];
	while (cur->tail < cur->head) {
		size_t off = (size_t)(cur->tail & (rg->size - 1));
		struct perf_event_header h;
		if (rg->size - off >= sizeof(h)) {
			memcpy(&h, rg->data + off, sizeof(h));
		} else {
			size_t first = rg->size - off;
			memcpy(&h, rg->data + off, first);
			memcpy((uint8_t *)&h + first, rg->data, sizeof(h) - first);
		}
		if (h.size < sizeof(h) || h.size > cur->head - cur->tail) {
			cur->tail = cur->head;
			break;
		}
		const uint8_t *rec = rg->data + off;
		if (rg->size - off < h.size) {
			size_t first = rg->size - off;
			memcpy(rg->scratch, rg->data + off, first);
			memcpy(rg->scratch + first, rg->data, h.size - first);
			rec = rg->scratch;
		}
		bool ok = decode(p, rec, h.size, &cur->r);
		cur->tail += h.size;
		if (ok) {
			cur->ready = true;
			return true;
		}
	}
	cur->ready = false;
	return false;
}

ssize_t sonde_perf_drain(sonde_perf *p, sonde_perf_fn fn, void *ctx)
{
	/* Each ring is in time order; merging them by time lets a thread's first samples on
	 * one CPU come after the fork or mmap record that another CPU's ring holds. */
	cursor *cur = p->cursors;
	ssize_t count = 0;
	for (int c = 0; c < p->ncpus; c++) {
		ring *rg = &p->rings[c];
		cur[c].ready = false;
		if (rg->fd < 0)
			continue;
		if (!rg->scratch && !(rg->scratch = malloc(65536))) /* a record is < 64 KiB */
			return -ENOMEM;
		cur[c].head = __atomic_load_n(&rg->meta->data_head, __ATOMIC_ACQUIRE);
		cur[c].tail = rg->meta->data_tail;
		ring_next(p, c, &cur[c]);
	}
	for (;;) {
		int best = -1;
		for (int c = 0; c < p->ncpus; c++)
			if (cur[c].ready && (best < 0 || cur[c].r.time_ns < cur[best].r.time_ns))
				best = c;
		if (best < 0)
			break;
		fn(ctx, &cur[best].r);
		count++;
		/* The record is consumed: its space may be given back before decoding the next. */
		ring_next(p, best, &cur[best]);
	}
	for (int c = 0; c < p->ncpus; c++)
		if (p->rings[c].fd >= 0)
			__atomic_store_n(&p->rings[c].meta->data_tail, cur[c].tail, __ATOMIC_RELEASE);
	return count;
}
