/*
 * arena.h - region allocator: many small allocations freed together.
 *
 * An arena hands out memory from large blocks and frees all of it at once in
 * sonde_arena_release(). Nothing is freed individually. Records of a telemetry batch, the
 * nodes of an analysis, and the strings they point to live in one arena and die with it.
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef SONDE_ARENA_H
#define SONDE_ARENA_H

#include <stddef.h>

typedef struct sonde_arena_block sonde_arena_block;

typedef struct sonde_arena {
	sonde_arena_block *head;  /* current block; older blocks chain behind it */
	char *cur;                /* next free byte in head */
	char *end;                /* one past the last byte of head */
	size_t block_size;        /* size of the next ordinary block */
	size_t bytes_used;        /* total handed out, for statistics */
	sonde_arena_block *spare; /* blocks kept by sonde_arena_reset() for reuse */
	size_t spare_bytes;
} sonde_arena;

/* Initialises an empty arena; no memory is taken until the first allocation. */
void sonde_arena_init(sonde_arena *a);
/* Frees every block. The arena may be used again afterwards. NULL is a no-op. */
void sonde_arena_release(sonde_arena *a);

/* Forgets every allocation but keeps up to keep_bytes of blocks for the allocations that
 * follow, so a batch that is filled, used and cleared over and over stops taking fresh pages
 * from the kernel (which zeroes them: a large share of decoding time otherwise). */
void sonde_arena_reset(sonde_arena *a, size_t keep_bytes);

/* Moves every allocation of src into dst: they live until dst is released or reset; src
 * is left empty (its spare blocks freed). */
void sonde_arena_adopt(sonde_arena *dst, sonde_arena *src);

/* Returns n bytes aligned to 16 (or NULL when out of memory). n == 0 returns a valid
 * unique pointer. The memory is uninitialised and lives until sonde_arena_release(). */
void *sonde_arena_alloc(sonde_arena *a, size_t n);
/* As sonde_arena_alloc(), zero-filled. */
void *sonde_arena_zalloc(sonde_arena *a, size_t n);
/* Copies n bytes into the arena and appends a NUL; returns the copy or NULL. */
char *sonde_arena_strndup(sonde_arena *a, const char *s, size_t n);
/* Copies n bytes into the arena; returns the copy or NULL (n == 0 returns non-NULL). */
void *sonde_arena_memdup(sonde_arena *a, const void *p, size_t n);

#endif
