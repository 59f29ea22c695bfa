/*
 * threaddump.h - the current stack of every thread of a running process.
 *
 * sonde_dump_process() reads each thread's name and scheduler state, stops all threads
 * with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT: no signal is sent, the process does not
 * see it), unwinds each stack remotely with libunwind's ptrace accessors (DWARF CFI, with
 * its frame-pointer fallback), lets the threads go (PTRACE_DETACH), and only then
 * symbolizes, so the pause lasts milliseconds. The stacks land in a sonde_stacktab, one
 * stack per thread (leaf first, with the thread marker "<name>-<tid>" at the root) with
 * a count of 1.
 *
 * Ownership: the caller frees the dump with sonde_dump_free(). Not thread-safe.
 */
#ifndef SONDE_THREADDUMP_H
#define SONDE_THREADDUMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stacktab.h"

typedef struct sonde_dump_thread {
	pid_t tid;
	char name[64];  /* from /proc/PID/task/TID/comm */
	char state;     /* from /proc/PID/task/TID/stat before the stop: R, S, D, T, ... */
	uint32_t stack; /* its stack in the dump's table */
	int error;      /* 0, or -errno when it could not be stopped or unwound (stack empty) */
} sonde_dump_thread;

typedef struct sonde_dump {
	pid_t pid;
	char name[64];
	sonde_stacktab *tab;        /* owned */
	sonde_dump_thread *threads; /* owned; in /proc order */
	size_t nthreads;
	uint64_t pause_ns; /* from the first stop to the last detach */
} sonde_dump;

/* Dumps process pid. Returns 0; -ESRCH when there is no such process; -EPERM when ptrace
 * is not permitted (another tracer, or kernel.yama.ptrace_scope); -ENOMEM. Threads that
 * end meanwhile are left out. */
int sonde_dump_process(pid_t pid, sonde_dump **out);
/* NULL is a no-op. */
void sonde_dump_free(sonde_dump *d);
/* A thread state letter in words ("running", "sleeping", ...). */
const char *sonde_dump_state_name(char state);

#endif
