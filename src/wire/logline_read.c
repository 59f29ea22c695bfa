/*
 * logline_read.c - the JSON-lines and plain-text log readers (see logline.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "hex.h"
#include "json.h"
#include "logline.h"
#include "sonde/status.h"
#include "trace_json_util_internal.h"

/* One line of buf: [start, end) without the line break (and without a trailing \r). */
typedef struct line_it {
	const char *buf;
	size_t len, pos, lineno;
} line_it;

static bool next_line(line_it *it, const char **s, size_t *n, size_t *off)
{
	if (it->pos >= it->len)
		return false;
	const char *p = it->buf + it->pos;
	const char *nl = memchr(p, '\n', it->len - it->pos);
	size_t l = nl ? (size_t)(nl - p) : it->len - it->pos;
	*off = it->pos;
	it->pos += l + (nl ? 1 : 0);
	it->lineno++;
	if (l && p[l - 1] == '\r')
		l--;
	*s = p;
	*n = l;
	return true;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* The resource of records that carry service name svc (NULL: none), made once per batch
 * read. */
typedef struct res_cache {
	sonde_ptrmap map; /* interned service name -> resource */
	const sonde_resource *plain;
	const sonde_scope *scope;
} res_cache;

static int resource_for(sonde_batch *b, res_cache *c, sonde_str svc, const sonde_resource **out)
{
	if (!c->scope) {
		sonde_scope *sc = sonde_batch_new_scope(b);
		if (!sc)
			return -ENOMEM;
		c->scope = sc;
	}
	if (!svc.ptr) {
		if (!c->plain) {
			sonde_resource *r = sonde_batch_new_resource(b);
			if (!r)
				return -ENOMEM;
			c->plain = r;
		}
		*out = c->plain;
		return 0;
	}
	sonde_str name = sonde_batch_intern(b, svc.ptr, svc.len);
	if (!name.ptr)
		return -ENOMEM;
	sonde_ptrmap_key k = {name.ptr, NULL, 0};
	sonde_resource *r = sonde_ptrmap_find(&c->map, k);
	if (!r) {
		r = sonde_batch_new_resource(b);
		sonde_kv *kv = sonde_batch_alloc(b, sizeof *kv);
		if (!r || !kv)
			return -ENOMEM;
		sonde__tj_str_attr(kv, SONDE_STR_LIT("service.name"), name);
		r->attrs.items = kv;
		r->attrs.count = 1;
		if (sonde_ptrmap_add(&c->map, k, r) < 0)
			return -ENOMEM;
	}
	*out = r;
	return 0;
}

/* ---- JSON lines ------------------------------------------------------------------ */

enum { F_NONE, F_TIME, F_LEVEL, F_MSG, F_TRACE, F_SPAN, F_SERVICE };

/* The field a member name stands for. Called for every member of every line: names are
 * compared by length first (no strlen per candidate). */
static int field_of(const char *k, size_t n)
{
#define FIELD(lit, f)                  \
	{                              \
		lit, sizeof lit - 1, f \
	}
	static const struct {
		const char *k;
		unsigned char n;
		unsigned char f;
	} names[] = {
	        FIELD("ts", F_TIME),
	        FIELD("time", F_TIME),
	        FIELD("timestamp", F_TIME),
	        FIELD("@timestamp", F_TIME),
	        FIELD("t", F_TIME),
	        FIELD("level", F_LEVEL),
	        FIELD("severity", F_LEVEL),
	        FIELD("severity_text", F_LEVEL),
	        FIELD("severity_number", F_LEVEL),
	        FIELD("lvl", F_LEVEL),
	        FIELD("loglevel", F_LEVEL),
	        FIELD("levelname", F_LEVEL),
	        FIELD("log.level", F_LEVEL),
	        FIELD("@l", F_LEVEL),
	        FIELD("msg", F_MSG),
	        FIELD("message", F_MSG),
	        FIELD("body", F_MSG),
	        FIELD("log", F_MSG),
	        FIELD("@m", F_MSG),
	        FIELD("@mt", F_MSG),
	        FIELD("trace_id", F_TRACE),
	        FIELD("traceId", F_TRACE),
	        FIELD("trace.id", F_TRACE),
	        FIELD("traceid", F_TRACE),
	        FIELD("span_id", F_SPAN),
	        FIELD("spanId", F_SPAN),
	        FIELD("span.id", F_SPAN),
	        FIELD("spanid", F_SPAN),
	        FIELD("service", F_SERVICE),
	        FIELD("service.name", F_SERVICE),
	        FIELD("service_name", F_SERVICE),
	};
#undef FIELD
	if (n == 0 || n > 15)
		return F_NONE;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].n == n && names[i].k[0] == k[0] && memcmp(k, names[i].k, n) == 0)
			return names[i].f;
	return F_NONE;
}

