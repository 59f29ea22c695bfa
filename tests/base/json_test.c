/*
 * json_test.c - the JSON reader and writer: JSONTestSuite conformance, the convenience
 * layer, error offsets, number conversion and writer output, and round trips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sonde/status.h"

/* Set when $SONDE_DATA/jsontestsuite is missing: main() then exits 77. */
static bool corpus_missing;

/* ---- helpers ---- */

typedef struct tokrec {
	sonde_json_tok tok;
	char *text; /* KEY, STRING: unescaped bytes; NUMBER: the literal */
	size_t len;
} tokrec;

typedef struct tokvec {
	tokrec *v;
	size_t n, cap;
} tokvec;

static void tokvec_free(tokvec *tv)
{
	for (size_t i = 0; i < tv->n; i++)
		free(tv->v[i].text);
	free(tv->v);
	memset(tv, 0, sizeof(*tv));
}

static void tokvec_push(tokvec *tv, sonde_json_tok t, const char *s, size_t n)
{
	if (tv->n == tv->cap) {
		tv->cap = tv->cap ? tv->cap * 2 : 64;
		tv->v = realloc(tv->v, tv->cap * sizeof(*tv->v));
		assert_non_null(tv->v);
	}
	tokrec *r = &tv->v[tv->n++];
	r->tok = t;
	r->text = NULL;
	r->len = n;
	if (s) {
		r->text = malloc(n + 1);
		assert_non_null(r->text);
		memcpy(r->text, s, n);
		r->text[n] = '\0';
	}
}

/* Reads a whole document token by token. Returns 0 or SONDE_EPARSE. */
static int collect(const char *buf, size_t len, tokvec *tv, sonde_json_reader *out_r)
{
	sonde_json_reader r;
	sonde_json_reader_init(&r, buf, len);
	int rc = 0;
	for (;;) {
		sonde_json_tok t = sonde_json_next(&r);
		if (t == SONDE_JSON_ERROR) {
			rc = SONDE_EPARSE;
			break;
		}
		if (t == SONDE_JSON_EOF)
			break;
		if (tv) {
			if (t == SONDE_JSON_KEY || t == SONDE_JSON_STRING)
				tokvec_push(tv, t, r.str, r.str_len);
			else if (t == SONDE_JSON_NUMBER)
				tokvec_push(tv, t, r.num, r.num_len);
			else
				tokvec_push(tv, t, NULL, 0);
		}
	}
	if (out_r) {
		*out_r = r;
		out_r->scratch = NULL;
	}
	sonde_json_reader_release(&r);
	return rc;
}

static void emit(sonde_json_writer *w, const tokvec *tv)
{
	for (size_t i = 0; i < tv->n; i++) {
		const tokrec *t = &tv->v[i];
		switch (t->tok) {
		case SONDE_JSON_OBJ_BEGIN: sonde_json_obj_begin(w); break;
		case SONDE_JSON_OBJ_END: sonde_json_obj_end(w); break;
		case SONDE_JSON_ARR_BEGIN: sonde_json_arr_begin(w); break;
		case SONDE_JSON_ARR_END: sonde_json_arr_end(w); break;
		case SONDE_JSON_KEY: sonde_json_key(w, t->text, t->len); break;
		case SONDE_JSON_STRING: sonde_json_str(w, t->text, t->len); break;
		case SONDE_JSON_NUMBER: sonde_json_raw(w, t->text, t->len); break;
		case SONDE_JSON_TRUE: sonde_json_bool(w, true); break;
		case SONDE_JSON_FALSE: sonde_json_bool(w, false); break;
		case SONDE_JSON_NULL: sonde_json_null(w); break;
		default: fail_msg("unexpected token %d", t->tok);
		}
	}
}

static bool tokvec_equal(const tokvec *a, const tokvec *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].tok != b->v[i].tok || a->v[i].len != b->v[i].len)
			return false;
		if (a->v[i].len && memcmp(a->v[i].text, b->v[i].text, a->v[i].len))
			return false;
	}
	return true;
}

