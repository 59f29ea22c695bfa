/*
 * pprof_write.c - writes a stack table as a pprof profile (gzipped profile.proto; see
 * profile_formats.h for the mapping of the model onto it).
 *
 * Design: one pass over the stacks writes the samples and, as it meets them, gives ids to
 * the strings, functions, mappings and locations they use; the tables are written after
 * the samples (protobuf does not care about field order, and pprof's readers read the
 * whole message first). Strings, functions (name, file), mappings (module) and locations
 * (a run of frame ids) are all interned through one structure: a map from short uint32
 * sequences to dense ids.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hash.h"
#include "pbwire.h"
#include "profile_formats.h"

/* Field numbers of profile.proto. */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_MAPPING = 3,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	MAPPING_ID = 1,
	MAPPING_MEMORY_START = 2,
	MAPPING_MEMORY_LIMIT = 3,
	MAPPING_FILENAME = 5,
	MAPPING_HAS_FUNCTIONS = 7,
	MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	MAPPING_HAS_INLINE_FRAMES = 10,
	LOCATION_ID = 1,
	LOCATION_MAPPING_ID = 2,
	LOCATION_ADDRESS = 3,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

/* Interned uint32 sequences with dense ids from 1. */
typedef struct seqmap {
	uint32_t *pool;
	size_t pool_len, pool_cap;
	size_t *off; /* id-1 -> offset in pool; the sequence length sits at pool[off] */
	size_t n, off_cap;
	uint32_t *index; /* hash slot -> id, 0 empty */
	size_t mask;
} seqmap;

static void seqmap_release(seqmap *m)
{
	free(m->pool);
	free(m->off);
	free(m->index);
}

static const uint32_t *seqmap_get(const seqmap *m, uint32_t id, size_t *len)
{
	const uint32_t *p = m->pool + m->off[id - 1];
	*len = p[0];
	return p + 1;
}

static uint64_t seq_hash(const uint32_t *s, size_t n)
{
	return sonde_hash_bytes(s, n * sizeof(*s), 0x2f0a);
}

/* The id of s[0..n) (added when new), or 0 when out of memory. */
static uint32_t seqmap_intern(seqmap *m, const uint32_t *s, size_t n)
{
	uint64_t h = seq_hash(s, n);
	if (m->index) {
		for (size_t j = h & m->mask; m->index[j]; j = (j + 1) & m->mask) {
			size_t len;
			const uint32_t *p = seqmap_get(m, m->index[j], &len);
			if (len == n && memcmp(p, s, n * sizeof(*s)) == 0)
				return m->index[j];
		}
	}
	if (m->n >= UINT32_MAX - 1)
		return 0;
	if (!m->index || (m->n + 1) * 2 > m->mask + 1) {
		size_t cap = m->index ? (m->mask + 1) * 2 : 256;
		uint32_t *idx = calloc(cap, sizeof(*idx));
		if (!idx)
			return 0;
		for (size_t id = 1; id <= m->n; id++) {
			size_t len;
			const uint32_t *p = seqmap_get(m, (uint32_t)id, &len);
			size_t j = seq_hash(p, len) & (cap - 1);
			while (idx[j])
				j = (j + 1) & (cap - 1);
			idx[j] = (uint32_t)id;
		}
		free(m->index);
		m->index = idx;
		m->mask = cap - 1;
	}
	if (m->pool_cap - m->pool_len < n + 1) {
		size_t cap = m->pool_cap ? m->pool_cap : 1024;
		while (cap - m->pool_len < n + 1)
			cap *= 2;
		uint32_t *p = realloc(m->pool, cap * sizeof(*p));
		if (!p)
			return 0;
		m->pool = p;
		m->pool_cap = cap;
	}
	if (m->n == m->off_cap) {
		size_t cap = m->off_cap ? m->off_cap * 2 : 256;
		size_t *o = realloc(m->off, cap * sizeof(*o));
		if (!o)
			return 0;
		m->off = o;
		m->off_cap = cap;
	}
	m->off[m->n] = m->pool_len;
	m->pool[m->pool_len] = (uint32_t)n;
	memcpy(m->pool + m->pool_len + 1, s, n * sizeof(*s));
	m->pool_len += n + 1;
	uint32_t id = (uint32_t)++m->n;
	size_t j = h & m->mask;
	while (m->index[j])
		j = (j + 1) & m->mask;
	m->index[j] = id;
	return id;
}

/* What a frame becomes, computed the first time a stack uses it. */
typedef struct frame_info {
	uint32_t function; /* function id, 0 when the frame has no line */
	uint32_t mapping;  /* mapping id, 0 when the module is unknown */
	bool done;
} frame_info;

