/*
 * logmine.c - the template engine: routing, similarity, generalisation, refinement,
 * LRU eviction, and the handles, enumeration and loading the callers persist with.
 *
 * Design notes.
 * - Templates live in slots (at most max_templates). A handle is (generation << 32 | slot
 *   + 1); freeing a slot bumps its generation, so stale handles are detected. A template
 *   merged into another leaves a forward entry (old handle -> survivor) in `fwd`.
 * - A template is an array of tokens over masked bytes (logmine_internal.h). A token is
 *   CONST, WILD (the single byte LM_PH_WILD) or PARTIAL (bytes with one LM_PH_WILD inside:
 *   "user=<*>", matching any token with that prefix and suffix).
 * - Routes: a hash table keyed by (token count, first token) whose entries head a list of
 *   the templates with that key; a template whose first token holds a digit or a
 *   placeholder sits under (token count, wild). A line looks at its own key (unless its
 *   first token holds a digit or placeholder) and at the wild key.
 * - A cache maps the hash of a line's masked tokens to the handle that took that masked
 *   line last time: most lines of a log repeat a masked shape, and then the similarity
 *   search is skipped. A template only ever generalises, so a cached answer stays right.
 * - Every add moves the template to the front of the LRU list; a new template, when all
 *   slots are taken, evicts the list's tail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "logmine.h"
#include "logmine_internal.h"

enum { TK_CONST = 0, TK_WILD = 1, TK_PARTIAL = 2 };

#define LM_CACHE_BITS  16
#define LM_EXAMPLE_MAX 1024
#define LM_VALUE_MAX   96
#define LM_SEED        0x736f6e64655f6c6dULL
#define LM_WILD_ROUTE  0x9e3779b97f4a7c15ULL

typedef struct lm_ttok {
	uint64_t h;
	uint32_t off, len; /* in the template's bytes */
	uint8_t kind, word, ph, varlike;
	uint16_t pre; /* PARTIAL: offset of the wild byte */
} lm_ttok;

typedef struct lm_param {
	uint16_t tok;
	uint8_t n;
	char *vals[SONDE_LOGMINE_PARAM_VALUES];
	uint16_t lens[SONDE_LOGMINE_PARAM_VALUES];
} lm_param;

typedef struct lm_cluster {
	uint64_t id, count, route_key;
	uint32_t gen;
	int32_t lru_prev, lru_next, route_next;
	uint16_t ntok, nparams;
	uint8_t live;
	lm_ttok *toks;
	char *bytes;
	char *text;
	size_t text_len;
	char *example;
	size_t example_len;
	lm_param *params;
} lm_cluster;

typedef struct lm_route {
	uint64_t key; /* 0: empty */
	int32_t head;
} lm_route;

typedef struct lm_fwd {
	uint64_t from, to; /* from 0: empty */
} lm_fwd;

typedef struct lm_cache {
	uint64_t h, ref;
} lm_cache;

struct sonde_logmine {
	sonde_logmine_config cfg;
	lm_cluster *slots;
	size_t nslots, capslots, live;
	int32_t free_head; /* free slots chained through route_next */
	int32_t lru_head, lru_tail;
	lm_route *routes;
	size_t nroutes, caproutes;
	lm_fwd *fwd;
	size_t nfwd, capfwd;
	lm_cache *cache;
	char *scratch;
	size_t scratch_cap;
	lm_tok toks[SONDE_LOGMINE_MAX_TOKENS];
	sonde_buf tmp;
};

void sonde_logmine_config_default(sonde_logmine_config *c)
{
	c->max_templates = 20000;
	c->similarity = 0.5;
}

int sonde_logmine_new(const sonde_logmine_config *cfg, sonde_logmine **out)
{
	*out = NULL;
	sonde_logmine_config c;
	sonde_logmine_config_default(&c);
	if (cfg)
		c = *cfg;
	if (c.max_templates < 1 || c.max_templates > (1u << 30) || !(c.similarity >= 0 && c.similarity <= 1))
		return -EINVAL;
	sonde_logmine *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = c;
	m->free_head = m->lru_head = m->lru_tail = -1;
	m->cache = calloc((size_t)1 << LM_CACHE_BITS, sizeof(lm_cache));
	m->caproutes = 1024;
	m->routes = calloc(m->caproutes, sizeof(lm_route));
	if (!m->cache || !m->routes) {
		sonde_logmine_free(m);
		return -ENOMEM;
	}
	sonde_buf_init(&m->tmp);
	*out = m;
	return 0;
}

static void params_free(lm_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < p[i].n; k++)
			free(p[i].vals[k]);
	free(p);
}

static void cluster_release(lm_cluster *c)
{
	free(c->toks);
	free(c->bytes);
	free(c->text);
	free(c->example);
	params_free(c->params, c->nparams);
	c->toks = NULL;
	c->bytes = c->text = c->example = NULL;
	c->params = NULL;
	c->nparams = 0;
}