/* Re-emits doc with the writer (compact and pretty) and checks it reads back the same. */
static void check_roundtrip(const char *doc, size_t len, const char *name)
{
	tokvec a = {0};
	assert_int_equal(collect(doc, len, &a, NULL), 0);
	for (int pretty = 0; pretty <= 4; pretty += 4) {
		sonde_buf out = SONDE_BUF_INIT;
		sonde_json_writer w;
		sonde_json_writer_init(&w, &out, pretty);
		emit(&w, &a);
		assert_false(out.oom);
		tokvec b = {0};
		if (collect(out.data, out.len, &b, NULL) != 0 || !tokvec_equal(&a, &b))
			fail_msg("%s: re-emitted text does not read back the same:\n%s", name, out.data);
		tokvec_free(&b);
		sonde_buf_release(&out);
	}
	tokvec_free(&a);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t k;
	while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* ---- JSONTestSuite ---- */

static void test_jsontestsuite(void **state)
{
	(void)state;
	const char *data = getenv("SONDE_DATA");
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/jsontestsuite", data ? data : "../shared/data");
	DIR *d = opendir(dir);
	if (!d) {
		corpus_missing = true;
		skip();
	}
	int ny = 0, nn = 0, ni = 0, bad = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		size_t nl = strlen(name);
		if (nl < 7 || strcmp(name + nl - 5, ".json") || name[1] != '_')
			continue;
		char path[8192];
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		size_t len = 0;
		char *buf = read_file(path, &len);
		assert_non_null(buf);
		/* An exact-size copy, so reading past the end shows up under ASan. */
		char *doc = malloc(len ? len : 1);
		assert_non_null(doc);
		memcpy(doc, buf, len);
		free(buf);

		sonde_json_reader er;
		int rc = collect(doc, len, NULL, &er);
		/* The convenience layer must agree with the tokenizer. */
		sonde_json_reader r;
		sonde_json_reader_init(&r, doc, len);
		int rc2 = sonde_json_skip(&r);
		if (rc2 == 0)
			rc2 = sonde_json_finish(&r);
		sonde_json_reader_release(&r);
		if ((rc == 0) != (rc2 == 0)) {
			print_error("%s: next() says %d, skip()+finish() says %d\n", name, rc, rc2);
			bad++;
		}
		if (name[0] == 'y') {
			ny++;
			if (rc != 0) {
				print_error("%s: rejected valid JSON: %s at %zu\n", name, er.err_msg,
				            er.err_offset);
				bad++;
			} else {
				check_roundtrip(doc, len, name);
			}
		} else if (name[0] == 'n') {
			nn++;
			if (rc == 0) {
				print_error("%s: accepted invalid JSON\n", name);
				bad++;
			} else if (er.err_offset > len || !er.err_msg[0]) {
				print_error("%s: bad error state\n", name);
				bad++;
			}
		} else if (name[0] == 'i') {
			ni++;
			if (rc == 0)
				check_roundtrip(doc, len, name);
		}
		free(doc);
	}
	closedir(d);
	assert_int_equal(bad, 0);
	assert_int_equal(ny, 95);
	assert_int_equal(nn, 188);
	assert_int_equal(ni, 35);
}

/* ---- tokenizer ---- */

static void test_tokens(void **state)
{
	(void)state;
	const char doc[] = " {\"a\" : [1, -2.5e+3, true, false, null, \"s\", {}, []],"
	                   " \"\": {\"b\":0}}\r\n\t";
	static const sonde_json_tok want[] = {
	        SONDE_JSON_OBJ_BEGIN, SONDE_JSON_KEY,       SONDE_JSON_ARR_BEGIN, SONDE_JSON_NUMBER,
	        SONDE_JSON_NUMBER,    SONDE_JSON_TRUE,      SONDE_JSON_FALSE,     SONDE_JSON_NULL,
	        SONDE_JSON_STRING,    SONDE_JSON_OBJ_BEGIN, SONDE_JSON_OBJ_END,   SONDE_JSON_ARR_BEGIN,
	        SONDE_JSON_ARR_END,   SONDE_JSON_ARR_END,   SONDE_JSON_KEY,       SONDE_JSON_OBJ_BEGIN,
	        SONDE_JSON_KEY,       SONDE_JSON_NUMBER,    SONDE_JSON_OBJ_END,   SONDE_JSON_OBJ_END,
	        SONDE_JSON_EOF,       SONDE_JSON_EOF,
	};
	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, sizeof(doc) - 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		sonde_json_tok t = sonde_json_next(&r);
		if (t != want[i])
			fail_msg("token %zu: got %d want %d (%s)", i, t, want[i], r.err_msg);
		if (i == 4)
			assert_true(r.num_len == 7 && !memcmp(r.num, "-2.5e+3", 7));
		if (i == 14)
			assert_int_equal(r.str_len, 0);
	}
	sonde_json_reader_release(&r);

	/* Scalars at top level, peek. */
	sonde_json_reader_init(&r, "  42 ", 5);
	assert_int_equal(sonde_json_peek(&r), SONDE_JSON_NUMBER);
	assert_int_equal(sonde_json_peek(&r), SONDE_JSON_NUMBER);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_NUMBER);
	assert_int_equal(r.num_len, 2);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_EOF);
	assert_int_equal(sonde_json_finish(&r), 0);
	sonde_json_reader_release(&r);

	/* NULL input is an empty document. */
	sonde_json_reader_init(&r, NULL, 0);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_ERROR);
	assert_int_equal(r.err_offset, 0);
	sonde_json_reader_release(&r);
}

static void test_strings(void **state)
{
	(void)state;
	sonde_json_reader r;
	const char *plain = "\"hello, w\xC3\xB6rld \xE2\x82\xAC \xF0\x9F\x98\x80\"";
	sonde_json_reader_init(&r, plain, strlen(plain));
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	/* No escape: the string points into the input. */
	assert_ptr_equal(r.str, plain + 1);
	assert_int_equal(r.str_len, strlen(plain) - 2);
	sonde_json_reader_release(&r);

	const char *esc = "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\"";
	const char want[] = "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\0z";
	sonde_json_reader_init(&r, esc, strlen(esc));
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	assert_int_equal(r.str_len, sizeof(want) - 1);
	assert_memory_equal(r.str, want, sizeof(want) - 1);
	sonde_json_reader_release(&r);

	/* Lone surrogates read as U+FFFD; the escape after a lone high one still counts. */
	const char *lone = "[\"\\ud800\", \"\\udc00x\", \"\\ud800\\u0041\","
	                   " \"\\ud800\\ud800\\udc00\"]";
	sonde_json_reader_init(&r, lone, strlen(lone));
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_ARR_BEGIN);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	assert_true(r.str_len == 3 && !memcmp(r.str, "\xEF\xBF\xBD", 3));
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	assert_true(r.str_len == 4 && !memcmp(r.str, "\xEF\xBF\xBDx", 4));
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	assert_true(r.str_len == 4 && !memcmp(r.str,
	                                      "\xEF\xBF\xBD"
	                                      "A",
	                                      4));
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	assert_true(r.str_len == 7 && !memcmp(r.str, "\xEF\xBF\xBD\xF0\x90\x80\x80", 7));
	sonde_json_reader_release(&r);

	/* A long string with escapes spread through it grows the scratch buffer. */
	sonde_buf doc = SONDE_BUF_INIT, expect = SONDE_BUF_INIT;
	sonde_buf_putc(&doc, '"');
	for (int i = 0; i < 20000; i++) {
		if (i % 97 == 0) {
			sonde_buf_puts(&doc, "\\n");
			sonde_buf_putc(&expect, '\n');
		} else if (i % 89 == 0) {
			sonde_buf_puts(&doc, "\xC3\xA9");
			sonde_buf_puts(&expect, "\xC3\xA9");
		} else {
			sonde_buf_putc(&doc, (char)('a' + i % 26));
			sonde_buf_putc(&expect, (char)('a' + i % 26));
		}
	}
	sonde_buf_putc(&doc, '"');
	sonde_json_reader_init(&r, doc.data, doc.len);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
	assert_int_equal(r.str_len, expect.len);
	assert_memory_equal(r.str, expect.data, expect.len);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_EOF);
	sonde_json_reader_release(&r);
	sonde_buf_release(&doc);
	sonde_buf_release(&expect);
}

