/*
 * config_yaml.c - the configuration file's YAML into a tree of nodes with lines, with the
 * environment-variable substitution of the OpenTelemetry configuration specification
 * (config_internal.h). The file is outside input: every limit is checked and every
 * failure is a message naming the line, never a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_internal.h"

int sonde__config_subst(const char *s, size_t n, sonde_arena *a, char **out, size_t *out_len, char *err,
                        size_t err_len)
{
	/* The result is at most n bytes plus what the variables add. */
	size_t cap = n + 1, len = 0;
	char *r = malloc(cap);
	if (!r)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		const char *add = s + i;
		size_t addn = 1, adv = 1;
		if (s[i] == '$' && i + 1 < n && s[i + 1] == '$') {
			adv = 2; /* "$$" is a literal '$' */
		} else if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
			const char *close = memchr(s + i + 2, '}', n - i - 2);
			if (!close) {
				snprintf(err, err_len, "unterminated ${ in \"%.*s\"", (int)(n > 80 ? 80 : n),
				         s);
				rc = -EINVAL;
				break;
			}
			const char *name = s + i + 2;
			size_t name_len = (size_t)(close - name);
			if (name_len >= 4 && memcmp(name, "env:", 4) == 0)
				name += 4, name_len -= 4;
			const char *def = NULL;
			size_t def_len = 0;
			for (size_t k = 0; k + 1 < name_len; k++)
				if (name[k] == ':' && name[k + 1] == '-') {
					def = name + k + 2;
					def_len = name_len - k - 2;
					name_len = k;
					break;
				}
			/* Names as the specification allows: [a-zA-Z_][a-zA-Z0-9_]*. */
			bool ok = name_len > 0 && name_len < 256 && !(name[0] >= '0' && name[0] <= '9');
			for (size_t k = 0; ok && k < name_len; k++) {
				char c = name[k];
				ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				     (c >= '0' && c <= '9') || c == '_';
			}
			if (!ok) {
				snprintf(err, err_len, "bad environment reference \"${%.*s}\"",
				         (int)((size_t)(close - s - i - 2) > 64
				                       ? 64
				                       : (size_t)(close - s - i - 2)),
				         s + i + 2);
				rc = -EINVAL;
				break;
			}
			char var[256];
			memcpy(var, name, name_len);
			var[name_len] = '\0';
			const char *v = getenv(var);
			if (v && *v) {
				add = v;
				addn = strlen(v);
			} else {
				add = def ? def : "";
				addn = def_len;
			}
			adv = (size_t)(close - (s + i)) + 1;
		}
		if (len + addn + 1 > cap) {
			size_t ncap = (len + addn + 1) * 2;
			if (ncap > 4 * SONDE__CONFIG_MAX_BYTES) {
				snprintf(err, err_len, "value too long after substitution");
				rc = -EINVAL;
				break;
			}
			char *nr = realloc(r, ncap);
			if (!nr) {
				rc = -ENOMEM;
				break;
			}
			r = nr;
			cap = ncap;
		}
		memcpy(r + len, add, addn);
		len += addn;
		i += adv;
	}
	if (rc == 0) {
		*out = sonde_arena_strndup(a, r, len);
		*out_len = len;
		if (!*out)
			rc = -ENOMEM;
	}
	free(r);
	return rc;
}

typedef struct anchor {
	char *name;
	sonde__cnode *node;
} anchor;

typedef struct builder {
	yaml_parser_t p;
	sonde_arena *a;
	const char *name;
	char *err;
	size_t err_len;
	size_t nodes;
	anchor *anchors;
	size_t nanchors, anchors_cap;
} builder;

static int fail(builder *b, size_t line, const char *fmt, const char *arg)
{
	char what[256];
	snprintf(what, sizeof what, fmt, arg);
	snprintf(b->err, b->err_len, "%s:%zu: %s", b->name, line, what);
	return -EINVAL;
}

static sonde__cnode *new_node(builder *b, sonde__cnode_kind kind, size_t line)
{
	if (++b->nodes > SONDE__CONFIG_MAX_NODES)
		return NULL;
	sonde__cnode *n = sonde_arena_zalloc(b->a, sizeof(*n));
	if (n) {
		n->kind = kind;
		n->line = (uint32_t)line;
	}
	return n;
}

static int remember_anchor(builder *b, const yaml_char_t *name, sonde__cnode *node)
{
	if (!name)
		return 0;
	if (b->nanchors == b->anchors_cap) {
		size_t ncap = b->anchors_cap ? b->anchors_cap * 2 : 16;
		anchor *na = realloc(b->anchors, ncap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		b->anchors = na;
		b->anchors_cap = ncap;
	}
	char *copy = sonde_arena_strndup(b->a, (const char *)name, strlen((const char *)name));
	if (!copy)
		return -ENOMEM;
	b->anchors[b->nanchors++] = (anchor){copy, node};
	return 0;
}

/* Appends child to a growing array (doubling, in the arena). */
static int push(builder *b, sonde__cnode ***arr, uint32_t *n, uint32_t *cap, sonde__cnode *child)
{
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 8;
		sonde__cnode **na = sonde_arena_alloc(b->a, ncap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		if (*n)
			memcpy(na, *arr, *n * sizeof(*na));
		*arr = na;
		*cap = ncap;
	}
	(*arr)[(*n)++] = child;
	return 0;
}

static int next_event(builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->p, ev)) {
		size_t line = b->p.problem_mark.line + 1;
		if (b->p.error == YAML_MEMORY_ERROR)
			return -ENOMEM;
		return fail(b, line, "YAML: %s", b->p.problem ? b->p.problem : "syntax error");
	}
	return 0;
}