void sonde_logmine_free(sonde_logmine *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nslots; i++)
		cluster_release(&m->slots[i]);
	free(m->slots);
	free(m->routes);
	free(m->fwd);
	free(m->cache);
	free(m->scratch);
	sonde_buf_release(&m->tmp);
	free(m);
}

uint64_t sonde_logmine_id(const char *text, size_t len)
{
	return sonde_hash_bytes(text, len, LM_SEED);
}

static inline sonde_logmine_ref make_ref(const sonde_logmine *m, int32_t slot)
{
	return ((uint64_t)m->slots[slot].gen << 32) | (uint64_t)(slot + 1);
}

static lm_cluster *ref_cluster(const sonde_logmine *m, sonde_logmine_ref ref)
{
	uint64_t slot = (ref & 0xffffffffu);
	if (slot == 0 || slot > m->nslots)
		return NULL;
	lm_cluster *c = &m->slots[slot - 1];
	return c->live && c->gen == (uint32_t)(ref >> 32) ? c : NULL;
}

sonde_logmine_ref sonde_logmine_resolve(const sonde_logmine *m, sonde_logmine_ref ref)
{
	for (int hops = 0; hops < 64 && ref; hops++) {
		if (ref_cluster(m, ref))
			return ref;
		if (!m->capfwd)
			return 0;
		size_t mask = m->capfwd - 1, i = sonde_hash_u64(ref) & mask;
		uint64_t next = 0;
		while (m->fwd[i].from) {
			if (m->fwd[i].from == ref) {
				next = m->fwd[i].to;
				break;
			}
			i = (i + 1) & mask;
		}
		ref = next;
	}
	return 0;
}

static int fwd_put(sonde_logmine *m, uint64_t from, uint64_t to)
{
	if ((m->nfwd + 1) * 2 > m->capfwd) {
		size_t cap = m->capfwd ? m->capfwd * 2 : 256;
		if (m->nfwd > 8 * m->cfg.max_templates + 1024) {
			/* bounded: forget the oldest merges (handles that old resolve to nothing) */
			cap = m->capfwd;
			memset(m->fwd, 0, cap * sizeof(lm_fwd));
			m->nfwd = 0;
		} else {
			lm_fwd *n = calloc(cap, sizeof(lm_fwd));
			if (!n)
				return -ENOMEM;
			for (size_t i = 0; i < m->capfwd; i++) {
				if (!m->fwd[i].from)
					continue;
				size_t j = sonde_hash_u64(m->fwd[i].from) & (cap - 1);
				while (n[j].from)
					j = (j + 1) & (cap - 1);
				n[j] = m->fwd[i];
			}
			free(m->fwd);
			m->fwd = n;
			m->capfwd = cap;
		}
	}
	size_t mask = m->capfwd - 1, i = sonde_hash_u64(from) & mask;
	while (m->fwd[i].from && m->fwd[i].from != from)
		i = (i + 1) & mask;
	if (!m->fwd[i].from)
		m->nfwd++;
	m->fwd[i].from = from;
	m->fwd[i].to = to;
	return 0;
}

/* ---- routes ---- */

static inline uint64_t route_key(size_t ntok, uint64_t first_h, int first_const)
{
	return sonde_hash_mix(ntok * 0x100000001b3ULL + 1, first_const ? first_h : LM_WILD_ROUTE) | 1;
}

static lm_route *route_find(const sonde_logmine *m, uint64_t key)
{
	size_t mask = m->caproutes - 1, i = key & mask;
	while (m->routes[i].key) {
		if (m->routes[i].key == key)
			return &m->routes[i];
		i = (i + 1) & mask;
	}
	return NULL;
}

static int route_rebuild(sonde_logmine *m, size_t cap)
{
	lm_route *n = calloc(cap, sizeof(lm_route));
	if (!n)
		return -ENOMEM;
	size_t used = 0;
	for (size_t i = 0; i < m->caproutes; i++) {
		if (!m->routes[i].key || m->routes[i].head < 0)
			continue; /* empty lists are dropped here */
		size_t j = m->routes[i].key & (cap - 1);
		while (n[j].key)
			j = (j + 1) & (cap - 1);
		n[j] = m->routes[i];
		used++;
	}
	free(m->routes);
	m->routes = n;
	m->caproutes = cap;
	m->nroutes = used;
	return 0;
}

static int route_insert(sonde_logmine *m, int32_t slot)
{
	lm_cluster *c = &m->slots[slot];
	lm_route *r = route_find(m, c->route_key);
	if (!r) {
		if ((m->nroutes + 1) * 4 > m->caproutes * 3) {
			size_t live = 0;
			for (size_t i = 0; i < m->caproutes; i++)
				live += m->routes[i].key && m->routes[i].head >= 0;
			size_t cap = m->caproutes;
			while ((live + 1) * 2 > cap)
				cap *= 2;
			if (route_rebuild(m, cap) < 0)
				return -ENOMEM;
		}
		size_t mask = m->caproutes - 1, i = c->route_key & mask;
		while (m->routes[i].key)
			i = (i + 1) & mask;
		r = &m->routes[i];
		r->key = c->route_key;
		r->head = -1;
		m->nroutes++;
	}
	c->route_next = r->head;
	r->head = slot;
	return 0;
}