typedef struct err_case {
	const char *doc;
	size_t len; /* 0: strlen(doc) */
	size_t offset;
	const char *msg; /* a substring of err_msg */
} err_case;

static void test_errors(void **state)
{
	(void)state;
	static const err_case cases[] = {
	        {"", 0, 0, "unexpected end of input"},
	        {"   ", 0, 3, "unexpected end of input"},
	        {"{\"a\" 1}", 0, 5, "expected ':' after object key"},
	        {"{\"a\":1 \"b\":2}", 0, 7, "expected ',' or '}' after object member"},
	        {"{\"a\":1,}", 0, 7, "expected string as object key"},
	        {"{1:2}", 0, 1, "expected string as object key or '}'"},
	        {"[1,]", 0, 3, "expected value"},
	        {"[1 2]", 0, 3, "expected ',' or ']' after array element"},
	        {"[", 0, 1, "unexpected end of input"},
	        {"[1,", 0, 3, "unexpected end of input"},
	        {"{\"a\":", 0, 5, "unexpected end of input"},
	        {"\"abc", 0, 4, "unexpected end of input"},
	        {"[\"a\\x\"]", 0, 3, "invalid escape"},
	        {"[\"a\\u12G4\"]", 0, 3, "invalid \\u escape"},
	        {"\"\\ud800\\u12\"", 0, 7, "invalid \\u escape"},
	        {"[\"ab\xC0\x80\"]", 0, 4, "invalid UTF-8 in string"},
	        {"\"\xED\xA0\x80\"", 0, 1, "invalid UTF-8 in string"},
	        {"\"\xF4\x90\x80\x80\"", 0, 1, "invalid UTF-8 in string"},
	        {"\"\xE2\x82\"", 0, 1, "invalid UTF-8 in string"},
	        {"\"a\tb\"", 0, 2, "control character in string"},
	        {"01", 0, 1, "leading zeros"},
	        {"-", 0, 1, "expected digit after '-'"},
	        {"1.", 0, 2, "expected digit after '.'"},
	        {"1e+", 0, 3, "expected digit in exponent"},
	        {".5", 0, 0, "expected value"},
	        {"tru", 0, 0, "expected value"},
	        {"nul", 0, 0, "expected value"},
	        {"{\"a\":1}x", 0, 7, "unexpected data after the top-level value"},
	        {"1 2", 0, 2, "unexpected data after the top-level value"},
	        {"\xEF\xBB\xBF{}", 0, 0, "expected value"},
	        {"[1\0]", 4, 2, "expected ',' or ']'"},
	        {"\"a\0\"", 4, 2, "control character"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const err_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->doc);
		sonde_json_reader r;
		int rc = collect(c->doc, len, NULL, &r);
		if (rc != SONDE_EPARSE || r.err_offset != c->offset || !strstr(r.err_msg, c->msg))
			fail_msg("case %zu %s: rc %d offset %zu msg '%s', want offset %zu msg '%s'", i,
			         c->doc, rc, r.err_offset, r.err_msg, c->offset, c->msg);
	}

	/* Nesting: 512 levels are fine, the 513th is not. */
	char deep[2 * 513 + 1];
	memset(deep, '[', 512);
	memset(deep + 512, ']', 512);
	sonde_json_reader r;
	assert_int_equal(collect(deep, 1024, NULL, &r), 0);
	memset(deep, '[', 513);
	memset(deep + 513, ']', 513);
	assert_int_equal(collect(deep, 1026, NULL, &r), SONDE_EPARSE);
	assert_int_equal(r.err_offset, 512);
	assert_string_equal(r.err_msg, "nesting deeper than 512");

	/* Errors are sticky. */
	sonde_json_reader_init(&r, "[1 2]", 5);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_ARR_BEGIN);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_NUMBER);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_ERROR);
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_ERROR);
	assert_int_equal(sonde_json_skip(&r), SONDE_EPARSE);
	assert_int_equal(sonde_json_finish(&r), SONDE_EPARSE);
	assert_int_equal(r.err_offset, 3);
	sonde_json_reader_release(&r);

	/* Line numbers for messages. */
	const char *ml = "{\n  \"a\": 1,\n  \"b\": x\n}";
	assert_int_equal(collect(ml, strlen(ml), NULL, &r), SONDE_EPARSE);
	assert_int_equal(r.err_offset, 19);
	assert_int_equal(sonde_json_line_of(&r, r.err_offset), 3);
	assert_int_equal(sonde_json_line_of(&r, 0), 1);
	assert_int_equal(sonde_json_line_of(&r, 1000), 4);
}

