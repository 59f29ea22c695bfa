/*
 * fuzz_logmine.c - the log template miner and header splitter on arbitrary bytes: the
 * first line is a header format (or "auto"), the other lines are mined, a few are loaded
 * back as template texts, and the miner is refined and enumerated. No input crashes them;
 * the template count stays within the cap; a split stays inside the line; every
 * template's id is the hash of its text, and reloading a template's text gives it back
 * with the same id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logmine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_split(const sonde_loghdr_fields *f, size_t n)
{
	if (f->content_off > n || f->content_len > n - f->content_off)
		abort();
	if (f->time_off + f->time_len > n || f->level_off + f->level_len > n ||
	    f->component_off + f->component_len > n)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	size_t flen = nl ? (size_t)(nl - s) : size;
	if (flen > 256)
		flen = 256;
	char fmt[257];
	memcpy(fmt, s, flen);
	fmt[flen] = '\0';
	sonde_loghdr *h = NULL, *autoh = NULL;
	char err[128];
	if (sonde_loghdr_new(fmt, &h, err, sizeof(err)) < 0)
		h = NULL;
	if (sonde_loghdr_new("auto", &autoh, err, sizeof(err)) < 0)
		abort();
	sonde_logmine_config c;
	sonde_logmine_config_default(&c);
	c.max_templates = 16;
	sonde_logmine *m = NULL;
	if (sonde_logmine_new(&c, &m) < 0)
		abort();
	size_t i = nl ? flen + 1 : size, lineno = 0;
	if (nl && (size_t)(nl - s) != flen)
		i = (size_t)(nl - s) + 1;
	while (i < size) {
		const char *e = memchr(s + i, '\n', size - i);
		size_t n = e ? (size_t)(e - s) - i : size - i;
		sonde_loghdr_fields f;
		sonde_loghdr_split(autoh, s + i, n, &f);
		check_split(&f, n);
		if (h) {
			sonde_loghdr_split(h, s + i, n, &f);
			check_split(&f, n);
		}
		sonde_logmine_ref r;
		if (lineno % 7 == 6)
			sonde_logmine_load(m, s + i, n, 1, &r);
		else
			sonde_logmine_add(m, s + i + f.content_off, f.content_len, &r);
		sonde_logmine_match(m, s + i, n, &r);
		if (sonde_logmine_count(m) > 16)
			abort();
		if (++lineno % 16 == 0)
			sonde_logmine_refine(m);
		i += n + 1;
	}
	sonde_logmine_refine(m);
	size_t cursor = 0;
	sonde_logmine_ref r;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_logmine *again = NULL;
	if (sonde_logmine_new(NULL, &again) < 0)
		abort();
	while (sonde_logmine_next(m, &cursor, &r)) {
		sonde_logmine_template t;
		if (sonde_logmine_get(m, r, &t) < 0)
			abort();
		if (t.id != sonde_logmine_id(t.text, t.text_len))
			abort();
		for (size_t p = 0; p < t.nparams; p++) {
			sonde_logmine_param pr;
			if (sonde_logmine_param_get(m, r, p, &pr) < 0 ||
			    pr.nvalues > SONDE_LOGMINE_PARAM_VALUES)
				abort();
		}
		sonde_buf_reset(&b);
		if (sonde_logmine_render(m, r, SONDE_LOGMINE_STAR, &b) < 0)
			abort();
		sonde_logmine_ref lr;
		if (t.text_len && sonde_logmine_load(again, t.text, t.text_len, t.count, &lr) == 0) {
			sonde_logmine_template u;
			if (sonde_logmine_get(again, lr, &u) < 0)
				abort();
			/* the text reads back as the same template (same text, same id), unless it is a
			 * folded last token of a very long line, whose inner white space re-splits */
			int plain = t.ntokens < SONDE_LOGMINE_MAX_TOKENS - 1;
			for (size_t k = 0; k < t.text_len && plain; k++)
				plain = !((unsigned char)t.text[k] < 0x20 ||
				          (t.text[k] == ' ' && (k == 0 || t.text[k - 1] == ' ')));
			if (plain && u.id != t.id)
				abort();
		}
	}
	sonde_buf_release(&b);
	sonde_logmine_free(again);
	sonde_logmine_free(m);
	sonde_loghdr_free(h);
	sonde_loghdr_free(autoh);
	return 0;
}
