/*
 * errors_rules.c - the categories of `sonde errors`: their names, what each usually means
 * and what to do about it, the built-in keyword rules, the parser of user rules files,
 * and the matcher that gives a group its category (user rules first, then built-in ones;
 * the first that matches wins).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sonde/status.h"

static const char *const cat_names[SONDE_ERRCAT_COUNT] = {
        [SONDE_ERRCAT_UNKNOWN] = "unknown",
        [SONDE_ERRCAT_INPUT] = "input_validation",
        [SONDE_ERRCAT_MODEL] = "model_inference",
        [SONDE_ERRCAT_INFRA] = "infrastructure",
        [SONDE_ERRCAT_RESOURCE] = "resource_exhaustion",
        [SONDE_ERRCAT_THIRDPARTY] = "third_party",
};

static const char *const hypotheses[SONDE_ERRCAT_COUNT] = {
        [SONDE_ERRCAT_UNKNOWN] = "No rule recognised these errors; read the example and the stack frames.",
        [SONDE_ERRCAT_INPUT] =
                "Requests arrive that the service refuses: a client sends malformed or unexpected data, "
                "or a recent change made validation stricter than its callers expect.",
        [SONDE_ERRCAT_MODEL] =
                "The model step fails: a model or its weights did not load, inputs have a shape or type "
                "it does not accept, or the accelerator it runs on is in trouble.",
        [SONDE_ERRCAT_INFRA] =
                "Something the service depends on inside your own platform is unreachable or slow: a "
                "database, a cache, the network, DNS, or an instance being restarted.",
        [SONDE_ERRCAT_RESOURCE] =
                "The service ran out of something: memory, disk, file descriptors, connections in a "
                "pool, or a quota; load grew, a limit shrank, or something leaks.",
        [SONDE_ERRCAT_THIRDPARTY] =
                "An outside provider fails or throttles the service: its API is down, slow, rejects the "
                "credentials, or answers 429 because a rate limit was reached.",
};

static const char *const checks[SONDE_ERRCAT_COUNT] = {
        [SONDE_ERRCAT_UNKNOWN] = "Look at the example and its trace; add a rule (--rules) once the cause is "
                                 "known so the next report names it.",
        [SONDE_ERRCAT_INPUT] =
                "See which users and endpoints carry the errors (one client or all?), compare with the "
                "last deploy of the service and of its callers, and return a clear 4xx rather than a "
                "500; fix the client or relax the check.",
        [SONDE_ERRCAT_MODEL] =
                "Check the model version deployed and when it changed, the input shapes and types that "
                "fail, GPU memory and driver errors on the hosts involved; roll back the model or pin "
                "the input schema.",
        [SONDE_ERRCAT_INFRA] =
                "Check the health and latency of the dependency named in the message, recent restarts "
                "or deploys of it, connection errors on the hosts involved, and timeouts against its "
                "normal latency; add retries with backoff where the call is safe to repeat.",
        [SONDE_ERRCAT_RESOURCE] =
                "Look at memory, disk, descriptor and pool usage on the hosts involved and how it "
                "grew before the onset; raise the limit or shed load now, then find what grew (a leak, "
                "a large request, a missing cleanup).",
        [SONDE_ERRCAT_THIRDPARTY] =
                "Check the provider's status page and your usage against its limits and credentials; "
                "add backoff and caching, a circuit breaker, or a fallback so one provider cannot take "
                "the service down.",
};

const char *sonde_error_category_name(sonde_error_category c)
{
	return (unsigned)c < SONDE_ERRCAT_COUNT ? cat_names[c] : "unknown";
}

const char *sonde_error_category_hypothesis(sonde_error_category c)
{
	return (unsigned)c < SONDE_ERRCAT_COUNT ? hypotheses[c] : hypotheses[0];
}

const char *sonde_error_category_checks(sonde_error_category c)
{
	return (unsigned)c < SONDE_ERRCAT_COUNT ? checks[c] : checks[0];
}

int sonde_error_category_parse(const char *name, size_t n)
{
	for (int c = 0; c < SONDE_ERRCAT_COUNT; c++) {
		const char *k = cat_names[c];
		if (strlen(k) != n)
			continue;
		size_t i = 0;
		for (; i < n; i++) {
			char a = name[i], b = k[i];
			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if ((a == '-' || a == ' ') && b == '_')
				continue;
			if (a != b)
				break;
		}
		if (i == n)
			return c;
	}
	return -1;
}

/* ---- Built-in rules ------------------------------------------------------------------ */

#define R(cat, field, pat)                                                        \
	{                                                                         \
		SONDE_ERRCAT_##cat, SONDE_ERRFIELD_##field, NULL, pat, "built-in" \
	}