/* ---- convenience layer ---- */

static void test_convenience(void **state)
{
	(void)state;
	const char *doc = "{\"name\": \"x\\ty\", \"n\": \"-12\", \"u\": 18446744073709551615,"
	                  " \"f\": \"NaN\", \"b\": true,"
	                  " \"skip\": {\"a\": [1, {\"b\": [[], {}]}, \"s\"]},"
	                  " \"arr\": [1, 2, 3], \"tail\": null}";
	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, strlen(doc));
	assert_int_equal(sonde_json_enter_object(&r), 0);
	const char *k, *s;
	size_t kn, sn;
	int rc, seen = 0;
	while ((rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
		seen++;
		if (kn == 4 && !memcmp(k, "name", 4)) {
			assert_int_equal(sonde_json_read_str(&r, &s, &sn), 0);
			assert_true(sn == 3 && !memcmp(s, "x\ty", 3));
		} else if (kn == 1 && k[0] == 'n') {
			int64_t v;
			assert_int_equal(sonde_json_read_i64(&r, &v), 0);
			assert_int_equal(v, -12);
		} else if (kn == 1 && k[0] == 'u') {
			uint64_t v;
			assert_int_equal(sonde_json_read_u64(&r, &v), 0);
			assert_true(v == UINT64_MAX);
		} else if (kn == 1 && k[0] == 'f') {
			double v;
			assert_int_equal(sonde_json_read_f64(&r, &v), 0);
			assert_true(isnan(v));
		} else if (kn == 1 && k[0] == 'b') {
			bool v = false;
			assert_int_equal(sonde_json_read_bool(&r, &v), 0);
			assert_true(v);
		} else if (kn == 3 && !memcmp(k, "arr", 3)) {
			assert_int_equal(sonde_json_enter_array(&r), 0);
			int64_t sum = 0, v;
			while ((rc = sonde_json_next_elem(&r)) > 0) {
				assert_int_equal(sonde_json_read_i64(&r, &v), 0);
				sum += v;
			}
			assert_int_equal(rc, 0);
			assert_int_equal(sum, 6);
		} else {
			assert_int_equal(sonde_json_skip(&r), 0);
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(seen, 8);
	assert_int_equal(sonde_json_finish(&r), 0);
	sonde_json_reader_release(&r);

	/* Type mismatches name what was expected, at the offending token. */
	static const struct {
		const char *doc;
		int which; /* 0 str, 1 i64, 2 u64, 3 f64, 4 bool, 5 object, 6 array, 7 skip */
		const char *msg;
	} bad[] = {
	        {"  1", 0, "expected string"},          {" \"x\"", 1, "expected integer"},
	        {" true", 2, "expected integer"},       {" \"inf\"", 3, "expected number"},
	        {" null", 4, "expected true or false"}, {" []", 5, "expected object"},
	        {" {}", 6, "expected array"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sonde_json_reader_init(&r, bad[i].doc, strlen(bad[i].doc));
		const char *ss;
		size_t sl;
		int64_t i64;
		uint64_t u64;
		double f;
		bool b;
		switch (bad[i].which) {
		case 0: rc = sonde_json_read_str(&r, &ss, &sl); break;
		case 1: rc = sonde_json_read_i64(&r, &i64); break;
		case 2: rc = sonde_json_read_u64(&r, &u64); break;
		case 3: rc = sonde_json_read_f64(&r, &f); break;
		case 4: rc = sonde_json_read_bool(&r, &b); break;
		case 5: rc = sonde_json_enter_object(&r); break;
		default: rc = sonde_json_enter_array(&r); break;
		}
		assert_int_equal(rc, SONDE_EPARSE);
		assert_string_equal(r.err_msg, bad[i].msg);
		assert_int_equal(r.err_offset, 1 + (bad[i].doc[1] == ' '));
		sonde_json_reader_release(&r);
	}

	/* skip() of a scalar and of a deep value; next_elem() leaves the element. */
	char deep[1100];
	size_t n = 0;
	deep[n++] = '[';
	for (int i = 0; i < 500; i++)
		deep[n++] = '[';
	for (int i = 0; i < 500; i++)
		deep[n++] = ']';
	memcpy(deep + n, ",7]", 3);
	n += 3;
	sonde_json_reader_init(&r, deep, n);
	assert_int_equal(sonde_json_enter_array(&r), 0);
	assert_int_equal(sonde_json_next_elem(&r), 1);
	assert_int_equal(sonde_json_skip(&r), 0);
	assert_int_equal(sonde_json_next_elem(&r), 1);
	int64_t seven;
	assert_int_equal(sonde_json_read_i64(&r, &seven), 0);
	assert_int_equal(seven, 7);
	assert_int_equal(sonde_json_next_elem(&r), 0);
	assert_int_equal(sonde_json_finish(&r), 0);
	sonde_json_reader_release(&r);

	/* skip() cannot skip a closing bracket; finish() wants the value complete. */
	sonde_json_reader_init(&r, "[]", 2);
	assert_int_equal(sonde_json_enter_array(&r), 0);
	assert_int_equal(sonde_json_skip(&r), SONDE_EPARSE);
	assert_string_equal(r.err_msg, "expected value");
	assert_int_equal(r.err_offset, 1);
	sonde_json_reader_release(&r);
	sonde_json_reader_init(&r, "[1]", 3);
	assert_int_equal(sonde_json_enter_array(&r), 0);
	assert_int_equal(sonde_json_finish(&r), SONDE_EPARSE);
	assert_string_equal(r.err_msg, "expected end of the top-level value");
	sonde_json_reader_release(&r);
	sonde_json_reader_init(&r, "[1]", 3);
	assert_int_equal(sonde_json_enter_array(&r), 0);
	assert_int_equal(sonde_json_next_elem(&r), 1);
	assert_int_equal(sonde_json_finish(&r), SONDE_EPARSE);
	assert_int_equal(r.err_offset, 1);
	sonde_json_reader_release(&r);
	sonde_json_reader_init(&r, "[] ", 3);
	assert_int_equal(sonde_json_enter_array(&r), 0);
	assert_int_equal(sonde_json_next_elem(&r), 0);
	assert_int_equal(sonde_json_peek(&r), SONDE_JSON_EOF);
	assert_int_equal(sonde_json_finish(&r), 0);
	sonde_json_reader_release(&r);

	/* next_key() on an unterminated object, and fail() for schema errors. */
	sonde_json_reader_init(&r, "{\"a\":1", 6);
	assert_int_equal(sonde_json_enter_object(&r), 0);
	assert_int_equal(sonde_json_next_key(&r, &k, &kn), 1);
	assert_int_equal(sonde_json_skip(&r), 0);
	assert_int_equal(sonde_json_next_key(&r, &k, &kn), SONDE_EPARSE);
	assert_string_equal(r.err_msg, "unexpected end of input");
	assert_int_equal(r.err_offset, 6);
	sonde_json_reader_release(&r);

	sonde_json_reader_init(&r, "{\"kind\": 99}", 12);
	assert_int_equal(sonde_json_enter_object(&r), 0);
	assert_int_equal(sonde_json_next_key(&r, &k, &kn), 1);
	int64_t kind;
	assert_int_equal(sonde_json_read_i64(&r, &kind), 0);
	assert_int_equal(sonde_json_fail(&r, "span kind out of range"), SONDE_EPARSE);
	assert_int_equal(r.err_offset, 9);
	assert_string_equal(r.err_msg, "span kind out of range");
	assert_int_equal(sonde_json_next(&r), SONDE_JSON_ERROR);
	sonde_json_reader_release(&r);
}

static int read_i64_doc(const char *doc, int64_t *v, sonde_json_reader *rr)
{
	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, strlen(doc));
	int rc = sonde_json_read_i64(&r, v);
	if (rr)
		*rr = r;
	sonde_json_reader_release(&r);
	return rc;
}

static int read_u64_doc(const char *doc, uint64_t *v)
{
	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, strlen(doc));
	int rc = sonde_json_read_u64(&r, v);
	sonde_json_reader_release(&r);
	return rc;
}

static void test_integers(void **state)
{
	(void)state;
	static const struct {
		const char *doc;
		int rc;
		int64_t v;
	} i64[] = {
	        {"0", 0, 0},
	        {"-0", 0, 0},
	        {"9223372036854775807", 0, INT64_MAX},
	        {"-9223372036854775808", 0, INT64_MIN},
	        {"\"9223372036854775807\"", 0, INT64_MAX},
	        {"\"-9223372036854775808\"", 0, INT64_MIN},
	        {"9223372036854775808", SONDE_EPARSE, 0},
	        {"-9223372036854775809", SONDE_EPARSE, 0},
	        {"99999999999999999999999", SONDE_EPARSE, 0},
	        {"1e3", 0, 1000},
	        {"1E+3", 0, 1000},
	        {"12.0", 0, 12},
	        {"1.25e2", 0, 125},
	        {"150e-1", 0, 15},
	        {"0.0e-7", 0, 0},
	        {"0e999999999999999999", 0, 0},
	        {"-9.223372036854775808e18", 0, INT64_MIN},
	        {"1.5", SONDE_EPARSE, 0},
	        {"15e-1", SONDE_EPARSE, 0},
	        {"1e-400", SONDE_EPARSE, 0},
	        {"1e19", SONDE_EPARSE, 0},
	        {"1e999999999999999999", SONDE_EPARSE, 0},
	        {"\"12a\"", SONDE_EPARSE, 0},
	        {"\" 12\"", SONDE_EPARSE, 0},
	        {"\"+12\"", SONDE_EPARSE, 0},
	        {"\"\"", SONDE_EPARSE, 0},
	        {"\"0x10\"", SONDE_EPARSE, 0},
	        {"\"012\"", SONDE_EPARSE, 0},
	        {"null", SONDE_EPARSE, 0},
	};
	for (size_t i = 0; i < sizeof(i64) / sizeof(i64[0]); i++) {
		int64_t v = -1;
		sonde_json_reader r;
		int rc = read_i64_doc(i64[i].doc, &v, &r);
		if (rc != i64[i].rc || (rc == 0 && v != i64[i].v))
			fail_msg("i64 %s: rc %d v %lld (%s), want rc %d v %lld", i64[i].doc, rc, (long long)v,
			         r.err_msg, i64[i].rc, (long long)i64[i].v);
		if (rc)
			assert_int_equal(r.err_offset, 0);
	}
	int64_t v;
	sonde_json_reader r;
	assert_int_equal(read_i64_doc("9223372036854775808", &v, &r), SONDE_EPARSE);
	assert_string_equal(r.err_msg, "integer out of range");
	assert_int_equal(read_i64_doc("1.5", &v, &r), SONDE_EPARSE);
	assert_string_equal(r.err_msg, "expected integer");

	static const struct {
		const char *doc;
		int rc;
		uint64_t v;
	} u64[] = {
	        {"18446744073709551615", 0, UINT64_MAX},
	        {"\"18446744073709551615\"", 0, UINT64_MAX},
	        {"1844674407370955161.5e1", 0, UINT64_MAX},
	        {"1e19", 0, 10000000000000000000ull},
	        {"-0", 0, 0},
	        {"\"1544712660000000000\"", 0, 1544712660000000000ull},
	        {"18446744073709551616", SONDE_EPARSE, 0},
	        {"1e20", SONDE_EPARSE, 0},
	        {"-1", SONDE_EPARSE, 0},
	        {"\"-1\"", SONDE_EPARSE, 0},
	};
	for (size_t i = 0; i < sizeof(u64) / sizeof(u64[0]); i++) {
		uint64_t u = 1;
		int rc = read_u64_doc(u64[i].doc, &u);
		if (rc != u64[i].rc || (rc == 0 && u != u64[i].v))
			fail_msg("u64 %s: rc %d v %llu", u64[i].doc, rc, (unsigned long long)u);
	}
}

/* ---- doubles ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static uint64_t bits_of(double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	return u;
}

static void check_parse(const char *s)
{
	double got, want = strtod(s, NULL);
	assert_int_equal(sonde_json_parse_double(s, strlen(s), &got), 0);
	if (bits_of(got) != bits_of(want))
		fail_msg("parse %s: got %.17g want %.17g", s, got, want);
}

static void test_parse_double(void **state)
{
	(void)state;
	static const char *const cases[] = {
	        "0",
	        "-0",
	        "1",
	        "-1",
	        "0.1",
	        "0.3",
	        "1.5",
	        "123.456",
	        "1e23",
	        "8.98846567431158e307",
	        "1.7976931348623157e308",
	        "1.7976931348623158e308",
	        "1.7976931348623159e308",
	        "2.2250738585072011e-308",
	        "2.2250738585072012e-308",
	        "4.9e-324",
	        "2.4e-324",
	        "2.5e-324",
	        "1e-400",
	        "1e400",
	        "-1e400",
	        "9007199254740993",
	        "9007199254740992",
	        "9007199254740993.0000000000000000001",
	        "123456789012345678901234567890",
	        "0.000000000000000000000000000000000000000001",
	        "1e22",
	        "1e-22",
	        "1234567e30",
	        "12345678901234567",
	        "3.14159265358979323846264338327950288419716939937510",
	        "100000000000000000000000000000000000000000000000000000000000000000000000",
	        "0.100000000000000005551115123125782702118158340454101562500000000000000000000001",
	        "7.0420557077594588669468784357561207962098443483187940792729600000e+59",
	        "1e0000000000000000000000000000000000000000000000000000000000000000000000000001",
	        "-0.0e-5",
	        "5e-1",
	        "25e-2",
	        "1.00000000000000011102230246251565404236316680908203125",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_parse(cases[i]);

	/* Random digit strings around the fast-path boundaries, against strtod. */
	char buf[64];
	for (int i = 0; i < 50000; i++) {
		uint64_t x = rng();
		int nd = 1 + (int)(x % 24), e = (int)((x >> 8) % 700) - 350;
		int n = 0;
		if (x & (1ull << 40))
			buf[n++] = '-';
		buf[n++] = (char)('1' + (rng() % 9));
		for (int j = 1; j < nd; j++) {
			if (j == 1 && (x & (1ull << 41)))
				buf[n++] = '.';
			buf[n++] = (char)('0' + rng() % 10);
		}
		int ex = (x & (1ull << 42)) ? e : e / 20;
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "e%d", ex);
		check_parse(buf);
	}

	/* Not numbers. */
	static const char *const bad[] = {"",    "-",   "+1",  "1.", ".1", "01",   "1e", "1e+",
	                                  "0x1", "inf", "NaN", "1 ", " 1", "1..2", "--1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double d;
		assert_int_equal(sonde_json_parse_double(bad[i], strlen(bad[i]), &d), SONDE_EPARSE);
	}

	/* read_f64 on numbers and strings. */
	static const struct {
		const char *doc;
		double v;
	} f[] = {
	        {"2.5", 2.5},
	        {"\"2.5\"", 2.5},
	        {"-1e400", -INFINITY},
	        {"\"Infinity\"", INFINITY},
	        {"\"-Infinity\"", -INFINITY},
	        {"1e-400", 0.0},
	        {"-12", -12.0},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		sonde_json_reader r;
		sonde_json_reader_init(&r, f[i].doc, strlen(f[i].doc));
		double d;
		assert_int_equal(sonde_json_read_f64(&r, &d), 0);
		assert_true(bits_of(d) == bits_of(f[i].v));
		sonde_json_reader_release(&r);
	}
}

