/*
 * sql_norm.c - the statement normaliser (see sql_norm.h): a lexer turns the statement into
 * tokens with literals already replaced, then IN lists and VALUES tuples are collapsed
 * while the tokens are written out.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql_norm.h"

enum tok_type { T_WORD, T_PH, T_PUNCT, T_QIDENT };

typedef struct tok {
	const char *p;
	size_t n;
	unsigned char type;
	bool space_before;
} tok;

typedef struct toks {
	tok *v;
	size_t n, cap;
	tok inline_v[64];
	bool oom;
} toks;

static void push(toks *t, unsigned char type, const char *p, size_t n, bool space)
{
	if (t->n == t->cap) {
		size_t cap = t->cap * 2;
		tok *v = t->v == t->inline_v ? malloc(cap * sizeof(*v)) : realloc(t->v, cap * sizeof(*v));
		if (!v) {
			t->oom = true;
			return;
		}
		if (t->v == t->inline_v)
			memcpy(v, t->inline_v, sizeof(t->inline_v));
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = (tok){p, n, type, space};
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_ident_char(unsigned char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool tok_is(const tok *t, const char *w)
{
	size_t n = strlen(w);
	return t->n == n && strncasecmp(t->p, w, n) == 0;
}

/* True when a '+' or '-' after token prev is a sign, not a binary operator. */
static bool sign_allowed(const toks *t)
{
	static const char *const kw[] = {"SELECT", "WHERE", "AND",   "OR",      "NOT",    "THEN",  "ELSE",
	                                 "WHEN",   "BY",    "LIMIT", "OFFSET",  "SET",    "IN",    "LIKE",
	                                 "IS",     "ON",    "CASE",  "BETWEEN", "RETURN", "VALUES"};
	if (t->n == 0)
		return true;
	const tok *prev = &t->v[t->n - 1];
	if (prev->type == T_PUNCT)
		return prev->p[0] != ')' && prev->p[0] != ']';
	if (prev->type != T_WORD)
		return false;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (tok_is(prev, kw[i]))
			return true;
	return false;
}

/* Skips a number starting at s[i]; returns the index after it. */
static size_t skip_number(const char *s, size_t n, size_t i)
{
	if (s[i] == '0' && i + 2 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
	    is_hex((unsigned char)s[i + 2])) {
		i += 2;
		while (i < n && is_hex((unsigned char)s[i]))
			i++;
		return i;
	}
	while (i < n && is_digit((unsigned char)s[i]))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit((unsigned char)s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j < n && is_digit((unsigned char)s[j])) {
			i = j;
			while (i < n && is_digit((unsigned char)s[i]))
				i++;
		}
	}
	return i;
}

/* Skips a quoted run starting at s[i] (the opening quote q); a doubled quote is an escaped
 * one, and a backslash escapes the next byte when backslash is true. Returns the index
 * after the closing quote, or n when unterminated. */
static size_t skip_quoted(const char *s, size_t n, size_t i, char q, bool backslash)
{
	for (i++; i < n; i++) {
		if (backslash && s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == q) {
			if (i + 1 < n && s[i + 1] == q) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return n;
}

/* At s[i] == '$': the length of a dollar-quote tag ("$$", "$tag$"), or 0. */
static size_t dollar_tag(const char *s, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j < n && s[j] == '$')
		return 2;
	if (j >= n || !is_ident_start((unsigned char)s[j]) || s[j] == '$')
		return 0;
	while (j < n && is_ident_char((unsigned char)s[j]) && s[j] != '$')
		j++;
	return j < n && s[j] == '$' ? j + 1 - i : 0;
}

static void lex(const char *s, size_t n, toks *t)
{
	size_t i = 0;
	bool space = false;
	while (i < n && !t->oom) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			space = true;
			i++;
			continue;
		}
		if (c == '-' && i + 1 < n && s[i + 1] == '-') {
			while (i < n && s[i] != '\n')
				i++;
			space = true;
			continue;
		}
		if (c == '/' && i + 1 < n && s[i + 1] == '*') {
			const char *end = NULL;
			for (size_t j = i + 2; j + 1 < n; j++)
				if (s[j] == '*' && s[j + 1] == '/') {
					end = s + j + 2;
					break;
				}
			i = end ? (size_t)(end - s) : n;
			space = true;
			continue;
		}
		if (c == '\'') {
			i = skip_quoted(s, n, i, '\'', true);
			push(t, T_PH, "?", 1, space);
		} else if (is_digit(c) || (c == '.' && i + 1 < n && is_digit((unsigned char)s[i + 1]))) {
			i = skip_number(s, n, i);
			push(t, T_PH, "?", 1, space);
		} else if ((c == '-' || c == '+') && i + 1 < n &&
		           (is_digit((unsigned char)s[i + 1]) ||
		            (s[i + 1] == '.' && i + 2 < n && is_digit((unsigned char)s[i + 2]))) &&
		           sign_allowed(t)) {
			i = skip_number(s, n, i + 1);
			push(t, T_PH, "?", 1, space);
		} else if (is_ident_start(c)) {
			size_t j = i;
			while (j < n && is_ident_char((unsigned char)s[j]))
				j++;
			if (j == i + 1 && j < n && s[j] == '\'' && strchr("EeNnXxBbUu", c)) {
				i = skip_quoted(s, n, j, '\'', true);
				push(t, T_PH, "?", 1, space);
			} else {
				push(t, T_WORD, s + i, j - i, space);
				i = j;
			}
		} else if (c == '"' || c == '`') {
			size_t j = skip_quoted(s, n, i, (char)c, false);
			push(t, T_QIDENT, s + i, j - i, space);
			i = j;
		} else if (c == '$') {
			size_t tag = dollar_tag(s, n, i);
			if (tag) {
				size_t j = i + tag;
				for (; j + tag <= n; j++)
					if (memcmp(s + j, s + i, tag) == 0)
						break;
				i = j + tag <= n ? j + tag : n;
				push(t, T_PH, "?", 1, space);
			} else {
				size_t j = i + 1;
				while (j < n && is_digit((unsigned char)s[j]))
					j++;
				push(t, j > i + 1 ? T_PH : T_PUNCT, s + i, j - i, space);
				i = j;
			}
		} else if (c == '?') {
			push(t, T_PH, "?", 1, space);
			i++;
		} else if ((c == ':' || c == '@') && i + 1 < n && is_ident_start((unsigned char)s[i + 1]) &&
		           !(i > 0 && s[i - 1] == ':')) {
			size_t j = i + 1;
			while (j < n && is_ident_char((unsigned char)s[j]))
				j++;
			push(t, T_PH, s + i, j - i, space);
			i = j;
		} else {
			push(t, T_PUNCT, s + i, 1, space);
			i++;
		}
		space = false;
	}
}

