/*
 * fuzz_memfile.c - libFuzzer target for the reader of `sonde mem` recordings
 * (src/profile/mem_file.c) and the analysis over it (mem_report.c, without opening the
 * files the module maps name): any bytes either open, replay in sequence order and
 * analyse, or fail with SONDE_EPARSE naming an offset inside the input and a field; the
 * summary's quick look (sonde_memfile_peek) fails the same way and agrees with the open.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "mem_file.h"
#include "mem_report.h"
#include "sonde/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct check {
	const sonde_memfile *f;
	uint64_t last_seq;
	size_t n;
} check;

static int on_event(void *arg, const sonde_mem_event *e)
{
	check *c = arg;
	if (c->n++ && e->seq < c->last_seq)
		abort(); /* a replay is in sequence order */
	c->last_seq = e->seq;
	if (e->kind < SONDE_MEMEV_ALLOC || e->kind > SONDE_MEMEV_TIME)
		abort();
	if ((e->kind == SONDE_MEMEV_ALLOC || e->kind == SONDE_MEMEV_TEMP || e->kind == SONDE_MEMEV_MMAP) &&
	    e->stack >= sonde_memfile_stacks_count(c->f))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The quick look of the summary: 0, 1 (no END record) or a located error; it checks a
	 * subset of what the full open checks, and agrees with it on what it reports. */
	sonde_memfile_info peek;
	size_t peek_stacks;
	sonde_wire_error perr;
	int prc = sonde_memfile_peek(data, size, &peek, &peek_stacks, &perr);
	if (prc == SONDE_EPARSE && (perr.offset > size || !perr.field[0]))
		abort();
	if (prc != 0 && prc != 1 && prc != SONDE_EPARSE && prc != -ENOMEM)
		abort();
	sonde_memfile *f = NULL;
	sonde_wire_error err;
	int rc = sonde_memfile_open(data, size, &f, &err);
	if (rc != 0) {
		if (rc != SONDE_EPARSE || err.offset > size || !err.field[0])
			abort();
		return 0;
	}
	const sonde_memfile_info *in = sonde_memfile_info_get(f);
	if (prc == SONDE_EPARSE || (prc == 1) != !in->complete)
		abort();
	if (prc == 0 && (peek_stacks != sonde_memfile_stacks_count(f) || peek.threads != in->threads ||
	                 peek.end_ns != in->end_ns || peek.lost != in->lost || peek.all != in->all))
		abort();
	for (uint32_t i = 0; i < sonde_memfile_stacks_count(f); i++) {
		size_t depth;
		uint32_t gen;
		if (!sonde_memfile_stack(f, i, &depth, &gen))
			abort();
	}
	for (size_t i = 0; i < sonde_memfile_maps_count(f); i++) {
		size_t len;
		const char *m = sonde_memfile_maps(f, i, &len, NULL);
		if (!m || (const uint8_t *)m < data || (const uint8_t *)m + len > data + size)
			abort();
	}
	check c = {f, 0, 0};
	if (sonde_memfile_replay(f, on_event, &c) != 0)
		abort();
	sonde_mem_report_opts opts = {0};
	opts.no_symbols = true;
	opts.timeline_points = 16;
	sonde_mem_report *r = NULL;
	if (sonde_mem_report_build(f, &opts, &r) == 0) {
		if (r->peak_bytes < 0 || r->timeline_len != 16)
			abort();
		sonde_mem_report_free(r);
	}
	sonde_memfile_free(f);
	return 0;
}
