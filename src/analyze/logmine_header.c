/*
 * logmine_header.c - splitting a log line's header from its message: loghub-style
 * format strings compiled to a small pattern matched by a bounded backtracking matcher,
 * and "auto", which recognises timestamps, level words, process ids, bracketed fields and
 * the component by itself, line by line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "logline.h"
#include "logmine.h"

enum { IT_FIELD, IT_CONTENT, IT_LIT, IT_SPACE, IT_OPT, IT_OPT_END };
enum { ROLE_NONE, ROLE_TIME, ROLE_LEVEL, ROLE_COMPONENT };

#define HDR_MAX_ITEMS   64
#define HDR_STEP_BUDGET 20000
/* Any time will do: syslog timestamps without a year take theirs from it. */
#define HDR_YEAR_NS     (UINT64_C(1600000000) * 1000000000u)

typedef struct hdr_item {
	int kind;
	int role;
	size_t off, len; /* IT_LIT: bytes in lits */
	size_t end;      /* IT_OPT: index of its IT_OPT_END */
} hdr_item;

struct sonde_loghdr {
	int is_auto;
	size_t nitems;
	hdr_item items[HDR_MAX_ITEMS];
	char *lits;
};

static int fail(char *err, size_t errlen, const char *msg, size_t at)
{
	if (err && errlen)
		snprintf(err, errlen, "%s at offset %zu", msg, at);
	return -EINVAL;
}

static int role_of(const char *name, size_t n)
{
	static const struct {
		const char *name;
		int role;
	} roles[] = {{"time", ROLE_TIME},
	             {"timestamp", ROLE_TIME},
	             {"datetime", ROLE_TIME},
	             {"level", ROLE_LEVEL},
	             {"component", ROLE_COMPONENT}};
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strlen(roles[i].name) == n && strncasecmp(roles[i].name, name, n) == 0)
			return roles[i].role;
	return ROLE_NONE;
}

