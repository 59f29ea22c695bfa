/*
 * cmd_compare.c - `sonde compare`: did this release make things slower? Per service and
 * operation, a baseline selection against a current one (compare.h), with a verdict that
 * needs both a change of practical size and statistical significance. Exit 1 when any
 * operation regressed.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_query.h"
#include "cli_select.h"
#include "compare.h"
#include "json.h"
#include "sonde/status.h"

const char sonde_compare_usage[] =
        "usage: sonde compare --baseline SEL --current SEL [--db PATH] [--service NAME]\n"
        "                     [--min-change PCT] [--min-error-change PCT] [--alpha A]\n"
        "                     [--max-samples N] [--at-data] [--json]\n"
        "\n"
        "Compares the spans of two selections per service and operation: count, throughput,\n"
        "error rate, latency p50/p95/p99; a Mann-Whitney U test and a Hodges-Lehmann shift (with\n"
        "its confidence interval) on the durations; a two-proportion z-test on the errors.\n"
        "An operation regressed when its p95 rose by at least --min-change AND the durations\n"
        "differ significantly (p < alpha), or its error rate rose by at least --min-error-change\n"
        "points, significantly. Operations on one side only are listed as new or gone.\n"
        "Exit 1 when any operation regressed, 0 otherwise, 2 on bad usage or input.\n"
        "\n"
        "options:\n"
        "  --baseline SEL          what to compare against (required)\n"
        "  --current SEL           what to judge (required)\n"
        "  --db PATH               the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --service NAME          only this service\n"
        "  --min-change PCT        p95 change of practical size (default 20%)\n"
        "  --min-error-change PCT  error-rate change of practical size, in points (default 1%)\n"
        "  --alpha A               significance level (default 0.05)\n"
        "  --max-samples N         durations per operation and side the tests use; a uniform\n"
        "                          sample beyond (default 20000)\n"
        "  --at-data               relative times in SINCE..UNTIL count back from the newest\n"
        "                          span stored, not from now\n"
        "  --json                  JSON for scripts\n"
        "\n" SONDE_SEL_HELP "\n"
        "examples:\n"
        "  sonde compare --baseline version=1 --current version=2\n"
        "  sonde compare --baseline 2h..1h --current last:1h --service checkout\n"
        "  sonde compare --baseline before.json --current after.json --json\n";

/* Parses "20%", "20" (percent) or "0.2" (a fraction below 1) into a fraction. */
static int parse_pct(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !isfinite(v) || v <= 0)
		return -1;
	if (*end == '%' && !end[1])
		v /= 100;
	else if (*end)
		return -1;
	else if (v >= 1)
		v /= 100;
	*out = v;
	return 0;
}

static void jf(sonde_json_writer *w, const char *k, double v)
{
	sonde_json_key_cstr(w, k);
	if (isnan(v))
		sonde_json_null(w);
	else
		sonde_json_f64(w, v);
}

static void js(sonde_json_writer *w, const char *k, const char *v)
{
	sonde_json_key_cstr(w, k);
	sonde_json_str(w, v, strlen(v));
}

static void json_side(sonde_json_writer *w, const char *k, const sonde_cmp_side *s)
{
	sonde_json_key_cstr(w, k);
	sonde_json_obj_begin(w);
	sonde_json_key_cstr(w, "count");
	sonde_json_u64(w, s->count);
	sonde_json_key_cstr(w, "errors");
	sonde_json_u64(w, s->errors);
	jf(w, "error_rate", s->error_rate);
	jf(w, "throughput_per_s", s->throughput);
	jf(w, "p50_ns", s->p50_ns);
	jf(w, "p95_ns", s->p95_ns);
	jf(w, "p99_ns", s->p99_ns);
	jf(w, "mean_ns", s->mean_ns);
	sonde_json_key_cstr(w, "sampled");
	sonde_json_u64(w, s->sampled);
	sonde_json_obj_end(w);
}