static void route_remove(sonde_logmine *m, int32_t slot)
{
	lm_cluster *c = &m->slots[slot];
	lm_route *r = route_find(m, c->route_key);
	if (!r)
		return;
	int32_t *p = &r->head;
	while (*p >= 0 && *p != slot)
		p = &m->slots[*p].route_next;
	if (*p == slot)
		*p = c->route_next;
	c->route_next = -1;
}

/* ---- LRU ---- */

static void lru_unlink(sonde_logmine *m, int32_t s)
{
	lm_cluster *c = &m->slots[s];
	if (c->lru_prev >= 0)
		m->slots[c->lru_prev].lru_next = c->lru_next;
	else
		m->lru_head = c->lru_next;
	if (c->lru_next >= 0)
		m->slots[c->lru_next].lru_prev = c->lru_prev;
	else
		m->lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = -1;
}

static void lru_front(sonde_logmine *m, int32_t s)
{
	lm_cluster *c = &m->slots[s];
	c->lru_prev = -1;
	c->lru_next = m->lru_head;
	if (m->lru_head >= 0)
		m->slots[m->lru_head].lru_prev = s;
	m->lru_head = s;
	if (m->lru_tail < 0)
		m->lru_tail = s;
}

static inline void lru_touch(sonde_logmine *m, int32_t s)
{
	if (m->lru_head != s) {
		lru_unlink(m, s);
		lru_front(m, s);
	}
}

static void slot_free(sonde_logmine *m, int32_t s)
{
	lm_cluster *c = &m->slots[s];
	route_remove(m, s);
	lru_unlink(m, s);
	cluster_release(c);
	c->live = 0;
	c->gen++;
	if (c->gen == 0)
		c->gen = 1;
	c->route_next = m->free_head;
	m->free_head = s;
	m->live--;
}

/* ---- template text ---- */

/* Renders c's tokens into out (NAMED or STAR). */
static void render_tokens(const lm_cluster *c, int style, sonde_buf *out)
{
	for (size_t i = 0; i < c->ntok; i++) {
		if (i)
			sonde_buf_putc(out, ' ');
		const lm_ttok *t = &c->toks[i];
		const unsigned char *b = (const unsigned char *)c->bytes + t->off;
		size_t run = 0;
		for (size_t k = 0; k < t->len; k++) {
			if (b[k] >= 0x20) {
				run++;
				continue;
			}
			sonde_buf_append(out, b + k - run, run);
			run = 0;
			sonde_buf_puts(out,
			               style == SONDE_LOGMINE_STAR ? "<*>" : sonde__logmine_ph_names[b[k]]);
		}
		sonde_buf_append(out, b + t->len - run, run);
	}
}

static void ttok_finish(lm_ttok *t, const char *bytes)
{
	const unsigned char *b = (const unsigned char *)bytes + t->off;
	t->h = sonde_hash_bytes(b, t->len, 0x6c6f676d696e65ULL);
	t->ph = 0;
	t->word = (uint8_t)sonde__logmine_is_word((const char *)b, t->len);
	t->kind = TK_CONST;
	t->pre = 0;
	t->varlike = 0;
	for (size_t k = 0; k < t->len; k++) {
		unsigned char ch = b[k];
		if (ch >= '0' && ch <= '9')
			t->varlike = 1;
		if (ch < 0x20) {
			t->varlike = 1;
			t->ph = 1;
			if (ch == LM_PH_WILD) {
				t->kind = t->len == 1 ? TK_WILD : TK_PARTIAL;
				t->pre = (uint16_t)k;
			}
		}
	}
}

/* Sets c's tokens from the masked tokens (bytes in src), and its text, id, route key.
 * Params are rebuilt for the new placeholder positions, keeping values of positions that
 * stay. Returns 0 or -ENOMEM (c unchanged). */
