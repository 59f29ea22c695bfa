/*
 * cmd_diff.c - `sonde diff`: compare two profiles. Prints the functions whose self share
 * changed most (a table, or JSON), and with -o writes a differential flame graph: the
 * AFTER profile's shape, red where a frame's share grew, blue where it shrank.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flame_svg.h"
#include "json.h"
#include "profile_diff.h"
#include "profile_formats.h"
#include "sonde/status.h"

const char sonde_diff_usage[] =
        "usage: sonde diff [options] BEFORE AFTER\n"
        "\n"
        "Compares two profiles (folded stacks, perf script text or pprof, each detected from its\n"
        "content) and prints the functions whose self share (samples where the function itself\n"
        "was running) changed most, with their total share (samples with the function anywhere\n"
        "on the stack). Shares are of each profile's own total, so profiles of different\n"
        "lengths compare. With -o, also writes a differential flame graph: AFTER's shape, red\n"
        "where a frame's share grew, blue where it shrank.\n"
        "\n"
        "options:\n"
        "  -o, --output OUT      write the differential flame graph (SVG) to OUT\n"
        "  --json                print the table as JSON\n"
        "  --top N               rows to print (default 20; 0 for all)\n"
        "  --type NAME           the sample type to compare (default: the first of AFTER)\n"
        "  --fail-above POINTS   exit 1 when a function's self share grew by more than POINTS\n"
        "                        percentage points (for CI)\n"
        "  --title TEXT          the graph's title\n"
        "  --inverted            icicle graph\n"
        "  --threads             as for sonde flame\n"
        "\n"
        "examples:\n"
        "  sonde diff before.folded after.folded\n"
        "  sonde diff -o diff.svg v1.pb.gz v2.pb.gz\n"
        "  sonde diff --json --top 0 base.folded change.folded | jq '.functions[0]'\n"
        "  sonde diff --fail-above 5 baseline.folded candidate.folded\n";

static void print_table(const sonde_profile_diff *d, size_t top, const char *before, const char *after)
{
	int64_t tb, ta;
	sonde_profile_diff_totals(d, &tb, &ta);
	printf("before: %s (%lld samples)\nafter:  %s (%lld samples)\n\n", before, (long long)tb, after,
	       (long long)ta);
	printf("%8s %8s %8s   %8s %8s   %s\n", "SELF", "SELF", "CHANGE", "TOTAL", "TOTAL", "FUNCTION");
	printf("%8s %8s %8s   %8s %8s\n", "before", "after", "pp", "before", "after");
	size_t n = sonde_profile_diff_count(d);
	for (size_t i = 0; i < n && (top == 0 || i < top); i++) {
		const sonde_profile_delta *r = sonde_profile_diff_row(d, i);
		printf("%7.2f%% %7.2f%% %+8.2f   %7.2f%% %7.2f%%   %s\n", 100 * r->before_self,
		       100 * r->after_self, 100 * (r->after_self - r->before_self), 100 * r->before_total,
		       100 * r->after_total, r->function);
	}
}

static void print_json(const sonde_profile_diff *d, size_t top, const char *before, const char *after)
{
	int64_t tb, ta;
	sonde_profile_diff_totals(d, &tb, &ta);
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &out, 2);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "before");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "input");
	sonde_json_str(&w, before, strlen(before));
	sonde_json_key_cstr(&w, "total");
	sonde_json_i64(&w, tb);
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "after");
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "input");
	sonde_json_str(&w, after, strlen(after));
	sonde_json_key_cstr(&w, "total");
	sonde_json_i64(&w, ta);
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "functions");
	sonde_json_arr_begin(&w);
	size_t n = sonde_profile_diff_count(d);
	for (size_t i = 0; i < n && (top == 0 || i < top); i++) {
		const sonde_profile_delta *r = sonde_profile_diff_row(d, i);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "function");
		sonde_json_str(&w, r->function, strlen(r->function));
		sonde_json_key_cstr(&w, "before_self");
		sonde_json_f64(&w, r->before_self);
		sonde_json_key_cstr(&w, "after_self");
		sonde_json_f64(&w, r->after_self);
		sonde_json_key_cstr(&w, "self_change_pp");
		sonde_json_f64(&w, 100 * (r->after_self - r->before_self));
		sonde_json_key_cstr(&w, "before_total");
		sonde_json_f64(&w, r->before_total);
		sonde_json_key_cstr(&w, "after_total");
		sonde_json_f64(&w, r->after_total);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	if (!out.oom)
		printf("%s\n", out.data);
	sonde_buf_release(&out);
}

int sonde_cmd_diff(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_TOP, OPT_TYPE, OPT_FAIL, OPT_TITLE, OPT_INVERTED, OPT_THREADS };
	static const struct option longopts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"top", required_argument, NULL, OPT_TOP},
	        {"type", required_argument, NULL, OPT_TYPE},
	        {"fail-above", required_argument, NULL, OPT_FAIL},
	        {"title", required_argument, NULL, OPT_TITLE},
	        {"inverted", no_argument, NULL, OPT_INVERTED},
	        {"threads", no_argument, NULL, OPT_THREADS},
	        {NULL, 0, NULL, 0},
	};
	const char *out_path = NULL, *type_name = NULL;
	bool json = false;
	long top = 20;
	double fail_above = -1;
	sonde_flame_opts fo = {0};
	sonde_profile_read_opts ro = {0};
	char *end;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out_path = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_TOP:
			errno = 0;
			top = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || top < 0) {
				sonde_cli_error("diff", "--top takes a number of rows (0 for all), not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_TYPE: type_name = optarg; break;
		case OPT_FAIL:
			errno = 0;
			fail_above = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(fail_above >= 0 && fail_above <= 100)) {
				sonde_cli_error(
				        "diff",
				        "--fail-above takes percentage points from 0 to 100, not '%s'",
				        optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_TITLE: fo.title = optarg; break;
		case OPT_INVERTED: fo.inverted = true; break;
		case OPT_THREADS: ro.threads = true; break;
		default:
			sonde_cli_error("diff", "unknown option '%s'; sonde diff --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		sonde_cli_error("diff", "expected two inputs, BEFORE and AFTER (got %d)", argc - optind);
		return SONDE_EXIT_USAGE;
	}
	const char *bpath = argv[optind], *apath = argv[optind + 1];
	if (strcmp(bpath, "-") == 0 && strcmp(apath, "-") == 0) {
		sonde_cli_error("diff", "BEFORE and AFTER cannot both be standard input");
		return SONDE_EXIT_USAGE;
	}
	sonde_stacktab *before = sonde_stacktab_new(), *after = sonde_stacktab_new();
	sonde_profile_diff *d = NULL;
	sonde_buf svg = SONDE_BUF_INIT;
	int rc = SONDE_EXIT_USAGE;
	if (!before || !after)
		goto out;
	rc = sonde_cli_read_profile("diff", bpath, 0, &ro, before);
	if (rc == SONDE_EXIT_OK)
		rc = sonde_cli_read_profile("diff", apath, 0, &ro, after);
	size_t ta = 0, tb = 0;
	if (rc == SONDE_EXIT_OK)
		rc = sonde_cli_profile_type("diff", after, type_name, &ta);
	if (rc == SONDE_EXIT_OK && sonde_stacktab_types_count(after)) {
		const char *name = sonde_stacktab_type(after, ta)->name;
		rc = sonde_cli_profile_type("diff", before, name, &tb);
	}
	if (rc != SONDE_EXIT_OK)
		goto out;
	rc = SONDE_EXIT_USAGE;
	int drc = sonde_profile_diff_new(before, tb, after, ta, &d);
	if (drc < 0) {
		sonde_cli_error("diff", "comparing: %s", sonde_strerror(drc));
		goto out;
	}
	if (out_path) {
		fo.type = ta;
		drc = sonde_flame_diff_svg(before, after, &fo, &svg);
		if (drc < 0) {
			sonde_cli_error("diff", "writing the flame graph: %s", sonde_strerror(drc));
			goto out;
		}
		if (sonde_cli_write_output("diff", out_path, &svg, false) != SONDE_EXIT_OK)
			goto out;
	}
	if (json)
		print_json(d, (size_t)top, bpath, apath);
	else
		print_table(d, (size_t)top, bpath, apath);
	rc = SONDE_EXIT_OK;
	if (fail_above >= 0) {
		for (size_t i = 0; i < sonde_profile_diff_count(d); i++) {
			const sonde_profile_delta *r = sonde_profile_diff_row(d, i);
			if (100 * (r->after_self - r->before_self) > fail_above) {
				fprintf(stderr,
				        "sonde diff: %s: self share grew by %.2f percentage points (limit "
				        "%.2f)\n",
				        r->function, 100 * (r->after_self - r->before_self), fail_above);
				rc = SONDE_EXIT_FINDING;
			}
		}
	}
out:
	sonde_buf_release(&svg);
	sonde_profile_diff_free(d);
	sonde_stacktab_free(before);
	sonde_stacktab_free(after);
	return rc;
}
