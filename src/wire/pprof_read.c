/*
 * pprof_read.c - reads a pprof profile (profile.proto, gzipped or not) into a stack table
 * (see profile_formats.h).
 *
 * Design: protobuf lets a message's fields come in any order and pprof writers put the
 * string table last, so a first pass only notes where each top-level repeated field's
 * bytes are; mappings, functions and locations are then read into arrays with id maps,
 * each location's frames are made once (on first use), and a last pass reads the samples.
 * Every id, index and length is checked; nothing recurses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hash.h"
#include "pbwire.h"
#include "profile_formats.h"
#include "sonde/status.h"

typedef struct span {
	const uint8_t *p;
	size_t n;
} span;

typedef struct spans {
	span *v;
	size_t n, cap;
} spans;

/* uint64 id -> index + 1. */
typedef struct idmap {
	uint64_t *keys;
	uint32_t *vals; /* 0: empty */
	size_t mask;
} idmap;

typedef struct mapping {
	uint64_t start, offset;
	uint64_t filename;
} mapping;

typedef struct function {
	uint64_t name, filename;
} function;

typedef struct location {
	uint64_t mapping_id, address;
	size_t lines_off, nlines; /* into rd.lines */
	size_t frames_off;        /* into rd.frames, once made */
	uint32_t nframes;
	bool made;
} location;

typedef struct line_rec {
	uint64_t function_id;
	int64_t line;
} line_rec;

typedef struct rd {
	sonde_stacktab *t;
	sonde_wire_error *err;
	const char *where; /* " in the gunzipped profile" or "" */
	spans types, samples, mappings_raw, locations_raw, functions_raw, strings_raw;
	char **strs; /* NUL-terminated copies */
	size_t nstrs;
	mapping *mappings;
	function *functions;
	location *locations;
	idmap mapping_ids, function_ids, location_ids;
	line_rec *lines;
	size_t nlines, lines_cap;
	uint32_t *frames;
	size_t nframes, frames_cap;
	size_t type_of[16]; /* sample value index -> table type */
	size_t ntypes;
} rd;

static int fail(rd *r, size_t offset, const char *field, const char *msg)
{
	return sonde_wire_fail(r->err, offset, 0, field, "%s%s", msg, r->where);
}

static int fail_pb(rd *r, const sonde_pb_reader *pb, const char *field)
{
	return fail(r, pb->err_offset, field, pb->err_msg ? pb->err_msg : "malformed protobuf");
}

static int spans_push(spans *s, const uint8_t *p, size_t n)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		span *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (span){p, n};
	return 0;
}

static int idmap_init(idmap *m, size_t n)
{
	size_t cap = 16;
	while (cap < n * 2 + 2)
		cap *= 2;
	m->keys = malloc(cap * sizeof(*m->keys));
	m->vals = calloc(cap, sizeof(*m->vals));
	m->mask = cap - 1;
	return m->keys && m->vals ? 0 : -ENOMEM;
}

static void idmap_release(idmap *m)
{
	free(m->keys);
	free(m->vals);
}

/* Returns 1 when added, 0 when the id is already there. */
static int idmap_put(idmap *m, uint64_t id, uint32_t index)
{
	for (size_t j = sonde_hash_u64(id) & m->mask;; j = (j + 1) & m->mask) {
		if (!m->vals[j]) {
			m->keys[j] = id;
			m->vals[j] = index + 1;
			return 1;
		}
		if (m->keys[j] == id)
			return 0;
	}
}

/* Index of id, or -1. */
static int64_t idmap_get(const idmap *m, uint64_t id)
{
	for (size_t j = sonde_hash_u64(id) & m->mask; m->vals[j]; j = (j + 1) & m->mask)
		if (m->keys[j] == id)
			return m->vals[j] - 1;
	return -1;
}

static size_t off_of(const sonde_pb_reader *pb, const uint8_t *p)
{
	return (size_t)(p - pb->base);
}