typedef struct jl_state {
	sonde_kv *attrs;
	size_t attrs_cap;
	sonde_buf text;
	res_cache rc;
} jl_state;

/* Severity from a level value: a word, or a bunyan/pino number (10 trace ... 60 fatal), or
 * an OpenTelemetry severity number. */
static int32_t level_number(const sonde_value *v, sonde_str *text)
{
	if (v->kind == SONDE_VAL_STRING) {
		*text = v->u.str;
		return sonde_log_severity(v->u.str.ptr, v->u.str.len);
	}
	int64_t n = v->kind == SONDE_VAL_INT ? v->u.i : v->kind == SONDE_VAL_DOUBLE ? (int64_t)v->u.d : -1;
	static const int32_t bunyan[] = {1, 5, 9, 13, 17, 21};
	if (n >= 10 && n <= 60 && n % 10 == 0)
		return bunyan[n / 10 - 1];
	if (n >= 1 && n <= 24)
		return (int32_t)n;
	return 0;
}

static int read_id(const sonde_value *v, uint8_t *out, size_t n)
{
	if (v->kind != SONDE_VAL_STRING)
		return -1;
	const char *s = v->u.str.ptr;
	size_t len = v->u.str.len;
	if (n == 16 && len == 16) {
		memset(out, 0, 8);
		return sonde_hex_decode(out + 8, 8, s, len);
	}
	return sonde_hex_decode(out, n, s, len);
}

