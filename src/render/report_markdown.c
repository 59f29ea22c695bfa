/*
 * report_markdown.c - HTML escaping and a small, safe Markdown-to-HTML converter for the
 * report's post-mortem (report_html.h). It knows the subset sonde's post-mortems use;
 * everything else is shown as escaped text, never as markup.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report_html.h"

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 3, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 4, min = 0x10000;
	else
		return 0;
	if (n < k)
		return 0;
	unsigned cp = c & (0x7F >> k);
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return k;
}

void sonde_html_escape(sonde_buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '&' && p[run] != '<' &&
		       p[run] != '>' && p[run] != '"' && p[run] != '\'')
			run++;
		if (run > i) {
			sonde_buf_append(out, s + i, run - i);
			i = run;
			continue;
		}
		unsigned c = p[i];
		switch (c) {
		case '&': sonde_buf_puts(out, "&amp;"); break;
		case '<': sonde_buf_puts(out, "&lt;"); break;
		case '>': sonde_buf_puts(out, "&gt;"); break;
		case '"': sonde_buf_puts(out, "&quot;"); break;
		case '\'': sonde_buf_puts(out, "&#39;"); break;
		case '\t':
		case '\n': sonde_buf_putc(out, (char)c); break;
		default:
			if (c >= 0x80) {
				size_t k = utf8_len(p + i, n - i);
				if (k) {
					sonde_buf_append(out, s + i, k);
					i += k;
					continue;
				}
				sonde_buf_puts(out, "\xEF\xBF\xBD");
			}
			break; /* other control characters: dropped */
		}
		i++;
	}
}

/* ---- Inline spans -------------------------------------------------------------------- */

/* The index of the next `c` run of exactly len delimiters in s[from..n) that can close a
 * span, or n. */
static size_t find_close(const char *s, size_t from, size_t n, char c, size_t len)
{
	for (size_t i = from; i + len <= n; i++) {
		if (s[i] == '`' && c != '`') {
			size_t j = i + 1;
			while (j < n && s[j] != '`')
				j++;
			if (j >= n)
				return n;
			i = j;
			continue;
		}
		bool all = true;
		for (size_t k = 0; k < len; k++)
			all = all && s[i + k] == c;
		if (all && i > from && !isspace((unsigned char)s[i - 1]) && (i + len == n || s[i + len] != c))
			return i;
	}
	return n;
}

static void inline_md(sonde_buf *out, const char *s, size_t n)
{
	size_t i = 0, text = 0;
	while (i < n) {
		char c = s[i];
		if (c == '\\' && i + 1 < n && strchr("\\`*_#|-[]()!<>", s[i + 1])) {
			sonde_html_escape(out, s + text, i - text);
			sonde_html_escape(out, s + i + 1, 1);
			i += 2;
			text = i;
			continue;
		}
		if (c == '`') {
			size_t j = i + 1;
			while (j < n && s[j] != '`')
				j++;
			if (j < n) {
				sonde_html_escape(out, s + text, i - text);
				sonde_buf_puts(out, "<code>");
				sonde_html_escape(out, s + i + 1, j - i - 1);
				sonde_buf_puts(out, "</code>");
				i = j + 1;
				text = i;
				continue;
			}
		}
		if ((c == '*' || c == '_') && i + 1 < n) {
			size_t len = s[i + 1] == c ? 2 : 1;
			bool word_ok = c == '*' || i == 0 || !isalnum((unsigned char)s[i - 1]);
			if (word_ok && i + len < n && !isspace((unsigned char)s[i + len])) {
				size_t j = find_close(s, i + len, n, c, len);
				if (j < n &&
				    (c == '*' || j + len == n || !isalnum((unsigned char)s[j + len]))) {
					const char *tag = len == 2 ? "strong" : "em";
					sonde_html_escape(out, s + text, i - text);
					sonde_buf_printf(out, "<%s>", tag);
					inline_md(out, s + i + len, j - i - len);
					sonde_buf_printf(out, "</%s>", tag);
					i = j + len;
					text = i;
					continue;
				}
			}
			i += len;
			continue;
		}
		i++;
	}
	sonde_html_escape(out, s + text, n - text);
}

/* ---- Blocks -------------------------------------------------------------------------- */

