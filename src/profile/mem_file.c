/*
 * mem_file.c - the reader of `sonde mem` recordings (see mem_file.h).
 *
 * Opening walks the file once: it checks the header and every record, decodes every
 * event (so that a replay never meets bad input), and sorts the EVENTS records into
 * chains: runs of records whose sequence numbers only grow (one per thread, normally).
 * A replay merges the chains with a binary heap on the next event's sequence number.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem_file.h"
#include "ptrmap.h"

typedef struct evrec {
	size_t off, len; /* payload */
	uint32_t tid;
	uint64_t first_seq, last_seq;
	size_t next; /* next record of the chain, or SIZE_MAX */
} evrec;

typedef struct stackent {
	size_t off; /* into ips */
	uint32_t depth, gen;
} stackent;

typedef struct mapsnap {
	size_t off, len;
	uint32_t gen;
} mapsnap;

struct sonde_memfile {
	const uint8_t *data;
	size_t len;
	sonde_memfile_info info;
	evrec *recs;
	size_t nrecs, recs_cap;
	size_t *chains; /* first record of each chain */
	size_t nchains, chains_cap;
	stackent *stacks;
	size_t nstacks, stacks_cap;
	uint64_t *ips;
	size_t nips, ips_cap;
	mapsnap *maps;
	size_t nmaps, maps_cap;
};