static int jl_line(sonde_batch *b, jl_state *st, const char *s, size_t n, size_t off, size_t lineno,
                   uint64_t default_ns, sonde_wire_error *err)
{
	sonde_json_reader r;
	sonde_json_reader_init(&r, s, n);
	int rc = sonde_json_enter_object(&r);
	sonde_log_data lg = {0};
	sonde_str svc = {NULL, 0};
	size_t nattrs = 0;
	const char *k;
	size_t kn;
	const char *bad_field = NULL, *bad_msg = NULL;
	size_t bad_off = 0;
	char keybuf[64];
	if (rc < 0)
		goto json_fail;
	while ((rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
		int f = field_of(k, kn);
		size_t keylen = kn < sizeof keybuf ? kn : sizeof keybuf - 1;
		memcpy(keybuf, k, keylen);
		keybuf[keylen] = '\0';
		/* Only a member that may be kept as an attribute needs its name copied (time,
		 * level and ids never are). */
		sonde_str key = {NULL, 0};
		if (f == F_NONE || f == F_MSG || f == F_SERVICE) {
			key = sonde_batch_intern(b, k, kn);
			if (!key.ptr) {
				rc = -ENOMEM;
				goto out;
			}
		}
		sonde_json_tok t = sonde_json_next(&r);
		if (t == SONDE_JSON_ERROR) {
			rc = sonde__tj_tok_error(&r);
			goto json_fail;
		}
		size_t voff = sonde__tj_tok_offset(&r);
		sonde_value v;
		sonde_buf_reset(&st->text);
		if ((rc = sonde__tj_read_value(b, &r, t, true, &v, &st->text)) < 0)
			goto json_fail;
		switch (f) {
		case F_TIME:
			if (v.kind == SONDE_VAL_STRING) {
				uint64_t ns;
				char *end = NULL;
				double d;
				if (v.u.str.len && v.u.str.ptr[0] >= '0' && v.u.str.ptr[0] <= '9' &&
				    sonde_logtime_parse(v.u.str.ptr, v.u.str.len, default_ns, &ns) ==
				            v.u.str.len) {
					lg.time_ns = ns;
				} else if (v.u.str.len &&
				           (d = strtod(v.u.str.ptr, &end),
				            end == v.u.str.ptr + v.u.str.len) &&
				           sonde_logtime_epoch(d, &ns)) {
					lg.time_ns = ns;
				} else if (sonde_logtime_parse(v.u.str.ptr, v.u.str.len, default_ns, &ns) ==
				           v.u.str.len) {
					lg.time_ns = ns;
				} else {
					bad_field = keybuf,
					bad_msg = "expected an RFC 3339 time or an epoch number";
					bad_off = voff;
					goto schema_fail;
				}
			} else if (v.kind == SONDE_VAL_INT || v.kind == SONDE_VAL_DOUBLE) {
				double d = v.kind == SONDE_VAL_INT ? (double)v.u.i : v.u.d;
				uint64_t ns;
				uint64_t u = v.kind == SONDE_VAL_INT && v.u.i >= 0 ? (uint64_t)v.u.i : 0;
				uint64_t mult = u < 100000000000ull         ? 1000000000u
				                : u < 100000000000000ull    ? 1000000u
				                : u < 100000000000000000ull ? 1000u
				                                            : 1u;
				if (v.kind == SONDE_VAL_INT && v.u.i >= 0 &&
				    u <= (uint64_t)INT64_MAX / mult) {
					ns = u * mult; /* integers: exact in every unit */
				} else if (v.kind == SONDE_VAL_INT || !sonde_logtime_epoch(d, &ns)) {
					bad_field = keybuf, bad_msg = "expected a non-negative epoch time";
					bad_off = voff;
					goto schema_fail;
				}
				lg.time_ns = ns;
			} else {
				bad_field = keybuf, bad_msg = "expected a time as a string or number";
				bad_off = voff;
				goto schema_fail;
			}
			continue;
		case F_LEVEL: lg.severity_number = level_number(&v, &lg.severity_text); continue;
		case F_MSG:
			if (lg.body.kind == SONDE_VAL_EMPTY) {
				lg.body = v;
				continue;
			}
			break; /* a second message member is kept as an attribute */
		case F_TRACE:
			if (read_id(&v, lg.trace_id, 16) < 0) {
				bad_field = keybuf, bad_msg = "expected 32 (or 16) hex digits";
				bad_off = voff;
				goto schema_fail;
			}
			continue;
		case F_SPAN:
			if (read_id(&v, lg.span_id, 8) < 0) {
				bad_field = keybuf, bad_msg = "expected 16 hex digits";
				bad_off = voff;
				goto schema_fail;
			}
			continue;
		case F_SERVICE:
			if (v.kind == SONDE_VAL_STRING) {
				svc = v.u.str;
				continue;
			}
			break;
		default: break;
		}
		if (nattrs == st->attrs_cap) {
			void *items = st->attrs;
			if (sonde__tj_reserve(&items, &st->attrs_cap, nattrs, sizeof(sonde_kv)) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			st->attrs = items;
		}
		st->attrs[nattrs].key = key;
		st->attrs[nattrs].value = v;
		nattrs++;
	}
	if (rc < 0 || (rc = sonde_json_finish(&r)) < 0)
		goto json_fail;
	const sonde_resource *res;
	if ((rc = resource_for(b, &st->rc, svc, &res)) < 0)
		goto out;
	sonde_log_data *out = sonde_batch_add_log(b, res, st->rc.scope);
	if (!out) {
		rc = -ENOMEM;
		goto out;
	}
	lg.resource = res;
	lg.scope = st->rc.scope;
	if (nattrs) {
		lg.attrs.items = sonde__tj_batch_copy(b, st->attrs, nattrs, sizeof(sonde_kv));
		if (!lg.attrs.items) {
			rc = -ENOMEM;
			goto out;
		}
		lg.attrs.count = (uint32_t)nattrs;
	}
	if (!lg.severity_text.ptr)
		lg.severity_text = SONDE_STR_LIT("");
	if (!lg.event_name.ptr)
		lg.event_name = SONDE_STR_LIT("");
	*out = lg;
	rc = 0;
	goto out;
schema_fail:
	rc = sonde_wire_fail(err, off + bad_off, lineno, bad_field, "%s", bad_msg);
	goto out;
json_fail:
	if (rc == -ENOMEM)
		goto out;
	rc = sonde_wire_fail(err, off + r.err_offset, lineno, "", "%s",
	                     r.failed ? r.err_msg : "expected one JSON object per line");
out:
	sonde_json_reader_release(&r);
	return rc;
}

int sonde_logjson_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                       sonde_wire_error *err)
{
	size_t before = b->logs_count;
	jl_state st = {.text = SONDE_BUF_INIT};
	sonde_ptrmap_init(&st.rc.map);
	line_it it = {buf, len, 0, 0};
	const char *s;
	size_t n, off;
	int rc = 0;
	while (next_line(&it, &s, &n, &off)) {
		if (blank(s, n))
			continue;
		if ((rc = jl_line(b, &st, s, n, off, it.lineno, default_time_ns, err)) < 0)
			break;
	}
	if (rc < 0)
		b->logs_count = before;
	free(st.attrs);
	sonde_buf_release(&st.text);
	sonde_ptrmap_release(&st.rc.map);
	return rc;
}

/* ---- Plain text ------------------------------------------------------------------ */

static bool bad_byte(const char *s, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 && c != '\t' && c != '\r' && c != '\f' && c != 0x1b) {
			*at = i;
			return true;
		}
	}
	return false;
}