/* Builds the node that begins with ev (already taken); consumes its events. */
static int build(builder *b, yaml_event_t *ev, int depth, sonde__cnode **out)
{
	size_t line = ev->start_mark.line + 1;
	if (depth > SONDE__CONFIG_MAX_DEPTH)
		return fail(b, line, "nested deeper than %s levels", "64");
	switch (ev->type) {
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		for (size_t i = b->nanchors; i-- > 0;)
			if (strcmp(b->anchors[i].name, name) == 0) {
				*out = b->anchors[i].node;
				return 0;
			}
		return fail(b, line, "alias *%.64s names no anchor", name);
	}
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;
		size_t vn = ev->data.scalar.length;
		bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (memchr(v, '\0', vn))
			return fail(b, line, "a value holds a NUL byte%s", "");
		sonde__cnode *n = new_node(b, SONDE__CN_SCALAR, line);
		if (!n)
			return b->nodes > SONDE__CONFIG_MAX_NODES
			               ? fail(b, line, "more than %s nodes", "100000")
			               : -ENOMEM;
		char sub_err[200];
		int rc = sonde__config_subst(v, vn, b->a, &n->text, &n->len, sub_err, sizeof sub_err);
		if (rc == -EINVAL)
			return fail(b, line, "%s", sub_err);
		if (rc < 0)
			return rc;
		n->plain = plain;
		if (plain && (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
		              strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0))
			n->kind = SONDE__CN_NULL;
		*out = n;
		return remember_anchor(b, ev->data.scalar.anchor, n);
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		sonde__cnode *n = new_node(b, map ? SONDE__CN_MAP : SONDE__CN_SEQ, line);
		if (!n)
			return b->nodes > SONDE__CONFIG_MAX_NODES
			               ? fail(b, line, "more than %s nodes", "100000")
			               : -ENOMEM;
		int rc = remember_anchor(
		        b, map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor, n);
		if (rc < 0)
			return rc;
		uint32_t kcap = 0, vcap = 0, kn = 0;
		for (;;) {
			yaml_event_t e;
			if ((rc = next_event(b, &e)) < 0)
				return rc;
			if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				break;
			}
			sonde__cnode *child = NULL;
			bool want_key = map && kn == n->n;
			if (want_key && e.type != YAML_SCALAR_EVENT) {
				size_t l = e.start_mark.line + 1;
				yaml_event_delete(&e);
				return fail(b, l, "a mapping key must be a plain string%s", "");
			}
			if (want_key) {
				/* Keys are taken literally: no substitution. */
				child = new_node(b, SONDE__CN_SCALAR, e.start_mark.line + 1);
				if (child)
					child->text =
					        sonde_arena_strndup(b->a, (const char *)e.data.scalar.value,
					                            e.data.scalar.length);
				if (child && child->text)
					child->len = strlen(child->text);
				size_t l = e.start_mark.line + 1;
				yaml_event_delete(&e);
				if (!child || !child->text)
					return b->nodes > SONDE__CONFIG_MAX_NODES
					               ? fail(b, l, "more than %s nodes", "100000")
					               : -ENOMEM;
				for (uint32_t k = 0; k < kn; k++)
					if (strcmp(n->keys[k]->text, child->text) == 0)
						return fail(b, l, "key \"%.64s\" given twice", child->text);
				rc = push(b, &n->keys, &kn, &kcap, child);
			} else {
				rc = build(b, &e, depth + 1, &child);
				yaml_event_delete(&e);
				if (rc < 0)
					return rc;
				rc = push(b, &n->vals, &n->n, &vcap, child);
			}
			if (rc < 0)
				return rc;
		}
		*out = n;
		return 0;
	}
	default: return fail(b, line, "unexpected YAML event%s", "");
	}
}

int sonde__yaml_tree(const char *text, size_t len, const char *name, sonde_arena *a, sonde__cnode **root,
                     char *err, size_t err_len)
{
	builder b = {.a = a, .name = name ? name : "<config>", .err = err, .err_len = err_len};
	*root = NULL;
	if (len > SONDE__CONFIG_MAX_BYTES)
		return fail(&b, 1, "larger than %s", "1 MiB");
	if (!yaml_parser_initialize(&b.p))
		return -ENOMEM;
	yaml_parser_set_input_string(&b.p, (const unsigned char *)text, len);
	int rc = 0;
	sonde__cnode *doc = NULL;
	bool done = false;
	while (rc == 0 && !done) {
		yaml_event_t ev;
		if ((rc = next_event(&b, &ev)) < 0)
			break;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT: break;
		case YAML_DOCUMENT_START_EVENT:
			if (doc)
				rc = fail(&b, ev.start_mark.line + 1, "more than one YAML document%s", "");
			break;
		case YAML_STREAM_END_EVENT: done = true; break;
		default:
			rc = build(&b, &ev, 1, &doc);
			if (rc == 0 && doc->kind != SONDE__CN_MAP && doc->kind != SONDE__CN_NULL)
				rc = fail(&b, doc->line, "the configuration must be a mapping of keys%s", "");
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&b.p);
	free(b.anchors);
	if (rc < 0)
		return rc;
	if (!doc || doc->kind == SONDE__CN_NULL) {
		doc = new_node(&b, SONDE__CN_MAP, 1);
		if (!doc)
			return -ENOMEM;
	}
	*root = doc;
	return 0;
}