/* Reads a varint field's value, or fails naming the field. */
static int get_varint(rd *r, sonde_pb_reader *pb, uint32_t wt, uint64_t *v, const char *field)
{
	if (wt != SONDE_PB_VARINT)
		return fail(r, off_of(pb, pb->pos), field, "expected a varint");
	if (sonde_pb_read_varint(pb, v) < 0)
		return fail_pb(r, pb, field);
	return 0;
}

static int check_str(rd *r, uint64_t idx, size_t at, const char *field)
{
	if (idx >= r->nstrs)
		return fail(r, at, field, "string index past the end of string_table");
	return 0;
}

static int first_pass(rd *r, const uint8_t *p, size_t n)
{
	sonde_pb_reader pb;
	sonde_pb_reader_init(&pb, p, n);
	uint32_t field, wt;
	int rc;
	while ((rc = sonde_pb_next_field(&pb, &field, &wt)) > 0) {
		spans *dst = NULL;
		switch (field) {
		case 1: dst = &r->types; break;
		case 2: dst = &r->samples; break;
		case 3: dst = &r->mappings_raw; break;
		case 4: dst = &r->locations_raw; break;
		case 5: dst = &r->functions_raw; break;
		case 6: dst = &r->strings_raw; break;
		default: break;
		}
		if (!dst) {
			if (sonde_pb_skip(&pb, wt) < 0)
				return fail_pb(r, &pb, "Profile");
			continue;
		}
		static const char *const names[] = {"",         "sample_type", "sample",      "mapping",
		                                    "location", "function",    "string_table"};
		if (wt != SONDE_PB_LEN)
			return fail(r, off_of(&pb, pb.pos), names[field],
			            "expected a length-delimited field");
		const uint8_t *b;
		size_t bn;
		if (sonde_pb_read_bytes(&pb, &b, &bn) < 0)
			return fail_pb(r, &pb, names[field]);
		if (spans_push(dst, b, bn) < 0)
			return -ENOMEM;
	}
	return rc < 0 ? fail_pb(r, &pb, "Profile") : 0;
}

static int read_strings(rd *r, const uint8_t *base)
{
	r->strs = calloc(r->strings_raw.n + 1, sizeof(*r->strs));
	if (!r->strs)
		return -ENOMEM;
	for (size_t i = 0; i < r->strings_raw.n; i++) {
		span s = r->strings_raw.v[i];
		char *c = malloc(s.n + 1);
		if (!c)
			return -ENOMEM;
		memcpy(c, s.p, s.n);
		c[s.n] = '\0';
		r->strs[i] = c;
		r->nstrs = i + 1;
	}
	if (r->nstrs == 0) {
		/* string_table[0] must be ""; an empty table is tolerated as just that. */
		r->strs[0] = calloc(1, 1);
		if (!r->strs[0])
			return -ENOMEM;
		r->nstrs = 1;
	} else if (r->strs[0][0]) {
		return fail(r, (size_t)(r->strings_raw.v[0].p - base), "string_table[0]",
		            "expected the empty string");
	}
	return 0;
}

static int read_types(rd *r, const uint8_t *base)
{
	char field[48];
	for (size_t i = 0; i < r->types.n; i++) {
		snprintf(field, sizeof(field), "sample_type[%zu]", i);
		if (i >= 16)
			return SONDE_ELIMIT;
		sonde_pb_reader pb = {
		        .base = base, .pos = r->types.v[i].p, .end = r->types.v[i].p + r->types.v[i].n};
		uint64_t type = 0, unit = 0;
		uint32_t f, wt;
		int rc;
		while ((rc = sonde_pb_next_field(&pb, &f, &wt)) > 0) {
			if (f == 1 || f == 2) {
				uint64_t *dst = f == 1 ? &type : &unit;
				if (get_varint(r, &pb, wt, dst, field) < 0 ||
				    check_str(r, *dst, off_of(&pb, pb.pos), field) < 0)
					return SONDE_EPARSE;
			} else if (sonde_pb_skip(&pb, wt) < 0) {
				return fail_pb(r, &pb, field);
			}
		}
		if (rc < 0)
			return fail_pb(r, &pb, field);
		int k = sonde_stacktab_add_type(r->t, r->strs[type], r->strs[unit]);
		if (k < 0)
			return k == -ENOSPC ? SONDE_ELIMIT : k;
		r->type_of[i] = (size_t)k;
	}
	r->ntypes = r->types.n;
	return 0;
}

