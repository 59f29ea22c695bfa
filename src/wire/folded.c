/*
 * folded.c - folded stacks ("root;...;leaf COUNT" lines, flamegraph.pl's and inferno's
 * interchange format): a streaming reader and a sorted writer (see profile_formats.h).
 *
 * The reader is built for speed: sonde flame must render at 100 MB/s or more. A line is
 * cut with memchr, and each frame token goes through a cache keyed by its raw bytes
 * (annotation included) straight to a frame id, so a frame seen before costs one hash and
 * one compare instead of the table's string interning and frame interning. The stack is
 * then interned leaf first. Input bytes are never copied except a line that straddles two
 * fed pieces.
 */
#define _GNU_SOURCE /* qsort_r, memmem */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "hash.h"
#include "profile_formats.h"
#include "sonde/status.h"

typedef struct tok_slot {
	const char *str; /* copy in the reader's arena; NULL: empty slot */
	uint64_t hash;
	uint32_t len;
	uint32_t frame;
} tok_slot;

struct sonde_folded_reader {
	sonde_stacktab *t;
	size_t type;
	bool threads;
	bool failed;

	sonde_arena arena;
	tok_slot *slots;
	size_t mask, count;

	uint32_t *ids; /* root first, as parsed */
	uint32_t *rev; /* leaf first, for the table */
	size_t ids_cap;

	sonde_buf partial;     /* the start of a line cut by the end of a piece */
	size_t partial_offset; /* its offset in the whole input */
	size_t fed;            /* bytes fed before the current piece */
	size_t line;           /* lines parsed so far */
};

sonde_folded_reader *sonde_folded_reader_new(sonde_stacktab *t, const sonde_profile_read_opts *opts)
{
	int type = sonde_stacktab_add_type(t, "samples", "count");
	if (type < 0)
		return NULL;
	sonde_folded_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->t = t;
	r->type = (size_t)type;
	r->threads = opts && opts->threads;
	sonde_arena_init(&r->arena);
	sonde_buf_init(&r->partial);
	return r;
}

void sonde_folded_reader_free(sonde_folded_reader *r)
{
	if (!r)
		return;
	sonde_arena_release(&r->arena);
	free(r->slots);
	free(r->ids);
	free(r->rev);
	sonde_buf_release(&r->partial);
	free(r);
}

