/*
 * fuzz_markdown.c - the report's Markdown converter and HTML escaper (report_html.h) on
 * any input: they must not crash, and no input may produce markup but the elements the
 * converter writes itself (every '<' opens or closes one of them; every '&' starts an
 * entity), so that nothing in a post-mortem becomes a script or an attribute.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report_html.h"

static const char *const allowed[] = {
        "h1",    "h2",    "h3", "h4", "h5", "h6",  "p",    "ul", "ol",     "li",         "table",
        "thead", "tbody", "tr", "th", "td", "pre", "code", "em", "strong", "blockquote", "hr",
};

/* Aborts unless every tag in html[0..n) is an allowed one without attributes, and every
 * '&' starts one of the entities the escaper writes. */
static void check(const char *html, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (html[i] == '&') {
			static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
			int ok = 0;
			for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++)
				ok |= strncmp(html + i, ents[k], strlen(ents[k])) == 0;
			if (!ok)
				abort();
		} else if (html[i] == '>' || html[i] == '"' || html[i] == '\'') {
			/* Only inside a tag, checked below. */
		} else if (html[i] == '<') {
			size_t j = i + 1;
			if (j < n && html[j] == '/')
				j++;
			size_t start = j;
			while (j < n && html[j] != '>')
				j++;
			if (j >= n)
				abort();
			int ok = 0;
			for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
				ok |= strlen(allowed[k]) == j - start &&
				      memcmp(html + start, allowed[k], j - start) == 0;
			if (!ok)
				abort();
			i = j;
			continue;
		}
		if (html[i] == '>' || html[i] == '"' || html[i] == '\'' ||
		    (html[i] > 0 && html[i] < 0x20 && html[i] != '\t' && html[i] != '\n'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_buf out = SONDE_BUF_INIT;
	sonde_markdown_html((const char *)data, size, (int)(size % 3), &out);
	if (!out.oom)
		check(out.data ? out.data : "", out.len);
	sonde_buf_reset(&out);
	sonde_html_escape(&out, (const char *)data, size);
	if (!out.oom) {
		check(out.data ? out.data : "", out.len);
		if (memchr(out.data ? out.data : "", '<', out.len))
			abort();
	}
	sonde_buf_release(&out);
	return 0;
}
