/*
 * arena.c - region allocator (see arena.h).
 *
 * Blocks grow geometrically from 4 KiB up to 1 MiB; an allocation larger than a quarter
 * of the block size gets a block of its own, chained behind the current one so the
 * current block's free space is not wasted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct sonde_arena_block {
	sonde_arena_block *next;
	size_t size;
	/* Payload follows, 16-byte aligned. */
	_Alignas(16) char data[];
};

enum { ARENA_MIN_BLOCK = 4096, ARENA_MAX_BLOCK = 1 << 20, ARENA_ALIGN = 16 };

void sonde_arena_init(sonde_arena *a)
{
	memset(a, 0, sizeof(*a));
	a->block_size = ARENA_MIN_BLOCK;
}

static void free_chain(sonde_arena_block *b)
{
	while (b) {
		sonde_arena_block *next = b->next;
		free(b);
		b = next;
	}
}

void sonde_arena_release(sonde_arena *a)
{
	if (!a)
		return;
	free_chain(a->head);
	free_chain(a->spare);
	sonde_arena_init(a);
}

void sonde_arena_reset(sonde_arena *a, size_t keep_bytes)
{
	sonde_arena_block *b = a->head, *spare = a->spare;
	size_t spare_bytes = a->spare_bytes;
	while (b) {
		sonde_arena_block *next = b->next;
		if (b->size <= ARENA_MAX_BLOCK && spare_bytes + b->size <= keep_bytes) {
			b->next = spare;
			spare = b;
			spare_bytes += b->size;
		} else {
			free(b);
		}
		b = next;
	}
	sonde_arena_init(a);
	a->spare = spare;
	a->spare_bytes = spare_bytes;
	/* Carry on with blocks of the size kept, so spares serve the allocations that follow. */
	for (b = spare; b; b = b->next)
		if (b->size > a->block_size && b->size <= ARENA_MAX_BLOCK)
			a->block_size = b->size;
}

void sonde_arena_adopt(sonde_arena *dst, sonde_arena *src)
{
	if (src->head) {
		/* Behind dst's current block, whose free space stays in use. */
		sonde_arena_block *last = src->head;
		while (last->next)
			last = last->next;
		if (dst->head) {
			last->next = dst->head->next;
			dst->head->next = src->head;
		} else {
			last->next = NULL;
			dst->head = src->head;
			dst->cur = dst->end = (char *)(void *)src->head->data + src->head->size;
		}
		dst->bytes_used += src->bytes_used;
	}
	free_chain(src->spare);
	sonde_arena_init(src);
}

static sonde_arena_block *block_new(size_t size)
{
	if (size > SIZE_MAX - sizeof(sonde_arena_block))
		return NULL;
	sonde_arena_block *b = malloc(sizeof(*b) + size);
	if (b)
		b->size = size;
	return b;
}

void *sonde_arena_alloc(sonde_arena *a, size_t n)
{
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (need < n)
		return NULL;
	if (need == 0)
		need = ARENA_ALIGN;
	if ((size_t)(a->end - a->cur) >= need && a->cur) {
		void *p = a->cur;
		a->cur += need;
		a->bytes_used += need;
		return p;
	}
	if (a->block_size == 0)
		a->block_size = ARENA_MIN_BLOCK;
	if (need > a->block_size / 4) {
		/* Big allocation: its own block, behind the current one. */
		sonde_arena_block *b = block_new(need);
		if (!b)
			return NULL;
		if (a->head) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = NULL;
			a->head = b;
			a->cur = a->end = b->data + need;
		}
		a->bytes_used += need;
		return b->data;
	}
	sonde_arena_block *b;
	if (a->spare && a->spare->size >= need) {
		b = a->spare;
		a->spare = b->next;
		a->spare_bytes -= b->size;
	} else {
		b = block_new(a->block_size);
		if (!b)
			return NULL;
	}
	b->next = a->head;
	a->head = b;
	a->cur = b->data + need;
	a->end = b->data + b->size;
	if (a->block_size < ARENA_MAX_BLOCK)
		a->block_size *= 2;
	a->bytes_used += need;
	return b->data;
}

void *sonde_arena_zalloc(sonde_arena *a, size_t n)
{
	void *p = sonde_arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

char *sonde_arena_strndup(sonde_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = sonde_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *sonde_arena_memdup(sonde_arena *a, const void *src, size_t n)
{
	void *p = sonde_arena_alloc(a, n);
	if (p && n)
		memcpy(p, src, n);
	return p;
}