int sonde_loghdr_new(const char *fmt, sonde_loghdr **out, char *err, size_t errlen)
{
	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	sonde_loghdr *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (strcmp(fmt, "auto") == 0) {
		h->is_auto = 1;
		*out = h;
		return 0;
	}
	size_t n = strlen(fmt);
	h->lits = malloc(n + 1);
	if (!h->lits) {
		free(h);
		return -ENOMEM;
	}
	size_t lo = 0, stack[8], depth = 0;
	int content = 0, rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		if (h->nitems + 1 >= HDR_MAX_ITEMS) {
			rc = fail(err, errlen, "header format too long", i);
			break;
		}
		if (content) {
			rc = fail(err, errlen, "<Content> must come last", i);
			break;
		}
		hdr_item *it = &h->items[h->nitems];
		memset(it, 0, sizeof(*it));
		char c = fmt[i];
		if (c == '<') {
			const char *e = memchr(fmt + i + 1, '>', n - i - 1);
			if (!e || e == fmt + i + 1) {
				rc = fail(err, errlen, "expected a field name and '>' after '<'", i);
				break;
			}
			size_t nl = (size_t)(e - fmt - i - 1);
			if (nl == 7 && strncmp(fmt + i + 1, "Content", 7) == 0) {
				it->kind = IT_CONTENT;
				content = 1;
			} else {
				it->kind = IT_FIELD;
				it->role = role_of(fmt + i + 1, nl);
			}
			h->nitems++;
			i += nl + 2;
		} else if (c == ' ') {
			while (i < n && fmt[i] == ' ')
				i++;
			it->kind = IT_SPACE;
			h->nitems++;
		} else if (c == '(') {
			if (depth == 8) {
				rc = fail(err, errlen, "optional groups nested too deep", i);
				break;
			}
			it->kind = IT_OPT;
			stack[depth++] = h->nitems++;
			i++;
		} else if (c == ')' && depth > 0) {
			if (i + 1 >= n || fmt[i + 1] != '?') {
				rc = fail(err, errlen, "expected ')?' to close an optional group", i);
				break;
			}
			it->kind = IT_OPT_END;
			h->items[stack[--depth]].end = h->nitems;
			h->nitems++;
			i += 2;
		} else {
			/* literal text up to the next special character */
			it->kind = IT_LIT;
			it->off = lo;
			while (i < n && fmt[i] != '<' && fmt[i] != ' ' && fmt[i] != '(' &&
			       !(fmt[i] == ')' && depth)) {
				if (fmt[i] == '\\' && i + 1 < n)
					i++;
				h->lits[lo++] = fmt[i++];
			}
			it->len = lo - it->off;
			h->nitems++;
		}
	}
	if (rc == 0 && depth)
		rc = fail(err, errlen, "optional group not closed", n);
	if (rc == 0 && !content)
		rc = fail(err, errlen, "the format needs a <Content> field", n);
	if (rc) {
		sonde_loghdr_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void sonde_loghdr_free(sonde_loghdr *h)
{
	if (!h)
		return;
	free(h->lits);
	free(h);
}

static inline int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

typedef struct hdr_run {
	const sonde_loghdr *h;
	const char *s;
	size_t n;
	long budget;
	sonde_loghdr_fields *f;
} hdr_run;

static void set_role(sonde_loghdr_fields *f, int role, size_t off, size_t len)
{
	if (role == ROLE_TIME) {
		f->time_off = off;
		f->time_len = len;
	} else if (role == ROLE_LEVEL) {
		f->level_off = off;
		f->level_len = len;
	} else if (role == ROLE_COMPONENT) {
		f->component_off = off;
		f->component_len = len;
	}
}

static int match_at(hdr_run *r, size_t i, size_t pos)
{
	if (--r->budget < 0)
		return 0;
	const sonde_loghdr *h = r->h;
	if (i >= h->nitems)
		return pos == r->n;
	const hdr_item *it = &h->items[i];
	switch (it->kind) {
	case IT_CONTENT:
		r->f->content_off = pos;
		r->f->content_len = r->n - pos;
		return 1;
	case IT_LIT:
		if (r->n - pos < it->len || memcmp(r->s + pos, h->lits + it->off, it->len) != 0)
			return 0;
		return match_at(r, i + 1, pos + it->len);
	case IT_SPACE: {
		size_t e = pos;
		while (e < r->n && is_ws(r->s[e]))
			e++;
		for (; e > pos; e--)
			if (match_at(r, i + 1, e))
				return 1;
		return 0;
	}
	case IT_OPT: return match_at(r, i + 1, pos) || match_at(r, it->end + 1, pos);
	case IT_OPT_END: return match_at(r, i + 1, pos);
	default: /* IT_FIELD: lazy, like loghub's (.*?) */
		for (size_t e = pos; e <= r->n; e++) {
			/* skip ends where the next item cannot start */
			const hdr_item *nx = i + 1 < h->nitems ? &h->items[i + 1] : NULL;
			if (nx && nx->kind == IT_SPACE) {
				while (e < r->n && !is_ws(r->s[e]))
					e++;
				if (e >= r->n)
					return 0;
			} else if (nx && nx->kind == IT_LIT && nx->len) {
				const char *q = memchr(r->s + e, h->lits[nx->off], r->n - e);
				if (!q)
					return 0;
				e = (size_t)(q - r->s);
			}
			if (match_at(r, i + 1, e)) {
				set_role(r->f, it->role, pos, e - pos);
				return 1;
			}
			if (r->budget < 0)
				return 0;
		}
		return 0;
	}
}

/* ---- auto ---- */

static int is_lower_word(const char *s, size_t n)
{
	if (n < 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z'))
			return 0;
	return 1;
}

static size_t tok_end(const char *s, size_t n, size_t i)
{
	while (i < n && !is_ws(s[i]))
		i++;
	return i;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && is_ws(s[i]))
		i++;
	return i;
}

/* A bracketed group starting at s[i] == '[': the offset after its ']' (0: none). */
static size_t bracket_end(const char *s, size_t n, size_t i)
{
	if (i >= n || s[i] != '[')
		return 0;
	int depth = 0;
	for (size_t j = i; j < n && j < i + 512; j++) {
		if (s[j] == '[')
			depth++;
		else if (s[j] == ']' && --depth == 0)
			return j + 1;
	}
	return 0;
}

static int is_digits(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* A component before ':' after the level: a dotted, $-, _- or CamelCase name
 * (dfs.DataNode$PacketResponder, main_loop, MRAppMaster), not a plain word that starts the
 * message ("ciod: failed ..."). */
static int component_like(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.' || c == '$' || c == '_' || c == '/' || c == '[' || (c >= 'A' && c <= 'Z'))
			return 1;
	}
	return 0;
}

/* The component after a level word at pos: "[thread] comp:" / "comp:" / "comp  " /
 * "pkg.Class [ctx]". Returns the content offset. */
static size_t after_level(const char *s, size_t n, size_t pos, sonde_loghdr_fields *f)
{
	size_t i = skip_ws(s, n, pos);
	/* a lone separator after the level: "ERROR - message", "INFO | message" */
	if (i + 1 < n && (s[i] == '-' || s[i] == '|' || s[i] == ':') && is_ws(s[i + 1]))
		i = skip_ws(s, n, i + 1);
	size_t b = bracket_end(s, n, i);
	if (b && b < n && is_ws(s[b])) {
		size_t j = skip_ws(s, n, b);
		size_t e = tok_end(s, n, j);
		if (e > j + 1 && s[e - 1] == ':') {
			f->component_off = j;
			f->component_len = e - 1 - j;
			return skip_ws(s, n, e);
		}
		return j;
	}
	size_t e = tok_end(s, n, i);
	if (e == i)
		return i;
	if (e > i + 1 && s[e - 1] == ':' && component_like(s + i, e - 1 - i)) {
		f->component_off = i;
		f->component_len = e - 1 - i;
		return skip_ws(s, n, e);
	}
	/* aligned columns: the component is followed by two or more spaces */
	if (e + 1 < n && is_ws(s[e]) && is_ws(s[e + 1])) {
		f->component_off = i;
		f->component_len = e - i;
		return skip_ws(s, n, e);
	}
	/* a dotted name followed by a bracketed context */
	size_t j = skip_ws(s, n, e);
	if (memchr(s + i, '.', e - i) && (b = bracket_end(s, n, j)) != 0) {
		f->component_off = i;
		f->component_len = e - i;
		return skip_ws(s, n, b);
	}
	return i;
}

/* sonde_log_severity() for tokens that can be level words (letters only, 3 to 9 of them,
 * starting like one): most tokens are ruled out without looking the word up. */
static int32_t level_word(const char *s, size_t n)
{
	if (n < 3 || n > 9)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z'))
			return 0;
	if (!strchr("tfdcinwesap", s[0] | 0x20))
		return 0;
	return sonde_log_severity(s, n);
}

/* A field of a delimited header: a number (pid), a level word, or a name without digits
 * (component). */
static int header_field(const char *s, size_t n)
{
	if (n == 0 || is_digits(s, n) || level_word(s, n))
		return 1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '$' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* A timestamp at s[at], tried only where one can start (a digit, a capital letter for
 * syslog and ctime layouts, '[' for Apache's). */
static size_t time_at(const char *s, size_t n, size_t at, uint64_t *ns)
{
	char c = s[at];
	if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '['))
		return 0;
	return sonde_logtime_parse(s + at, n - at, HDR_YEAR_NS, ns);
}

static void split_auto(const char *s, size_t n, sonde_loghdr_fields *f)
{
	size_t pos = 0, content = 0;
	uint64_t ns;
	int seen_time = 0;
	/* pipe-separated headers: time|component|pid|message */
	size_t k = time_at(s, n, 0, &ns), k0 = k;
	if (k && k < n && (s[k] == '|' || s[k] == ';' || s[k] == '\t')) {
		char d = s[k];
		f->time_off = 0;
		f->time_len = k;
		size_t i = k + 1;
		for (int field = 0; field < 3; field++) {
			const char *e = memchr(s + i, d, n - i);
			if (!e)
				break;
			size_t fe = (size_t)(e - s);
			if (!header_field(s + i, fe - i))
				break;
			if (field == 0) {
				f->component_off = i;
				f->component_len = fe - i;
			}
			i = fe + 1;
		}
		f->content_off = i;
		f->content_len = n - i;
		return;
	}
	/* a level word (INFO, Info: capitalised, not a word of the message) among the first
	 * tokens, with no plain lowercase word or "tag:" before it */
	for (int steps = 0; steps < 14 && pos < n; steps++) {
		pos = skip_ws(s, n, pos);
		size_t e = tok_end(s, n, pos);
		const char *t = s + pos;
		size_t tl = e - pos, lb = 0, le = tl;
		if (tl == 0)
			break;
		if (tl > 2 && (t[0] == '[' || t[0] == '<') && (t[tl - 1] == ']' || t[tl - 1] == '>')) {
			lb = 1;
			le = tl - 1;
		}
		if ((lb || (t[lb] >= 'A' && t[lb] <= 'Z')) && level_word(t + lb, le - lb)) {
			f->level_off = pos + lb;
			f->level_len = le - lb;
			for (size_t q = 0; q < pos; q = skip_ws(s, n, tok_end(s, n, q))) {
				k = q ? time_at(s, n, q, &ns) : k0;
				if (k) {
					f->time_off = q;
					f->time_len = k;
					break;
				}
			}
			f->content_off = skip_ws(s, n, after_level(s, n, e, f));
			f->content_len = n - f->content_off;
			return;
		}
		if (is_lower_word(t, tl) || t[tl - 1] == ':')
			break;
		pos = e;
	}
	pos = 0;
	for (int steps = 0; steps < 14 && pos < n; steps++) {
		pos = skip_ws(s, n, pos);
		if (pos >= n)
			break;
		k = pos ? time_at(s, n, pos, &ns) : k0;
		if (k) {
			if (!seen_time) {
				f->time_off = pos;
				f->time_len = k;
			}
			seen_time = 1;
			pos += k;
			if (pos < n && s[pos] == ',')
				pos++;
			content = pos;
			continue;
		}
		size_t e = tok_end(s, n, pos);
		const char *t = s + pos;
		size_t tl = e - pos;
		if ((tl == 1 && t[0] == '-') || is_digits(t, tl) || (t[0] == '[' && t[tl - 1] == ']')) {
			pos = e;
			if (seen_time)
				content = skip_ws(s, n, pos);
			continue;
		}
		if (is_lower_word(t, tl) && !seen_time)
			break; /* a sentence: no header */
		if (seen_time) {
			/* syslog: host prog[pid]: message; the tag within the next three tokens */
			size_t j = pos;
			for (int w = 0; w < 3 && j < n; w++) {
				size_t we = tok_end(s, n, j);
				if (we > j + 1 && s[we - 1] == ':') {
					f->component_off = j;
					f->component_len = we - 1 - j;
					const char *br = memchr(s + j, '[', we - j);
					if (br)
						f->component_len = (size_t)(br - s) - j;
					content = skip_ws(s, n, we);
					break;
				}
				j = skip_ws(s, n, we);
			}
			break;
		}
		/* headers that open with fields sonde does not know: keep looking for a level */
		int has_digit = 0, has_lower = 0;
		for (size_t q = 0; q < tl; q++) {
			has_digit |= t[q] >= '0' && t[q] <= '9';
			has_lower |= t[q] >= 'a' && t[q] <= 'z';
		}
		if (!has_digit && has_lower)
			break;
		pos = e;
	}
	if (content > n)
		content = n;
	content = skip_ws(s, n, content);
	f->content_off = content;
	f->content_len = n - content;
}

bool sonde_loghdr_split(const sonde_loghdr *h, const char *line, size_t n, sonde_loghdr_fields *f)
{
	memset(f, 0, sizeof(*f));
	if (h->is_auto) {
		split_auto(line, n, f);
		return true;
	}
	hdr_run r = {h, line, n, HDR_STEP_BUDGET, f};
	if (match_at(&r, 0, 0))
		return true;
	memset(f, 0, sizeof(*f));
	f->content_len = n;
	return false;
}
