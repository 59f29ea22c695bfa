/*
 * cmd_canary.c - `sonde canary`: should this release be rolled back? A canary analysis
 * (canary.h) of a current selection against a baseline: a score, a verdict (pass,
 * marginal, fail) and its reasons. --preserve writes an evidence bundle (the current
 * selection's traces, logs and metrics as OTLP JSON, and the report) before anything
 * else happens; --on-fail runs a rollback command, directly (fork and execvp, never a
 * shell), only when the verdict is fail. Exit 0 pass, 1 fail, 3 marginal, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "canary.h"
#include "cli.h"
#include "cli_query.h"
#include "cli_select.h"
#include "json.h"
#include "otlp_json.h"
#include "sonde/status.h"

#define EXIT_MARGINAL 3
#define MAX_RULES     64

const char sonde_canary_usage[] =
        "usage: sonde canary --baseline SEL --current SEL [--db PATH] [--rule RULE]...\n"
        "                    [--no-default-rules] [--alpha A] [--pass-score N] [--marginal-score N]\n"
        "                    [--cpu-metric NAME] [--memory-metric NAME] [--at-data]\n"
        "                    [--preserve DIR] [--json] [--on-fail COMMAND [ARGS...]]\n"
        "\n"
        "Automated canary analysis: compares the current selection's requests (server, consumer\n"
        "and root spans) with the baseline's: error rate, success rate, latency p95, throughput,\n"
        "and CPU and memory where metric points carry them (process.cpu.utilization,\n"
        "process.cpu.time, process.memory.usage, container.*, ...). Each metric is tested (error\n"
        "rate: two-proportion z-test; p95, CPU, memory: Mann-Whitney U) and fails when it got\n"
        "worse beyond a tolerance and significantly; the score is the share of metrics passing.\n"
        "Threshold rules then take points off (critical: the score drops to 0; high 40; medium 20;\n"
        "low 10). Verdict: pass at 75 or more, marginal at 50 or more, fail below.\n"
        "Exit 0 pass, 1 fail, 3 marginal, 2 bad usage or input.\n"
        "\n"
        "options:\n"
        "  --baseline SEL        the known-good selection (required)\n"
        "  --current SEL         the canary (required)\n"
        "  --db PATH             the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --rule RULE           add a threshold rule: METRIC[.change|.delta]OP VALUE[UNIT][:SEVERITY]\n"
        "                        METRIC: error_rate success_rate p95 throughput cpu memory;\n"
        "                        .change: relative to the baseline, .delta: difference;\n"
        "                        OP: > >= < <=; UNIT: % pt ns us ms s; SEVERITY: low medium\n"
        "                        high (default) critical\n"
        "  --no-default-rules    drop the defaults: error_rate>5%:critical, p95.change>25%:high,\n"
        "                        success_rate.delta<-5pt:critical\n"
        "  --alpha A             significance level (default 0.05)\n"
        "  --pass-score N        lowest passing score (default 75)\n"
        "  --marginal-score N    lowest marginal score (default 50)\n"
        "  --cpu-metric NAME     the metric holding CPU use (default: the conventions)\n"
        "  --memory-metric NAME  the metric holding memory use (default: the conventions)\n"
        "  --at-data             relative times in SINCE..UNTIL count back from the newest span\n"
        "  --preserve DIR        first write the current selection's traces.json, logs.json,\n"
        "                        metrics.json (OTLP JSON) and canary.txt, canary.json into DIR\n"
        "  --json                the report as JSON\n"
        "  --on-fail COMMAND...  everything after it is a command run (directly, never through a\n"
        "                        shell) when the verdict is fail, after --preserve; its exit\n"
        "                        status is reported. `--on-fail -- CMD` allows CMD to take --help\n"
        "\n" SONDE_SEL_HELP "\n"
        "examples:\n"
        "  sonde canary --baseline version=1 --current version=2\n"
        "  sonde canary --baseline version=1 --current version=2 --rule 'p95>800ms:critical'\n"
        "  sonde canary --baseline 2h..1h --current last:15m --preserve evidence/ \\\n"
        "               --on-fail kubectl rollout undo deployment/shop\n";

static void jf(sonde_json_writer *w, const char *k, double v)
{
	sonde_json_key_cstr(w, k);
	if (isnan(v) || isinf(v))
		sonde_json_null(w);
	else
		sonde_json_f64(w, v);
}

static void js(sonde_json_writer *w, const char *k, const char *v)
{
	sonde_json_key_cstr(w, k);
	if (v)
		sonde_json_str(w, v, strlen(v));
	else
		sonde_json_null(w);
}

static const char *class_name(sonde_canary_class c)
{
	switch (c) {
	case SONDE_CANARY_PASS: return "pass";
	case SONDE_CANARY_FAIL: return "fail";
	case SONDE_CANARY_UNTESTED: return "rules only";
	default: return "no data";
	}
}

static void render_json(const sonde_canary_result *r, const char *bl, const char *cl, sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 2);
	sonde_json_obj_begin(&w);
	js(&w, "baseline", bl);
	js(&w, "current", cl);
	js(&w, "verdict", sonde_canary_verdict_name(r->verdict));
	jf(&w, "score", r->score);
	jf(&w, "statistical_score", r->stat_score);
	jf(&w, "pass_score", r->opts.pass_score);
	jf(&w, "marginal_score", r->opts.marginal_score);
	jf(&w, "alpha", r->opts.alpha);
	js(&w, "requests", r->entry_spans ? "entry spans" : "all spans");
	sonde_json_key_cstr(&w, "metrics");
	sonde_json_arr_begin(&w);
	for (int m = 0; m < SONDE_CANARY_METRICS; m++) {
		const sonde_canary_value *v = &r->metrics[m];
		sonde_json_obj_begin(&w);
		js(&w, "name", sonde_canary_metric_name(v->metric));
		js(&w, "source", v->source);
		jf(&w, "baseline", v->base);
		jf(&w, "current", v->cur);
		jf(&w, "change", v->change);
		jf(&w, "delta", v->delta);
		sonde_json_key_cstr(&w, "baseline_n");
		sonde_json_u64(&w, v->base_n);
		sonde_json_key_cstr(&w, "current_n");
		sonde_json_u64(&w, v->cur_n);
		js(&w, "test", v->test);
		jf(&w, "p", v->p);
		jf(&w, "shift", v->shift);
		js(&w, "result", class_name(v->cls));
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_key_cstr(&w, "breaches");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->breaches_count; i++) {
		sonde_json_obj_begin(&w);
		js(&w, "rule", r->breaches[i].rule.text);
		js(&w, "severity", sonde_severity_name(r->breaches[i].rule.severity));
		jf(&w, "observed", r->breaches[i].observed);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_key_cstr(&w, "reasons");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->reasons_count; i++)
		sonde_json_str(&w, r->reasons[i], strlen(r->reasons[i]));
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
}

static void render_text(const sonde_canary_result *r, const char *bl, const char *cl, sonde_buf *out)
{
	sonde_buf_printf(out, "canary: %s against baseline %s\n\n", cl, bl);
	sonde_buf_printf(out, "%-13s %12s %12s %10s %-18s %10s  %s\n", "METRIC", "BASELINE", "CURRENT",
	                 "CHANGE", "TEST", "P", "RESULT");
	for (int m = 0; m < SONDE_CANARY_METRICS; m++) {
		const sonde_canary_value *v = &r->metrics[m];
		char b[32], c[32], ch[32], p[24];
		sonde_canary_fmt_value(b, sizeof b, v->metric, v->base);
		sonde_canary_fmt_value(c, sizeof c, v->metric, v->cur);
		if (isnan(v->change))
			snprintf(ch, sizeof ch, "-");
		else if (m <= SONDE_CANARY_SUCCESS_RATE)
			snprintf(ch, sizeof ch, "%+.2fpt", v->delta * 100);
		else if (isinf(v->change))
			snprintf(ch, sizeof ch, "new");
		else
			snprintf(ch, sizeof ch, "%+.0f%%", v->change * 100);
		if (isnan(v->p))
			snprintf(p, sizeof p, "-");
		else if (v->p < 1e-4)
			snprintf(p, sizeof p, "<0.0001");
		else
			snprintf(p, sizeof p, "%.2g", v->p);
		sonde_buf_printf(out, "%-13s %12s %12s %10s %-18s %10s  %s%s%s\n",
		                 sonde_canary_metric_name(v->metric), b, c, ch,
		                 v->test && v->tested ? v->test : "-", v->tested ? p : "-",
		                 class_name(v->cls), v->source && m >= SONDE_CANARY_CPU ? " from " : "",
		                 v->source && m >= SONDE_CANARY_CPU ? v->source : "");
	}
	sonde_buf_puts(out, "\n");
	for (size_t i = 0; i < r->reasons_count; i++)
		sonde_buf_printf(out, "- %s\n", r->reasons[i]);
	sonde_buf_printf(out, "\nverdict: %s (score %.0f/100; pass >= %.0f, marginal >= %.0f)\n",
	                 sonde_canary_verdict_name(r->verdict), r->score, r->opts.pass_score,
	                 r->opts.marginal_score);
}

static int write_file(const char *dir, const char *name, const sonde_buf *b)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		sonde_cli_error("canary", "--preserve: %s: %s", path, strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	size_t n = fwrite(b->data, 1, b->len, f);
	if (fclose(f) != 0 || n != b->len) {
		sonde_cli_error("canary", "--preserve: %s: write failed", path);
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

/* Writes the evidence bundle. Returns an exit code. */
static int preserve(const char *dir, const sonde_selection *cur, const sonde_buf *text, const sonde_buf *json)
{
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		sonde_cli_error("canary", "--preserve %s: %s", dir, strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return SONDE_EXIT_USAGE;
	int rc = sonde_selection_collect(cur, b);
	if (rc < 0) {
		sonde_cli_error("canary", "--preserve: reading the current selection: %s",
		                sonde_store_errmsg(cur->store));
		sonde_batch_free(b);
		return SONDE_EXIT_USAGE;
	}
	static const struct {
		const char *file;
		sonde_signal sig;
	} parts[] = {{"traces.json", SONDE_SIGNAL_TRACES},
	             {"logs.json", SONDE_SIGNAL_LOGS},
	             {"metrics.json", SONDE_SIGNAL_METRICS}};
	const size_t counts[] = {b->spans_count, b->logs_count, b->metrics_count};
	int ec = SONDE_EXIT_OK;
	for (size_t i = 0; i < 3 && ec == SONDE_EXIT_OK; i++) {
		if (!counts[i])
			continue;
		sonde_buf out = SONDE_BUF_INIT;
		if (sonde_otlp_json_write(b, parts[i].sig, &out, 0) < 0 || out.oom) {
			sonde_cli_error("canary", "--preserve: writing %s: out of memory", parts[i].file);
			ec = SONDE_EXIT_USAGE;
		} else {
			sonde_buf_putc(&out, '\n');
			ec = write_file(dir, parts[i].file, &out);
		}
		sonde_buf_release(&out);
	}
	if (ec == SONDE_EXIT_OK)
		ec = write_file(dir, "canary.txt", text);
	if (ec == SONDE_EXIT_OK)
		ec = write_file(dir, "canary.json", json);
	if (ec == SONDE_EXIT_OK)
		fprintf(stderr,
		        "sonde canary: evidence in %s: %zu spans, %zu log records, %zu metrics, the report\n",
		        dir, b->spans_count, b->logs_count, b->metrics_count);
	sonde_batch_free(b);
	return ec;
}

/* Runs argv[0..] directly. Prints its exit status. */
static void run_on_fail(char **cmd)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		sonde_cli_error("canary", "--on-fail: cannot start %s: %s", cmd[0], strerror(errno));
		return;
	}
	if (pid == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "sonde canary: --on-fail: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			sonde_cli_error("canary", "--on-fail: waiting for %s: %s", cmd[0], strerror(errno));
			return;
		}
	}
	if (WIFEXITED(st))
		fprintf(stderr, "sonde canary: verdict fail: ran %s, which exited with status %d\n", cmd[0],
		        WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		fprintf(stderr, "sonde canary: verdict fail: ran %s, which was killed by signal %d\n", cmd[0],
		        WTERMSIG(st));
}