/* Order matters: the first match wins, so specific kinds of failure (running out of
 * something, the model, a provider) come before the general ones they would also match
 * ("CUDA out of memory" is resource exhaustion; "upstream timeout" is a third party). */
static const sonde_error_rule builtin[] = {
        R(RESOURCE, TEXT, "out of memory"),
        R(RESOURCE, TEXT, "outofmemory*"),
        R(RESOURCE, TEXT, "oom*"),
        R(RESOURCE, TEXT, "enospc"),
        R(RESOURCE, TEXT, "no space left"),
        R(RESOURCE, TEXT, "disk full"),
        R(RESOURCE, TEXT, "too many open files"),
        R(RESOURCE, TEXT, "emfile"),
        R(RESOURCE, TEXT, "cannot allocate memory"),
        R(RESOURCE, TEXT, "enomem"),
        R(RESOURCE, TEXT, "memory limit"),
        R(RESOURCE, TEXT, "heap space"),
        R(RESOURCE, TEXT, "resource exhausted"),
        R(RESOURCE, TEXT, "resource_exhausted"),
        R(RESOURCE, TEXT, "pool exhausted"),
        R(RESOURCE, TEXT, "quota exceeded"),
        R(RESOURCE, STATUS, "507"),
        R(MODEL, TEXT, "model*"),
        R(MODEL, TEXT, "inference"),
        R(MODEL, TEXT, "cuda*"),
        R(MODEL, TEXT, "gpu*"),
        R(MODEL, TEXT, "tensor*"),
        R(MODEL, TEXT, "onnx*"),
        R(MODEL, TEXT, "triton"),
        R(MODEL, TEXT, "predict*"),
        R(MODEL, TEXT, "embedding*"),
        R(MODEL, TEXT, "tokeniz*"),
        R(MODEL, TEXT, "logits"),
        R(THIRDPARTY, TEXT, "upstream"),
        R(THIRDPARTY, TEXT, "rate limit*"),
        R(THIRDPARTY, TEXT, "rate-limit*"),
        R(THIRDPARTY, TEXT, "ratelimit*"),
        R(THIRDPARTY, TEXT, "too many requests"),
        R(THIRDPARTY, TEXT, "429"),
        R(THIRDPARTY, TEXT, "bad gateway"),
        R(THIRDPARTY, TEXT, "third party"),
        R(THIRDPARTY, TEXT, "third-party"),
        R(THIRDPARTY, TEXT, "provider"),
        R(THIRDPARTY, TEXT, "external api"),
        R(THIRDPARTY, TEXT, "api key"),
        R(THIRDPARTY, STATUS, "429"),
        R(THIRDPARTY, STATUS, "502"),
        R(INFRA, TEXT, "timeout*"),
        R(INFRA, TEXT, "timed out"),
        R(INFRA, TEXT, "deadline exceeded"),
        R(INFRA, TEXT, "deadline_exceeded"),
        R(INFRA, TEXT, "connection refused"),
        R(INFRA, TEXT, "connection reset*"),
        R(INFRA, TEXT, "connection closed"),
        R(INFRA, TEXT, "econnrefused"),
        R(INFRA, TEXT, "econnreset"),
        R(INFRA, TEXT, "etimedout"),
        R(INFRA, TEXT, "ehostunreach"),
        R(INFRA, TEXT, "no route to host"),
        R(INFRA, TEXT, "host unreachable"),
        R(INFRA, TEXT, "broken pipe"),
        R(INFRA, TEXT, "dns"),
        R(INFRA, TEXT, "name resolution"),
        R(INFRA, TEXT, "unavailable"),
        R(INFRA, TEXT, "503"),
        R(INFRA, TEXT, "deadlock*"),
        R(INFRA, TEXT, "database"),
        R(INFRA, TEXT, "network*"),
        R(INFRA, TEXT, "tls handshake"),
        R(INFRA, STATUS, "503"),
        R(INFRA, STATUS, "504"),
        R(INPUT, TEXT, "invalid*"),
        R(INPUT, TEXT, "validat*"),
        R(INPUT, TEXT, "malformed"),
        R(INPUT, TEXT, "bad request"),
        R(INPUT, TEXT, "400"),
        R(INPUT, TEXT, "422"),
        R(INPUT, TEXT, "unprocessable"),
        R(INPUT, TEXT, "missing required"),
        R(INPUT, TEXT, "required field"),
        R(INPUT, TEXT, "must be"),
        R(INPUT, TEXT, "not a valid"),
        R(INPUT, TEXT, "parse error"),
        R(INPUT, TEXT, "valueerror"),
        R(INPUT, TEXT, "illegalargument*"),
        R(INPUT, TEXT, "unsupported"),
        R(INPUT, STATUS, "4xx"),
};

