/*
 * perf_script_read.c - reads the default text of `perf script` (samples recorded with
 * call chains) into a stack table, as stackcollapse-perf.pl folds it (see
 * profile_formats.h).
 *
 * The text is a sequence of samples, each a header line at column 0, then one indented
 * line per frame (leaf first), then an empty line:
 *
 *     worker 23502/23503  6641.271639:   10101010 cpu-clock:ppp:
 *             126a leaf_a+0x2a (inlined)
 *             131c thr+0x1c (/tmp/burn)
 *            891f4 start_thread+0x304 (/usr/lib/x86_64-linux-gnu/libc.so.6)
 *
 * The command name may hold spaces: as in stackcollapse-perf.pl, it ends at the first
 * blank followed by a number ("PID" or "PID/TID") and a blank. A recording without call
 * chains has one line per sample, the frame after the event ("EVENT:  ADDRESS SYMBOL
 * (MODULE)"), and perf pads the command name with blanks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "profile_formats.h"
#include "sonde/status.h"

typedef struct ps_reader {
	sonde_stacktab *t;
	const sonde_profile_read_opts *opts;
	int type;
	const char *buf;
	size_t len;
	sonde_wire_error *err;
	size_t line;

	/* The sample being read. */
	bool in_sample;
	size_t header_offset;
	const char *comm;
	size_t comm_len;
	int64_t tid;
	uint32_t *ids; /* leaf first */
	size_t depth, cap;
	/* "(inlined)" frames wait for the module of the frame they are inlined into (the
	 * next one): their names, NUL-separated, and how many. */
	sonde_buf pending;
	size_t npending;

	char *scratch;
	size_t scratch_cap;
} ps_reader;

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* NUL-terminated copies of a[0..an) and b[0..bn) in the reader's scratch space, valid
 * until the next call. Returns 0 or -ENOMEM. */
static int scratch_copy(ps_reader *r, const char *a, size_t an, const char *b, size_t bn, char **ca,
                        char **cb)
{
	size_t need = an + bn + 2;
	if (need > r->scratch_cap) {
		size_t cap = r->scratch_cap ? r->scratch_cap : 512;
		while (cap < need)
			cap *= 2;
		char *s = realloc(r->scratch, cap);
		if (!s)
			return -ENOMEM;
		r->scratch = s;
		r->scratch_cap = cap;
	}
	*ca = r->scratch;
	memcpy(*ca, a, an);
	(*ca)[an] = '\0';
	*cb = r->scratch + an + 1;
	memcpy(*cb, b, bn);
	(*cb)[bn] = '\0';
	return 0;
}

static int fail(ps_reader *r, const char *at, const char *field, const char *msg)
{
	return sonde_wire_fail(r->err, (size_t)(at - r->buf), r->line, field, "%s", msg);
}

/* "COMM PID[/TID] ..." -> comm and tid. */
static int parse_header(ps_reader *r, const char *p, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (!is_blank(p[i]))
			continue;
		size_t j = i;
		while (j < n && is_blank(p[j]))
			j++;
		size_t k = j;
		int64_t a = 0, b = -1;
		while (k < n && is_digit(p[k]) && a < (INT64_MAX - 9) / 10)
			a = a * 10 + (p[k++] - '0');
		if (k == j)
			continue;
		if (k < n && p[k] == '/') {
			size_t m = ++k;
			b = 0;
			while (k < n && is_digit(p[k]) && b < (INT64_MAX - 9) / 10)
				b = b * 10 + (p[k++] - '0');
			if (k == m)
				continue;
		}
		if (k < n && !is_blank(p[k]))
			continue;
		r->comm = p;
		r->comm_len = i;
		r->tid = b >= 0 ? b : a;
		return 0;
	}
	return fail(r, p, "header", "expected a sample header \"COMM PID[/TID] TIME: ...\"");
}