static void render_json(const sonde_compare_result *r, const char *bl, const char *cl, sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 2);
	sonde_json_obj_begin(&w);
	js(&w, "baseline", bl);
	js(&w, "current", cl);
	jf(&w, "alpha", r->opts.alpha);
	jf(&w, "min_change", r->opts.min_change);
	jf(&w, "min_error_change", r->opts.min_error_change);
	jf(&w, "baseline_window_s", r->base_window_s);
	jf(&w, "current_window_s", r->cur_window_s);
	sonde_json_key_cstr(&w, "summary");
	sonde_json_obj_begin(&w);
	const struct {
		const char *k;
		size_t v;
	} sums[] = {{"regressions", r->regressions},
	            {"improvements", r->improvements},
	            {"unchanged", r->unchanged},
	            {"new", r->added},
	            {"gone", r->removed}};
	for (size_t i = 0; i < 5; i++) {
		sonde_json_key_cstr(&w, sums[i].k);
		sonde_json_u64(&w, sums[i].v);
	}
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "operations");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->count; i++) {
		const sonde_cmp_op *op = &r->ops[i];
		sonde_json_obj_begin(&w);
		js(&w, "service", op->service);
		js(&w, "operation", op->operation);
		js(&w, "verdict", sonde_cmp_verdict_name(op->verdict));
		sonde_json_key_cstr(&w, "severity");
		if (op->severity)
			sonde_json_str(&w, sonde_severity_name(op->severity),
			               strlen(sonde_severity_name(op->severity)));
		else
			sonde_json_null(&w);
		json_side(&w, "baseline", &op->base);
		json_side(&w, "current", &op->cur);
		jf(&w, "p50_change", op->p50_change);
		jf(&w, "p95_change", op->p95_change);
		jf(&w, "p99_change", op->p99_change);
		jf(&w, "throughput_change", op->throughput_change);
		jf(&w, "error_rate_change", op->error_rate_delta);
		if (op->tests_run) {
			sonde_json_key_cstr(&w, "mann_whitney");
			sonde_json_obj_begin(&w);
			jf(&w, "u", op->mwu.u1);
			jf(&w, "p", op->mwu.p);
			jf(&w, "auc", op->mwu.auc);
			sonde_json_key_cstr(&w, "exact");
			sonde_json_bool(&w, op->mwu.exact);
			sonde_json_obj_end(&w);
			sonde_json_key_cstr(&w, "hodges_lehmann");
			sonde_json_obj_begin(&w);
			jf(&w, "shift_ns", op->hl.shift);
			jf(&w, "lo_ns", isinf(op->hl.lo) ? NAN : op->hl.lo);
			jf(&w, "hi_ns", isinf(op->hl.hi) ? NAN : op->hl.hi);
			jf(&w, "confidence", op->hl.conf);
			sonde_json_obj_end(&w);
			sonde_json_key_cstr(&w, "errors_ztest");
			sonde_json_obj_begin(&w);
			jf(&w, "z", op->errors_z.stat);
			jf(&w, "p", op->errors_z.p);
			sonde_json_obj_end(&w);
		}
		sonde_json_key_cstr(&w, "reasons");
		sonde_json_arr_begin(&w);
		for (size_t k = 0; k < op->reasons_count; k++)
			sonde_json_str(&w, op->reasons[k], strlen(op->reasons[k]));
		sonde_json_arr_end(&w);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
}

static void pct_cell(char *out, size_t n, double change)
{
	if (isnan(change))
		(void)snprintf(out, n, "%s", "");
	else if (isinf(change))
		snprintf(out, n, "(new)");
	else
		snprintf(out, n, "(%+.0f%%)", change * 100);
}