#undef R

const sonde_error_rule *sonde_error_rules_builtin(size_t *count)
{
	*count = sizeof(builtin) / sizeof(builtin[0]);
	return builtin;
}

/* ---- Matching ------------------------------------------------------------------------ */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Finds pat in hay case-insensitively, starting at a word boundary and ending at one
 * unless pat ends with '*'. */
static bool match_word(const char *hay, const char *pat)
{
	if (!hay || !pat)
		return false;
	size_t m = strlen(pat);
	bool prefix = m && pat[m - 1] == '*';
	if (prefix)
		m--;
	if (!m)
		return prefix;
	size_t n = strlen(hay);
	char p0 = lower(pat[0]);
	for (size_t i = 0; i + m <= n; i++) {
		if (lower(hay[i]) != p0)
			continue;
		if (i && alnum(pat[0]) && alnum(hay[i - 1]))
			continue;
		size_t j = 1;
		while (j < m && lower(hay[i + j]) == lower(pat[j]))
			j++;
		if (j < m)
			continue;
		if (!prefix && alnum(pat[m - 1]) && i + m < n && alnum(hay[i + m]))
			continue;
		return true;
	}
	return false;
}

static bool match_status(const char *status, const char *pat)
{
	if (!status || !*status)
		return false;
	if (strlen(pat) == 3 && pat[1] == 'x' && pat[2] == 'x')
		return strlen(status) == 3 && status[0] == pat[0];
	return strcmp(status, pat) == 0;
}

static bool match_attr(const sonde_attrs *a, const char *key, const char *pat)
{
	if (!a)
		return false;
	const sonde_value *v = sonde_attrs_get(a, key);
	if (!v)
		return false;
	char num[32];
	const char *text = NULL;
	if (v->kind == SONDE_VAL_STRING)
		text = v->u.str.ptr;
	else if (v->kind == SONDE_VAL_INT) {
		snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
		text = num;
	} else if (v->kind == SONDE_VAL_BOOL)
		text = v->u.b ? "true" : "false";
	return text && match_word(text, pat);
}

static bool rule_matches(const sonde_error_rule *r, const sonde_error_facts *f)
{
	switch (r->field) {
	case SONDE_ERRFIELD_TEXT:
		return match_word(f->message, r->pattern) || match_word(f->error_type, r->pattern);
	case SONDE_ERRFIELD_TYPE: return match_word(f->error_type, r->pattern);
	case SONDE_ERRFIELD_STATUS: return match_status(f->status, r->pattern);
	case SONDE_ERRFIELD_ATTR: return match_attr(f->attrs, r->key, r->pattern);
	case SONDE_ERRFIELD_SERVICE: return match_word(f->service, r->pattern);
	}
	return false;
}

const sonde_error_rule *sonde_error_rules_match(const sonde_error_rules *user, const sonde_error_facts *f)
{
	for (size_t i = 0; user && i < user->count; i++)
		if (rule_matches(&user->items[i], f))
			return &user->items[i];
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (rule_matches(&builtin[i], f))
			return &builtin[i];
	return NULL;
}

/* ---- The rules file ------------------------------------------------------------------ */

void sonde_error_rules_init(sonde_error_rules *r)
{
	memset(r, 0, sizeof(*r));
	sonde_arena_init(&r->arena);
}

void sonde_error_rules_release(sonde_error_rules *r)
{
	if (!r)
		return;
	free(r->items);
	sonde_arena_release(&r->arena);
	memset(r, 0, sizeof(*r));
}