static int grow_slots(sonde_folded_reader *r)
{
	size_t cap = r->slots ? (r->mask + 1) * 2 : 1024;
	tok_slot *s = calloc(cap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; r->slots && i <= r->mask; i++) {
		if (!r->slots[i].str)
			continue;
		size_t j = r->slots[i].hash & (cap - 1);
		while (s[j].str)
			j = (j + 1) & (cap - 1);
		s[j] = r->slots[i];
	}
	free(r->slots);
	r->slots = s;
	r->mask = cap - 1;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The frame a token names: inferno's annotations give the kind; with threads, a root
 * token "<name>-<digits>" is a thread marker. */
static int64_t token_frame(sonde_folded_reader *r, const char *p, size_t n, bool root)
{
	char small[256], *name = n < sizeof(small) ? small : malloc(n + 1);
	if (!name)
		return -ENOMEM;
	memcpy(name, p, n);
	name[n] = '\0';
	/* Names are C strings: a NUL byte would cut one short. */
	for (char *z = memchr(name, '\0', n); z; z = memchr(z, '\0', (size_t)(name + n - z)))
		*z = '?';
	sonde_frame f = {.function = name};
	if (n >= 4 && name[n - 4] == '_' && name[n - 3] == '[' && name[n - 1] == ']') {
		char a = name[n - 2];
		if (a == 'k' || a == 'j' || a == 'i') {
			name[n - 4] = '\0';
			f.module = a == 'k' ? SONDE_MODULE_KERNEL : a == 'j' ? SONDE_MODULE_JIT : NULL;
			f.inlined = a == 'i';
		}
	}
	if (root && r->threads) {
		size_t i = n;
		while (i && is_digit(name[i - 1]))
			i--;
		if (i < n && i >= 2 && name[i - 1] == '-' && !f.module && !f.inlined)
			f.module = SONDE_MODULE_THREAD;
	}
	int64_t id = sonde_stacktab_intern_frame(r->t, &f);
	if (name != small)
		free(name);
	return id;
}

/* The frame id of a token, through the cache. */
static int64_t token_id(sonde_folded_reader *r, const char *p, size_t n, bool root)
{
	if (root && r->threads)
		return token_frame(r, p, n, true);
	if (n > UINT32_MAX)
		return -ENOMEM;
	uint64_t h = sonde_hash_bytes(p, n, 0x51ed270b);
	if (r->slots) {
		for (size_t j = h & r->mask;; j = (j + 1) & r->mask) {
			const tok_slot *s = &r->slots[j];
			if (!s->str)
				break;
			if (s->hash == h && s->len == n && memcmp(s->str, p, n) == 0)
				return s->frame;
		}
	}
	if ((r->count + 1) * 2 > (r->slots ? r->mask + 1 : 0) && grow_slots(r) < 0)
		return -ENOMEM;
	int64_t id = token_frame(r, p, n, false);
	if (id < 0)
		return id;
	char *copy = sonde_arena_memdup(&r->arena, p, n);
	if (!copy)
		return -ENOMEM;
	size_t j = h & r->mask;
	while (r->slots[j].str)
		j = (j + 1) & r->mask;
	r->slots[j] = (tok_slot){copy, h, (uint32_t)n, (uint32_t)id};
	r->count++;
	return id;
}

static int push_id(sonde_folded_reader *r, size_t *depth, uint32_t id)
{
	if (*depth == r->ids_cap) {
		size_t cap = r->ids_cap ? r->ids_cap * 2 : 256;
		uint32_t *a = realloc(r->ids, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		r->ids = a;
		uint32_t *b = realloc(r->rev, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		r->rev = b;
		r->ids_cap = cap;
	}
	r->ids[(*depth)++] = id;
	return 0;
}

/* Parses one line (no '\n') that starts at byte offset `at` of the whole input. */
static int parse_line(sonde_folded_reader *r, const char *p, size_t n, size_t at, sonde_wire_error *err)
{
	r->line++;
	while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	size_t sp = n;
	while (sp && p[sp - 1] != ' ' && p[sp - 1] != '\t')
		sp--;
	if (sp == 0)
		return sonde_wire_fail(err, at, r->line, "count",
		                       "expected \"frame;frame;... COUNT\": no space before a sample count");
	int64_t count = 0;
	for (size_t i = sp; i < n; i++) {
		if (!is_digit(p[i]))
			return sonde_wire_fail(
			        err, at + i, r->line, "count",
			        "expected a sample count (a non-negative integer) after the last space");
		if (count > (INT64_MAX - (p[i] - '0')) / 10)
			return sonde_wire_fail(err, at + sp, r->line, "count",
			                       "sample count too large for 64 bits");
		count = count * 10 + (p[i] - '0');
	}
	size_t end = sp - 1, depth = 0;
	for (size_t i = 0; i < end;) {
		const char *semi = memchr(p + i, ';', end - i);
		size_t tok_end = semi ? (size_t)(semi - p) : end;
		int64_t id = token_id(r, p + i, tok_end - i, i == 0);
		if (id < 0 || push_id(r, &depth, (uint32_t)id) < 0)
			return -ENOMEM;
		i = tok_end + 1;
		if (semi && i == end) {
			/* A trailing ';' ends with an empty frame. */
			id = token_id(r, "", 0, false);
			if (id < 0 || push_id(r, &depth, (uint32_t)id) < 0)
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < depth; i++)
		r->rev[i] = r->ids[depth - 1 - i];
	int64_t stack = sonde_stacktab_intern_stack(r->t, r->rev, depth);
	if (stack < 0)
		return (int)stack;
	return sonde_stacktab_add(r->t, (uint32_t)stack, r->type, count);
}

int sonde_folded_reader_feed(sonde_folded_reader *r, const char *buf, size_t len, sonde_wire_error *err)
{
	if (r->failed)
		return sonde_wire_fail(err, r->fed, r->line, NULL, "the reader already failed");
	int rc = 0;
	size_t i = 0;
	if (r->partial.len) {
		const char *nl = memchr(buf, '\n', len);
		size_t take = nl ? (size_t)(nl - buf) : len;
		sonde_buf_append(&r->partial, buf, take);
		if (r->partial.oom) {
			rc = -ENOMEM;
			goto out;
		}
		if (!nl) {
			r->fed += len;
			return 0;
		}
		rc = parse_line(r, r->partial.data, r->partial.len, r->partial_offset, err);
		sonde_buf_reset(&r->partial);
		if (rc < 0)
			goto out;
		i = take + 1;
	}
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl) {
			r->partial_offset = r->fed + i;
			sonde_buf_append(&r->partial, buf + i, len - i);
			if (r->partial.oom)
				rc = -ENOMEM;
			break;
		}
		size_t n = (size_t)(nl - (buf + i));
		rc = parse_line(r, buf + i, n, r->fed + i, err);
		if (rc < 0)
			goto out;
		i += n + 1;
	}
out:
	r->fed += len;
	if (rc < 0)
		r->failed = true;
	return rc;
}

int sonde_folded_reader_finish(sonde_folded_reader *r, sonde_wire_error *err)
{
	if (r->failed)
		return sonde_wire_fail(err, r->fed, r->line, NULL, "the reader already failed");
	if (!r->partial.len)
		return 0;
	int rc = parse_line(r, r->partial.data, r->partial.len, r->partial_offset, err);
	sonde_buf_reset(&r->partial);
	if (rc < 0)
		r->failed = true;
	return rc;
}

int sonde_folded_read(sonde_stacktab *t, const char *buf, size_t len, const sonde_profile_read_opts *opts,
                      sonde_wire_error *err)
{
	sonde_folded_reader *r = sonde_folded_reader_new(t, opts);
	if (!r)
		return sonde_stacktab_types_count(t) >= 16 ? SONDE_ELIMIT : -ENOMEM;
	int rc = sonde_folded_reader_feed(r, buf, len, err);
	if (rc == 0)
		rc = sonde_folded_reader_finish(r, err);
	sonde_folded_reader_free(r);
	return rc;
}

/* Writer. */

typedef struct line_ref {
	size_t off, len; /* the stack part in the lines buffer */
	int64_t count;
} line_ref;

static int line_cmp(const void *a, const void *b, void *ctx)
{
	const line_ref *x = a, *y = b;
	const char *base = ctx;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(base + x->off, base + y->off, n);
	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Appends a frame's name with its annotation, made safe for a folded line. */
static void put_frame(const sonde_frame *f, sonde_buf *out)
{
	size_t start = out->len;
	sonde_profile_frame_name(f, out);
	if (out->oom)
		return;
	for (size_t i = start; i < out->len; i++) {
		unsigned char c = (unsigned char)out->data[i];
		if (c == ';')
			out->data[i] = ':';
		else if (c < 0x20 || c == 0x7f)
			out->data[i] = '?';
	}
	switch (sonde_frame_kind_of(f)) {
	case SONDE_FRAME_KERNEL: sonde_buf_append(out, "_[k]", 4); break;
	case SONDE_FRAME_INLINED: sonde_buf_append(out, "_[i]", 4); break;
	case SONDE_FRAME_JIT: sonde_buf_append(out, "_[j]", 4); break;
	default: break;
	}
}

int sonde_folded_write(const sonde_stacktab *t, size_t type, sonde_buf *out)
{
	size_t nframes = sonde_stacktab_frames_count(t), nstacks = sonde_stacktab_stacks_count(t);
	if (sonde_stacktab_types_count(t) == 0)
		return 0;
	if (type >= sonde_stacktab_types_count(t))
		return -EINVAL;
	/* Frame names once, then lines from them. */
	sonde_buf names = SONDE_BUF_INIT, lines = SONDE_BUF_INIT;
	size_t *name_off = malloc((nframes + 1) * sizeof(*name_off));
	line_ref *refs = malloc((nstacks ? nstacks : 1) * sizeof(*refs));
	int rc = -ENOMEM;
	if (!name_off || !refs || sonde_buf_grow(&names, 1) < 0 || sonde_buf_grow(&lines, 1) < 0)
		goto out;
	for (size_t i = 0; i < nframes; i++) {
		name_off[i] = names.len;
		put_frame(sonde_stacktab_frame(t, (uint32_t)i), &names);
	}
	name_off[nframes] = names.len;
	if (names.oom)
		goto out;
	size_t n = 0;
	for (size_t s = 0; s < nstacks; s++) {
		int64_t c = sonde_stacktab_count(t, (uint32_t)s, type);
		if (c <= 0)
			continue;
		size_t depth;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &depth);
		refs[n].off = lines.len;
		refs[n].count = c;
		for (size_t i = depth; i-- > 0;) {
			sonde_buf_append(&lines, names.data + name_off[fr[i]],
			                 name_off[fr[i] + 1] - name_off[fr[i]]);
			if (i)
				sonde_buf_putc(&lines, ';');
		}
		refs[n].len = lines.len - refs[n].off;
		n++;
	}
	if (lines.oom)
		goto out;
	qsort_r(refs, n, sizeof(*refs), line_cmp, lines.data);
	/* Different frames can have the same name (a function at two lines, or two
	 * modules): their lines are equal text, now adjacent, and become one. */
	for (size_t i = 0; i < n;) {
		int64_t count = refs[i].count;
		size_t j = i + 1;
		for (; j < n && line_cmp(&refs[i], &refs[j], lines.data) == 0; j++)
			if (__builtin_add_overflow(count, refs[j].count, &count))
				count = INT64_MAX;
		sonde_buf_append(out, lines.data + refs[i].off, refs[i].len);
		sonde_buf_printf(out, " %lld\n", (long long)count);
		i = j;
	}
	rc = out->oom ? -ENOMEM : 0;
out:
	free(name_off);
	free(refs);
	sonde_buf_release(&names);
	sonde_buf_release(&lines);
	return rc;
}
