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

/*
 * Conventions every producer and format of a stack table follows.
 *
 * Kinds of frames. A frame's module says what kind of code it is: "[kernel.kallsyms]" (or
 * any module starting with "[kernel") is kernel code, "[jit]" or a perf map file
 * ("/tmp/perf-PID.map") is JIT-compiled code, and `inlined` marks a frame inlined into
 * its caller (the next frame, leaf first). An inlined frame carries the address of the
 * physical frame it was inlined into (the same return address), so a frame and the frames
 * inlined into it form one pprof Location.
 *
 * Threads. A stack whose ROOT frame (the outermost: the last, leaf first) has the module
 * "[thread]" belongs to the thread that frame names, as "<thread name>-<tid>"; this is how
 * perf's flamegraph shows threads (--threads). Renderers draw it as the bottom frame,
 * speedscope writes one profile per thread, pprof turns it into the sample label
 * "thread". Stacks without such a frame belong to no particular thread.
 */
#define SONDE_MODULE_THREAD "[thread]"
#define SONDE_MODULE_KERNEL "[kernel.kallsyms]"
#define SONDE_MODULE_JIT    "[jit]"

typedef enum sonde_frame_kind {
	SONDE_FRAME_USER,    /* ordinary native code */
	SONDE_FRAME_KERNEL,  /* module "[kernel..." */
	SONDE_FRAME_INLINED, /* inlined == true (whatever the module) */
	SONDE_FRAME_JIT,     /* module "[jit]" or "/tmp/perf-PID.map" */
	SONDE_FRAME_THREAD,  /* module "[thread]": a thread marker at a stack's root */
} sonde_frame_kind;

/* The kind of a frame, by the conventions above. */
sonde_frame_kind sonde_frame_kind_of(const sonde_frame *f);
/* Interns the thread marker frame for a thread: function "<name>-<tid>", module
 * "[thread]" (name NULL or "" gives "thread-<tid>"). Returns its id or -ENOMEM. */
int64_t sonde_stacktab_intern_thread(sonde_stacktab *t, const char *name, int64_t tid);
/* The thread marker of a stack (its root frame when that is a thread frame), or NULL. */
const sonde_frame *sonde_stacktab_stack_thread(const sonde_stacktab *t, uint32_t stack);

/* Forgets every type, frame, stack and count; the table is as new (its memory is freed
 * and taken again as needed). Pointers it returned become invalid. */
void sonde_stacktab_clear(sonde_stacktab *t);
/* Adds everything in src to dst: sample types by name (added to dst when missing), frames
 * and stacks by content, counts summed. Returns 0, -ENOSPC when dst would need more than
 * 16 types, or -ENOMEM (dst may then hold part of src). */
int sonde_stacktab_merge(sonde_stacktab *dst, const sonde_stacktab *src);
/* True when a and b hold the same sample types (names and units, in order) and the same
 * stacks, compared by frame content, with the same counts; stacks whose counts are all
 * zero are ignored. Otherwise false, with a one-line reason in why (may be NULL). */
bool sonde_stacktab_equal(const sonde_stacktab *a, const sonde_stacktab *b, char *why, size_t why_len);

#endif