static void render_text(const sonde_compare_result *r, const char *bl, const char *cl, sonde_buf *out)
{
	sonde_buf_printf(out, "baseline %s: %llu spans; current %s: %llu spans\n", bl,
	                 (unsigned long long)r->base_spans, cl, (unsigned long long)r->cur_spans);
	sonde_buf_printf(
	        out,
	        "regression: p95 +%.0f%% or more, or error rate +%.2g points or more, and significant "
	        "at alpha %.2g\n\n",
	        r->opts.min_change * 100, r->opts.min_error_change * 100, r->opts.alpha);
	sonde_buf_printf(out, "%-14s %-28s %-22s %13s %22s %22s %22s %15s %9s\n", "SERVICE", "OPERATION",
	                 "VERDICT", "COUNT", "P50", "P95", "P99", "ERRORS", "P(MWU)");
	for (size_t i = 0; i < r->count; i++) {
		const sonde_cmp_op *op = &r->ops[i];
		char verdict[48], count[48], q[3][80], err[48], p[24];
		if (op->severity)
			snprintf(verdict, sizeof verdict, "%s (%s)", sonde_cmp_verdict_name(op->verdict),
			         sonde_severity_name(op->severity));
		else
			snprintf(verdict, sizeof verdict, "%s", sonde_cmp_verdict_name(op->verdict));
		snprintf(count, sizeof count, "%llu->%llu", (unsigned long long)op->base.count,
		         (unsigned long long)op->cur.count);
		const double bq[3] = {op->base.p50_ns, op->base.p95_ns, op->base.p99_ns};
		const double cq[3] = {op->cur.p50_ns, op->cur.p95_ns, op->cur.p99_ns};
		const double ch[3] = {op->p50_change, op->p95_change, op->p99_change};
		for (int k = 0; k < 3; k++) {
			char a[24], b[24], c[24];
			sonde_cmp_fmt_ns(a, sizeof a, bq[k]);
			sonde_cmp_fmt_ns(b, sizeof b, cq[k]);
			pct_cell(c, sizeof c, ch[k]);
			snprintf(q[k], sizeof q[k], "%s->%s %s", a, b, c);
		}
		if (isnan(op->base.error_rate) || isnan(op->cur.error_rate))
			snprintf(err, sizeof err, "-");
		else
			snprintf(err, sizeof err, "%.1f%%->%.1f%%", op->base.error_rate * 100,
			         op->cur.error_rate * 100);
		if (!op->tests_run)
			snprintf(p, sizeof p, "-");
		else if (op->mwu.p < 1e-4)
			snprintf(p, sizeof p, "<0.0001");
		else
			snprintf(p, sizeof p, "%.2g", op->mwu.p);
		sonde_buf_printf(out, "%-14s %-28s %-22s %13s %22s %22s %22s %15s %9s\n", op->service,
		                 op->operation, verdict, count, q[0], q[1], q[2], err, p);
	}
	bool any = false;
	for (size_t i = 0; i < r->count; i++) {
		const sonde_cmp_op *op = &r->ops[i];
		if (op->verdict == SONDE_CMP_NO_CHANGE)
			continue;
		if (!any)
			sonde_buf_puts(out, "\n");
		any = true;
		sonde_buf_printf(out, "%s %s: %s%s%s%s\n", op->service, op->operation,
		                 sonde_cmp_verdict_name(op->verdict), op->severity ? " (" : "",
		                 op->severity ? sonde_severity_name(op->severity) : "",
		                 op->severity ? ")" : "");
		for (size_t k = 0; k < op->reasons_count; k++)
			sonde_buf_printf(out, "  - %s\n", op->reasons[k]);
	}
	sonde_buf_printf(out, "\n%zu regression%s, %zu improvement%s, %zu unchanged, %zu new, %zu gone\n",
	                 r->regressions, r->regressions == 1 ? "" : "s", r->improvements,
	                 r->improvements == 1 ? "" : "s", r->unchanged, r->added, r->removed);
}