typedef struct mapping_info {
	uint64_t limit;
	bool functions, filenames, lines, inlines;
} mapping_info;

typedef struct pw {
	const sonde_stacktab *t;
	seqmap strings; /* a string is the sequence of its pointer's two halves */
	const char **str_ptr;
	size_t str_cap;
	seqmap functions, mappings, locations;
	mapping_info *minfo;
	size_t minfo_cap;
	frame_info *finfo;
	bool oom;
} pw;

/* The string table index of s (interned in t, so equal strings are equal pointers; ""
 * is index 0). */
static uint64_t str_index(pw *w, const char *s)
{
	if (!s || !s[0])
		return 0;
	uintptr_t p = (uintptr_t)s;
	uint32_t key[2] = {(uint32_t)p, (uint32_t)((uint64_t)p >> 32)};
	uint32_t id = seqmap_intern(&w->strings, key, 2);
	if (!id) {
		w->oom = true;
		return 0;
	}
	if (id >= w->str_cap) {
		size_t cap = w->str_cap ? w->str_cap * 2 : 256;
		while (cap <= id)
			cap *= 2;
		const char **a = realloc(w->str_ptr, cap * sizeof(*a));
		if (!a) {
			w->oom = true;
			return 0;
		}
		w->str_ptr = a;
		w->str_cap = cap;
	}
	w->str_ptr[id] = s;
	return id;
}

static bool has_line(const sonde_frame *f)
{
	return f->function[0] || f->file[0] || f->line;
}

static frame_info *info_of(pw *w, uint32_t id)
{
	frame_info *fi = &w->finfo[id];
	if (fi->done)
		return fi;
	const sonde_frame *f = sonde_stacktab_frame(w->t, id);
	fi->done = true;
	if (has_line(f)) {
		uint32_t key[2] = {(uint32_t)str_index(w, f->function), (uint32_t)str_index(w, f->file)};
		fi->function = seqmap_intern(&w->functions, key, 2);
		w->oom |= !fi->function;
	}
	if (f->module[0]) {
		uint32_t key = (uint32_t)str_index(w, f->module);
		fi->mapping = seqmap_intern(&w->mappings, &key, 1);
		if (!fi->mapping) {
			w->oom = true;
			return fi;
		}
		if (fi->mapping > w->minfo_cap) {
			size_t cap = w->minfo_cap ? w->minfo_cap * 2 : 64;
			while (cap < fi->mapping)
				cap *= 2;
			mapping_info *m = realloc(w->minfo, cap * sizeof(*m));
			if (!m) {
				w->oom = true;
				return fi;
			}
			memset(m + w->minfo_cap, 0, (cap - w->minfo_cap) * sizeof(*m));
			w->minfo = m;
			w->minfo_cap = cap;
		}
		mapping_info *mi = &w->minfo[fi->mapping - 1];
		if (f->address >= mi->limit)
			mi->limit = f->address + 1;
		mi->functions |= f->function[0] != 0;
		mi->filenames |= f->file[0] != 0;
		mi->lines |= f->line != 0;
		mi->inlines |= f->inlined;
	}
	return fi;
}

/* Frames i..j-1 of a stack (leaf first) make one location when each but the last is
 * inlined into the next at the same address and module. */
static size_t group_end(const sonde_stacktab *t, const uint32_t *fr, size_t i, size_t n)
{
	size_t j = i;
	for (;;) {
		const sonde_frame *f = sonde_stacktab_frame(t, fr[j]);
		if (!f->inlined || j + 1 >= n)
			return j + 1;
		const sonde_frame *g = sonde_stacktab_frame(t, fr[j + 1]);
		if (g->address != f->address || g->module != f->module)
			return j + 1;
		j++;
	}
}

/* A root frame that pprof carries as the label "thread" rather than as a location: a
 * thread marker and nothing else. */
static bool label_thread(const sonde_frame *f)
{
	return f && f->function[0] && !f->file[0] && !f->line && !f->address && !f->inlined;
}

static void put_packed_u64(sonde_pb_writer *pw_, uint32_t field, const uint64_t *v, size_t n)
{
	if (!n)
		return;
	sonde_pb_open(pw_, field);
	for (size_t i = 0; i < n; i++)
		sonde_pb_put_varint(pw_->out, v[i]);
	sonde_pb_close(pw_);
}

static void put_value_type(sonde_pb_writer *pb, uint32_t field, uint64_t type, uint64_t unit)
{
	sonde_pb_open(pb, field);
	if (type)
		sonde_pb_put_varint_field(pb, VALUETYPE_TYPE, type);
	if (unit)
		sonde_pb_put_varint_field(pb, VALUETYPE_UNIT, unit);
	sonde_pb_close(pb);
}