#define GROW(arr, n, cap)                                               \
	do {                                                            \
		if ((n) == (cap)) {                                     \
			size_t nc_ = (cap) ? (cap)*2 : 64;              \
			void *p_ = realloc((arr), nc_ * sizeof *(arr)); \
			if (!p_)                                        \
				return -ENOMEM;                         \
			(arr) = p_;                                     \
			(cap) = nc_;                                    \
		}                                                       \
	} while (0)

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Reads a varint from p[*i .. end); returns 0, or -1 when it is cut off or too long. */
static int varint(const uint8_t *p, size_t end, size_t *i, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (*i >= end)
			return -1;
		uint8_t c = p[(*i)++];
		if (shift == 63 && c > 1)
			return -1;
		r |= (uint64_t)(c & 0x7f) << shift;
		if (c < 0x80) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* The pointer deltas of a record: the previous event's ptr, and per size class the ptr
 * of the last ALLOC or TEMP (SONDE_MEMEV_SAME); all 0 at a record's start. */
typedef struct ptrstate {
	uint64_t prev;
	uint64_t cls[SONDE_MEM_SIZE_CLASSES];
} ptrstate;

/* Decodes the event at p[*i..end) of a record; prev_seq, ps and prev_stack carry the
 * deltas and the ptr and stack SONDE_MEMEV_SAME and SONDE_MEMEV_NEXT repeat. An event with
 * those flags is returned as a plain ALLOC or TEMP. Returns 0, or -1 with *what naming the
 * field that was bad. */
static int decode(const uint8_t *p, size_t end, size_t *i, uint64_t *prev_seq, ptrstate *ps,
                  uint32_t *prev_stack, sonde_mem_event *e, const char **what)
{
	uint64_t v;
	*what = "event kind";
	if (*i >= end)
		return -1;
	e->kind = p[(*i)++];
	bool next = e->kind & SONDE_MEMEV_NEXT, same = e->kind & SONDE_MEMEV_SAME;
	e->kind &= ~(SONDE_MEMEV_NEXT | SONDE_MEMEV_SAME);
	if (next || same ? e->kind != SONDE_MEMEV_ALLOC && e->kind != SONDE_MEMEV_TEMP
	                 : e->kind < SONDE_MEMEV_ALLOC || e->kind > SONDE_MEMEV_TIME)
		return -1;
	*what = "seq";
	if (next)
		v = 1;
	else if (varint(p, end, i, &v))
		return -1;
	if (v > UINT64_MAX - *prev_seq)
		return -1;
	e->seq = *prev_seq + v;
	*prev_seq = e->seq;
	e->ptr = e->size = 0;
	e->stack = 0;
	if (e->kind == SONDE_MEMEV_TIME) {
		*what = "time";
		return varint(p, end, i, &e->size);
	}
	if (!same) {
		*what = "ptr";
		if (varint(p, end, i, &v))
			return -1;
		e->ptr = ps->prev + (uint64_t)((int64_t)(v >> 1) ^ -(int64_t)(v & 1));
		ps->prev = e->ptr;
		if (e->kind == SONDE_MEMEV_FREE)
			return 0;
	}
	*what = "size";
	if (varint(p, end, i, &e->size))
		return -1;
	if (e->kind == SONDE_MEMEV_MUNMAP)
		return 0;
	if (e->kind == SONDE_MEMEV_ALLOC || e->kind == SONDE_MEMEV_TEMP) {
		uint64_t *cp = &ps->cls[sonde_mem_size_class(e->size)];
		if (same) {
			*what = "size class";
			if (*cp == 0)
				return -1;
			e->ptr = ps->prev = *cp;
		}
		*cp = e->ptr;
	}
	*what = "stack";
	if (next)
		v = *prev_stack;
	else if (varint(p, end, i, &v) || v > UINT32_MAX)
		return -1;
	e->stack = *prev_stack = (uint32_t)v;
	return 0;
}

typedef struct tidchain {
	size_t last_rec;
} tidchain;

static int check_events(sonde_memfile *f, size_t off, size_t len, sonde_wire_error *err, uint64_t *max_stack,
                        size_t *max_stack_off, sonde_ptrmap *tids, sonde_memfile_info *info)
{
	const uint8_t *p = f->data;
	size_t end = off + len, i = off + 4;
	if (len < 4)
		return sonde_wire_fail(err, off, 0, "tid",
		                       "expected a 4-byte thread id, the record has %zu bytes", len);
	GROW(f->recs, f->nrecs, f->recs_cap);
	evrec *r = &f->recs[f->nrecs];
	r->off = off;
	r->len = len;
	r->tid = le32(p + off);
	r->next = SIZE_MAX;
	uint64_t seq = 0;
	ptrstate ps = {0};
	uint32_t stack = 0;
	bool first = true;
	while (i < end) {
		size_t at = i;
		sonde_mem_event e;
		const char *what;
		if (decode(p, end, &i, &seq, &ps, &stack, &e, &what))
			return sonde_wire_fail(
			        err, at, 0, what, "expected %s within the record ending at offset %zu",
			        strcmp(what, "event kind") == 0
			                ? "a kind between 1 and 6 (or 1 or 3 with the flags 0x10, 0x20)"
			        : strcmp(what, "size class") == 0
			                ? "an earlier ALLOC or TEMP of the size class (flag 0x20)"
			                : "a varint",
			        end);
		if (first)
			r->first_seq = e.seq;
		first = false;
		if (e.kind == SONDE_MEMEV_TIME) {
			if (e.size > info->end_ns && !info->complete)
				info->end_ns = e.size;
			continue;
		}
		info->events++;
		if ((e.kind == SONDE_MEMEV_ALLOC || e.kind == SONDE_MEMEV_TEMP ||
		     e.kind == SONDE_MEMEV_MMAP) &&
		    (e.stack > *max_stack || *max_stack == UINT64_MAX)) {
			*max_stack = e.stack;
			*max_stack_off = at;
		}
	}
	if (first)
		return 0; /* an empty record: nothing to chain */
	r->last_seq = seq;
	/* Chain it after the thread's last record when the numbers keep growing. */
	sonde_ptrmap_key k = {NULL, NULL, r->tid};
	tidchain *tc = sonde_ptrmap_find(tids, k);
	if (!tc) {
		tc = malloc(sizeof *tc);
		if (!tc || sonde_ptrmap_add(tids, k, tc)) {
			free(tc);
			return -ENOMEM;
		}
		tc->last_rec = SIZE_MAX;
		info->threads++;
	}
	if (tc->last_rec != SIZE_MAX && f->recs[tc->last_rec].last_seq < r->first_seq) {
		f->recs[tc->last_rec].next = f->nrecs;
	} else {
		GROW(f->chains, f->nchains, f->chains_cap);
		f->chains[f->nchains++] = f->nrecs;
	}
	tc->last_rec = f->nrecs;
	f->nrecs++;
	return 0;
}

static int check_stack(sonde_memfile *f, size_t off, size_t len, sonde_wire_error *err)
{
	size_t end = off + len, i = off;
	uint64_t id, gen, depth;
	if (varint(f->data, end, &i, &id))
		return sonde_wire_fail(err, i, 0, "stack id", "expected a varint");
	if (id != f->nstacks)
		return sonde_wire_fail(err, off, 0, "stack id",
		                       "expected stack id %zu (ids are dense, in order), got %llu",
		                       f->nstacks, (unsigned long long)id);
	if (varint(f->data, end, &i, &gen) || gen > UINT32_MAX)
		return sonde_wire_fail(err, i, 0, "generation", "expected a varint below 2^32");
	if (varint(f->data, end, &i, &depth) || depth > 4096)
		return sonde_wire_fail(err, i, 0, "depth", "expected a varint of at most 4096");
	GROW(f->stacks, f->nstacks, f->stacks_cap);
	stackent *s = &f->stacks[f->nstacks];
	s->off = f->nips;
	s->depth = (uint32_t)depth;
	s->gen = (uint32_t)gen;
	for (uint64_t k = 0; k < depth; k++) {
		uint64_t ip;
		if (varint(f->data, end, &i, &ip))
			return sonde_wire_fail(err, i, 0, "ip", "expected frame %llu of %llu as a varint",
			                       (unsigned long long)k, (unsigned long long)depth);
		GROW(f->ips, f->nips, f->ips_cap);
		f->ips[f->nips++] = ip;
	}
	if (i != end)
		return sonde_wire_fail(err, i, 0, "stack", "expected the record to end after %llu frames",
		                       (unsigned long long)depth);
	f->nstacks++;
	return 0;
}

static void free_tid(sonde_ptrmap *m)
{
	for (size_t i = 0; m->slots && i <= m->mask; i++)
		free(m->slots[i].v);
	sonde_ptrmap_release(m);
}

/* Checks the 48-byte header and fills the fields of info it holds. */
static int parse_header(const uint8_t *p, size_t len, sonde_memfile_info *info, sonde_wire_error *err)
{
	if (len < SONDE_MEMFILE_HEADER_BYTES)
		return sonde_wire_fail(err, len, 0, "header",
		                       "expected a %u-byte header, the file has %zu bytes",
		                       SONDE_MEMFILE_HEADER_BYTES, len);
	if (memcmp(p, SONDE_MEMFILE_MAGIC, 8) != 0)
		return sonde_wire_fail(err, 0, 0, "magic",
		                       "expected \"SONDEMEM\" (not a sonde mem recording)");
	info->version = le32(p + 8);
	if (info->version != SONDE_MEMFILE_VERSION)
		return sonde_wire_fail(err, 8, 0, "version", "expected version %u, got %u",
		                       SONDE_MEMFILE_VERSION, info->version);
	uint32_t flags = le32(p + 12);
	if (flags & ~SONDE_MEMFILE_ALL)
		return sonde_wire_fail(err, 12, 0, "flags", "expected flags 0 or 1, got %u", flags);
	info->all = flags & SONDE_MEMFILE_ALL;
	info->sample_bytes = le64(p + 16);
	if (!info->all && info->sample_bytes == 0)
		return sonde_wire_fail(err, 16, 0, "sample_bytes", "expected a sampling interval above 0");
	info->pid = le64(p + 24);
	info->start_wall_ns = le64(p + 32);
	return 0;
}

/* The record at off (whose body starts at off + 5): its type and body length, checked to
 * lie in the file; after_end: an END record came before it, which is an error. */
static int record_at(const uint8_t *p, size_t len, size_t off, bool after_end, uint8_t *type, size_t *rlen,
                     sonde_wire_error *err)
{
	if (after_end)
		return sonde_wire_fail(err, off, 0, "record",
		                       "expected the end of the file after the END record");
	if (len - off < 5)
		return sonde_wire_fail(err, off, 0, "record header",
		                       "expected a 5-byte record header, the file ends after %zu bytes",
		                       len - off);
	*type = p[off];
	*rlen = le32(p + off + 1);
	if (*rlen > len - off - 5)
		return sonde_wire_fail(
		        err, off, 0, "record length",
		        "expected %zu bytes of record (type %u), the file has %zu (truncated?)", *rlen, *type,
		        len - off - 5);
	return 0;
}

/* The END record's body p[i, end): its event count into *seq, its time and lost count
 * into info, which it marks complete. */
static int parse_end(const uint8_t *p, size_t end, size_t i, uint64_t *seq, sonde_memfile_info *info,
                     sonde_wire_error *err)
{
	uint64_t ns, lost;
	if (varint(p, end, &i, seq) || varint(p, end, &i, &ns) || varint(p, end, &i, &lost))
		return sonde_wire_fail(err, i, 0, "end", "expected three varints (seq, ns, lost)");
	info->complete = true;
	info->end_ns = ns;
	info->lost = lost;
	return 0;
}

static int parse(sonde_memfile *f, sonde_wire_error *err)
{
	const uint8_t *p = f->data;
	size_t len = f->len;
	sonde_memfile_info *info = &f->info;
	int hrc = parse_header(p, len, info, err);
	if (hrc)
		return hrc;
	uint64_t max_stack = UINT64_MAX;
	size_t max_stack_off = 0;
	sonde_ptrmap tids;
	sonde_ptrmap_init(&tids);
	int rc = 0;
	size_t off = SONDE_MEMFILE_HEADER_BYTES;
	while (off < len && rc == 0) {
		uint8_t type = 0;
		size_t rlen = 0;
		if ((rc = record_at(p, len, off, info->complete, &type, &rlen, err)) != 0)
			break;
		size_t body = off + 5, i = body;
		switch (type) {
		case SONDE_MEMREC_MAPS: {
			uint64_t gen;
			if (varint(p, body + rlen, &i, &gen) || gen > UINT32_MAX) {
				rc = sonde_wire_fail(err, i, 0, "generation", "expected a varint below 2^32");
				break;
			}
			if (f->nmaps == f->maps_cap) {
				size_t nc = f->maps_cap ? f->maps_cap * 2 : 8;
				mapsnap *m = realloc(f->maps, nc * sizeof *m);
				if (!m) {
					rc = -ENOMEM;
					break;
				}
				f->maps = m;
				f->maps_cap = nc;
			}
			f->maps[f->nmaps++] = (mapsnap){i, body + rlen - i, (uint32_t)gen};
			break;
		}
		case SONDE_MEMREC_STACK: rc = check_stack(f, body, rlen, err); break;
		case SONDE_MEMREC_EVENTS:
			rc = check_events(f, body, rlen, err, &max_stack, &max_stack_off, &tids, info);
			break;
		case SONDE_MEMREC_END: {
			uint64_t seq;
			rc = parse_end(p, body + rlen, i, &seq, info, err);
			break;
		}
		default:
			rc = sonde_wire_fail(err, off, 0, "record type",
			                     "expected a record type between 1 and 4, got %u", type);
		}
		off = body + rlen;
	}
	free_tid(&tids);
	if (rc == 0 && max_stack != UINT64_MAX && max_stack >= f->nstacks)
		rc = sonde_wire_fail(err, max_stack_off, 0, "stack",
		                     "expected a stack id below %zu (the stacks the file defines), got %llu",
		                     f->nstacks, (unsigned long long)max_stack);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int sonde_memfile_peek(const uint8_t *data, size_t len, sonde_memfile_info *info, size_t *stacks,
                       sonde_wire_error *err)
{
	memset(info, 0, sizeof *info);
	*stacks = 0;
	int rc = parse_header(data, len, info, err);
	if (rc)
		return rc;
	uint32_t *tids = NULL;
	size_t ntids = 0, tids_cap = 0;
	uint64_t first_seq = UINT64_MAX, end_seq = 0;
	size_t off = SONDE_MEMFILE_HEADER_BYTES;
	while (off < len && rc == 0) {
		uint8_t type = 0;
		size_t rlen = 0;
		if ((rc = record_at(data, len, off, info->complete, &type, &rlen, err)) != 0)
			break;
		size_t body = off + 5, i = body;
		if (type == SONDE_MEMREC_STACK) {
			(*stacks)++;
		} else if (type == SONDE_MEMREC_EVENTS) {
			if (rlen < 4) {
				rc = sonde_wire_fail(err, body, 0, "tid",
				                     "expected a 4-byte thread id, the record has %zu bytes",
				                     rlen);
				break;
			}
			uint32_t tid = le32(data + body);
			/* A record's first event carries its number whole (a delta from 0): the
			 * smallest is where this process's numbers start (0, or the parent's
			 * count at the fork for a forked child's recording). */
			size_t at = body + 5;
			uint64_t first;
			if (rlen > 4 && (data[body + 4] & SONDE_MEMEV_NEXT))
				first = 1; /* a delta of 1 from 0, not written */
			else if (rlen <= 4 || varint(data, body + rlen, &at, &first) != 0)
				first = UINT64_MAX;
			if (first < first_seq)
				first_seq = first;
			/* Records of one thread mostly follow each other: skip the repeats here,
			 * the rest after sorting. */
			if (rlen > 4 && (ntids == 0 || tids[ntids - 1] != tid)) {
				if (ntids == tids_cap) {
					size_t nc = tids_cap ? tids_cap * 2 : 64;
					uint32_t *t = realloc(tids, nc * sizeof *t);
					if (!t) {
						rc = -ENOMEM;
						break;
					}
					tids = t;
					tids_cap = nc;
				}
				tids[ntids++] = tid;
			}
		} else if (type == SONDE_MEMREC_END) {
			if ((rc = parse_end(data, body + rlen, i, &end_seq, info, err)) != 0)
				break;
		} else if (type != SONDE_MEMREC_MAPS) {
			rc = sonde_wire_fail(err, off, 0, "record type",
			                     "expected a record type between 1 and 4, got %u", type);
		}
		off = body + rlen;
	}
	if (ntids)
		qsort(tids, ntids, sizeof *tids, cmp_u32);
	for (size_t k = 0; k < ntids; k++)
		info->threads += k == 0 || tids[k] != tids[k - 1];
	free(tids);
	if (first_seq != UINT64_MAX && end_seq > first_seq)
		info->events = end_seq - first_seq;
	if (rc == 0 && !info->complete)
		rc = 1;
	return rc;
}

int sonde_memfile_open(const uint8_t *data, size_t len, sonde_memfile **out, sonde_wire_error *err)
{
	sonde_memfile *f = calloc(1, sizeof *f);
	if (!f)
		return -ENOMEM;
	f->data = data;
	f->len = len;
	int rc = parse(f, err);
	if (rc) {
		sonde_memfile_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void sonde_memfile_free(sonde_memfile *f)
{
	if (!f)
		return;
	free(f->recs);
	free(f->chains);
	free(f->stacks);
	free(f->ips);
	free(f->maps);
	free(f);
}

const sonde_memfile_info *sonde_memfile_info_get(const sonde_memfile *f)
{
	return &f->info;
}

size_t sonde_memfile_stacks_count(const sonde_memfile *f)
{
	return f->nstacks;
}

const uint64_t *sonde_memfile_stack(const sonde_memfile *f, uint32_t id, size_t *depth, uint32_t *gen)
{
	if (id >= f->nstacks)
		return NULL;
	*depth = f->stacks[id].depth;
	if (gen)
		*gen = f->stacks[id].gen;
	return f->ips + f->stacks[id].off;
}

size_t sonde_memfile_maps_count(const sonde_memfile *f)
{
	return f->nmaps;
}

const char *sonde_memfile_maps(const sonde_memfile *f, size_t i, size_t *len, uint32_t *gen)
{
	if (i >= f->nmaps)
		return NULL;
	*len = f->maps[i].len;
	if (gen)
		*gen = f->maps[i].gen;
	return (const char *)f->data + f->maps[i].off;
}

/* A replay cursor: one chain, the record it is in, and the next event. */
typedef struct cursor {
	size_t rec, i, end;
	uint64_t seq;
	ptrstate ptr;
	uint32_t stack;
	sonde_mem_event ev;
} cursor;

/* Moves c to its next event; returns false at the end of its chain. */
static bool advance(const sonde_memfile *f, cursor *c)
{
	while (c->i >= c->end) {
		size_t next = f->recs[c->rec].next;
		if (next == SIZE_MAX)
			return false;
		c->rec = next;
		c->i = f->recs[next].off + 4;
		c->end = f->recs[next].off + f->recs[next].len;
		c->seq = 0;
		memset(&c->ptr, 0, sizeof c->ptr);
		c->stack = 0;
	}
	const char *what;
	decode(f->data, c->end, &c->i, &c->seq, &c->ptr, &c->stack, &c->ev, &what); /* checked at open */
	c->ev.tid = f->recs[c->rec].tid;
	return true;
}

static void sift_down(cursor **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && h[l]->ev.seq < h[m]->ev.seq)
			m = l;
		if (l + 1 < n && h[l + 1]->ev.seq < h[m]->ev.seq)
			m = l + 1;
		if (m == i)
			return;
		cursor *t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

int sonde_memfile_replay(const sonde_memfile *f, sonde_mem_event_fn fn, void *ctx)
{
	cursor *cs = calloc(f->nchains ? f->nchains : 1, sizeof *cs);
	cursor **heap = calloc(f->nchains ? f->nchains : 1, sizeof *heap);
	if (!cs || !heap) {
		free(cs);
		free(heap);
		return -ENOMEM;
	}
	size_t n = 0;
	for (size_t k = 0; k < f->nchains; k++) {
		cursor *c = &cs[k];
		c->rec = f->chains[k];
		c->i = f->recs[c->rec].off + 4;
		c->end = f->recs[c->rec].off + f->recs[c->rec].len;
		if (advance(f, c))
			heap[n++] = c;
	}
	for (size_t k = n / 2; k-- > 0;)
		sift_down(heap, n, k);
	int rc = 0;
	while (n > 0 && rc == 0) {
		cursor *c = heap[0];
		rc = fn(ctx, &c->ev);
		if (!advance(f, c))
			heap[0] = heap[--n];
		sift_down(heap, n, 0);
	}
	free(cs);
	free(heap);
	return rc;
}
