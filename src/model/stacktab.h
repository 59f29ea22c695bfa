/*
 * stacktab.h - the stack table: the one model of a profile.
 *
 * Every profiler reading (CPU samples, allocations) and every profile format (folded
 * stacks, pprof, speedscope, perf script) meets here. Frames are interned (the same
 * function, file, line, module, address and inlined flag give the same frame id), stacks
 * are interned sequences of frame ids ordered leaf first (the same frames give the same
 * stack id), and each stack carries one int64 count per sample type ("samples" "count",
 * "cpu" "nanoseconds", "alloc_space" "bytes", ...). Ids are dense indexes from 0, stable
 * for the table's life, so renderers can keep arrays indexed by them.
 *
 * Ownership: the table owns its strings (interned in its own arena) and arrays. Pointers
 * it returns are borrowed until the next call that adds to the table, or until
 * sonde_stacktab_free(). Not thread-safe.
 */
#ifndef SONDE_STACKTAB_H
#define SONDE_STACKTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sonde_frame {
	const char *function; /* symbol, demangled; "" when unknown */
	const char *file;     /* source file; "" when unknown */
	const char *module;   /* executable or shared object path or name; "" when unknown */
	uint64_t address;     /* module-relative address; 0 when unknown */
	uint32_t line;        /* 0 when unknown */
	bool inlined;         /* this frame was inlined into the next (caller) frame */
} sonde_frame;

typedef struct sonde_sample_type {
	const char *name; /* "samples", "cpu", "alloc_space" */
	const char *unit; /* "count", "nanoseconds", "bytes" */
} sonde_sample_type;

typedef struct sonde_stacktab sonde_stacktab;

/* Returns an empty table, or NULL when out of memory. Free with sonde_stacktab_free(). */
sonde_stacktab *sonde_stacktab_new(void);
/* Frees the table and everything it owns. NULL is a no-op. */
void sonde_stacktab_free(sonde_stacktab *t);

/* Adds a sample type and returns its index (0, 1, ...), or the index of an existing type
 * with the same name; negative on failure. Add types before adding counts. */
int sonde_stacktab_add_type(sonde_stacktab *t, const char *name, const char *unit);
size_t sonde_stacktab_types_count(const sonde_stacktab *t);
const sonde_sample_type *sonde_stacktab_type(const sonde_stacktab *t, size_t index);

/* Interns a frame (strings copied; NULL strings mean ""). Returns its id >= 0, or
 * -ENOMEM. */
int64_t sonde_stacktab_intern_frame(sonde_stacktab *t, const sonde_frame *f);
/* Interns a stack of n frame ids, leaf first (n may be 0: the empty stack). Returns its id
 * >= 0, -EINVAL for an unknown frame id, or -ENOMEM. */
int64_t sonde_stacktab_intern_stack(sonde_stacktab *t, const uint32_t *frames, size_t n);
/* Adds count to the stack's value of one sample type. Returns 0, or -EINVAL for an unknown
 * stack or type. */
int sonde_stacktab_add(sonde_stacktab *t, uint32_t stack, size_t type, int64_t count);

size_t sonde_stacktab_frames_count(const sonde_stacktab *t);
size_t sonde_stacktab_stacks_count(const sonde_stacktab *t);
/* Borrowed; NULL for an unknown id. */
const sonde_frame *sonde_stacktab_frame(const sonde_stacktab *t, uint32_t id);
/* The frames of a stack, leaf first; *n receives the depth. NULL for an unknown id. */
const uint32_t *sonde_stacktab_stack(const sonde_stacktab *t, uint32_t id, size_t *n);
/* The stack's count for one sample type (0 for unknown ids). */
int64_t sonde_stacktab_count(const sonde_stacktab *t, uint32_t stack, size_t type);
/* Sum of all stacks' counts of one sample type. */
int64_t sonde_stacktab_total(const sonde_stacktab *t, size_t type);

#endif