static void test_double_roundtrip(void **state)
{
	(void)state;
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	for (int i = 0; i < 200000; i++) {
		double d;
		uint64_t u = rng();
		if (i % 4 == 3) {
			/* Short decimals, as telemetry usually holds. */
			d = (double)(int64_t)(u % 2000001 - 1000000) / 1000.0;
		} else {
			memcpy(&d, &u, 8);
			if (!isfinite(d))
				continue;
		}
		sonde_buf_reset(&out);
		sonde_json_writer_init(&w, &out, 0);
		sonde_json_f64(&w, d);
		double back;
		if (sonde_json_parse_double(out.data, out.len, &back) != 0 || bits_of(back) != bits_of(d))
			fail_msg("%.17g wrote as %s", d, out.data);
		/* At most 17 significant digits, laid out as JavaScript does. */
		assert_true(out.len <= 25);
		if (strchr(out.data, 'e')) {
			int e = atoi(strchr(out.data, 'e') + 1);
			assert_true(e < -6 || e >= 21);
		}
	}
	static const struct {
		double v;
		const char *text;
	} fixed[] = {
	        {0.0, "0"},
	        {-0.0, "-0"},
	        {5.0, "5"},
	        {-7.0, "-7"},
	        {0.1, "0.1"},
	        {1.5, "1.5"},
	        {1e300, "1e300"},
	        {123.456, "123.456"},
	        {9007199254740992.0, "9007199254740992"},
	        {5e-324, "4.94065645841247e-324"},
	        {0.30000000000000004, "0.30000000000000004"},
	        {0.001, "0.001"},
	        {1.5e-6, "0.0000015"},
	        {1.5e-7, "1.5e-7"},
	        {-2.5e20, "-250000000000000000000"},
	        {1e21, "1e21"},
	        {5.292320189750645e16, "52923201897506450"},
	        {-1.7976931348623157e308, "-1.7976931348623157e308"},
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		sonde_buf_reset(&out);
		sonde_json_writer_init(&w, &out, 0);
		sonde_json_f64(&w, fixed[i].v);
		assert_string_equal(out.data, fixed[i].text);
	}
	sonde_buf_release(&out);
}