static int fail(char *err, size_t err_len, const char *name, size_t line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t err_len, const char *name, size_t line, const char *fmt, ...)
{
	if (err && err_len) {
		int k = snprintf(err, err_len, "%s:%zu: ", name, line);
		if (k >= 0 && (size_t)k < err_len) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(err + k, err_len - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return SONDE_EFORMAT;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* The next space-separated word of s[*i..n): sets *w, *wn and moves *i past it. */
static void word(const char *s, size_t n, size_t *i, const char **w, size_t *wn)
{
	while (*i < n && is_space(s[*i]))
		(*i)++;
	size_t a = *i;
	while (*i < n && !is_space(s[*i]))
		(*i)++;
	*w = s + a;
	*wn = *i - a;
}

/* Printable excerpt of a word for a message: at most 40 bytes, controls as '?'. */
static void excerpt(char *out, size_t cap, const char *w, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 4 < cap && i < 40; i++)
		out[k++] = (unsigned char)w[i] < 0x20 || w[i] == 0x7f ? '?' : w[i];
	if (n > 40 && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static int parse_line(sonde_error_rules *r, sonde_error_rule *out, const char *name, size_t lineno,
                      const char *s, size_t n, char *err, size_t err_len)
{
	char ex[64];
	const char *w;
	size_t wn, i = 0;
	word(s, n, &i, &w, &wn);
	int cat = sonde_error_category_parse(w, wn);
	if (cat < 0) {
		excerpt(ex, sizeof(ex), w, wn);
		return fail(
		        err, err_len, name, lineno,
		        "unknown category '%s' (expected input_validation, model_inference, infrastructure, "
		        "resource_exhaustion, third_party or unknown)",
		        ex);
	}
	word(s, n, &i, &w, &wn);
	static const struct {
		const char *name;
		sonde_error_rule_field field;
	} fields[] = {{"text", SONDE_ERRFIELD_TEXT},
	              {"type", SONDE_ERRFIELD_TYPE},
	              {"status", SONDE_ERRFIELD_STATUS},
	              {"attr", SONDE_ERRFIELD_ATTR},
	              {"service", SONDE_ERRFIELD_SERVICE}};
	int field = -1;
	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
		if (strlen(fields[k].name) == wn && memcmp(fields[k].name, w, wn) == 0)
			field = (int)fields[k].field;
	if (field < 0) {
		if (!wn)
			return fail(err, err_len, name, lineno,
			            "missing field after the category (expected text, "
			            "type, status, attr or service)");
		excerpt(ex, sizeof(ex), w, wn);
		return fail(err, err_len, name, lineno,
		            "unknown field '%s' (expected text, type, status, attr or service)", ex);
	}
	/* The pattern is the rest of the line, trimmed; double quotes around it keep spaces. */
	while (i < n && is_space(s[i]))
		i++;
	size_t end = n;
	while (end > i && is_space(s[end - 1]))
		end--;
	const char *p = s + i;
	size_t pn = end - i;
	if (pn >= 2 && p[0] == '"' && p[pn - 1] == '"') {
		p++;
		pn -= 2;
	}
	if (!pn)
		return fail(err, err_len, name, lineno, "missing pattern after the field");
	for (size_t k = 0; k < pn; k++)
		if (p[k] == '\0')
			return fail(err, err_len, name, lineno, "NUL byte in the pattern");
	const char *key = NULL;
	if (field == SONDE_ERRFIELD_ATTR) {
		const char *eq = memchr(p, '=', pn);
		if (!eq || eq == p || eq == p + pn - 1)
			return fail(err, err_len, name, lineno, "attr rule needs KEY=PATTERN");
		key = sonde_arena_strndup(&r->arena, p, (size_t)(eq - p));
		if (!key)
			return -ENOMEM;
		pn -= (size_t)(eq + 1 - p);
		p = eq + 1;
	}
	if (field == SONDE_ERRFIELD_STATUS) {
		bool ok = pn == 3 && p[0] >= '1' && p[0] <= '5' &&
		          ((p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9') ||
		           (p[1] == 'x' && p[2] == 'x'));
		if (!ok) {
			excerpt(ex, sizeof(ex), p, pn);
			return fail(err, err_len, name, lineno,
			            "status pattern '%s': expected a code (503) or a class (5xx)", ex);
		}
	}
	char origin[64];
	snprintf(origin, sizeof(origin), "%.40s:%zu", name, lineno);
	out->category = (sonde_error_category)cat;
	out->field = (sonde_error_rule_field)field;
	out->key = key;
	out->pattern = sonde_arena_strndup(&r->arena, p, pn);
	out->origin = sonde_arena_strndup(&r->arena, origin, strlen(origin));
	if (!out->pattern || !out->origin)
		return -ENOMEM;
	return 0;
}

int sonde_error_rules_parse(sonde_error_rules *r, const char *name, const char *text, size_t len, char *err,
                            size_t err_len)
{
	size_t before = r->count, pos = 0, lineno = 0;
	int rc = 0;
	if (!name)
		name = "rules";
	if (err && err_len)
		err[0] = '\0';
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n && s[n - 1] == '\r')
			n--;
		size_t i = 0;
		while (i < n && is_space(s[i]))
			i++;
		if (i == n || s[i] == '#')
			continue;
		if (r->count == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 16;
			sonde_error_rule *p = realloc(r->items, cap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			r->items = p;
			r->cap = cap;
		}
		if ((rc = parse_line(r, &r->items[r->count], name, lineno, s + i, n - i, err, err_len)) < 0)
			break;
		r->count++;
	}
	if (rc < 0)
		r->count = before; /* strings already copied stay in the arena until release */
	return rc;
}
