/* flame_test.c - golden-file tests of the flame graph SVG (plain, icicle with module
 * colours, differential) and of the profile writers fed by the readers (perf script ->
 * folded, folded -> speedscope), plus invariants of the SVG's geometry.
 *
 * Inputs and expected outputs live in tests/golden/. After an intended change of output,
 * regenerate them with scripts/regen-golden.sh (which runs this test with
 * SONDE_REGEN_GOLDEN=1) and review the diff. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flame_svg.h"
#include "profile_formats.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		fail_msg("%s: short read", path);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static sonde_stacktab *load(const char *path, bool threads)
{
	size_t len;
	char *in = slurp(path, &len);
	if (!in)
		fail_msg("%s: cannot open (tests run from the repository root)", path);
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_profile_read_opts ro = {.threads = threads};
	sonde_wire_error err = {0};
	sonde_profile_format f = sonde_profile_format_detect(in, len);
	int rc = sonde_profile_read(t, f, in, len, &ro, &err);
	if (rc != 0)
		fail_msg("%s: %d at line %zu offset %zu %s: %s", path, rc, err.line, err.offset, err.field,
		         err.msg);
	free(in);
	return t;
}

/* Compares out with the golden file, or rewrites it when SONDE_REGEN_GOLDEN=1. */
static void golden(const char *path, const sonde_buf *out)
{
	const char *regen = getenv("SONDE_REGEN_GOLDEN");
	if (regen && strcmp(regen, "1") == 0) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(out->data, 1, out->len, f), out->len);
		fclose(f);
		print_message("regenerated %s\n", path);
		return;
	}
	size_t len;
	char *want = slurp(path, &len);
	if (!want)
		fail_msg("%s: missing; run scripts/regen-golden.sh", path);
	if (len != out->len || memcmp(want, out->data, len) != 0) {
		size_t line = 1, i = 0;
		while (i < len && i < out->len && want[i] == out->data[i])
			line += want[i++] == '\n';
		size_t a = i, b = i;
		while (a < len && want[a] != '\n')
			a++;
		while (b < out->len && out->data[b] != '\n')
			b++;
		size_t sa = i, sb = i;
		while (sa > 0 && want[sa - 1] != '\n')
			sa--;
		sb = sa;
		fail_msg("%s differs at line %zu (scripts/regen-golden.sh updates it):\n want: %.*s\n  got: "
		         "%.*s",
		         path, line, (int)(a - sa), want + sa, (int)(b - sb), out->data + sb);
	}
	free(want);
}

typedef struct rect {
	double x, w;
	int y;
	char title[160];
} rect;

/* The frames of an SVG: each <g><title>T</title><rect x= y= width= ...>. */
static rect *parse_frames(const char *svg, size_t *n)
{
	size_t cap = 64;
	rect *r = malloc(cap * sizeof(*r));
	*n = 0;
	for (const char *p = strstr(svg, "<g><title>"); p; p = strstr(p + 1, "<g><title>")) {
		if (*n == cap)
			r = realloc(r, (cap *= 2) * sizeof(*r));
		rect *k = &r[(*n)++];
		const char *t = p + 10, *te = strstr(t, "</title>");
		size_t tl = (size_t)(te - t) < sizeof(k->title) - 1 ? (size_t)(te - t) : sizeof(k->title) - 1;
		memcpy(k->title, t, tl);
		k->title[tl] = '\0';
		if (sscanf(te, "</title><rect x=\"%lf\" y=\"%d\" width=\"%lf\"", &k->x, &k->y, &k->w) != 3)
			fail_msg("cannot parse the frame at: %.80s", p);
	}
	return r;
}

/* Every frame but the root lies within a frame one level nearer the root; no two frames
 * of a level overlap; nothing is narrower than the merge threshold allows. */