static bool punct_is(const tok *t, char c)
{
	return t->type == T_PUNCT && t->p[0] == c;
}

/* At v[i] == '(': the index of the matching ')', or n when unbalanced. */
static size_t match_paren(const tok *v, size_t n, size_t i)
{
	size_t depth = 0;
	for (; i < n; i++) {
		if (punct_is(&v[i], '('))
			depth++;
		else if (punct_is(&v[i], ')') && --depth == 0)
			return i;
	}
	return n;
}

/* At v[i] == '(': when a list of placeholders follows up to ')', returns the index of
 * that ')'; else 0. */
static size_t ph_list_end(const tok *v, size_t n, size_t i)
{
	size_t j = i + 1;
	for (;;) {
		if (j >= n || v[j].type != T_PH)
			return 0;
		j++;
		if (j < n && punct_is(&v[j], ')'))
			return j;
		if (j >= n || !punct_is(&v[j], ','))
			return 0;
		j++;
	}
}

static bool same_tokens(const tok *a, const tok *b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (a[k].type != b[k].type || a[k].n != b[k].n || memcmp(a[k].p, b[k].p, a[k].n) != 0)
			return false;
	return true;
}

static void emit(sonde_buf *out, const tok *prev, const tok *t, size_t start_len)
{
	bool space = t->space_before && out->len > start_len && !(prev && punct_is(prev, '(')) &&
	             !punct_is(t, ')') && !punct_is(t, ',');
	if (space)
		sonde_buf_putc(out, ' ');
	sonde_buf_append(out, t->p, t->n);
}

void sonde_sql_normalize(const char *s, size_t n, sonde_buf *out)
{
	toks t = {.v = NULL, .n = 0, .cap = 64};
	t.v = t.inline_v;
	lex(s, n, &t);
	if (t.oom) {
		out->oom = true;
		goto done;
	}
	size_t start_len = out->len;
	const tok *prev = NULL;
	static const tok one_ph = {"?", 1, T_PH, false};
	for (size_t i = 0; i < t.n; i++) {
		tok *cur = &t.v[i];
		emit(out, prev, cur, start_len);
		prev = cur;
		if (cur->type == T_WORD && tok_is(cur, "IN") && i + 1 < t.n && punct_is(&t.v[i + 1], '(')) {
			size_t close = ph_list_end(t.v, t.n, i + 1);
			if (close) {
				emit(out, prev, &t.v[i + 1], start_len);
				emit(out, &t.v[i + 1], &one_ph, start_len);
				emit(out, &one_ph, &t.v[close], start_len);
				prev = &t.v[close];
				i = close;
			}
		} else if (cur->type == T_WORD && tok_is(cur, "VALUES") && i + 1 < t.n &&
		           punct_is(&t.v[i + 1], '(')) {
			size_t open = i + 1, close = match_paren(t.v, t.n, open);
			if (close == t.n)
				continue;
			for (size_t k = open; k <= close; k++) {
				emit(out, prev, &t.v[k], start_len);
				prev = &t.v[k];
			}
			size_t len = close + 1 - open, j = close + 1;
			while (j + 1 + len <= t.n && punct_is(&t.v[j], ',') &&
			       same_tokens(&t.v[open], &t.v[j + 1], len))
				j += 1 + len;
			i = j - 1;
		}
	}
done:
	if (t.v != t.inline_v)
		free(t.v);
}

static bool str_attr(const sonde_span_data *s, const char *key, sonde_str *out)
{
	const sonde_value *v = sonde_attrs_get(&s->attrs, key);
	if (!v || v->kind != SONDE_VAL_STRING)
		return false;
	*out = v->u.str;
	return true;
}

bool sonde_span_db_statement(const sonde_span_data *s, sonde_str *stmt, sonde_str *system)
{
	if (!str_attr(s, "db.system", system) && !str_attr(s, "db.system.name", system))
		return false;
	return str_attr(s, "db.query.text", stmt) || str_attr(s, "db.statement", stmt);
}
