/*
 * json_bench.c - throughput of the JSON reader and writer on a large OTLP-like document,
 * with jansson's json_loadb as a yardstick when it is available.
 *
 * The document repeats the resourceSpans entry of $SONDE_DATA/otlp-examples/trace.json
 * (or a built-in equivalent) with fresh ids, times and names until it reaches the target
 * size. Usage: json_bench [megabytes]   (default 64). Prints "name: value unit" lines;
 * each figure is the median of 5 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "json.h"

#ifdef SONDE_HAVE_JANSSON
#include <jansson.h>
#endif

enum { RUNS = 5 };

typedef struct tok {
	const char *p; /* KEY, STRING: unescaped text; NUMBER: the literal */
	uint32_t len;
	uint8_t type; /* sonde_json_tok */
} tok;

typedef struct tokens {
	tok *v;
	size_t n, cap;
	sonde_arena strings; /* copies of strings that had escapes */
} tokens;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void die(const char *what)
{
	fprintf(stderr, "json_bench: %s\n", what);
	exit(1);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	sonde_buf b = SONDE_BUF_INIT;
	char chunk[65536];
	size_t k;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sonde_buf_append(&b, chunk, k);
	fclose(f);
	if (b.oom)
		die("out of memory");
	return sonde_buf_detach(&b, len);
}

/* Reads every token of doc into t (strings copied when the reader decoded escapes). */
static void tokenize(const char *doc, size_t len, tokens *t)
{
	sonde_json_reader r;
	sonde_json_reader_init(&r, doc, len);
	for (;;) {
		sonde_json_tok k = sonde_json_next(&r);
		if (k == SONDE_JSON_ERROR) {
			fprintf(stderr, "json_bench: parse error at %zu: %s\n", r.err_offset, r.err_msg);
			exit(1);
		}
		if (k == SONDE_JSON_EOF)
			break;
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 1024;
			t->v = realloc(t->v, t->cap * sizeof(*t->v));
			if (!t->v)
				die("out of memory");
		}
		tok *x = &t->v[t->n++];
		x->type = (uint8_t)k;
		x->p = NULL;
		x->len = 0;
		if (k == SONDE_JSON_KEY || k == SONDE_JSON_STRING) {
			x->p = r.str;
			x->len = (uint32_t)r.str_len;
			if (r.str < doc || r.str >= doc + len) {
				x->p = sonde_arena_strndup(&t->strings, r.str, r.str_len);
				if (!x->p)
					die("out of memory");
			}
		} else if (k == SONDE_JSON_NUMBER) {
			x->p = r.num;
			x->len = (uint32_t)r.num_len;
		}
	}
	sonde_json_reader_release(&r);
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++)
		out[i] = hex[rng() & 15];
}

static bool key_is(const tok *k, const char *s)
{
	return k && k->len == strlen(s) && !memcmp(k->p, s, k->len);
}

/* A string value of copy number `copy`: fresh ids and times, numbered names (every 16th
 * with characters that need escaping), other strings as they were. */
static void emit_string(sonde_json_writer *w, const tok *key, const tok *t, uint64_t copy)
{
	char s[128];
	if (key_is(key, "traceId") || key_is(key, "spanId") || key_is(key, "parentSpanId")) {
		size_t len = t->len < sizeof(s) ? t->len : sizeof(s);
		random_hex(s, len);
		sonde_json_str(w, s, len);
	} else if (key_is(key, "startTimeUnixNano")) {
		sonde_json_u64_str(w, 1544712660000000000ull + copy * 1000003);
	} else if (key_is(key, "endTimeUnixNano")) {
		sonde_json_u64_str(w, 1544712660000000000ull + copy * 1000003 + rng() % 1000000000);
	} else if (key_is(key, "name") || key_is(key, "stringValue")) {
		const char *fmt = copy % 16 ? "%.*s %llu" : "%.*s \"%llu\"\n";
		int len = snprintf(s, sizeof(s), fmt, (int)(t->len < 100 ? t->len : 100), t->p,
		                   (unsigned long long)copy);
		sonde_json_str(w, s, (size_t)len);
	} else {
		sonde_json_str(w, t->p, t->len);
	}
}