/* ---- writer ---- */

static void test_writer_structure(void **state)
{
	(void)state;
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	for (int pretty = 0; pretty <= 2; pretty += 2) {
		sonde_buf_reset(&out);
		sonde_json_writer_init(&w, &out, pretty);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "a");
		sonde_json_arr_begin(&w);
		sonde_json_i64(&w, INT64_MIN);
		sonde_json_u64(&w, UINT64_MAX);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "b");
		sonde_json_null(&w);
		sonde_json_obj_end(&w);
		sonde_json_arr_begin(&w);
		sonde_json_arr_end(&w);
		sonde_json_obj_begin(&w);
		sonde_json_obj_end(&w);
		sonde_json_arr_end(&w);
		sonde_json_key_cstr(&w, "s");
		sonde_json_i64_str(&w, -5);
		sonde_json_key_cstr(&w, "u");
		sonde_json_u64_str(&w, 1544712660000000000ull);
		sonde_json_key_cstr(&w, "t");
		sonde_json_bool(&w, true);
		sonde_json_key_cstr(&w, "f");
		sonde_json_bool(&w, false);
		sonde_json_key_cstr(&w, "x");
		sonde_json_f64(&w, NAN);
		sonde_json_key_cstr(&w, "y");
		sonde_json_f64(&w, -INFINITY);
		sonde_json_key_cstr(&w, "r");
		sonde_json_raw(&w, "{\"pre\":1}", 9);
		sonde_json_obj_end(&w);
		const char *want =
		        pretty ? "{\n"
		                 "  \"a\": [\n"
		                 "    -9223372036854775808,\n"
		                 "    18446744073709551615,\n"
		                 "    {\n"
		                 "      \"b\": null\n"
		                 "    },\n"
		                 "    [],\n"
		                 "    {}\n"
		                 "  ],\n"
		                 "  \"s\": \"-5\",\n"
		                 "  \"u\": \"1544712660000000000\",\n"
		                 "  \"t\": true,\n"
		                 "  \"f\": false,\n"
		                 "  \"x\": \"NaN\",\n"
		                 "  \"y\": \"-Infinity\",\n"
		                 "  \"r\": {\"pre\":1}\n"
		                 "}"
		               : "{\"a\":[-9223372036854775808,18446744073709551615,{\"b\":null},[],{}],"
		                 "\"s\":\"-5\",\"u\":\"1544712660000000000\",\"t\":true,\"f\":false,"
		                 "\"x\":\"NaN\",\"y\":\"-Infinity\",\"r\":{\"pre\":1}}";
		assert_string_equal(out.data, want);
		assert_int_equal(w.depth, 0);
	}

	/* Top-level values one per line (JSON Lines). */
	sonde_buf_reset(&out);
	sonde_json_writer_init(&w, &out, 0);
	sonde_json_obj_begin(&w);
	sonde_json_obj_end(&w);
	sonde_json_i64(&w, 1);
	sonde_json_str(&w, "x", 1);
	assert_string_equal(out.data, "{}\n1\n\"x\"");
	sonde_buf_release(&out);
}

