/*
 * fuzz_json.c - libFuzzer target for the JSON reader and writer.
 *
 * Tokenizes the input; if it is valid JSON, re-emits it with the writer token by token
 * (compact or pretty) and checks the text reads back as the same token sequence. Also
 * checks that skip()+finish() agree with the tokenizer, and that every number literal's
 * double survives sonde_json_f64 bit for bit. Any disagreement aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ftok {
	sonde_json_tok tok;
	size_t off, len; /* text in the side buffer */
} ftok;

typedef struct ftoks {
	ftok *v;
	size_t n, cap;
	sonde_buf text;
} ftoks;

static void ftoks_free(ftoks *t)
{
	free(t->v);
	sonde_buf_release(&t->text);
	memset(t, 0, sizeof(*t));
}

/* Returns 0 when doc is valid JSON, with its tokens in t. */
static int tokenize(const char *doc, size_t len, ftoks *t)
{
	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, len);
	int rc = 0;
	for (;;) {
		sonde_json_tok k = sonde_json_next(&r);
		if (k == SONDE_JSON_ERROR) {
			if (r.err_offset > len || !r.err_msg[0])
				abort();
			rc = -1;
			break;
		}
		if (k == SONDE_JSON_EOF)
			break;
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 64;
			t->v = realloc(t->v, t->cap * sizeof(*t->v));
			if (!t->v)
				abort();
		}
		ftok *x = &t->v[t->n++];
		x->tok = k;
		x->off = t->text.len;
		x->len = 0;
		if (k == SONDE_JSON_KEY || k == SONDE_JSON_STRING) {
			sonde_buf_append(&t->text, r.str, r.str_len);
			x->len = r.str_len;
		} else if (k == SONDE_JSON_NUMBER) {
			sonde_buf_append(&t->text, r.num, r.num_len);
			x->len = r.num_len;
		}
		if (t->text.oom)
			abort();
	}
	sonde_json_reader_release(&r);
	return rc;
}

static const char *text_of(const ftoks *t, const ftok *x)
{
	return t->text.data ? t->text.data + x->off : "";
}

static void check_number(const char *lit, size_t n)
{
	double d, back;
	if (sonde_json_parse_double(lit, n, &d) != 0)
		abort();
	if (!isfinite(d))
		return;
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &out, 0);
	sonde_json_f64(&w, d);
	if (out.oom || sonde_json_parse_double(out.data, out.len, &back) != 0 || memcmp(&d, &back, sizeof(d)))
		abort();
	sonde_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data;
	ftoks a = {0};
	int rc = tokenize(doc, size, &a);

	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, size);
	int rc2 = sonde_json_skip(&r);
	if (rc2 == 0)
		rc2 = sonde_json_finish(&r);
	sonde_json_reader_release(&r);
	if ((rc == 0) != (rc2 == 0))
		abort();

	if (rc == 0) {
		sonde_buf out = SONDE_BUF_INIT;
		sonde_json_writer w;
		sonde_json_writer_init(&w, &out, size & 1 ? 2 : 0);
		for (size_t i = 0; i < a.n; i++) {
			const ftok *x = &a.v[i];
			const char *s = text_of(&a, x);
			switch (x->tok) {
			case SONDE_JSON_OBJ_BEGIN: sonde_json_obj_begin(&w); break;
			case SONDE_JSON_OBJ_END: sonde_json_obj_end(&w); break;
			case SONDE_JSON_ARR_BEGIN: sonde_json_arr_begin(&w); break;
			case SONDE_JSON_ARR_END: sonde_json_arr_end(&w); break;
			case SONDE_JSON_KEY: sonde_json_key(&w, s, x->len); break;
			case SONDE_JSON_STRING: sonde_json_str(&w, s, x->len); break;
			case SONDE_JSON_NUMBER:
				sonde_json_raw(&w, s, x->len);
				check_number(s, x->len);
				break;
			case SONDE_JSON_TRUE: sonde_json_bool(&w, true); break;
			case SONDE_JSON_FALSE: sonde_json_bool(&w, false); break;
			case SONDE_JSON_NULL: sonde_json_null(&w); break;
			default: abort();
			}
		}
		if (out.oom)
			abort();
		ftoks b = {0};
		if (tokenize(out.data, out.len, &b) != 0 || a.n != b.n)
			abort();
		for (size_t i = 0; i < a.n; i++) {
			const ftok *x = &a.v[i], *y = &b.v[i];
			if (x->tok != y->tok || x->len != y->len ||
			    (x->len && memcmp(text_of(&a, x), text_of(&b, y), x->len)))
				abort();
		}
		ftoks_free(&b);
		sonde_buf_release(&out);
	}
	ftoks_free(&a);
	return 0;
}