static int cluster_set(sonde_logmine *m, lm_cluster *c, const lm_tok *toks, size_t nt, const char *src)
{
	size_t total = 0;
	for (size_t i = 0; i < nt; i++)
		total += toks[i].len;
	lm_ttok *tt = malloc((nt ? nt : 1) * sizeof(lm_ttok));
	char *bytes = malloc(total ? total : 1);
	if (!tt || !bytes) {
		free(tt);
		free(bytes);
		return -ENOMEM;
	}
	size_t o = 0;
	size_t np = 0;
	for (size_t i = 0; i < nt; i++) {
		memcpy(bytes + o, src + toks[i].off, toks[i].len);
		tt[i].off = (uint32_t)o;
		tt[i].len = toks[i].len;
		o += toks[i].len;
		ttok_finish(&tt[i], bytes);
		if (tt[i].ph && np < SONDE_LOGMINE_PARAM_POSITIONS)
			np++;
	}
	lm_param *params = np ? calloc(np, sizeof(lm_param)) : NULL;
	if (np && !params) {
		free(tt);
		free(bytes);
		return -ENOMEM;
	}
	lm_cluster nc = *c;
	nc.toks = tt;
	nc.bytes = bytes;
	nc.ntok = (uint16_t)nt;
	sonde_buf_reset(&m->tmp);
	render_tokens(&nc, SONDE_LOGMINE_NAMED, &m->tmp);
	char *text = m->tmp.oom ? NULL : malloc(m->tmp.len + 1);
	if (!text) {
		free(tt);
		free(bytes);
		free(params);
		return -ENOMEM;
	}
	if (m->tmp.len)
		memcpy(text, m->tmp.data, m->tmp.len);
	text[m->tmp.len] = '\0';
	/* carry sample values over to positions that stay placeholders */
	size_t k = 0;
	for (size_t i = 0; i < nt && k < np; i++) {
		if (!tt[i].ph)
			continue;
		params[k].tok = (uint16_t)i;
		for (size_t j = 0; j < c->nparams; j++) {
			if (c->params[j].tok == i) {
				params[k] = c->params[j];
				c->params[j].n = 0;
				break;
			}
		}
		k++;
	}
	free(c->toks);
	free(c->bytes);
	free(c->text);
	params_free(c->params, c->nparams);
	c->toks = tt;
	c->bytes = bytes;
	c->ntok = (uint16_t)nt;
	c->text = text;
	c->text_len = m->tmp.len;
	c->id = sonde_logmine_id(text, m->tmp.len);
	c->params = params;
	c->nparams = (uint16_t)np;
	c->route_key = route_key(nt, nt ? tt[0].h : 0, nt == 0 || !tt[0].varlike);
	return 0;
}

/* A fresh slot, evicting the least recently used template when full. */
static int32_t slot_take(sonde_logmine *m)
{
	if (m->free_head >= 0) {
		int32_t s = m->free_head;
		m->free_head = m->slots[s].route_next;
		return s;
	}
	if (m->nslots < m->cfg.max_templates) {
		if (m->nslots == m->capslots) {
			size_t cap = m->capslots ? m->capslots * 2 : 64;
			if (cap > m->cfg.max_templates)
				cap = m->cfg.max_templates;
			lm_cluster *n = realloc(m->slots, cap * sizeof(lm_cluster));
			if (!n)
				return -1;
			m->slots = n;
			m->capslots = cap;
		}
		int32_t s = (int32_t)m->nslots++;
		memset(&m->slots[s], 0, sizeof(lm_cluster));
		m->slots[s].gen = 1;
		m->slots[s].lru_prev = m->slots[s].lru_next = m->slots[s].route_next = -1;
		return s;
	}
	int32_t victim = m->lru_tail;
	if (victim < 0)
		return -1;
	slot_free(m, victim);
	int32_t s = m->free_head;
	m->free_head = m->slots[s].route_next;
	return s;
}

static int32_t cluster_create(sonde_logmine *m, const lm_tok *toks, size_t nt, const char *src,
                              const char *msg, size_t n)
{
	int32_t s = slot_take(m);
	if (s < 0)
		return -1;
	lm_cluster *c = &m->slots[s];
	c->count = 0;
	c->lru_prev = c->lru_next = c->route_next = -1;
	if (cluster_set(m, c, toks, nt, src) < 0)
		goto fail;
	if (n > LM_EXAMPLE_MAX)
		n = LM_EXAMPLE_MAX;
	c->example = malloc(n + 1);
	if (!c->example)
		goto fail;
	memcpy(c->example, msg, n);
	c->example[n] = '\0';
	c->example_len = n;
	if (route_insert(m, s) < 0)
		goto fail;
	c->live = 1;
	m->live++;
	lru_front(m, s);
	return s;
fail:
	cluster_release(c);
	c->route_next = m->free_head;
	m->free_head = s;
	return -1;
}

/* ---- matching ---- */

typedef struct lm_score {
	size_t match, wild, hard, soft;
} lm_score;

static inline int partial_fits(const lm_ttok *t, const char *tb, const char *lb, size_t ll)
{
	size_t pre = t->pre, suf = t->len - t->pre - 1;
	return ll >= pre + suf && memcmp(tb, lb, pre) == 0 && memcmp(tb + pre + 1, lb + ll - suf, suf) == 0;
}

static void score(const lm_cluster *c, const lm_tok *toks, const char *lb, lm_score *sc)
{
	memset(sc, 0, sizeof(*sc));
	for (size_t i = 0; i < c->ntok; i++) {
		const lm_ttok *t = &c->toks[i];
		const lm_tok *l = &toks[i];
		if (t->kind == TK_WILD) {
			sc->wild++;
		} else if (t->kind == TK_PARTIAL) {
			if (partial_fits(t, c->bytes + t->off, lb + l->off, l->len))
				sc->wild++;
			else
				sc->soft++;
		} else if (t->h == l->h && t->len == l->len) {
			sc->match++;
		} else if (t->word || l->word) {
			sc->hard++;
			return;
		} else {
			sc->soft++;
		}
	}
}