/* The escaping json.h promises, one byte at a time: the reference for the fast path. */
static void ref_escape(sonde_buf *b, const unsigned char *s, size_t n)
{
	sonde_buf_putc(b, '"');
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c >= 0x80) {
			size_t k = sonde__utf8_len(s + i, s + n);
			if (k) {
				sonde_buf_append(b, s + i, k);
				i += k;
			} else {
				sonde_buf_puts(b, "\xEF\xBF\xBD");
				i++;
			}
			continue;
		}
		switch (c) {
		case '"': sonde_buf_puts(b, "\\\""); break;
		case '\\': sonde_buf_puts(b, "\\\\"); break;
		case '\n': sonde_buf_puts(b, "\\n"); break;
		case '\r': sonde_buf_puts(b, "\\r"); break;
		case '\t': sonde_buf_puts(b, "\\t"); break;
		case '\b': sonde_buf_puts(b, "\\b"); break;
		case '\f': sonde_buf_puts(b, "\\f"); break;
		default:
			if (c < 0x20)
				sonde_buf_printf(b, "\\u%04x", c);
			else
				sonde_buf_putc(b, (char)c);
		}
		i++;
	}
	sonde_buf_putc(b, '"');
}

static void test_writer_strings(void **state)
{
	(void)state;
	sonde_buf out = SONDE_BUF_INIT, ref = SONDE_BUF_INIT;
	sonde_json_writer w;

	sonde_json_writer_init(&w, &out, 0);
	const char s1[] = "q\"b\\s/\n\r\t\b\f\x01\x1f\x7f \xC3\xA9 \xFF \xC0\x80 "
	                  "\xED\xA0\x80 \xF0\x9F\x98\x80 \xE2\x82";
	sonde_json_str(&w, s1, sizeof(s1) - 1);
	assert_string_equal(out.data, "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f \xC3\xA9 \xEF\xBF\xBD "
	                              "\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
	                              "\xF0\x9F\x98\x80 "
	                              "\xEF\xBF\xBD\xEF\xBF\xBD\"");

	/* Every control character. */
	char ctl[32];
	for (int i = 0; i < 32; i++)
		ctl[i] = (char)i;
	sonde_buf_reset(&out);
	sonde_json_writer_init(&w, &out, 0);
	sonde_json_str(&w, ctl, 32);
	sonde_buf_reset(&ref);
	ref_escape(&ref, (const unsigned char *)ctl, 32);
	assert_string_equal(out.data, ref.data);

	/* Random strings of all lengths, including ones longer than a chunk, with bytes
	 * biased toward the interesting ones. Output must match the reference and read back
	 * to the input whenever the input was valid UTF-8. */
	static const unsigned char pick[] = {'a',  'b',  ' ',  '"',  '\\', '\n', 0,    0x1f, 0x7f, 0xC3, 0xA9,
	                                     0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xFF, 0xED, 0xA0};
	unsigned char *s = malloc(20000);
	assert_non_null(s);
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = iter < 2000 ? (size_t)(iter % 70) : (size_t)(rng() % 20000);
		bool mostly_ascii = rng() & 1;
		for (size_t i = 0; i < n; i++) {
			uint64_t x = rng();
			s[i] = mostly_ascii && (x & 15) ? (unsigned char)('a' + x % 26)
			                                : pick[(x >> 8) % sizeof(pick)];
		}
		sonde_buf_reset(&out);
		sonde_json_writer_init(&w, &out, 0);
		sonde_json_str(&w, (const char *)s, n);
		sonde_buf_reset(&ref);
		ref_escape(&ref, s, n);
		assert_false(out.oom);
		if (out.len != ref.len || memcmp(out.data, ref.data, ref.len))
			fail_msg("writer escaping differs from reference at length %zu", n);
		sonde_json_reader r;
		sonde_json_reader_init(&r, out.data, out.len);
		assert_int_equal(sonde_json_next(&r), SONDE_JSON_STRING);
		assert_int_equal(sonde_json_next(&r), SONDE_JSON_EOF);
		bool valid = true;
		for (size_t i = 0; i < n && valid;) {
			if (s[i] < 0x80) {
				i++;
				continue;
			}
			size_t k = sonde__utf8_len(s + i, s + n);
			valid = k != 0;
			i += k;
		}
		if (valid)
			assert_true(r.str_len == n && !memcmp(r.str, s, n));
		sonde_json_reader_release(&r);
	}
	free(s);
	sonde_buf_release(&out);
	sonde_buf_release(&ref);
}

