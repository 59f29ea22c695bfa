/*
 * perf_events.h - the sampler: perf_event_open and its ring buffers.
 *
 * A sonde_perf samples tasks with the cpu-clock software event (available where hardware
 * counters are not) at a fixed period of CPU time. Each task gets one event per CPU with
 * inherit set, so threads and processes it starts later are sampled too, and every event
 * of one CPU writes into that CPU's ring buffer. Besides samples (IP, thread, time, period,
 * the kernel's frame-pointer callchain and, for DWARF unwinding, user registers and a copy
 * of the user stack) the rings carry mmap, comm, fork, exit and lost records; drain()
 * decodes them into sonde_perf_record and hands them over in order per CPU.
 *
 * Lifetime: new -> add_task()... -> enable() -> poll()/drain()... -> free(). Records handed
 * to the callback are borrowed for the call only. Not thread-safe.
 */
#ifndef SONDE_PERF_EVENTS_H
#define SONDE_PERF_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct sonde_perf sonde_perf;

typedef struct sonde_perf_opts {
	uint32_t freq_hz;     /* samples per second of CPU time per thread (default 99) */
	bool kernel;          /* also sample in the kernel, with kernel callchains */
	bool user_callchain;  /* the kernel's frame-pointer walk of the user stack */
	uint32_t stack_bytes; /* > 0: copy this much user stack and the user registers */
	bool enable_on_exec;  /* start counting when the task calls exec (spawned commands) */
	size_t ring_pages;    /* data pages per CPU ring, a power of two (0: chosen) */
} sonde_perf_opts;

enum sonde_perf_kind {
	SONDE_PERF_SAMPLE,
	SONDE_PERF_MMAP,
	SONDE_PERF_COMM,
	SONDE_PERF_FORK,
	SONDE_PERF_EXIT,
	SONDE_PERF_LOST,
};

/* The x86-64 user registers a sample carries, in this order (the subset DWARF needs). */
enum {
	SONDE_REG_AX,
	SONDE_REG_BX,
	SONDE_REG_CX,
	SONDE_REG_DX,
	SONDE_REG_SI,
	SONDE_REG_DI,
	SONDE_REG_BP,
	SONDE_REG_SP,
	SONDE_REG_IP,
	SONDE_REG_R8,
	SONDE_REG_R9,
	SONDE_REG_R10,
	SONDE_REG_R11,
	SONDE_REG_R12,
	SONDE_REG_R13,
	SONDE_REG_R14,
	SONDE_REG_R15,
	SONDE_REG_COUNT
};

typedef struct sonde_perf_record {
	enum sonde_perf_kind kind;
	uint32_t pid, tid;
	uint64_t time_ns;
	union {
		struct {
			uint64_t ip, period;
			bool in_kernel;        /* ip is a kernel address */
			const uint64_t *chain; /* callchain with PERF_CONTEXT_* markers; borrowed */
			size_t chain_len;
			bool has_regs; /* regs[] valid (the sample was taken in user mode) */
			uint64_t regs[SONDE_REG_COUNT];
			const uint8_t *stack; /* copy of the user stack from regs[SONDE_REG_SP] */
			size_t stack_len;
		} sample;
		struct {
			uint64_t start, len, pgoff;
			uint32_t maj, min;
			uint64_t ino;
			uint32_t prot;
			const char *path; /* borrowed; NUL-terminated */
		} mmap;
		struct {
			const char *comm; /* borrowed */
			bool exec;        /* the comm changed because of exec */
		} comm;
		struct {
			uint32_t ppid, ptid; /* FORK / EXIT: parent */
		} task;
		struct {
			uint64_t count;
		} lost;
	} u;
} sonde_perf_record;

typedef void (*sonde_perf_fn)(void *ctx, const sonde_perf_record *r);

/* Prepares a sampler (opts may be NULL for defaults). Returns 0 or -ENOMEM. */
int sonde_perf_new(const sonde_perf_opts *opts, sonde_perf **out);
/* Closes every event and unmaps the rings. NULL is a no-op. */
void sonde_perf_free(sonde_perf *p);
/* Opens the events of one task (a thread id), disabled unless enable_on_exec. Returns 0,
 * or -errno from perf_event_open: -EACCES/-EPERM (not permitted: see
 * perf_event_paranoid), -ESRCH (no such thread), -ENOENT/-ENODEV (no cpu-clock event). A
 * task already added is not added twice. */
int sonde_perf_add_task(sonde_perf *p, pid_t tid);
/* How many tasks were added. */
size_t sonde_perf_tasks(const sonde_perf *p);
/* Starts (or stops) counting on every event. Returns 0 or -errno. */
int sonde_perf_enable(sonde_perf *p);
int sonde_perf_disable(sonde_perf *p);
/* Waits up to timeout_ms for a ring to fill past its watermark. Returns 1 when data may be
 * ready, 0 on timeout, -errno on failure (-EINTR when a signal came). */
int sonde_perf_poll(sonde_perf *p, int timeout_ms);
/* Decodes every record in the rings, calls fn for each, and frees the space. Returns the
 * number of records, or a negative value on failure. */
ssize_t sonde_perf_drain(sonde_perf *p, sonde_perf_fn fn, void *ctx);

/* Reads /proc/sys/kernel/perf_event_paranoid; INT32_MIN when it cannot be read. */
int sonde_perf_paranoid(void);

#endif