int sonde_cmd_compare(int argc, char **argv)
{
	enum {
		OPT_BASE = 256,
		OPT_CUR,
		OPT_DB,
		OPT_SERVICE,
		OPT_MIN,
		OPT_MINERR,
		OPT_ALPHA,
		OPT_MAXS,
		OPT_ATDATA,
		OPT_JSON
	};
	static const struct option longopts[] = {
	        {"baseline", required_argument, NULL, OPT_BASE},
	        {"current", required_argument, NULL, OPT_CUR},
	        {"db", required_argument, NULL, OPT_DB},
	        {"service", required_argument, NULL, OPT_SERVICE},
	        {"min-change", required_argument, NULL, OPT_MIN},
	        {"min-error-change", required_argument, NULL, OPT_MINERR},
	        {"alpha", required_argument, NULL, OPT_ALPHA},
	        {"max-samples", required_argument, NULL, OPT_MAXS},
	        {"at-data", no_argument, NULL, OPT_ATDATA},
	        {"json", no_argument, NULL, OPT_JSON},
	        {NULL, 0, NULL, 0},
	};
	const char *bsel = NULL, *csel = NULL, *db_uri = NULL;
	bool json = false, at_data = false;
	sonde_compare_opts o = {0};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_BASE: bsel = optarg; break;
		case OPT_CUR: csel = optarg; break;
		case OPT_DB: db_uri = optarg; break;
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_MIN:
		case OPT_MINERR:
			if (parse_pct(optarg, c == OPT_MIN ? &o.min_change : &o.min_error_change) < 0) {
				sonde_cli_error("compare", "--%s '%s': expected a percentage such as 20%%",
				                c == OPT_MIN ? "min-change" : "min-error-change", optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_ALPHA:
			o.alpha = strtod(optarg, &end);
			if (end == optarg || *end || !(o.alpha > 0 && o.alpha < 1)) {
				sonde_cli_error(
				        "compare",
				        "--alpha '%s': expected a level between 0 and 1, such as 0.05",
				        optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_MAXS: {
			unsigned long long v = strtoull(optarg, &end, 10);
			if (end == optarg || *end || v < 10 || v > 100000000) {
				sonde_cli_error("compare", "--max-samples '%s': expected a count from 10 up",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			o.max_samples = (size_t)v;
			break;
		}
		case OPT_ATDATA: at_data = true; break;
		case OPT_JSON: json = true; break;
		default:
			sonde_cli_error("compare",
			                "unknown option '%s'; sonde compare --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sonde_cli_error("compare", "unexpected argument '%s'", argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	if (!bsel || !csel) {
		sonde_cli_error("compare",
		                "--baseline SEL and --current SEL are both required, e.g. --baseline "
		                "version=1 --current version=2");
		return SONDE_EXIT_USAGE;
	}
	sonde_store *db = NULL;
	sonde_cli_sel b, cu;
	int rc = sonde_cli_sel_parse("compare", "baseline", bsel, db_uri, at_data, &db, &b);
	if (rc == SONDE_EXIT_OK)
		rc = sonde_cli_sel_parse("compare", "current", csel, db_uri, at_data, &db, &cu);
	else
		memset(&cu, 0, sizeof cu);
	sonde_compare_result res;
	memset(&res, 0, sizeof res);
	if (rc == SONDE_EXIT_OK) {
		int e = sonde_compare_run(&b.sel, &cu.sel, &o, &res);
		if (e < 0) {
			const char *m = db ? sonde_store_errmsg(db) : "";
			sonde_cli_error("compare", "%s", m && *m ? m : sonde_strerror(e));
			rc = SONDE_EXIT_USAGE;
		} else if (res.base_spans == 0 || res.cur_spans == 0) {
			sonde_cli_error("compare", "--%s '%s' selects no spans%s",
			                res.base_spans == 0 ? "baseline" : "current",
			                res.base_spans == 0 ? bsel : csel,
			                o.service ? " of that service"
			                          : "; `sonde db info` shows what the store holds");
			rc = SONDE_EXIT_USAGE;
		} else {
			sonde_buf out = SONDE_BUF_INIT, js = SONDE_BUF_INIT;
			render_json(&res, bsel, csel, &js);
			if (json)
				rc = sonde_cli_emit("compare", &js);
			else {
				render_text(&res, bsel, csel, &out);
				rc = sonde_cli_emit("compare", &out);
			}
			if (rc == SONDE_EXIT_OK && !js.oom) {
				char summary[512];
				snprintf(summary, sizeof summary,
				         "compare %s against %s: %zu regression%s, %zu improvement%s, %zu "
				         "unchanged",
				         csel, bsel, res.regressions, res.regressions == 1 ? "" : "s",
				         res.improvements, res.improvements == 1 ? "" : "s", res.unchanged);
				sonde_cli_record_verdict("compare", db, db_uri, summary,
				                         js.data ? js.data : "");
			}
			sonde_buf_release(&out);
			sonde_buf_release(&js);
			if (rc == SONDE_EXIT_OK && res.regressions)
				rc = SONDE_EXIT_FINDING;
		}
	}
	sonde_compare_result_release(&res);
	sonde_cli_sel_release(&b);
	sonde_cli_sel_release(&cu);
	sonde_store_close(db);
	return rc;
}
