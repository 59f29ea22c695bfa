/*
 * ingest_templates.c - log templates at ingest (see ingest_templates.h): stored templates
 * into a miner, then each batch's log bodies through it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_templates.h"
#include "logmine.h"
#include "sonde/status.h"

struct sonde_ingest_templates {
	sonde_logmine *m;
	bool off; /* the backend keeps no templates: nothing to mine for */
	size_t loaded;
	size_t max_templates;
	/* Per batch, reused: the handle each record got, the distinct handles, and what the
	 * hook hands back. */
	sonde_logmine_ref *refs;
	size_t refs_cap;
	sonde_log_template *tpl;
	size_t tpl_cap;
	size_t *text_off; /* offsets of each template's text in texts */
	sonde_buf texts;
	uint64_t *seen; /* ids given in this batch (0: empty slot) */
	size_t seen_mask;
};

void sonde_ingest_templates_free(sonde_ingest_templates *t)
{
	if (!t)
		return;
	sonde_logmine_free(t->m);
	free(t->refs);
	free(t->tpl);
	free(t->text_off);
	free(t->seen);
	sonde_buf_release(&t->texts);
	free(t);
}

size_t sonde_ingest_templates_loaded(const sonde_ingest_templates *t)
{
	return t->loaded;
}

/* The stored templates, collected before loading (the scan must end first). */
typedef struct stored {
	sonde_buf texts;
	size_t *off, *len;
	uint64_t *count;
	size_t n, cap;
} stored;

static int collect(void *ctx, const sonde_log_template *t)
{
	stored *st = ctx;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 256;
		size_t *o = realloc(st->off, cap * sizeof *o);
		if (!o)
			return -ENOMEM;
		st->off = o;
		size_t *l = realloc(st->len, cap * sizeof *l);
		if (!l)
			return -ENOMEM;
		st->len = l;
		uint64_t *c = realloc(st->count, cap * sizeof *c);
		if (!c)
			return -ENOMEM;
		st->count = c;
		st->cap = cap;
	}
	st->off[st->n] = st->texts.len;
	st->len[st->n] = t->text_len;
	st->count[st->n] = t->count;
	sonde_buf_append(&st->texts, t->text, t->text_len);
	st->n++;
	return st->texts.oom ? -ENOMEM : 0;
}

int sonde_ingest_templates_new(sonde_store *s, sonde_ingest_templates **out, char *err, size_t errlen)
{
	*out = NULL;
	sonde_ingest_templates *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	sonde_buf_init(&t->texts);
	sonde_logmine_config cfg;
	sonde_logmine_config_default(&cfg);
	t->max_templates = cfg.max_templates;
	int rc = sonde_logmine_new(&cfg, &t->m);
	if (rc < 0) {
		free(t);
		return rc;
	}
	stored st = {.n = 0};
	sonde_buf_init(&st.texts);
	rc = sonde_store_scan_templates(s, collect, &st);
	if (rc == SONDE_EUNSUPPORTED) {
		rc = 0; /* a backend without templates: it would drop the ids */
		t->off = true;
	} else if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s", sonde_store_errmsg(s));
	} else {
		/* The scan gives most used first; the miner evicts the least recently used, so
		 * load the most used last, and no more than it holds. */
		size_t n = st.n < t->max_templates ? st.n : t->max_templates;
		for (size_t i = n; i-- > 0 && rc == 0;) {
			if (st.len[i] == 0)
				continue;
			rc = sonde_logmine_load(t->m, st.texts.data + st.off[i], st.len[i], st.count[i],
			                        NULL);
			if (rc == 0)
				t->loaded++;
		}
		if (rc < 0 && err && errlen)
			snprintf(err, errlen, "loading stored log templates: %s", sonde_strerror(rc));
	}
	sonde_buf_release(&st.texts);
	free(st.off);
	free(st.len);
	free(st.count);
	if (rc < 0) {
		sonde_ingest_templates_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int sonde_ingest_templates_hook(void *ctx, const sonde_batch *b, sonde_ingest_log_templates *out)
{
	sonde_ingest_templates *t = ctx;
	size_t n = b->logs_count;
	if (t->off)
		return 0;
	if (n > t->refs_cap) {
		sonde_logmine_ref *r = realloc(t->refs, n * sizeof *r);
		if (!r)
			return -ENOMEM;
		t->refs = r;
		t->refs_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const sonde_value *body = &b->logs[i].body;
		t->refs[i] = 0;
		if (body->kind != SONDE_VAL_STRING || !body->u.str.len)
			continue;
		/* The first line: the rest of a multi-line record is a stack trace or a dump. */
		const char *p = body->u.str.ptr;
		const char *nl = memchr(p, '\n', body->u.str.len);
		size_t len = nl ? (size_t)(nl - p) : body->u.str.len;
		if (len && p[len - 1] == '\r')
			len--;
		if (!len)
			continue;
		int rc = sonde_logmine_add(t->m, p, len, &t->refs[i]);
		if (rc < 0)
			return rc;
	}
	/* Ids as the templates stand after the whole batch (a template widened by a later
	 * line of the batch gives every line of the batch the widened id). */
	size_t ntpl = 0;
	sonde_buf_reset(&t->texts);
	size_t want = 64;
	while (want < 2 * n)
		want *= 2;
	if (want > t->seen_mask + 1 || !t->seen) {
		free(t->seen);
		if (!(t->seen = malloc(want * sizeof *t->seen)))
			return -ENOMEM;
		t->seen_mask = want - 1;
	}
	memset(t->seen, 0, (t->seen_mask + 1) * sizeof *t->seen);
	for (size_t i = 0; i < n; i++) {
		if (!t->refs[i])
			continue;
		sonde_logmine_template tm;
		sonde_logmine_ref r = sonde_logmine_resolve(t->m, t->refs[i]);
		if (!r || sonde_logmine_get(t->m, r, &tm) < 0)
			continue; /* evicted within the batch: no template */
		out->template_ids[i] = tm.id;
		/* Each id once: an open-addressing set of the ids given so far. */
		size_t h = (size_t)(tm.id * 0x9e3779b97f4a7c15ull >> 32) & t->seen_mask;
		while (t->seen[h] && t->seen[h] != tm.id)
			h = (h + 1) & t->seen_mask;
		if (t->seen[h])
			continue;
		t->seen[h] = tm.id;
		if (ntpl == t->tpl_cap) {
			size_t cap = t->tpl_cap ? t->tpl_cap * 2 : 64;
			sonde_log_template *nt = realloc(t->tpl, cap * sizeof *nt);
			if (!nt)
				return -ENOMEM;
			t->tpl = nt;
			size_t *no = realloc(t->text_off, cap * sizeof *no);
			if (!no)
				return -ENOMEM;
			t->text_off = no;
			t->tpl_cap = cap;
		}
		t->text_off[ntpl] = t->texts.len;
		sonde_buf_append(&t->texts, tm.text, tm.text_len);
		if (t->texts.oom)
			return -ENOMEM;
		t->tpl[ntpl++] = (sonde_log_template){.id = tm.id, .text_len = tm.text_len};
	}
	for (size_t j = 0; j < ntpl; j++)
		t->tpl[j].text = t->texts.data + t->text_off[j];
	out->templates = t->tpl;
	out->templates_count = ntpl;
	return 0;
}