static void test_roundtrip_doc(void **state)
{
	(void)state;
	const char *doc = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
	                  "\"value\":{\"stringValue\":\"my.service\"}}]},\"scopeSpans\":[{\"scope\":{"
	                  "\"name\":\"lib\\u00e9\",\"version\":\"1.0.0\"},\"spans\":[{\"traceId\":"
	                  "\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"EEE19B7EC3C1B174\","
	                  "\"name\":\"I'm a server span\\n\",\"startTimeUnixNano\":\"1544712660000000000\","
	                  "\"kind\":2,\"weight\":-1.5e-7,\"ok\":true,\"no\":false,\"nil\":null,"
	                  "\"events\":[],\"links\":{}}]}]}]}";
	check_roundtrip(doc, strlen(doc), "otlp");
	/* Writer output is identical to compact input that needs no re-escaping. */
	tokvec a = {0};
	const char *compact = "{\"a\":[1,{\"b\":\"c\"},[],{}],\"d\":null}";
	assert_int_equal(collect(compact, strlen(compact), &a, NULL), 0);
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &out, 0);
	emit(&w, &a);
	assert_string_equal(out.data, compact);
	sonde_buf_release(&out);
	tokvec_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_jsontestsuite),    cmocka_unit_test(test_tokens),
	        cmocka_unit_test(test_strings),          cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_convenience),      cmocka_unit_test(test_integers),
	        cmocka_unit_test(test_parse_double),     cmocka_unit_test(test_double_roundtrip),
	        cmocka_unit_test(test_writer_structure), cmocka_unit_test(test_writer_strings),
	        cmocka_unit_test(test_roundtrip_doc),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed == 0 && corpus_missing) {
		fprintf(stderr, "json_test: SONDE_DATA/jsontestsuite not found; corpus not run\n");
		return 77;
	}
	return failed;
}