static int push(ps_reader *r, uint32_t id)
{
	if (r->depth == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		uint32_t *a = realloc(r->ids, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		r->ids = a;
		r->cap = cap;
	}
	r->ids[r->depth++] = id;
	return 0;
}

/* Adds the pending "(inlined)" frames, inlined into a frame of module m at address
 * addr (which they take, as stacktab.h's convention says); with inlined false, there is
 * no such frame and they are taken as ordinary ones. */
static int flush_inlined(ps_reader *r, const char *m, uint64_t addr, bool inlined)
{
	const char *name = r->pending.data;
	for (size_t k = 0; k < r->npending; k++) {
		sonde_frame g = {.function = name, .module = m, .address = addr, .inlined = inlined};
		int64_t id = sonde_stacktab_intern_frame(r->t, &g);
		if (id < 0 || push(r, (uint32_t)id) < 0)
			return -ENOMEM;
		name += strlen(name) + 1;
	}
	r->npending = 0;
	sonde_buf_reset(&r->pending);
	return 0;
}

/* "\tADDRESS SYMBOL[+0xOFF] (MODULE)" */
static int parse_frame(ps_reader *r, const char *p, size_t n)
{
	while (n && is_blank(*p))
		p++, n--;
	uint64_t addr = 0;
	size_t i = 0;
	for (; i < n && hexval(p[i]) >= 0; i++) {
		if (i >= 16)
			return fail(r, p, "address", "address longer than 64 bits");
		addr = addr << 4 | (uint64_t)hexval(p[i]);
	}
	if (i == 0 || (i < n && !is_blank(p[i])))
		return fail(r, p, "address", "expected a frame line \"ADDRESS SYMBOL (MODULE)\"");
	while (i < n && is_blank(p[i]))
		i++;
	const char *sym = p + i, *mod = NULL;
	size_t sym_len = n - i, mod_len = 0;
	if (sym_len && sym[sym_len - 1] == ')') {
		/* The module is in the last parentheses that follow a blank. */
		for (size_t k = sym_len - 1; k-- > 0;) {
			if (sym[k] == '(' && (k == 0 || is_blank(sym[k - 1]))) {
				mod = sym + k + 1;
				mod_len = sym_len - k - 2;
				sym_len = k;
				break;
			}
		}
	}
	while (sym_len && is_blank(sym[sym_len - 1]))
		sym_len--;
	/* Strip "+0xOFFSET". */
	for (size_t k = sym_len; k >= 3; k--) {
		if (sym[k - 1] == '+' && k + 1 < sym_len && sym[k] == '0' && sym[k + 1] == 'x') {
			bool hex = k + 2 < sym_len;
			for (size_t m = k + 2; m < sym_len; m++)
				hex &= hexval(sym[m]) >= 0;
			if (hex)
				sym_len = k - 1;
			break;
		}
		if (hexval(sym[k - 1]) < 0 && sym[k - 1] != 'x')
			break;
	}
	bool unknown_sym = sym_len == 9 && memcmp(sym, "[unknown]", 9) == 0;
	bool inlined = mod && mod_len == 7 && memcmp(mod, "inlined", 7) == 0;
	bool unknown_mod = mod && mod_len == 9 && memcmp(mod, "[unknown]", 9) == 0;
	bool has_mod = mod && !inlined && !unknown_mod;
	char *fn, *m;
	if (scratch_copy(r, sym, unknown_sym ? 0 : sym_len, has_mod ? mod : "", has_mod ? mod_len : 0, &fn,
	                 &m) < 0)
		return -ENOMEM;
	sonde_frame f = {.function = fn, .module = m, .address = unknown_sym ? addr : 0};
	if (inlined) {
		sonde_buf_append(&r->pending, fn, strlen(fn) + 1);
		r->npending++;
		return r->pending.oom ? -ENOMEM : 0;
	}
	int64_t id = sonde_stacktab_intern_frame(r->t, &f);
	if (id < 0)
		return (int)id;
	return flush_inlined(r, m, f.address, true) < 0 ? -ENOMEM : push(r, (uint32_t)id);
}

/* "ADDRESS SYMBOL... (MODULE)" */
static bool frame_like(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && hexval(p[i]) >= 0)
		i++;
	return i > 0 && i < n && is_blank(p[i]) && p[n - 1] == ')' && memchr(p + i, '(', n - i);
}