static int read_mappings(rd *r, const uint8_t *base)
{
	char field[48];
	r->mappings = calloc(r->mappings_raw.n + 1, sizeof(*r->mappings));
	if (!r->mappings || idmap_init(&r->mapping_ids, r->mappings_raw.n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < r->mappings_raw.n; i++) {
		snprintf(field, sizeof(field), "mapping[%zu]", i);
		span s = r->mappings_raw.v[i];
		sonde_pb_reader pb = {.base = base, .pos = s.p, .end = s.p + s.n};
		mapping *m = &r->mappings[i];
		uint64_t id = 0, v;
		uint32_t f, wt;
		int rc;
		while ((rc = sonde_pb_next_field(&pb, &f, &wt)) > 0) {
			if (f >= 1 && f <= 5 && f != 3) {
				if (get_varint(r, &pb, wt, &v, field) < 0)
					return SONDE_EPARSE;
				if (f == 1)
					id = v;
				else if (f == 2)
					m->start = v;
				else if (f == 4)
					m->offset = v;
				else if (check_str(r, v, off_of(&pb, pb.pos), field) < 0)
					return SONDE_EPARSE;
				else
					m->filename = v;
			} else if (sonde_pb_skip(&pb, wt) < 0) {
				return fail_pb(r, &pb, field);
			}
		}
		if (rc < 0)
			return fail_pb(r, &pb, field);
		size_t at = (size_t)(s.p - base);
		if (id == 0)
			return fail(r, at, field, "expected a non-zero id");
		if (!idmap_put(&r->mapping_ids, id, (uint32_t)i))
			return fail(r, at, field, "id used by an earlier mapping");
	}
	return 0;
}

static int read_functions(rd *r, const uint8_t *base)
{
	char field[48];
	r->functions = calloc(r->functions_raw.n + 1, sizeof(*r->functions));
	if (!r->functions || idmap_init(&r->function_ids, r->functions_raw.n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < r->functions_raw.n; i++) {
		snprintf(field, sizeof(field), "function[%zu]", i);
		span s = r->functions_raw.v[i];
		sonde_pb_reader pb = {.base = base, .pos = s.p, .end = s.p + s.n};
		function *fn = &r->functions[i];
		uint64_t id = 0, v, system_name = 0;
		uint32_t f, wt;
		int rc;
		while ((rc = sonde_pb_next_field(&pb, &f, &wt)) > 0) {
			if (f >= 1 && f <= 4) {
				if (get_varint(r, &pb, wt, &v, field) < 0)
					return SONDE_EPARSE;
				if (f > 1 && check_str(r, v, off_of(&pb, pb.pos), field) < 0)
					return SONDE_EPARSE;
				if (f == 1)
					id = v;
				else if (f == 2)
					fn->name = v;
				else if (f == 3)
					system_name = v;
				else
					fn->filename = v;
			} else if (sonde_pb_skip(&pb, wt) < 0) {
				return fail_pb(r, &pb, field);
			}
		}
		if (rc < 0)
			return fail_pb(r, &pb, field);
		if (!fn->name)
			fn->name = system_name;
		size_t at = (size_t)(s.p - base);
		if (id == 0)
			return fail(r, at, field, "expected a non-zero id");
		if (!idmap_put(&r->function_ids, id, (uint32_t)i))
			return fail(r, at, field, "id used by an earlier function");
	}
	return 0;
}

static int push_line(rd *r, line_rec l)
{
	if (r->nlines == r->lines_cap) {
		size_t cap = r->lines_cap ? r->lines_cap * 2 : 256;
		line_rec *v = realloc(r->lines, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->lines = v;
		r->lines_cap = cap;
	}
	r->lines[r->nlines++] = l;
	return 0;
}

static int read_line(rd *r, sonde_pb_reader *pb, const char *field, line_rec *out)
{
	uint32_t f, wt;
	uint64_t v;
	int rc;
	while ((rc = sonde_pb_next_field(pb, &f, &wt)) > 0) {
		if (f == 1 || f == 2) {
			if (get_varint(r, pb, wt, &v, field) < 0)
				return SONDE_EPARSE;
			if (f == 1)
				out->function_id = v;
			else
				out->line = (int64_t)v;
		} else if (sonde_pb_skip(pb, wt) < 0) {
			return fail_pb(r, pb, field);
		}
	}
	return rc < 0 ? fail_pb(r, pb, field) : 0;
}

static int read_locations(rd *r, const uint8_t *base)
{
	char field[64];
	r->locations = calloc(r->locations_raw.n + 1, sizeof(*r->locations));
	if (!r->locations || idmap_init(&r->location_ids, r->locations_raw.n) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < r->locations_raw.n; i++) {
		snprintf(field, sizeof(field), "location[%zu]", i);
		span s = r->locations_raw.v[i];
		sonde_pb_reader pb = {.base = base, .pos = s.p, .end = s.p + s.n};
		location *loc = &r->locations[i];
		loc->lines_off = r->nlines;
		uint64_t id = 0;
		uint32_t f, wt;
		int rc;
		while ((rc = sonde_pb_next_field(&pb, &f, &wt)) > 0) {
			if (f >= 1 && f <= 3) {
				uint64_t v;
				if (get_varint(r, &pb, wt, &v, field) < 0)
					return SONDE_EPARSE;
				if (f == 1)
					id = v;
				else if (f == 2)
					loc->mapping_id = v;
				else
					loc->address = v;
			} else if (f == 4) {
				snprintf(field, sizeof(field), "location[%zu].line[%zu]", i, loc->nlines);
				if (wt != SONDE_PB_LEN)
					return fail(r, off_of(&pb, pb.pos), field,
					            "expected a length-delimited field");
				sonde_pb_reader sub;
				if (sonde_pb_read_submsg(&pb, &sub) < 0)
					return fail_pb(r, &pb, field);
				line_rec l = {0};
				if (read_line(r, &sub, field, &l) < 0)
					return SONDE_EPARSE;
				if (l.function_id && idmap_get(&r->function_ids, l.function_id) < 0)
					return fail(r, off_of(&sub, sub.pos), field,
					            "function_id names no function");
				if (push_line(r, l) < 0)
					return -ENOMEM;
				loc->nlines++;
				snprintf(field, sizeof(field), "location[%zu]", i);
			} else if (sonde_pb_skip(&pb, wt) < 0) {
				return fail_pb(r, &pb, field);
			}
		}
		if (rc < 0)
			return fail_pb(r, &pb, field);
		size_t at = (size_t)(s.p - base);
		if (id == 0)
			return fail(r, at, field, "expected a non-zero id");
		if (loc->mapping_id && idmap_get(&r->mapping_ids, loc->mapping_id) < 0)
			return fail(r, at, field, "mapping_id names no mapping");
		if (!idmap_put(&r->location_ids, id, (uint32_t)i))
			return fail(r, at, field, "id used by an earlier location");
	}
	return 0;
}

static int push_frame(rd *r, uint32_t id)
{
	if (r->nframes == r->frames_cap) {
		size_t cap = r->frames_cap ? r->frames_cap * 2 : 1024;
		uint32_t *v = realloc(r->frames, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->frames = v;
		r->frames_cap = cap;
	}
	r->frames[r->nframes++] = id;
	return 0;
}

/* Makes a location's frames (leaf first) once. */
static int make_location(rd *r, location *loc)
{
	if (loc->made)
		return 0;
	const char *module = "";
	uint64_t address = loc->address;
	if (loc->mapping_id) {
		const mapping *m = &r->mappings[idmap_get(&r->mapping_ids, loc->mapping_id)];
		module = r->strs[m->filename];
		if (address >= m->start)
			address = address - m->start + m->offset;
	}
	loc->frames_off = r->nframes;
	sonde_frame f = {.module = module, .address = address};
	if (loc->nlines == 0) {
		int64_t id = sonde_stacktab_intern_frame(r->t, &f);
		if (id < 0 || push_frame(r, (uint32_t)id) < 0)
			return -ENOMEM;
	}
	for (size_t k = 0; k < loc->nlines; k++) {
		const line_rec *l = &r->lines[loc->lines_off + k];
		f.function = f.file = "";
		if (l->function_id) {
			const function *fn = &r->functions[idmap_get(&r->function_ids, l->function_id)];
			f.function = r->strs[fn->name];
			f.file = r->strs[fn->filename];
		}
		f.line = l->line > 0 && l->line <= UINT32_MAX ? (uint32_t)l->line : 0;
		f.inlined = k + 1 < loc->nlines;
		int64_t id = sonde_stacktab_intern_frame(r->t, &f);
		if (id < 0 || push_frame(r, (uint32_t)id) < 0)
			return -ENOMEM;
	}
	loc->nframes = (uint32_t)(r->nframes - loc->frames_off);
	loc->made = true;
	return 0;
}

/* Appends the values of a packed or unpacked repeated varint field to v[*n..cap). */
static int read_varints(rd *r, sonde_pb_reader *pb, uint32_t wt, uint64_t **v, size_t *n, size_t *cap,
                        const char *field)
{
	sonde_pb_reader one = *pb, sub;
	if (wt == SONDE_PB_LEN) {
		if (sonde_pb_read_submsg(pb, &sub) < 0)
			return fail_pb(r, pb, field);
	} else if (wt == SONDE_PB_VARINT) {
		/* One value: read it through a sub-reader that ends after it. */
		uint64_t x;
		if (sonde_pb_read_varint(pb, &x) < 0)
			return fail_pb(r, pb, field);
		sub = one;
		sub.end = pb->pos;
	} else {
		return fail(r, off_of(pb, pb->pos), field, "expected varints");
	}
	while (sub.pos < sub.end) {
		uint64_t x;
		if (sonde_pb_read_varint(&sub, &x) < 0)
			return fail_pb(r, &sub, field);
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 64;
			uint64_t *p = realloc(*v, c * sizeof(*p));
			if (!p)
				return -ENOMEM;
			*v = p;
			*cap = c;
		}
		(*v)[(*n)++] = x;
	}
	return 0;
}

typedef struct sample_scratch {
	uint64_t *locs, *vals;
	size_t locs_cap, vals_cap;
	uint32_t *stack;
	size_t stack_cap;
} sample_scratch;

static int stack_room(sample_scratch *sc, size_t need)
{
	if (need <= sc->stack_cap)
		return 0;
	size_t c = sc->stack_cap ? sc->stack_cap : 64;
	while (c < need)
		c *= 2;
	uint32_t *p = realloc(sc->stack, c * sizeof(*p));
	if (!p)
		return -ENOMEM;
	sc->stack = p;
	sc->stack_cap = c;
	return 0;
}

/* Reads a Label; *thread gets its str when its key is "thread". */
static int read_label(rd *r, sonde_pb_reader *sub, const char *field, uint64_t *thread)
{
	uint64_t key = 0, str = 0, v = 0;
	uint32_t f, wt;
	int rc;
	while ((rc = sonde_pb_next_field(sub, &f, &wt)) > 0) {
		if (f == 1 || f == 2) {
			if (get_varint(r, sub, wt, &v, field) < 0 ||
			    check_str(r, v, off_of(sub, sub->pos), field) < 0)
				return SONDE_EPARSE;
			*(f == 1 ? &key : &str) = v;
		} else if (sonde_pb_skip(sub, wt) < 0) {
			return fail_pb(r, sub, field);
		}
	}
	if (rc < 0)
		return fail_pb(r, sub, field);
	/* By content: a string table may hold "thread" more than once. */
	if (str && strcmp(r->strs[key], "thread") == 0)
		*thread = str;
	return 0;
}

static int read_sample(rd *r, size_t i, const uint8_t *base, sample_scratch *sc)
{
	char field[64];
	span s = r->samples.v[i];
	sonde_pb_reader pb = {.base = base, .pos = s.p, .end = s.p + s.n};
	size_t nlocs = 0, nvals = 0;
	uint64_t thread = 0;
	uint32_t f, wt;
	int rc;
	while ((rc = sonde_pb_next_field(&pb, &f, &wt)) > 0) {
		if (f == 1) {
			snprintf(field, sizeof(field), "sample[%zu].location_id", i);
			rc = read_varints(r, &pb, wt, &sc->locs, &nlocs, &sc->locs_cap, field);
		} else if (f == 2) {
			snprintf(field, sizeof(field), "sample[%zu].value", i);
			rc = read_varints(r, &pb, wt, &sc->vals, &nvals, &sc->vals_cap, field);
		} else if (f == 3) {
			snprintf(field, sizeof(field), "sample[%zu].label", i);
			sonde_pb_reader sub;
			if (wt != SONDE_PB_LEN)
				return fail(r, off_of(&pb, pb.pos), field,
				            "expected a length-delimited field");
			if (sonde_pb_read_submsg(&pb, &sub) < 0)
				return fail_pb(r, &pb, field);
			rc = read_label(r, &sub, field, &thread);
		} else if (sonde_pb_skip(&pb, wt) < 0) {
			snprintf(field, sizeof(field), "sample[%zu]", i);
			return fail_pb(r, &pb, field);
		}
		if (rc < 0)
			return rc;
	}
	snprintf(field, sizeof(field), "sample[%zu]", i);
	if (rc < 0)
		return fail_pb(r, &pb, field);
	if (nvals != r->ntypes) {
		char msg[96];
		snprintf(msg, sizeof(msg), "expected %zu values (one per sample_type), found %zu", r->ntypes,
		         nvals);
		return fail(r, (size_t)(s.p - base), field, msg);
	}
	size_t depth = 0;
	for (size_t k = 0; k < nlocs; k++) {
		int64_t li = idmap_get(&r->location_ids, sc->locs[k]);
		if (li < 0) {
			snprintf(field, sizeof(field), "sample[%zu].location_id[%zu]", i, k);
			return fail(r, (size_t)(s.p - base), field, "names no location");
		}
		location *loc = &r->locations[li];
		if (make_location(r, loc) < 0 || stack_room(sc, depth + loc->nframes + 1) < 0)
			return -ENOMEM;
		memcpy(sc->stack + depth, r->frames + loc->frames_off, loc->nframes * sizeof(*sc->stack));
		depth += loc->nframes;
	}
	if (thread) {
		sonde_frame tf = {.function = r->strs[thread], .module = SONDE_MODULE_THREAD};
		int64_t id = sonde_stacktab_intern_frame(r->t, &tf);
		if (id < 0 || stack_room(sc, depth + 1) < 0)
			return -ENOMEM;
		sc->stack[depth++] = (uint32_t)id;
	}
	int64_t sid = sonde_stacktab_intern_stack(r->t, sc->stack, depth);
	if (sid < 0)
		return (int)sid;
	for (size_t k = 0; k < nvals; k++)
		sonde_stacktab_add(r->t, (uint32_t)sid, r->type_of[k], (int64_t)sc->vals[k]);
	return 0;
}

static int read_samples(rd *r, const uint8_t *base)
{
	sample_scratch sc = {0};
	int rc = 0;
	for (size_t i = 0; i < r->samples.n && rc == 0; i++)
		rc = read_sample(r, i, base, &sc);
	free(sc.locs);
	free(sc.vals);
	free(sc.stack);
	return rc;
}

/* Inflates a gzip stream into out, at most max bytes. */
static int gunzip(rd *r, const uint8_t *p, size_t n, size_t max, sonde_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)p;
	zs.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
	int rc = 0;
	for (;;) {
		size_t room = n * 4 < 65536 ? 65536 : n * 4;
		if (sonde_buf_grow(out, room) < 0) {
			rc = -ENOMEM;
			break;
		}
		zs.next_out = (Bytef *)out->data + out->len;
		zs.avail_out =
		        (uInt)(out->cap - out->len - 1 > UINT32_MAX ? UINT32_MAX : out->cap - out->len - 1);
		uInt before = zs.avail_out;
		int z = inflate(&zs, Z_NO_FLUSH);
		out->len += before - zs.avail_out;
		if (out->len > max) {
			char msg[96];
			snprintf(msg, sizeof(msg), "gzip: the profile inflates to more than %zu bytes", max);
			rc = sonde_wire_fail(r->err, zs.total_in, 0, "gzip", "%s", msg);
			break;
		}
		if (z == Z_STREAM_END)
			break;
		if (z == Z_OK || (z == Z_BUF_ERROR && zs.avail_out == 0))
			continue;
		rc = sonde_wire_fail(r->err, zs.total_in, 0, "gzip", "gzip: %s",
		                     zs.msg ? zs.msg
		                            : (z == Z_BUF_ERROR ? "truncated stream" : "corrupt stream"));
		break;
	}
	inflateEnd(&zs);
	if (out->data)
		out->data[out->len] = '\0';
	return rc;
}

int sonde_pprof_read(sonde_stacktab *t, const char *buf, size_t len, const sonde_profile_read_opts *opts,
                     sonde_wire_error *err)
{
	rd r = {.t = t, .err = err, .where = ""};
	sonde_buf inflated = SONDE_BUF_INIT;
	const uint8_t *p = (const uint8_t *)buf;
	size_t n = len;
	int rc;
	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		size_t max = opts && opts->max_inflated_bytes ? opts->max_inflated_bytes : (size_t)1 << 30;
		rc = gunzip(&r, p, len, max, &inflated);
		if (rc < 0)
			goto out;
		p = (const uint8_t *)(inflated.data ? inflated.data : "");
		n = inflated.len;
		r.where = " (offset in the gunzipped profile)";
	}
	rc = first_pass(&r, p, n);
	if (rc == 0)
		rc = read_strings(&r, p);
	if (rc == 0)
		rc = read_types(&r, p);
	if (rc == 0)
		rc = read_mappings(&r, p);
	if (rc == 0)
		rc = read_functions(&r, p);
	if (rc == 0)
		rc = read_locations(&r, p);
	if (rc == 0)
		rc = read_samples(&r, p);
out:
	sonde_buf_release(&inflated);
	free(r.types.v);
	free(r.samples.v);
	free(r.mappings_raw.v);
	free(r.locations_raw.v);
	free(r.functions_raw.v);
	free(r.strings_raw.v);
	for (size_t i = 0; i < r.nstrs; i++)
		free(r.strs[i]);
	free(r.strs);
	free(r.mappings);
	free(r.functions);
	free(r.locations);
	idmap_release(&r.mapping_ids);
	idmap_release(&r.function_ids);
	idmap_release(&r.location_ids);
	free(r.lines);
	free(r.frames);
	return rc;
}