static int32_t search_list(const sonde_logmine *m, int32_t head, const lm_tok *toks, size_t nt,
                           const char *lb, double *best, size_t *best_wild)
{
	int32_t found = -1;
	for (int32_t s = head; s >= 0; s = m->slots[s].route_next) {
		const lm_cluster *c = &m->slots[s];
		if (c->ntok != nt)
			continue;
		lm_score sc;
		score(c, toks, lb, &sc);
		if (sc.hard)
			continue;
		double sim = nt ? (double)(sc.match + sc.wild) / (double)nt : 1.0;
		if (nt && sc.match == 0 && sc.soft)
			continue;
		if (sim < m->cfg.similarity)
			continue;
		if (sim > *best || (sim == *best && sc.wild > *best_wild)) {
			*best = sim;
			*best_wild = sc.wild;
			found = s;
		}
	}
	return found;
}

static int32_t search(const sonde_logmine *m, const lm_tok *toks, size_t nt, const char *lb)
{
	double best = -1;
	size_t best_wild = 0;
	int32_t found = -1;
	/* a first token with a digit or a placeholder routes with the wild ones, as in Drain */
	lm_route *r = nt && toks[0].varlike ? NULL : route_find(m, route_key(nt, nt ? toks[0].h : 0, 1));
	if (r) {
		int32_t s = search_list(m, r->head, toks, nt, lb, &best, &best_wild);
		if (s >= 0)
			found = s;
	}
	if (nt) {
		r = route_find(m, route_key(nt, 0, 0));
		if (r) {
			int32_t s = search_list(m, r->head, toks, nt, lb, &best, &best_wild);
			if (s >= 0)
				found = s;
		}
	}
	return found;
}

static int is_sep_pre(unsigned char c)
{
	return c == '=' || c == ':' || c == '#' || c == '/' || c == '(' || c == '[' || c == '@' || c == ',' ||
	       c == '-' || c == '\'' || c == '"' || c == '{' || c == '<';
}
static int is_sep_suf(unsigned char c)
{
	return c == ')' || c == ']' || c == ':' || c == ',' || c == '.' || c == '\'' || c == '"' ||
	       c == '/' || c == '}' || c == '>' || c == ';' || c == '-';
}

/* Generalises template token bytes a[0..la) (maybe PARTIAL at wild offset pre) with line
 * token b[0..lb): writes the new token bytes to out; returns the length. */
static size_t generalize(const unsigned char *a, size_t la, int partial, size_t pre, const unsigned char *b,
                         size_t lb, unsigned char *out)
{
	size_t apre = partial ? pre : la, asuf = partial ? la - pre - 1 : la;
	size_t p = 0;
	while (p < apre && p < lb && a[p] == b[p])
		p++;
	while (p > 0 && !is_sep_pre(a[p - 1]))
		p--;
	size_t s = 0;
	while (s < asuf && s < lb && s + p < lb && a[la - 1 - s] == b[lb - 1 - s] && (partial || s + p < la))
		s++;
	while (s > 0 && !is_sep_suf(a[la - s]))
		s--;
	if (p + s == 0 || (!partial && p + s >= la) || p + s >= lb + 1) {
		out[0] = LM_PH_WILD;
		return 1;
	}
	memcpy(out, a, p);
	out[p] = LM_PH_WILD;
	memcpy(out + p + 1, a + la - s, s);
	return p + 1 + s;
}

/* Generalises cluster c so that it covers the masked line (toks over lb). */
static int cluster_absorb(sonde_logmine *m, int32_t slot, const lm_tok *toks, size_t nt, const char *lb)
{
	lm_cluster *c = &m->slots[slot];
	int changed = 0;
	for (size_t i = 0; i < nt && !changed; i++) {
		const lm_ttok *t = &c->toks[i];
		if (t->kind == TK_WILD)
			continue;
		if (t->kind == TK_PARTIAL ? !partial_fits(t, c->bytes + t->off, lb + toks[i].off, toks[i].len)
		                          : !(t->h == toks[i].h && t->len == toks[i].len))
			changed = 1;
	}
	if (!changed)
		return 0;
	/* new token bytes: at most the template's bytes plus one per token */
	size_t total = 0;
	for (size_t i = 0; i < nt; i++)
		total += c->toks[i].len + 1;
	char *nb = malloc(total ? total : 1);
	lm_tok *nt_toks = malloc(nt * sizeof(lm_tok));
	if (!nb || !nt_toks) {
		free(nb);
		free(nt_toks);
		return -ENOMEM;
	}
	size_t o = 0;
	for (size_t i = 0; i < nt; i++) {
		const lm_ttok *t = &c->toks[i];
		const unsigned char *a = (const unsigned char *)c->bytes + t->off;
		const unsigned char *b = (const unsigned char *)lb + toks[i].off;
		int same = t->kind == TK_WILD ||
		           (t->kind == TK_PARTIAL
		                    ? partial_fits(t, (const char *)a, (const char *)b, toks[i].len)
		                    : (t->h == toks[i].h && t->len == toks[i].len));
		nt_toks[i].off = (uint32_t)o;
		if (same) {
			memcpy(nb + o, a, t->len);
			nt_toks[i].len = t->len;
		} else {
			nt_toks[i].len = (uint32_t)generalize(a, t->len, t->kind == TK_PARTIAL, t->pre, b,
			                                      toks[i].len, (unsigned char *)nb + o);
		}
		o += nt_toks[i].len;
	}
	uint64_t old_route = c->route_key;
	route_remove(m, slot);
	int rc = cluster_set(m, c, nt_toks, nt, nb);
	free(nb);
	free(nt_toks);
	if (route_insert(m, slot) < 0) {
		c->route_key = old_route;
		return -ENOMEM;
	}
	return rc;
}