static int end_sample(ps_reader *r);

/* A sample recorded without call chains is one line, its only frame after the event:
 * "COMM PID TIME: PERIOD EVENT:  ADDRESS SYMBOL (MODULE)". Returns 1 when p[0..n) is one
 * and was read, 0 when it is not, or an error. */
static int parse_oneline(ps_reader *r, const char *p, size_t n)
{
	size_t j = n ? n - 1 : 0;
	while (j > 1 && !(p[j - 1] == ':' && is_blank(p[j])))
		j--;
	if (j <= 1)
		return 0;
	size_t k = j;
	while (k < n && is_blank(p[k]))
		k++;
	if (!frame_like(p + k, n - k))
		return 0;
	int rc = parse_header(r, p, j);
	if (rc < 0)
		return rc;
	r->in_sample = true;
	rc = parse_frame(r, p + k, n - k);
	if (rc == 0)
		rc = end_sample(r);
	return rc < 0 ? rc : 1;
}

static int end_sample(ps_reader *r)
{
	if (!r->in_sample)
		return 0;
	r->in_sample = false;
	/* "(inlined)" frames with nothing below them were inlined into nothing we know. */
	if (flush_inlined(r, "", 0, false) < 0)
		return -ENOMEM;
	char *name, *unused;
	if (scratch_copy(r, r->comm, r->comm_len, "", 0, &name, &unused) < 0)
		return -ENOMEM;
	int64_t root;
	if (r->opts && r->opts->threads) {
		root = sonde_stacktab_intern_thread(r->t, name, r->tid);
	} else {
		sonde_frame f = {.function = name};
		root = sonde_stacktab_intern_frame(r->t, &f);
	}
	if (root < 0)
		return (int)root;
	int rc = push(r, (uint32_t)root);
	if (rc < 0)
		return rc;
	int64_t s = sonde_stacktab_intern_stack(r->t, r->ids, r->depth);
	if (s < 0)
		return (int)s;
	r->depth = 0;
	return sonde_stacktab_add(r->t, (uint32_t)s, (size_t)r->type, 1);
}

int sonde_perf_script_read(sonde_stacktab *t, const char *buf, size_t len,
                           const sonde_profile_read_opts *opts, sonde_wire_error *err)
{
	ps_reader r = {.t = t, .opts = opts, .buf = buf, .len = len, .err = err, .pending = SONDE_BUF_INIT};
	r.type = sonde_stacktab_add_type(t, "samples", "count");
	if (r.type < 0)
		return r.type == -ENOSPC ? SONDE_ELIMIT : r.type;
	int rc = 0;
	bool seen = false;
	for (size_t i = 0; i < len && rc == 0;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = (nl ? (size_t)(nl - buf) : len) - i;
		const char *p = buf + i;
		i += n + 1;
		r.line++;
		while (n && (p[n - 1] == '\r' || is_blank(p[n - 1])))
			n--;
		if (n == 0) {
			rc = end_sample(&r);
		} else if (p[0] == '#' && !seen) {
			continue;
		} else if (r.in_sample && is_blank(p[0])) {
			rc = parse_frame(&r, p, n);
		} else {
			/* A header, perhaps indented (perf pads the command name), or a whole
			 * sample on one line. */
			while (is_blank(*p))
				p++, n--;
			rc = end_sample(&r);
			if (rc == 0)
				rc = parse_oneline(&r, p, n);
			if (rc == 0) {
				rc = parse_header(&r, p, n);
				r.in_sample = rc == 0;
			}
			rc = rc > 0 ? 0 : rc;
			seen = true;
		}
	}
	if (rc == 0)
		rc = end_sample(&r);
	if (rc == 0 && !seen)
		rc = sonde_wire_fail(err, 0, 1, "header", "expected perf script samples, found none");
	free(r.ids);
	sonde_buf_release(&r.pending);
	free(r.scratch);
	return rc;
}