static int write_profile(pw *w, const sonde_profile_write_opts *opts, sonde_buf *raw)
{
	const sonde_stacktab *t = w->t;
	size_t ntypes = sonde_stacktab_types_count(t), nstacks = sonde_stacktab_stacks_count(t);
	sonde_pb_writer pb;
	sonde_pb_writer_init(&pb, raw);
	for (size_t k = 0; k < ntypes; k++) {
		const sonde_sample_type *st = sonde_stacktab_type(t, k);
		put_value_type(&pb, PROFILE_SAMPLE_TYPE, str_index(w, st->name), str_index(w, st->unit));
	}
	/* "thread" is a string of t only when some frame says so; keep our own. */
	static const char thread_key[] = "thread";
	uint64_t *locs = NULL, values[16];
	size_t locs_cap = 0;
	for (size_t s = 0; s < nstacks && !w->oom; s++) {
		bool any = false;
		for (size_t k = 0; k < ntypes; k++) {
			values[k] = (uint64_t)sonde_stacktab_count(t, (uint32_t)s, k);
			any |= values[k] != 0;
		}
		if (!any)
			continue;
		size_t n;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &n);
		const sonde_frame *thread = sonde_stacktab_stack_thread(t, (uint32_t)s);
		if (!label_thread(thread) || (n >= 2 && sonde_stacktab_frame(t, fr[n - 2])->inlined))
			thread = NULL;
		size_t nphys = thread ? n - 1 : n, nlocs = 0;
		if (nphys > locs_cap) {
			uint64_t *p = realloc(locs, nphys * sizeof(*p));
			if (!p) {
				w->oom = true;
				break;
			}
			locs = p;
			locs_cap = nphys;
		}
		for (size_t i = 0; i < nphys;) {
			size_t j = group_end(t, fr, i, nphys);
			for (size_t k = i; k < j; k++)
				info_of(w, fr[k]);
			uint32_t id = seqmap_intern(&w->locations, fr + i, j - i);
			if (!id) {
				w->oom = true;
				break;
			}
			locs[nlocs++] = id;
			i = j;
		}
		sonde_pb_open(&pb, PROFILE_SAMPLE);
		put_packed_u64(&pb, SAMPLE_LOCATION_ID, locs, nlocs);
		put_packed_u64(&pb, SAMPLE_VALUE, values, ntypes);
		if (thread) {
			sonde_pb_open(&pb, SAMPLE_LABEL);
			sonde_pb_put_varint_field(&pb, LABEL_KEY, str_index(w, thread_key));
			sonde_pb_put_varint_field(&pb, LABEL_STR, str_index(w, thread->function));
			sonde_pb_close(&pb);
		}
		sonde_pb_close(&pb);
	}
	free(locs);
	for (uint32_t id = 1; id <= w->mappings.n && !w->oom; id++) {
		size_t len;
		const uint32_t *key = seqmap_get(&w->mappings, id, &len);
		const mapping_info *mi = &w->minfo[id - 1];
		sonde_pb_open(&pb, PROFILE_MAPPING);
		sonde_pb_put_varint_field(&pb, MAPPING_ID, id);
		if (mi->limit)
			sonde_pb_put_varint_field(&pb, MAPPING_MEMORY_LIMIT, mi->limit);
		sonde_pb_put_varint_field(&pb, MAPPING_FILENAME, key[0]);
		if (mi->functions)
			sonde_pb_put_varint_field(&pb, MAPPING_HAS_FUNCTIONS, 1);
		if (mi->filenames)
			sonde_pb_put_varint_field(&pb, MAPPING_HAS_FILENAMES, 1);
		if (mi->lines)
			sonde_pb_put_varint_field(&pb, MAPPING_HAS_LINE_NUMBERS, 1);
		if (mi->inlines)
			sonde_pb_put_varint_field(&pb, MAPPING_HAS_INLINE_FRAMES, 1);
		sonde_pb_close(&pb);
	}
	for (uint32_t id = 1; id <= w->locations.n && !w->oom; id++) {
		size_t len;
		const uint32_t *fr = seqmap_get(&w->locations, id, &len);
		/* The last frame is the physical one: its address and mapping. */
		const sonde_frame *phys = sonde_stacktab_frame(t, fr[len - 1]);
		sonde_pb_open(&pb, PROFILE_LOCATION);
		sonde_pb_put_varint_field(&pb, LOCATION_ID, id);
		if (w->finfo[fr[len - 1]].mapping)
			sonde_pb_put_varint_field(&pb, LOCATION_MAPPING_ID, w->finfo[fr[len - 1]].mapping);
		if (phys->address)
			sonde_pb_put_varint_field(&pb, LOCATION_ADDRESS, phys->address);
		/* A lone frame without function, file or line is an address only; in an
		 * inlined run every frame is a line, empty or not. */
		for (size_t k = 0; k < len; k++) {
			const sonde_frame *f = sonde_stacktab_frame(t, fr[k]);
			if (len == 1 && !w->finfo[fr[k]].function && !f->inlined)
				continue;
			sonde_pb_open(&pb, LOCATION_LINE);
			if (w->finfo[fr[k]].function)
				sonde_pb_put_varint_field(&pb, LINE_FUNCTION_ID, w->finfo[fr[k]].function);
			if (f->line)
				sonde_pb_put_varint_field(&pb, LINE_LINE, f->line);
			sonde_pb_close(&pb);
		}
		sonde_pb_close(&pb);
	}
	for (uint32_t id = 1; id <= w->functions.n && !w->oom; id++) {
		size_t len;
		const uint32_t *key = seqmap_get(&w->functions, id, &len);
		sonde_pb_open(&pb, PROFILE_FUNCTION);
		sonde_pb_put_varint_field(&pb, FUNCTION_ID, id);
		if (key[0]) {
			sonde_pb_put_varint_field(&pb, FUNCTION_NAME, key[0]);
			sonde_pb_put_varint_field(&pb, FUNCTION_SYSTEM_NAME, key[0]);
		}
		if (key[1])
			sonde_pb_put_varint_field(&pb, FUNCTION_FILENAME, key[1]);
		sonde_pb_close(&pb);
	}
	uint64_t ptype = opts->period_type ? str_index(w, opts->period_type) : 0;
	uint64_t punit = opts->period_unit ? str_index(w, opts->period_unit) : 0;
	sonde_pb_put_bytes_field(&pb, PROFILE_STRING_TABLE, "", 0);
	for (uint32_t id = 1; id <= w->strings.n && !w->oom; id++)
		sonde_pb_put_bytes_field(&pb, PROFILE_STRING_TABLE, w->str_ptr[id], strlen(w->str_ptr[id]));
	if (opts->time_ns)
		sonde_pb_put_varint_field(&pb, PROFILE_TIME_NANOS, (uint64_t)opts->time_ns);
	if (opts->duration_ns)
		sonde_pb_put_varint_field(&pb, PROFILE_DURATION_NANOS, (uint64_t)opts->duration_ns);
	if (ptype || punit)
		put_value_type(&pb, PROFILE_PERIOD_TYPE, ptype, punit);
	if (opts->period)
		sonde_pb_put_varint_field(&pb, PROFILE_PERIOD, (uint64_t)opts->period);
	return w->oom || raw->oom || pb.overflow ? -ENOMEM : 0;
}