typedef struct line {
	const char *p;
	size_t n;
} line;

static line trim(line l)
{
	while (l.n && (l.p[0] == ' ' || l.p[0] == '\t'))
		l.p++, l.n--;
	while (l.n && (l.p[l.n - 1] == ' ' || l.p[l.n - 1] == '\t' || l.p[l.n - 1] == '\r'))
		l.n--;
	return l;
}

static bool is_blank(line l)
{
	return trim(l).n == 0;
}

static size_t heading_level(line l)
{
	size_t k = 0;
	while (k < l.n && k < 7 && l.p[k] == '#')
		k++;
	return k >= 1 && k <= 6 && (k == l.n || l.p[k] == ' ') ? k : 0;
}

/* The marker's length (with the space after it) when l is a list item, else 0. */
static size_t bullet(line l, bool *ordered)
{
	if (l.n >= 2 && (l.p[0] == '-' || l.p[0] == '*' || l.p[0] == '+') && l.p[1] == ' ') {
		*ordered = false;
		return 2;
	}
	size_t k = 0;
	while (k < l.n && k < 9 && isdigit((unsigned char)l.p[k]))
		k++;
	if (k && k + 1 < l.n && (l.p[k] == '.' || l.p[k] == ')') && l.p[k + 1] == ' ') {
		*ordered = true;
		return k + 2;
	}
	return 0;
}

static bool is_rule(line l)
{
	l = trim(l);
	if (l.n < 3 || (l.p[0] != '-' && l.p[0] != '*' && l.p[0] != '_'))
		return false;
	for (size_t i = 0; i < l.n; i++)
		if (l.p[i] != l.p[0] && l.p[i] != ' ')
			return false;
	return true;
}

static bool is_fence(line l)
{
	l = trim(l);
	return l.n >= 3 && memcmp(l.p, "```", 3) == 0;
}

static bool is_table_sep(line l)
{
	l = trim(l);
	if (!l.n || !memchr(l.p, '-', l.n))
		return false;
	for (size_t i = 0; i < l.n; i++)
		if (!strchr("|:- ", l.p[i]))
			return false;
	return memchr(l.p, '|', l.n) != NULL;
}

/* Splits a table row into cells (leading and trailing pipes optional; \| is a pipe). */
static void table_row(sonde_buf *out, line l, const char *tag, size_t cols)
{
	l = trim(l);
	if (l.n && l.p[0] == '|')
		l.p++, l.n--;
	if (l.n && l.p[l.n - 1] == '|' && (l.n < 2 || l.p[l.n - 2] != '\\'))
		l.n--;
	sonde_buf_puts(out, "<tr>");
	size_t start = 0, cell = 0;
	for (size_t i = 0; i <= l.n; i++) {
		if (i < l.n && (l.p[i] != '|' || (i && l.p[i - 1] == '\\')))
			continue;
		if (cell < cols || !cols) {
			line c = trim((line){l.p + start, i - start});
			sonde_buf_printf(out, "<%s>", tag);
			inline_md(out, c.p, c.n);
			sonde_buf_printf(out, "</%s>", tag);
		}
		cell++;
		start = i + 1;
	}
	for (; cell < cols; cell++)
		sonde_buf_printf(out, "<%s></%s>", tag, tag);
	sonde_buf_puts(out, "</tr>\n");
}

static size_t count_cells(line l)
{
	l = trim(l);
	if (l.n && l.p[0] == '|')
		l.p++, l.n--;
	if (l.n && l.p[l.n - 1] == '|')
		l.n--;
	size_t cells = 1;
	for (size_t i = 0; i < l.n; i++)
		if (l.p[i] == '|' && (i == 0 || l.p[i - 1] != '\\'))
			cells++;
	return cells;
}