static void check_geometry(const char *svg, bool inverted, double min_px)
{
	size_t n;
	rect *r = parse_frames(svg, &n);
	assert_true(n > 0);
	int root_y = r[0].y;
	assert_true(strncmp(r[0].title, "all (", 5) == 0);
	for (size_t i = 1; i < n; i++) {
		int parent_y = inverted ? r[i].y - 16 : r[i].y + 16;
		bool inside = false;
		for (size_t j = 0; j < n && !inside; j++)
			inside = r[j].y == parent_y && r[j].x <= r[i].x + 1e-9 &&
			         r[j].x + r[j].w >= r[i].x + r[i].w - 1e-9;
		if (!inside)
			fail_msg("frame '%s' at x=%.2f y=%d has no parent below it", r[i].title, r[i].x,
			         r[i].y);
		for (size_t j = 0; j < i; j++)
			if (r[j].y == r[i].y && r[j].x < r[i].x + r[i].w - 1e-9 &&
			    r[i].x < r[j].x + r[j].w - 1e-9)
				fail_msg("frames '%s' and '%s' overlap", r[i].title, r[j].title);
		if (r[i].w < min_px - 0.02)
			fail_msg("frame '%s' is %.2f px wide, under %.2f", r[i].title, r[i].w, min_px);
		if (inverted)
			assert_true(r[i].y > root_y);
		else
			assert_true(r[i].y < root_y);
	}
	free(r);
}

static void test_svg_basic(void **state)
{
	(void)state;
	sonde_stacktab *t = load("tests/golden/flame-basic.folded", false);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_flame_svg(t, NULL, &out), 0);
	golden("tests/golden/flame-basic.svg", &out);
	check_geometry(out.data, false, 0.001 * 1180);
	/* Names are escaped, narrow siblings merged, kinds named. */
	assert_non_null(strstr(out.data,
	                       "<title>operator&lt;&lt;(std::ostream&amp;, char const*) &quot;quoted&quot; "
	                       "&amp; more (180 samples, 1.79%)</title>"));
	assert_non_null(
	        strstr(out.data, "<title>(30 frames) (30 samples, 0.30%; each narrower than 0.1%)</title>"));
	assert_non_null(strstr(
	        out.data, "<title>ksys_write (700 samples, 6.98%; kernel; in [kernel.kallsyms])</title>"));
	assert_non_null(strstr(out.data, "<title>café_latté (95 samples, 0.95%)</title>"));
	assert_non_null(strstr(out.data, "<title>all (10,035 samples, 100.00%)</title>"));
	assert_non_null(strstr(out.data, "var INVERTED = false;"));
	/* The 30 helpers and the frames above nothing else are not drawn one by one. */
	assert_null(strstr(out.data, "helper_07"));
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

static void test_svg_icicle_module(void **state)
{
	(void)state;
	sonde_stacktab *t = load("tests/golden/perf-script-fp.txt", true);
	sonde_flame_opts o = {.title = "burn <threads>",
	                      .subtitle = "perf script, 2 threads",
	                      .inverted = true,
	                      .colors = SONDE_FLAME_COLOR_MODULE,
	                      .width_px = 800};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_flame_svg(t, &o, &out), 0);
	golden("tests/golden/flame-icicle-module.svg", &out);
	check_geometry(out.data, true, 0.001 * 780);
	assert_non_null(
	        strstr(out.data, "<text id=\"title\" x=\"400\" y=\"24\">burn &lt;threads&gt;</text>"));
	assert_non_null(strstr(out.data, "var INVERTED = true;"));
	assert_non_null(strstr(out.data, "<title>worker-"));
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

