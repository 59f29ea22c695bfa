/*
 * errors_miner.c - the log template miner (logmine.h) as the keyed templater of `sonde
 * errors` (errors.h): records are grouped by the miner's template handles while the store
 * is read, and at the end each handle resolves to the template it ended in, after
 * refinement merged what differs only where values vary.
 *
 * Design notes. Mining a message costs its tokenizing and masking (about 0.7 us), more
 * than the rest of a record's analysis. Error messages repeat a few shapes with fresh ids,
 * so a direct-mapped cache keyed by the shape (sonde_errors_shape(): the message with its
 * words holding a digit taken as one word of their kind) remembers the handle the miner
 * gave the last message of that shape it read. The miner reads the first FEED messages of
 * a shape, so that the template generalises over their values, and then one in REFEED,
 * which keeps the template recent for the miner's LRU bound and lets it go on learning
 * (refinement merges name variants only where the rest is the same text). Messages of
 * one shape differ only in words holding a digit, and the miner never keeps two templates
 * apart on such a word (only on words of letters), so the cached answer is where the
 * miner puts them; what can differ is the text of a template, which may stay a little
 * more specific ("<NUM>" where a later value would have made it "<*>").
 */
#include <errno.h>
#include <stdlib.h>

#include "errors.h"
#include "logmine.h"

enum {
	CACHE_BITS = 14,
	FEED = 8,    /* messages of a shape the miner reads before the cache answers */
	REFEED = 64, /* then one in this many */
};

typedef struct shape_ent {
	uint64_t shape; /* 0: empty */
	uint64_t ref;
	uint32_t fed, hits;
} shape_ent;

struct sonde_errors_miner {
	sonde_logmine *lm;
	shape_ent *cache;
	bool refined;
};

int sonde_errors_miner_new(sonde_errors_miner **out)
{
	*out = NULL;
	sonde_errors_miner *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cache = calloc((size_t)1 << CACHE_BITS, sizeof(*m->cache));
	if (!m->cache || sonde_logmine_new(NULL, &m->lm) < 0) {
		sonde_errors_miner_free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void sonde_errors_miner_free(sonde_errors_miner *m)
{
	if (!m)
		return;
	sonde_logmine_free(m->lm);
	free(m->cache);
	free(m);
}

static uint64_t miner_template_of(void *ctx, const char *body, size_t len, const char **template_text)
{
	sonde_errors_miner *m = ctx;
	uint64_t shape = sonde_errors_shape(body, len);
	shape_ent *ce = &m->cache[shape & (((size_t)1 << CACHE_BITS) - 1)];
	*template_text = "";
	if (ce->shape == shape && ce->fed >= FEED && ++ce->hits % REFEED) {
		sonde_logmine_ref live = sonde_logmine_resolve(m->lm, ce->ref);
		if (live)
			return live; /* else evicted: the miner reads the message again */
	}
	sonde_logmine_ref ref;
	if (sonde_logmine_add(m->lm, body, len, &ref) < 0) {
		*template_text = NULL;
		return 0;
	}
	m->refined = false;
	if (ce->shape != shape)
		*ce = (shape_ent){shape, 0, 0, 0};
	if (ce->fed < FEED)
		ce->fed++;
	ce->ref = ref;
	return ref;
}

static int miner_describe(void *ctx, uint64_t key, bool final, uint64_t *id, const char **template_text)
{
	sonde_errors_miner *m = ctx;
	if (final && !m->refined) {
		sonde_logmine_refine(m->lm);
		m->refined = true;
	}
	sonde_logmine_template t;
	if (sonde_logmine_get(m->lm, key, &t) < 0)
		return -ENOENT; /* evicted: the least recently used of too many templates */
	*id = t.id;
	*template_text = t.text;
	return 0;
}

static uint64_t miner_adopt(void *ctx, const char *template_text, size_t len)
{
	sonde_errors_miner *m = ctx;
	sonde_logmine_ref ref = 0;
	if (!len) {
		const char *text;
		return miner_template_of(ctx, "", 0, &text); /* the template of empty messages */
	}
	if (sonde_logmine_load(m->lm, template_text, len, 0, &ref) < 0)
		return 0;
	m->refined = false;
	return ref;
}

sonde_errors_templater sonde_errors_miner_templater(sonde_errors_miner *m)
{
	sonde_errors_templater t = {
	        .template_of = miner_template_of,
	        .ctx = m,
	        .describe = miner_describe,
	        .adopt = miner_adopt,
	};
	return t;
}