void sonde_markdown_html(const char *md, size_t n, int heading_shift, sonde_buf *out)
{
	/* Split into lines first: blocks look ahead one line (tables). */
	size_t nlines = 0, cap = 64;
	line *lines = malloc(cap * sizeof *lines);
	if (!lines) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(md + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - md) : n;
		if (nlines == cap) {
			line *g = realloc(lines, 2 * cap * sizeof *lines);
			if (!g) {
				free(lines);
				out->oom = true;
				return;
			}
			lines = g;
			cap *= 2;
		}
		size_t len = end - i;
		if (len && md[i + len - 1] == '\r')
			len--;
		lines[nlines++] = (line){md + i, len};
		i = end + 1;
	}
	size_t i = 0;
	while (i < nlines) {
		line l = lines[i];
		if (is_blank(l)) {
			i++;
			continue;
		}
		if (is_fence(l)) {
			sonde_buf_puts(out, "<pre><code>");
			for (i++; i < nlines && !is_fence(lines[i]); i++) {
				sonde_html_escape(out, lines[i].p, lines[i].n);
				sonde_buf_putc(out, '\n');
			}
			sonde_buf_puts(out, "</code></pre>\n");
			i++;
			continue;
		}
		size_t h = heading_level(l);
		if (h) {
			int lvl = (int)h + heading_shift;
			lvl = lvl < 1 ? 1 : lvl > 6 ? 6 : lvl;
			line t = trim((line){l.p + h, l.n - h});
			while (t.n && t.p[t.n - 1] == '#')
				t.n--;
			t = trim(t);
			sonde_buf_printf(out, "<h%d>", lvl);
			inline_md(out, t.p, t.n);
			sonde_buf_printf(out, "</h%d>\n", lvl);
			i++;
			continue;
		}
		if (is_rule(l)) {
			sonde_buf_puts(out, "<hr>\n");
			i++;
			continue;
		}
		if (i + 1 < nlines && memchr(l.p, '|', l.n) && is_table_sep(lines[i + 1])) {
			size_t cols = count_cells(l);
			sonde_buf_puts(out, "<table>\n<thead>");
			table_row(out, l, "th", cols);
			sonde_buf_puts(out, "</thead>\n<tbody>\n");
			for (i += 2; i < nlines && !is_blank(lines[i]) && memchr(lines[i].p, '|', lines[i].n);
			     i++)
				table_row(out, lines[i], "td", cols);
			sonde_buf_puts(out, "</tbody>\n</table>\n");
			continue;
		}
		bool ordered;
		line tl = trim(l);
		if (bullet(tl, &ordered)) {
			bool first_ordered = ordered;
			sonde_buf_puts(out, first_ordered ? "<ol>\n" : "<ul>\n");
			while (i < nlines) {
				line item = trim(lines[i]);
				size_t k = bullet(item, &ordered);
				if (!k || ordered != first_ordered)
					break;
				sonde_buf_puts(out, "<li>");
				inline_md(out, item.p + k, item.n - k);
				/* Continuation lines: indented, not a new item or block. */
				for (i++; i < nlines && !is_blank(lines[i]) &&
				          (lines[i].p[0] == ' ' || lines[i].p[0] == '\t');
				     i++) {
					line c = trim(lines[i]);
					bool o2;
					if (bullet(c, &o2))
						break;
					sonde_buf_putc(out, ' ');
					inline_md(out, c.p, c.n);
				}
				sonde_buf_puts(out, "</li>\n");
			}
			sonde_buf_puts(out, first_ordered ? "</ol>\n" : "</ul>\n");
			continue;
		}
		if (tl.n && tl.p[0] == '>') {
			sonde_buf_puts(out, "<blockquote>");
			for (bool first = true; i < nlines; i++, first = false) {
				line q = trim(lines[i]);
				if (!q.n || q.p[0] != '>')
					break;
				q = trim((line){q.p + 1, q.n - 1});
				if (!first)
					sonde_buf_putc(out, ' ');
				inline_md(out, q.p, q.n);
			}
			sonde_buf_puts(out, "</blockquote>\n");
			continue;
		}
		/* A paragraph: lines up to a blank line or the start of another block. */
		sonde_buf_puts(out, "<p>");
		for (bool first = true; i < nlines; i++, first = false) {
			line p = trim(lines[i]);
			bool o2;
			if (!p.n || (!first && (heading_level(p) || is_fence(p) || bullet(p, &o2) ||
			                        p.p[0] == '>' || (is_rule(p) && p.p[0] != '-'))))
				break;
			if (!first)
				sonde_buf_putc(out, '\n');
			inline_md(out, p.p, p.n);
		}
		sonde_buf_puts(out, "</p>\n");
	}
	free(lines);
}