static void params_note(lm_cluster *c, const lm_tok *toks, const char *msg)
{
	for (size_t k = 0; k < c->nparams; k++) {
		lm_param *p = &c->params[k];
		if (p->n >= SONDE_LOGMINE_PARAM_VALUES)
			continue;
		const lm_tok *l = &toks[p->tok];
		size_t len = l->rlen > LM_VALUE_MAX ? LM_VALUE_MAX : l->rlen;
		int dup = 0;
		for (size_t j = 0; j < p->n && !dup; j++)
			dup = p->lens[j] == len && memcmp(p->vals[j], msg + l->roff, len) == 0;
		if (dup)
			continue;
		char *v = malloc(len + 1);
		if (!v)
			return; /* samples are best effort */
		memcpy(v, msg + l->roff, len);
		v[len] = '\0';
		p->vals[p->n] = v;
		p->lens[p->n++] = (uint16_t)len;
	}
}

static int prepare(sonde_logmine *m, size_t n)
{
	if (n + 1 > m->scratch_cap) {
		size_t cap = m->scratch_cap ? m->scratch_cap : 4096;
		while (cap < n + 1)
			cap *= 2;
		char *s = realloc(m->scratch, cap);
		if (!s)
			return -ENOMEM;
		m->scratch = s;
		m->scratch_cap = cap;
	}
	return 0;
}

static inline uint64_t line_hash(const lm_tok *toks, size_t nt)
{
	uint64_t h = nt * 0x9e3779b97f4a7c15ULL + 7;
	for (size_t i = 0; i < nt; i++)
		h = sonde_hash_mix(h ^ toks[i].h, 0xe7037ed1a0b428dbULL) + i;
	return h | 1;
}

int sonde_logmine_add(sonde_logmine *m, const char *msg, size_t n, sonde_logmine_ref *ref)
{
	*ref = 0;
	if (prepare(m, n) < 0)
		return -ENOMEM;
	size_t nt = sonde__logmine_tokenize(msg, n, m->scratch, m->toks);
	uint64_t lh = line_hash(m->toks, nt);
	lm_cache *ce = &m->cache[lh & (((size_t)1 << LM_CACHE_BITS) - 1)];
	int32_t s = -1;
	if (ce->h == lh) {
		sonde_logmine_ref r = sonde_logmine_resolve(m, ce->ref);
		if (r) {
			s = (int32_t)(r & 0xffffffffu) - 1;
			if (m->slots[s].ntok != nt)
				s = -1;
		}
	}
	if (s < 0) {
		s = search(m, m->toks, nt, m->scratch);
		if (s >= 0) {
			if (cluster_absorb(m, s, m->toks, nt, m->scratch) < 0)
				return -ENOMEM;
		} else {
			s = cluster_create(m, m->toks, nt, m->scratch, msg, n);
			if (s < 0)
				return -ENOMEM;
		}
		ce->h = lh;
		ce->ref = make_ref(m, s);
	}
	lm_cluster *c = &m->slots[s];
	c->count++;
	lru_touch(m, s);
	params_note(c, m->toks, msg);
	*ref = make_ref(m, s);
	return 0;
}

int sonde_logmine_match(sonde_logmine *m, const char *msg, size_t n, sonde_logmine_ref *ref)
{
	*ref = 0;
	if (prepare(m, n) < 0)
		return -ENOMEM;
	size_t nt = sonde__logmine_tokenize(msg, n, m->scratch, m->toks);
	int32_t s = search(m, m->toks, nt, m->scratch);
	if (s < 0)
		return -ENOENT;
	/* only a template that covers the line as it is */
	lm_score sc;
	score(&m->slots[s], m->toks, m->scratch, &sc);
	if (sc.soft || sc.hard)
		return -ENOENT;
	*ref = make_ref(m, s);
	return 0;
}

/* ---- refinement ---- */

/* True when templates a and b (same token count) differ only where values vary: every
 * differing position has a placeholder on one side and a word (letters, no digits) on
 * neither, and the equal constant tokens are at least half as many as the differing ones. */
