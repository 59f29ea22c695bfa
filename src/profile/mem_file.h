/*
 * mem_file.h - the reader of the recordings libsonde_mem.so writes (`sonde mem`): the
 * header, the module maps, the interned stacks, and the events of every thread merged
 * into the order they happened (their sequence numbers). The layout is in mem_format.h
 * and docs/memory.md.
 *
 * The file is outside input: sonde_memfile_open() checks every record and every event
 * before anything is handed out, and reports the first problem with its byte offset,
 * the field and what was expected; nothing in the input makes it crash or read out of
 * bounds. After a successful open, replays cannot fail on the input.
 *
 * Ownership: the memfile borrows the bytes it was opened on until sonde_memfile_free();
 * everything it returns is borrowed from it. Not thread-safe; one memfile per thread.
 */
#ifndef SONDE_MEM_FILE_H
#define SONDE_MEM_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem_format.h"
#include "wire_error.h"

typedef struct sonde_memfile sonde_memfile;

typedef struct sonde_memfile_info {
	uint32_t version;
	bool all;              /* every allocation recorded (else sampled) */
	uint64_t sample_bytes; /* mean sampling interval; 0 with all */
	uint64_t pid;
	uint64_t start_wall_ns; /* CLOCK_REALTIME at the start */
	bool complete;          /* the END record is there (the program exited normally) */
	uint64_t end_ns;        /* ns from the start to the end (or to the last clock reading) */
	uint64_t lost;          /* events the recorder could not record */
	uint64_t events;        /* events in the file, TIME readings excluded */
	size_t threads;         /* distinct thread ids */
} sonde_memfile_info;

typedef struct sonde_mem_event {
	uint8_t kind; /* SONDE_MEMEV_* */
	uint32_t tid;
	uint64_t seq;
	uint64_t ptr;
	uint64_t size;  /* ALLOC, TEMP, MMAP: bytes; MUNMAP: length; TIME: ns since start */
	uint32_t stack; /* ALLOC, TEMP, MMAP */
} sonde_mem_event;

/* Parses and checks data[0..len) (borrowed until sonde_memfile_free()). Returns 0 with
 * *out set; SONDE_EPARSE with err filled (offset, field, what was expected); or -ENOMEM. */
int sonde_memfile_open(const uint8_t *data, size_t len, sonde_memfile **out, sonde_wire_error *err);
/* NULL is a no-op. */
void sonde_memfile_free(sonde_memfile *f);

/* A quick look at data[0..len) for `sonde mem`'s one-line summary: the header, the
 * header of every record and the END record, without decoding the events (so a 100 MB
 * recording costs a page per record, not a pass over every event). Fills *info (events:
 * the numbers taken, from the smallest first number of a record to the END record's count,
 * which are the events a complete recording holds, one number each; threads: the distinct
 * thread ids of the non-empty EVENTS records) and *stacks. Returns
 * 0; 1 when there is no END record (the recording is incomplete; only
 * sonde_memfile_open() can count its events); SONDE_EPARSE with err filled; or -ENOMEM.
 * It checks less than sonde_memfile_open(): a recording it accepts may still be refused
 * there. */
int sonde_memfile_peek(const uint8_t *data, size_t len, sonde_memfile_info *info, size_t *stacks,
                       sonde_wire_error *err);

const sonde_memfile_info *sonde_memfile_info_get(const sonde_memfile *f);

/* Stacks: ids 0 .. count-1. The return addresses of a stack, innermost first (the
 * allocator's caller first); *gen receives the module-map generation it was taken in. */
size_t sonde_memfile_stacks_count(const sonde_memfile *f);
const uint64_t *sonde_memfile_stack(const sonde_memfile *f, uint32_t id, size_t *depth, uint32_t *gen);

/* Module maps: snapshots of /proc/self/maps in file order, each with its generation
 * (a stack of generation g was taken while snapshot g described the process). */
size_t sonde_memfile_maps_count(const sonde_memfile *f);
const char *sonde_memfile_maps(const sonde_memfile *f, size_t i, size_t *len, uint32_t *gen);

/* Calls fn for every event in sequence order (TIME readings included). Returns 0, fn's
 * non-zero return (which stops the replay), or -ENOMEM. */
typedef int (*sonde_mem_event_fn)(void *ctx, const sonde_mem_event *e);
int sonde_memfile_replay(const sonde_memfile *f, sonde_mem_event_fn fn, void *ctx);

#endif