int sonde_logtext_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                       sonde_wire_error *err)
{
	size_t before = b->logs_count;
	res_cache rc_cache = {0};
	sonde_ptrmap_init(&rc_cache.map);
	const sonde_resource *res;
	int rc = resource_for(b, &rc_cache, (sonde_str){NULL, 0}, &res);
	line_it it = {buf, len, 0, 0};
	const char *s;
	size_t n, off;
	ssize_t cur = -1; /* index of the record being built */
	const char *cur_start = NULL;
	while (rc == 0 && next_line(&it, &s, &n, &off)) {
		size_t at;
		if (bad_byte(s, n, &at)) {
			rc = sonde_wire_fail(err, off + at, it.lineno, "",
			                     "expected text, found control byte 0x%02x",
			                     (unsigned char)s[at]);
			break;
		}
		if (blank(s, n))
			continue;
		if (cur >= 0 && sonde_logtext_is_continuation(s, n)) {
			sonde_log_data *lg = &b->logs[cur];
			lg->body.u.str = sonde_batch_strdup(b, cur_start, (size_t)(s + n - cur_start));
			if (!lg->body.u.str.ptr)
				rc = -ENOMEM;
			continue;
		}
		sonde_log_data *lg = sonde_batch_add_log(b, res, rc_cache.scope);
		if (!lg) {
			rc = -ENOMEM;
			break;
		}
		cur = (ssize_t)(b->logs_count - 1);
		cur_start = s;
		uint64_t ns;
		size_t tat, tlen, lat, llen;
		if (sonde_logtime_find(s, n, default_time_ns, &ns, &tat, &tlen))
			lg->time_ns = ns;
		lg->severity_number = sonde_log_severity_find(s, n, &lat, &llen);
		if (lg->severity_number) {
			lg->severity_text = sonde_batch_intern(b, s + lat, llen);
			if (!lg->severity_text.ptr)
				rc = -ENOMEM;
		}
		lg->body.kind = SONDE_VAL_STRING;
		lg->body.u.str = sonde_batch_strdup(b, s, n);
		if (!lg->body.u.str.ptr)
			rc = -ENOMEM;
	}
	if (rc < 0)
		b->logs_count = before;
	sonde_ptrmap_release(&rc_cache.map);
	return rc;
}

/* ---- Sniffing -------------------------------------------------------------------- */

bool sonde_logjson_sniff(const char *buf, size_t len)
{
	line_it it = {buf, len < 65536 ? len : 65536, 0, 0};
	const char *s;
	size_t n, off;
	while (next_line(&it, &s, &n, &off)) {
		if (blank(s, n))
			continue;
		size_t i = 0;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n || s[i] != '{' || s[n - 1] != '}')
			return false;
		sonde_json_reader r;
		sonde_json_reader_init(&r, s + i, n - i);
		int rc = sonde_json_enter_object(&r), f = 0;
		const char *k;
		size_t kn;
		while (rc >= 0 && (rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
			int ff = field_of(k, kn);
			if (ff == F_TIME || ff == F_LEVEL || ff == F_MSG)
				f |= 1 << ff;
			rc = sonde_json_skip(&r);
		}
		sonde_json_reader_release(&r);
		/* One member alone (a "log" or "time") is too weak a sign. */
		return rc == 0 && __builtin_popcount((unsigned)f) >= 2;
	}
	return false;
}

bool sonde_logtext_sniff(const char *buf, size_t len)
{
	line_it it = {buf, len < 65536 ? len : 65536, 0, 0};
	const char *s;
	size_t n, off, at, l2;
	int lines = 0, hits = 0;
	uint64_t ns;
	while (lines < 8 && next_line(&it, &s, &n, &off)) {
		if (it.pos >= it.len && it.len < len)
			break; /* the sample ends mid-line */
		if (bad_byte(s, n, &at))
			return false;
		if (blank(s, n) || sonde_logtext_is_continuation(s, n))
			continue;
		lines++;
		if (sonde_logtime_find(s, n, (uint64_t)4102444800ull * 1000000000u, &ns, &at, &l2) ||
		    sonde_log_severity_find(s, n, &at, &l2))
			hits++;
	}
	return lines > 0 && hits * 2 >= lines;
}