static int mergeable(const lm_cluster *a, const lm_cluster *b)
{
	size_t match = 0, var = 0;
	for (size_t i = 0; i < a->ntok; i++) {
		const lm_ttok *x = &a->toks[i], *y = &b->toks[i];
		if (x->h == y->h && x->len == y->len) {
			if (x->kind == TK_CONST)
				match++;
			continue;
		}
		if (x->word || y->word || !(x->ph || y->ph))
			return 0;
		var++;
	}
	return match > 0 && match * 2 >= var;
}

typedef struct lm_sig {
	uint64_t sig;
	int32_t slot;
} lm_sig;

static int cmp_sig(const void *pa, const void *pb)
{
	const lm_sig *a = pa, *b = pb;
	return a->sig < b->sig ? -1 : a->sig > b->sig;
}

/* Merges keep <- gone: gone's tokens generalise keep's, counts add, handles forward. */
static int merge_into(sonde_logmine *m, int32_t keep, int32_t gone)
{
	lm_cluster *d = &m->slots[gone];
	lm_tok lt[SONDE_LOGMINE_MAX_TOKENS];
	for (size_t t = 0; t < d->ntok; t++) {
		lt[t].off = d->toks[t].off;
		lt[t].len = d->toks[t].len;
		lt[t].h = d->toks[t].h;
	}
	if (cluster_absorb(m, keep, lt, d->ntok, d->bytes) < 0)
		return -ENOMEM;
	m->slots[keep].count += m->slots[gone].count;
	sonde_logmine_ref from = make_ref(m, gone), to = make_ref(m, keep);
	slot_free(m, gone);
	return fwd_put(m, from, to);
}

/* Templates equal but at one position, where each holds a different word: when at least
 * LM_WORD_VARIANTS of them exist, the position is a variable (user names, host names),
 * not a set of distinct events (a state name in "from RUNNING to SUCCEEDED"). */
#define LM_WORD_VARIANTS 3

static size_t merge_word_variants(sonde_logmine *m, const int32_t *group, size_t n, lm_sig *sigs)
{
	size_t merges = 0;
	if (n < LM_WORD_VARIANTS)
		return 0;
	size_t ntok = m->slots[group[0]].ntok;
	/* not the first token: Drain routes by it, as the subject of the message */
	for (size_t p = 1; p < ntok; p++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const lm_cluster *c = &m->slots[group[i]];
			if (!c->live || c->ntok != ntok || !c->toks[p].word)
				continue;
			/* lowercase names (users, hosts); not Capitalised or UPPER_CASE event names */
			unsigned char first = (unsigned char)c->bytes[c->toks[p].off];
			if (!(first >= 'a' && first <= 'z') || c->toks[p].len < 3)
				continue; /* and not a one-letter axis such as x+ y+ z+ */
			uint64_t h = 0x12345;
			for (size_t t = 0; t < ntok; t++)
				h = sonde_hash_mix(h ^ (t == p ? 0x77 : c->toks[t].h),
				                   0x9e3779b97f4a7c15ULL) +
				    t;
			sigs[k].sig = h;
			sigs[k].slot = group[i];
			k++;
		}
		qsort(sigs, k, sizeof(lm_sig), cmp_sig);
		for (size_t i = 0; i < k;) {
			size_t j = i;
			while (j < k && sigs[j].sig == sigs[i].sig)
				j++;
			if (j - i >= LM_WORD_VARIANTS) {
				int32_t keep = sigs[i].slot;
				for (size_t q = i + 1; q < j; q++)
					if (m->slots[sigs[q].slot].count > m->slots[keep].count)
						keep = sigs[q].slot;
				for (size_t q = i; q < j; q++)
					if (sigs[q].slot != keep && m->slots[sigs[q].slot].live &&
					    merge_into(m, keep, sigs[q].slot) == 0)
						merges++;
			}
			i = j;
		}
	}
	return merges;
}