/* Writes one copy of the element tokens el[0..n), varying ids, times, names, kinds. */
static void emit_varied(sonde_json_writer *w, const tok *el, size_t n, uint64_t copy)
{
	const tok *key = NULL;
	for (size_t i = 0; i < n; i++) {
		const tok *t = &el[i];
		switch (t->type) {
		case SONDE_JSON_OBJ_BEGIN: sonde_json_obj_begin(w); break;
		case SONDE_JSON_OBJ_END: sonde_json_obj_end(w); break;
		case SONDE_JSON_ARR_BEGIN: sonde_json_arr_begin(w); break;
		case SONDE_JSON_ARR_END: sonde_json_arr_end(w); break;
		case SONDE_JSON_KEY:
			sonde_json_key(w, t->p, t->len);
			key = t;
			continue;
		case SONDE_JSON_STRING: emit_string(w, key, t, copy); break;
		case SONDE_JSON_NUMBER:
			if (key_is(key, "kind"))
				sonde_json_i64(w, (int64_t)(copy % 5) + 1);
			else
				sonde_json_raw(w, t->p, t->len);
			break;
		case SONDE_JSON_TRUE: sonde_json_bool(w, true); break;
		case SONDE_JSON_FALSE: sonde_json_bool(w, false); break;
		case SONDE_JSON_NULL: sonde_json_null(w); break;
		}
		key = NULL;
	}
}

/* The trace example's content, for when the shared data is not there. */
static char *builtin_example(size_t *len)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &b, 2);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "resourceSpans");
	sonde_json_arr_begin(&w);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "resource");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "attributes");
	sonde_json_arr_begin(&w);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "key");
	sonde_json_str(&w, "service.name", 12);
	sonde_json_key_cstr(&w, "value");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "stringValue");
	sonde_json_str(&w, "checkout", 8);
	sonde_json_obj_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "scopeSpans");
	sonde_json_arr_begin(&w);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "scope");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "name");
	sonde_json_str(&w, "http.client", 11);
	sonde_json_key_cstr(&w, "version");
	sonde_json_str(&w, "2.3.1", 5);
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "spans");
	sonde_json_arr_begin(&w);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "traceId");
	sonde_json_str(&w, "0123456789abcdef0123456789abcdef", 32);
	sonde_json_key_cstr(&w, "spanId");
	sonde_json_str(&w, "0123456789abcdef", 16);
	sonde_json_key_cstr(&w, "parentSpanId");
	sonde_json_str(&w, "fedcba9876543210", 16);
	sonde_json_key_cstr(&w, "name");
	sonde_json_str(&w, "GET /cart", 9);
	sonde_json_key_cstr(&w, "startTimeUnixNano");
	sonde_json_u64_str(&w, 1700000000000000000ull);
	sonde_json_key_cstr(&w, "endTimeUnixNano");
	sonde_json_u64_str(&w, 1700000000250000000ull);
	sonde_json_key_cstr(&w, "kind");
	sonde_json_i64(&w, 3);
	sonde_json_key_cstr(&w, "attributes");
	sonde_json_arr_begin(&w);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "key");
	sonde_json_str(&w, "http.status_code", 16);
	sonde_json_key_cstr(&w, "value");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "intValue");
	sonde_json_str(&w, "200", 3);
	sonde_json_obj_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	if (b.oom)
		die("out of memory");
	return sonde_buf_detach(&b, len);
}

/* Builds a document of about target bytes from the example's resourceSpans entries. */
static char *build_doc(const char *example, size_t example_len, size_t target, int pretty, size_t *len)
{
	tokens t = {0};
	sonde_arena_init(&t.strings);
	tokenize(example, example_len, &t);
	/* The elements of the array under the top-level "resourceSpans" key. */
	size_t from = 0, to = 0;
	for (size_t i = 0; i + 1 < t.n; i++) {
		if (t.v[i].type == SONDE_JSON_KEY && key_is(&t.v[i], "resourceSpans") &&
		    t.v[i + 1].type == SONDE_JSON_ARR_BEGIN) {
			from = i + 2;
			int depth = 1;
			for (to = from; to < t.n && depth; to++) {
				uint8_t ty = t.v[to].type;
				if (ty == SONDE_JSON_OBJ_BEGIN || ty == SONDE_JSON_ARR_BEGIN)
					depth++;
				else if (ty == SONDE_JSON_OBJ_END || ty == SONDE_JSON_ARR_END)
					depth--;
			}
			to--; /* the closing ']' */
			break;
		}
	}
	if (to <= from)
		die("example has no resourceSpans entries");
	sonde_buf b = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &b, pretty);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "resourceSpans");
	sonde_json_arr_begin(&w);
	for (uint64_t copy = 0; b.len < target; copy++)
		emit_varied(&w, t.v + from, to - from, copy);
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	if (b.oom)
		die("out of memory");
	free(t.v);
	sonde_arena_release(&t.strings);
	return sonde_buf_detach(&b, len);
}

static volatile uint64_t sink;