static int parse_score(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v > 0 && v <= 100))
		return -1;
	*out = v;
	return 0;
}

int sonde_cmd_canary(int argc, char **argv)
{
	enum {
		OPT_BASE = 256,
		OPT_CUR,
		OPT_DB,
		OPT_RULE,
		OPT_NODEF,
		OPT_ALPHA,
		OPT_PASS,
		OPT_MARG,
		OPT_CPU,
		OPT_MEM,
		OPT_ATDATA,
		OPT_PRESERVE,
		OPT_JSON,
	};
	static const struct option longopts[] = {
	        {"baseline", required_argument, NULL, OPT_BASE},
	        {"current", required_argument, NULL, OPT_CUR},
	        {"db", required_argument, NULL, OPT_DB},
	        {"rule", required_argument, NULL, OPT_RULE},
	        {"no-default-rules", no_argument, NULL, OPT_NODEF},
	        {"alpha", required_argument, NULL, OPT_ALPHA},
	        {"pass-score", required_argument, NULL, OPT_PASS},
	        {"marginal-score", required_argument, NULL, OPT_MARG},
	        {"cpu-metric", required_argument, NULL, OPT_CPU},
	        {"memory-metric", required_argument, NULL, OPT_MEM},
	        {"at-data", no_argument, NULL, OPT_ATDATA},
	        {"preserve", required_argument, NULL, OPT_PRESERVE},
	        {"json", no_argument, NULL, OPT_JSON},
	        {NULL, 0, NULL, 0},
	};
	/* --on-fail takes the rest of the command line: cut it off before getopt sees it. */
	char **on_fail = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--on-fail") == 0) {
			on_fail = argv + i + 1;
			if (*on_fail && strcmp(*on_fail, "--") == 0)
				on_fail++;
			if (!*on_fail) {
				sonde_cli_error("canary",
				                "--on-fail needs a command, e.g. --on-fail ./rollback.sh v2");
				return SONDE_EXIT_USAGE;
			}
			argc = i;
			break;
		}
	}
	const char *bsel = NULL, *csel = NULL, *db_uri = NULL, *dir = NULL;
	bool json = false, at_data = false, nodef = false;
	sonde_canary_rule rules[MAX_RULES];
	size_t nrules = 0;
	sonde_canary_opts o = {0};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char *end, msg[512];
		switch (c) {
		case OPT_BASE: bsel = optarg; break;
		case OPT_CUR: csel = optarg; break;
		case OPT_DB: db_uri = optarg; break;
		case OPT_RULE:
			if (nrules == MAX_RULES - sonde_canary_default_rules_count) {
				sonde_cli_error("canary", "at most %zu --rule options", nrules);
				return SONDE_EXIT_USAGE;
			}
			if (sonde_canary_rule_parse(optarg, &rules[nrules], msg, sizeof msg) < 0) {
				sonde_cli_error("canary", "--rule: %s", msg);
				return SONDE_EXIT_USAGE;
			}
			nrules++;
			break;
		case OPT_NODEF: nodef = true; break;
		case OPT_ALPHA:
			o.alpha = strtod(optarg, &end);
			if (end == optarg || *end || !(o.alpha > 0 && o.alpha < 1)) {
				sonde_cli_error(
				        "canary",
				        "--alpha '%s': expected a level between 0 and 1, such as 0.05",
				        optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_PASS:
		case OPT_MARG:
			if (parse_score(optarg, c == OPT_PASS ? &o.pass_score : &o.marginal_score) < 0) {
				sonde_cli_error("canary", "--%s '%s': expected a score from 1 to 100",
				                c == OPT_PASS ? "pass-score" : "marginal-score", optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_CPU: o.cpu_metric = optarg; break;
		case OPT_MEM: o.memory_metric = optarg; break;
		case OPT_ATDATA: at_data = true; break;
		case OPT_PRESERVE: dir = optarg; break;
		case OPT_JSON: json = true; break;
		default:
			sonde_cli_error("canary",
			                "unknown option '%s'; sonde canary --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sonde_cli_error("canary",
		                "unexpected argument '%s' (a rollback command goes after --on-fail)",
		                argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	if (!bsel || !csel) {
		sonde_cli_error("canary",
		                "--baseline SEL and --current SEL are both required, e.g. --baseline "
		                "version=1 --current version=2");
		return SONDE_EXIT_USAGE;
	}
	if ((o.pass_score || o.marginal_score) &&
	    (o.marginal_score ? o.marginal_score : 50) > (o.pass_score ? o.pass_score : 75)) {
		sonde_cli_error("canary", "--marginal-score is above --pass-score");
		return SONDE_EXIT_USAGE;
	}
	/* The rules: the defaults (unless dropped), then the user's. */
	sonde_canary_rule all[MAX_RULES];
	size_t nall = 0;
	if (!nodef)
		for (size_t i = 0; i < sonde_canary_default_rules_count; i++)
			all[nall++] = sonde_canary_default_rules[i];
	for (size_t i = 0; i < nrules; i++)
		all[nall++] = rules[i];
	o.rules = all;
	o.rules_count = nall;

	sonde_store *db = NULL;
	sonde_cli_sel b, cu;
	memset(&cu, 0, sizeof cu);
	int rc = sonde_cli_sel_parse("canary", "baseline", bsel, db_uri, at_data, &db, &b);
	if (rc == SONDE_EXIT_OK)
		rc = sonde_cli_sel_parse("canary", "current", csel, db_uri, at_data, &db, &cu);
	sonde_canary_result res;
	memset(&res, 0, sizeof res);
	if (rc == SONDE_EXIT_OK) {
		int e = sonde_canary_run(&b.sel, &cu.sel, &o, &res);
		if (e == -ENODATA) {
			sonde_cli_error(
			        "canary",
			        "--baseline '%s' or --current '%s' selects no spans; nothing to judge "
			        "(`sonde db info` shows what the store holds)",
			        bsel, csel);
			rc = SONDE_EXIT_USAGE;
		} else if (e < 0) {
			const char *m = db ? sonde_store_errmsg(db) : "";
			sonde_cli_error("canary", "%s", m && *m ? m : sonde_strerror(e));
			rc = SONDE_EXIT_USAGE;
		}
	}
	if (rc == SONDE_EXIT_OK) {
		sonde_buf text = SONDE_BUF_INIT, js = SONDE_BUF_INIT;
		render_text(&res, bsel, csel, &text);
		render_json(&res, bsel, csel, &js);
		if (text.oom || js.oom) {
			sonde_cli_error("canary", "out of memory");
			rc = SONDE_EXIT_USAGE;
		}
		/* The evidence first: a rollback must never destroy what the post-mortem needs. */
		if (rc == SONDE_EXIT_OK && dir)
			rc = preserve(dir, &cu.sel, &text, &js);
		if (rc == SONDE_EXIT_OK) {
			rc = sonde_cli_emit("canary", json ? &js : &text);
			if (rc == SONDE_EXIT_OK)
				rc = res.verdict == SONDE_CANARY_VERDICT_FAIL       ? SONDE_EXIT_FINDING
				     : res.verdict == SONDE_CANARY_VERDICT_MARGINAL ? EXIT_MARGINAL
				                                                    : SONDE_EXIT_OK;
			if (rc != SONDE_EXIT_USAGE) {
				char summary[512];
				snprintf(summary, sizeof summary,
				         "canary %s against %s: %s, score %.0f/100%s%s", csel, bsel,
				         sonde_canary_verdict_name(res.verdict), res.score,
				         res.reasons_count ? ": " : "",
				         res.reasons_count ? res.reasons[0] : "");
				sonde_cli_record_verdict("canary", db, db_uri, summary,
				                         js.data ? js.data : "");
			}
			if (res.verdict == SONDE_CANARY_VERDICT_FAIL && on_fail)
				run_on_fail(on_fail);
		}
		sonde_buf_release(&text);
		sonde_buf_release(&js);
	}
	sonde_canary_result_release(&res);
	sonde_cli_sel_release(&b);
	sonde_cli_sel_release(&cu);
	sonde_store_close(db);
	return rc;
}