size_t sonde_logmine_refine(sonde_logmine *m)
{
	size_t merges = 0;
	int32_t *order = malloc((m->nslots ? m->nslots : 1) * sizeof(int32_t));
	if (!order)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < m->nslots; i++)
		if (m->slots[i].live)
			order[n++] = (int32_t)i;
	/* group by token count with a counting pass (ntok <= 256) */
	size_t counts[SONDE_LOGMINE_MAX_TOKENS + 2] = {0};
	for (size_t i = 0; i < n; i++)
		counts[m->slots[order[i]].ntok + 1]++;
	for (size_t k = 1; k < SONDE_LOGMINE_MAX_TOKENS + 2; k++)
		counts[k] += counts[k - 1];
	int32_t *sorted = malloc((n ? n : 1) * sizeof(int32_t));
	if (!sorted) {
		free(order);
		return 0;
	}
	size_t pos[SONDE_LOGMINE_MAX_TOKENS + 1];
	memcpy(pos, counts, sizeof(pos));
	for (size_t i = 0; i < n; i++)
		sorted[pos[m->slots[order[i]].ntok]++] = order[i];
	for (size_t g = 0; g <= SONDE_LOGMINE_MAX_TOKENS; g++) {
		size_t b = counts[g], e = counts[g + 1];
		if (e - b > 4096)
			e = b + 4096; /* bounded work */
		for (size_t i = b; i < e; i++) {
			int32_t si = sorted[i];
			if (!m->slots[si].live)
				continue;
			for (size_t j = i + 1; j < e; j++) {
				int32_t sj = sorted[j];
				lm_cluster *a = &m->slots[si], *c2 = &m->slots[sj];
				if (!c2->live || !mergeable(a, c2))
					continue;
				/* the larger survives */
				int32_t keep = a->count >= c2->count ? si : sj, gone = keep == si ? sj : si;
				if (merge_into(m, keep, gone) < 0)
					break;
				merges++;
				if (gone == si)
					break;
			}
		}
	}
	lm_sig *sigs = malloc((n ? n : 1) * sizeof(lm_sig));
	if (sigs) {
		for (size_t g = 0; g <= SONDE_LOGMINE_MAX_TOKENS; g++)
			merges += merge_word_variants(m, sorted + counts[g], counts[g + 1] - counts[g], sigs);
		free(sigs);
	}
	free(sorted);
	free(order);
	return merges;
}

/* ---- access ---- */

int sonde_logmine_get(sonde_logmine *m, sonde_logmine_ref ref, sonde_logmine_template *t)
{
	lm_cluster *c = ref_cluster(m, sonde_logmine_resolve(m, ref));
	if (!c)
		return -ENOENT;
	t->id = c->id;
	t->count = c->count;
	t->text = c->text;
	t->text_len = c->text_len;
	t->example = c->example;
	t->example_len = c->example_len;
	t->ntokens = c->ntok;
	t->nparams = c->nparams;
	return 0;
}

int sonde_logmine_param_get(sonde_logmine *m, sonde_logmine_ref ref, size_t i, sonde_logmine_param *p)
{
	lm_cluster *c = ref_cluster(m, sonde_logmine_resolve(m, ref));
	if (!c || i >= c->nparams)
		return -ENOENT;
	const lm_param *q = &c->params[i];
	const lm_ttok *t = &c->toks[q->tok];
	p->token = q->tok;
	/* the placeholder name: the first code in the token */
	p->name = "<*>";
	for (size_t k = 0; k < t->len; k++) {
		unsigned char ch = (unsigned char)c->bytes[t->off + k];
		if (ch < 0x20 && ch > 0 && ch < LM_PH_COUNT) {
			p->name = sonde__logmine_ph_names[ch];
			break;
		}
	}
	p->nvalues = q->n;
	for (size_t k = 0; k < SONDE_LOGMINE_PARAM_VALUES; k++) {
		p->values[k] = k < q->n ? q->vals[k] : NULL;
		p->value_lens[k] = k < q->n ? q->lens[k] : 0;
	}
	return 0;
}

int sonde_logmine_render(sonde_logmine *m, sonde_logmine_ref ref, int style, sonde_buf *out)
{
	lm_cluster *c = ref_cluster(m, sonde_logmine_resolve(m, ref));
	if (!c)
		return -ENOENT;
	render_tokens(c, style, out);
	return out->oom ? -ENOMEM : 0;
}

size_t sonde_logmine_count(const sonde_logmine *m)
{
	return m->live;
}

bool sonde_logmine_next(const sonde_logmine *m, size_t *cursor, sonde_logmine_ref *ref)
{
	while (*cursor < m->nslots) {
		size_t i = (*cursor)++;
		if (m->slots[i].live) {
			*ref = make_ref(m, (int32_t)i);
			return true;
		}
	}
	return false;
}

int sonde_logmine_load(sonde_logmine *m, const char *text, size_t len, uint64_t count, sonde_logmine_ref *ref)
{
	if (ref)
		*ref = 0;
	if (prepare(m, len) < 0)
		return -ENOMEM;
	size_t nt = sonde__logmine_parse_template(text, len, m->scratch, m->toks);
	if (nt == 0)
		return -EINVAL;
	/* the same text already there? */
	int32_t s = -1;
	int first_const = !m->toks[0].varlike;
	lm_route *r = route_find(m, route_key(nt, m->toks[0].h, first_const));
	if (r) {
		for (int32_t i = r->head; i >= 0; i = m->slots[i].route_next) {
			const lm_cluster *c = &m->slots[i];
			if (c->ntok != nt)
				continue;
			size_t k = 0;
			while (k < nt && c->toks[k].h == m->toks[k].h && c->toks[k].len == m->toks[k].len)
				k++;
			if (k == nt) {
				s = i;
				break;
			}
		}
	}
	if (s < 0) {
		s = cluster_create(m, m->toks, nt, m->scratch, "", 0);
		if (s < 0)
			return -ENOMEM;
	}
	m->slots[s].count += count;
	lru_touch(m, s);
	if (ref)
		*ref = make_ref(m, s);
	return 0;
}