static double bench_read(const char *doc, size_t len)
{
	double mbs[RUNS];
	for (int run = 0; run < RUNS; run++) {
		sonde_json_reader r;
		uint64_t acc = 0;
		double t0 = now();
		sonde_json_reader_init(&r, doc, len);
		sonde_json_tok k;
		while ((k = sonde_json_next(&r)) > SONDE_JSON_EOF)
			acc += (uint64_t)k + r.str_len;
		double dt = now() - t0;
		if (k == SONDE_JSON_ERROR)
			die("read failed");
		sonde_json_reader_release(&r);
		sink += acc;
		mbs[run] = (double)len / 1e6 / dt;
	}
	return median(mbs, RUNS);
}

static double bench_write(const tokens *t, int pretty, size_t *out_len)
{
	double mbs[RUNS];
	sonde_buf out = SONDE_BUF_INIT;
	for (int run = 0; run < RUNS; run++) {
		sonde_buf_reset(&out);
		sonde_json_writer w;
		double t0 = now();
		sonde_json_writer_init(&w, &out, pretty);
		for (size_t i = 0; i < t->n; i++) {
			const tok *x = &t->v[i];
			switch (x->type) {
			case SONDE_JSON_OBJ_BEGIN: sonde_json_obj_begin(&w); break;
			case SONDE_JSON_OBJ_END: sonde_json_obj_end(&w); break;
			case SONDE_JSON_ARR_BEGIN: sonde_json_arr_begin(&w); break;
			case SONDE_JSON_ARR_END: sonde_json_arr_end(&w); break;
			case SONDE_JSON_KEY: sonde_json_key(&w, x->p, x->len); break;
			case SONDE_JSON_STRING: sonde_json_str(&w, x->p, x->len); break;
			case SONDE_JSON_NUMBER: sonde_json_raw(&w, x->p, x->len); break;
			case SONDE_JSON_TRUE: sonde_json_bool(&w, true); break;
			case SONDE_JSON_FALSE: sonde_json_bool(&w, false); break;
			case SONDE_JSON_NULL: sonde_json_null(&w); break;
			}
		}
		double dt = now() - t0;
		if (out.oom)
			die("out of memory");
		mbs[run] = (double)out.len / 1e6 / dt;
	}
	*out_len = out.len;
	sonde_buf_release(&out);
	return median(mbs, RUNS);
}

#ifdef SONDE_HAVE_JANSSON
static double bench_jansson(const char *doc, size_t len)
{
	double mbs[RUNS];
	for (int run = 0; run < RUNS; run++) {
		json_error_t err;
		double t0 = now();
		json_t *root = json_loadb(doc, len, 0, &err);
		if (!root) {
			fprintf(stderr, "json_bench: jansson: %s\n", err.text);
			exit(1);
		}
		json_decref(root);
		mbs[run] = (double)len / 1e6 / (now() - t0);
	}
	return median(mbs, RUNS);
}
#endif

int main(int argc, char **argv)
{
	size_t target = (size_t)(argc > 1 ? atof(argv[1]) : 64) * 1000000;
	const char *data = getenv("SONDE_DATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/otlp-examples/trace.json", data ? data : "../shared/data");
	size_t elen;
	char *example = slurp(path, &elen);
	const char *source = path;
	if (!example) {
		example = builtin_example(&elen);
		source = "built-in example";
	}

	size_t len;
	char *doc = build_doc(example, elen, target, 2, &len);
	printf("json_doc: %.1f MB (%s, pretty, replicated)\n", (double)len / 1e6, source);
	printf("json_read_tokens: %.0f MB/s\n", bench_read(doc, len));
#ifdef SONDE_HAVE_JANSSON
	printf("jansson_loadb: %.0f MB/s\n", bench_jansson(doc, len));
#else
	printf("jansson_loadb: n/a (built without jansson)\n");
#endif
	tokens t = {0};
	sonde_arena_init(&t.strings);
	tokenize(doc, len, &t);
	size_t out_len;
	double wmbs = bench_write(&t, 2, &out_len);
	if (out_len != len)
		fprintf(stderr, "json_bench: note: re-emitted %zu bytes from %zu\n", out_len, len);
	printf("json_write: %.0f MB/s\n", wmbs);
	free(t.v);
	sonde_arena_release(&t.strings);
	free(doc);

	/* The same content without indentation, as exporters usually send it. */
	doc = build_doc(example, elen, target, 0, &len);
	printf("json_read_tokens_compact: %.0f MB/s (%.1f MB)\n", bench_read(doc, len), (double)len / 1e6);
	memset(&t, 0, sizeof(t));
	sonde_arena_init(&t.strings);
	tokenize(doc, len, &t);
	printf("json_write_compact: %.0f MB/s\n", bench_write(&t, 0, &out_len));
	free(t.v);
	sonde_arena_release(&t.strings);
	free(doc);
	free(example);
	return 0;
}