static int gzip_into(const sonde_buf *in, sonde_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: the gzip wrapper, as pprof files have. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	uLong bound = deflateBound(&zs, (uLong)in->len);
	if (sonde_buf_grow(out, bound) < 0) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)(in->data ? in->data : "");
	zs.avail_in = (uInt)in->len;
	zs.next_out = (Bytef *)out->data + out->len;
	zs.avail_out = (uInt)bound;
	int zrc = deflate(&zs, Z_FINISH);
	size_t wrote = bound - zs.avail_out;
	deflateEnd(&zs);
	if (zrc != Z_STREAM_END)
		return -ENOMEM;
	out->len += wrote;
	out->data[out->len] = '\0';
	return 0;
}

int sonde_pprof_write(const sonde_stacktab *t, const sonde_profile_write_opts *opts, sonde_buf *out)
{
	static const sonde_profile_write_opts none;
	if (!opts)
		opts = &none;
	pw w = {.t = t};
	size_t nframes = sonde_stacktab_frames_count(t);
	w.finfo = calloc(nframes ? nframes : 1, sizeof(*w.finfo));
	sonde_buf raw = SONDE_BUF_INIT;
	int rc = -ENOMEM;
	if (!w.finfo)
		goto out;
	if (opts->pprof_raw) {
		size_t before = out->len;
		rc = write_profile(&w, opts, out);
		if (rc < 0)
			out->len = before;
	} else {
		rc = write_profile(&w, opts, &raw);
		if (rc == 0)
			rc = gzip_into(&raw, out);
	}
out:
	sonde_buf_release(&raw);
	seqmap_release(&w.strings);
	seqmap_release(&w.functions);
	seqmap_release(&w.mappings);
	seqmap_release(&w.locations);
	free(w.str_ptr);
	free(w.minfo);
	free(w.finfo);
	return rc;
}