static void test_svg_diff(void **state)
{
	(void)state;
	sonde_stacktab *before = load("tests/golden/flame-basic.folded", false);
	sonde_stacktab *after = load("tests/golden/flame-after.folded", false);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_flame_diff_svg(before, after, NULL, &out), 0);
	golden("tests/golden/flame-diff.svg", &out);
	check_geometry(out.data, false, 0.001 * 1180);
	/* sqrt_loop: 3100/10035 = 30.89% before, 4500/11615 = 38.74% after: red. */
	const char *p = strstr(out.data, "<title>sqrt_loop (4,500 samples, 38.74%; before 30.89%, +7.85 pp)");
	assert_non_null(p);
	int r, g, b;
	assert_int_equal(sscanf(strstr(p, "fill=\"rgb("), "fill=\"rgb(%d,%d,%d)", &r, &g, &b), 3);
	assert_true(r == 255 && g < 255 && g == b);
	/* ksys_write shrank: blue. */
	p = strstr(out.data, "<title>ksys_write (200 samples, 1.72%; before 6.98%, -5.25 pp");
	assert_non_null(p);
	assert_int_equal(sscanf(strstr(p, "fill=\"rgb("), "fill=\"rgb(%d,%d,%d)", &r, &g, &b), 3);
	assert_true(b == 255 && r < 255 && r == g);
	/* parse_args is gone from after: not drawn (the shape is after's). */
	assert_null(strstr(out.data, "parse_args"));
	sonde_buf_release(&out);
	sonde_stacktab_free(before);
	sonde_stacktab_free(after);
}

static void test_svg_empty_and_errors(void **state)
{
	(void)state;
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_flame_svg(t, NULL, &out), 0);
	size_t n;
	rect *r = parse_frames(out.data, &n);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].title, "all (0 samples, 0.00%)");
	free(r);
	sonde_buf_reset(&out);
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	sonde_flame_opts o = {.type = 3};
	assert_int_equal(sonde_flame_svg(t, &o, &out), -EINVAL);
	sonde_stacktab *other = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(other, "cpu", "nanoseconds"), 0);
	assert_int_equal(sonde_flame_diff_svg(other, t, NULL, &out), -EINVAL);
	sonde_stacktab_free(other);
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

/* Bytes that are not valid UTF-8, control characters and XML's non-characters never reach
 * the SVG. */
static void test_svg_sanitises_names(void **state)
{
	(void)state;
	sonde_stacktab *t = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	sonde_frame f = {.function = "bad\x01\xff\xc3(\xef\xbf\xbe]]>end"};
	uint32_t id = (uint32_t)sonde_stacktab_intern_frame(t, &f);
	sonde_stacktab_add(t, (uint32_t)sonde_stacktab_intern_stack(t, &id, 1), 0, 5);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_flame_svg(t, NULL, &out), 0);
	assert_non_null(strstr(out.data, "<title>bad?"
	                                 "?"
	                                 "?(?"
	                                 "?"
	                                 "?]]&gt;end (5 samples, 100.00%)</title>"));
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

static void test_perf_script_golden(void **state)
{
	(void)state;
	sonde_stacktab *t = load("tests/golden/perf-script-fp.txt", false);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_folded_write(t, 0, &out), 0);
	golden("tests/golden/perf-script-fp.folded", &out);
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
	t = load("tests/golden/perf-script-inline.txt", true);
	assert_int_equal(sonde_folded_write(t, 0, &out), 0);
	golden("tests/golden/perf-script-inline-threads.folded", &out);
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

static void test_speedscope_golden(void **state)
{
	(void)state;
	sonde_stacktab *t = load("tests/golden/perf-script-inline.txt", true);
	sonde_buf out = SONDE_BUF_INIT;
	sonde_profile_write_opts wo = {.name = "perf-script-inline.txt"};
	assert_int_equal(sonde_speedscope_write(t, &wo, &out), 0);
	sonde_buf_putc(&out, '\n');
	golden("tests/golden/perf-script-inline.speedscope.json", &out);
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_svg_basic),
	        cmocka_unit_test(test_svg_icicle_module),
	        cmocka_unit_test(test_svg_diff),
	        cmocka_unit_test(test_svg_empty_and_errors),
	        cmocka_unit_test(test_svg_sanitises_names),
	        cmocka_unit_test(test_perf_script_golden),
	        cmocka_unit_test(test_speedscope_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
