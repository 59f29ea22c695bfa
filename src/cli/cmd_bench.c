/*
 * cmd_bench.c - `sonde bench`: the benchmark harness. Runs a whole command repeatedly
 * after warm-up runs and summarises its wall-clock durations (mean, median, sd, min, max,
 * p95, p99, Tukey outliers); with --compare runs two commands interleaved and compares
 * them with the Mann-Whitney U test and the Hodges-Lehmann shift with its interval;
 * --max-p95 and --max-mean turn a target into an exit code for CI.
 *
 * Commands run directly (fork and execvp), never through a shell; their standard input is
 * /dev/null and their output is discarded unless --show-output. The statistics are
 * stats.h's; this file owns the runner and the report.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_query.h"
#include "json.h"
#include "stats.h"

const char sonde_bench_usage[] =
        "usage: sonde bench [options] -- COMMAND [ARGS...]\n"
        "       sonde bench [options] --compare 'COMMAND A' 'COMMAND B'\n"
        "\n"
        "Runs COMMAND --warmup times, then --runs times, timing each run (wall clock, from fork\n"
        "to exit), and prints mean, median, standard deviation, min, max, p95 and p99 with\n"
        "outliers flagged (Tukey's fences: beyond 1.5 IQR from the quartiles). Quantiles\n"
        "interpolate linearly between ranks (numpy's default).\n"
        "\n"
        "With --compare, runs A and B alternately (A B, then B A, ... so that drift hits both)\n"
        "and compares their durations: the Mann-Whitney U test (two-sided) and the\n"
        "Hodges-Lehmann shift of B against A (the median of all pairwise differences) with its\n"
        "confidence interval. Each of A and B is split on spaces into a program and its\n"
        "arguments (no quoting, no shell: pass 'sh -c ...' yourself for pipelines).\n"
        "\n"
        "Commands run directly with fork and execvp, standard input from /dev/null, output\n"
        "discarded. A run that exits non-zero stops the benchmark (exit 2) unless\n"
        "--ignore-failure. Progress goes to standard error when it is a terminal.\n"
        "\n"
        "options:\n"
        "  --runs N            timed runs per command (default 10, at least 2)\n"
        "  --warmup N          untimed runs first (default 1)\n"
        "  --max-p95 D         exit 1 when the p95 duration exceeds D (250ms, 1.5s, 40us)\n"
        "  --max-mean D        exit 1 when the mean duration exceeds D\n"
        "  --conf C            confidence of the shift interval (default 0.95)\n"
        "  --show-output       let the command write to the terminal\n"
        "  --ignore-failure    keep going when a run exits non-zero\n"
        "  --json              print the results as JSON\n"
        "\n"
        "exit status: 0 ok, 1 a --max-* target missed, 2 bad usage or a failed run\n"
        "\n"
        "examples:\n"
        "  sonde bench --runs 30 -- ./build/sonde convert trace.json -o /dev/null\n"
        "  sonde bench --max-p95 200ms -- curl -s http://localhost:8080/health\n"
        "  sonde bench --compare './old/tool input' './new/tool input'\n";

typedef struct bench_opts {
	size_t runs, warmup;
	double max_p95_s, max_mean_s; /* NaN: none */
	double conf;
	bool show_output, ignore_failure, json, tty;
} bench_opts;

typedef struct bench_cmd {
	char **argv; /* NULL-terminated; borrowed or owned (split) */
	char *text;  /* the command as the user wrote it (for reports) */
	double *secs;
	size_t n;
	size_t failures;
	sonde_stats_summary sum;
} bench_cmd;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs argv once. Returns its wait status (>= 0) and the duration in *secs, or -errno when
 * it could not start (the message printed). */
static int run_once(const bench_opts *o, const bench_cmd *c, double *secs)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		return -e;
	}
	if (pid == 0) {
		close(pfd[0]);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			if (!o->show_output) {
				dup2(nul, 1);
				dup2(nul, 2);
			}
		}
		execvp(c->argv[0], c->argv);
		int e = errno;
		ssize_t w = write(pfd[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	close(pfd[1]);
	int child_errno = 0;
	ssize_t r = read(pfd[0], &child_errno, sizeof(child_errno));
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	*secs = now_s() - t0;
	if (r == (ssize_t)sizeof(child_errno)) {
		sonde_cli_error("bench", "cannot run '%s': %s", c->argv[0], strerror(child_errno));
		return -child_errno;
	}
	return status;
}

/* One run, timed or not; returns an exit code (0 to go on). */
static int run_step(const bench_opts *o, bench_cmd *c, bool timed)
{
	double s = 0;
	int st = run_once(o, c, &s);
	if (st < 0)
		return SONDE_EXIT_USAGE;
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		c->failures++;
		if (!o->ignore_failure) {
			if (WIFEXITED(st))
				sonde_cli_error("bench",
				                "'%s' exited with status %d (use --ignore-failure to go on)",
				                c->text, WEXITSTATUS(st));
			else
				sonde_cli_error("bench", "'%s' was killed by signal %d", c->text,
				                WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			return SONDE_EXIT_USAGE;
		}
	}
	if (timed)
		c->secs[c->n++] = s;
	return 0;
}

static void progress(const bench_opts *o, const char *what, size_t i, size_t n)
{
	if (o->tty)
		fprintf(stderr, "\r%s %zu/%zu ", what, i, n);
}

static void progress_done(const bench_opts *o)
{
	if (o->tty)
		fprintf(stderr, "\r%40s\r", "");
}

/* Splits s on spaces into a NULL-terminated vector (one allocation; free the result). */
static char **split_words(const char *s)
{
	size_t len = strlen(s), words = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && (i == 0 || s[i - 1] == ' '))
			words++;
	char **v = malloc((words + 1) * sizeof(*v) + len + 1);
	if (!v)
		return NULL;
	char *text = (char *)(v + words + 1);
	memcpy(text, s, len + 1);
	size_t k = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			text[i] = '\0';
		} else if (i == 0 || text[i - 1] == '\0') {
			v[k++] = text + i;
		}
	}
	v[k] = NULL;
	return v;
}

/* ---- Report ---------------------------------------------------------------------------------- */

/* A duration in seconds, in a unit that suits it. */
static const char *dur(char *buf, size_t n, double s)
{
	double a = fabs(s);
	if (isnan(s))
		snprintf(buf, n, "n/a");
	else if (isinf(s))
		snprintf(buf, n, "%sinf", s < 0 ? "-" : "");
	else if (a >= 1)
		snprintf(buf, n, "%.3f s", s);
	else if (a >= 1e-3)
		snprintf(buf, n, "%.3f ms", s * 1e3);
	else
		snprintf(buf, n, "%.1f us", s * 1e6);
	return buf;
}

static void print_summary(const bench_cmd *c)
{
	const sonde_stats_summary *s = &c->sum;
	char b[8][32];
	printf("%s\n", c->text);
	printf("  runs %zu   mean %s   sd %s   median %s\n", s->n, dur(b[0], 32, s->mean),
	       dur(b[1], 32, s->sd), dur(b[2], 32, s->median));
	printf("  min %s   p95 %s   p99 %s   max %s\n", dur(b[3], 32, s->min), dur(b[4], 32, s->p95),
	       dur(b[5], 32, s->p99), dur(b[6], 32, s->max));
	if (s->outliers_low || s->outliers_high) {
		printf("  outliers: %zu slow, %zu fast (beyond %s .. %s):", s->outliers_high, s->outliers_low,
		       dur(b[0], 32, s->fence_lo), dur(b[1], 32, s->fence_hi));
		for (size_t i = 0; i < c->n; i++)
			if (sonde_stats_is_outlier(s, c->secs[i]))
				printf(" run %zu (%s)", i + 1, dur(b[2], 32, c->secs[i]));
		printf("\n");
	}
	if (c->failures)
		printf("  %zu runs exited non-zero\n", c->failures);
}

static void json_summary(sonde_json_writer *w, const bench_cmd *c)
{
	const sonde_stats_summary *s = &c->sum;
	sonde_json_obj_begin(w);
	sonde_json_key_cstr(w, "command");
	sonde_json_str(w, c->text, strlen(c->text));
	sonde_json_key_cstr(w, "runs");
	sonde_json_u64(w, s->n);
	const char *k[] = {"mean_s", "sd_s", "median_s", "min_s", "p95_s", "p99_s", "max_s"};
	double v[] = {s->mean, s->sd, s->median, s->min, s->p95, s->p99, s->max};
	for (size_t i = 0; i < 7; i++) {
		sonde_json_key_cstr(w, k[i]);
		sonde_json_f64(w, v[i]);
	}
	sonde_json_key_cstr(w, "outliers");
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < c->n; i++)
		if (sonde_stats_is_outlier(s, c->secs[i]))
			sonde_json_u64(w, i + 1);
	sonde_json_arr_end(w);
	sonde_json_key_cstr(w, "failures");
	sonde_json_u64(w, c->failures);
	sonde_json_key_cstr(w, "durations_s");
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < c->n; i++)
		sonde_json_f64(w, c->secs[i]);
	sonde_json_arr_end(w);
	sonde_json_obj_end(w);
}

/* Checks the --max-* targets; prints what was missed. Returns true when one was. */
static bool missed(const bench_opts *o, const bench_cmd *c)
{
	char b1[32], b2[32];
	bool miss = false;
	if (!isnan(o->max_p95_s) && c->sum.p95 > o->max_p95_s) {
		fprintf(stderr, "sonde bench: '%s': p95 %s exceeds --max-p95 %s\n", c->text,
		        dur(b1, sizeof b1, c->sum.p95), dur(b2, sizeof b2, o->max_p95_s));
		miss = true;
	}
	if (!isnan(o->max_mean_s) && c->sum.mean > o->max_mean_s) {
		fprintf(stderr, "sonde bench: '%s': mean %s exceeds --max-mean %s\n", c->text,
		        dur(b1, sizeof b1, c->sum.mean), dur(b2, sizeof b2, o->max_mean_s));
		miss = true;
	}
	return miss;
}

/* ---- The command ------------------------------------------------------------------------------ */

static int parse_count(const char *opt, const char *s, size_t min, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end || *s == '-' || v < min || v > 1000000) {
		sonde_cli_error("bench", "--%s '%s': expected a count from %zu to 1000000", opt, s, min);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

static int parse_dur(const char *opt, const char *s, double *out)
{
	uint64_t ns;
	if (sonde_cli_parse_duration(s, &ns) < 0) {
		sonde_cli_error("bench", "--%s '%s': expected a duration such as 250ms, 1.5s or 40us", opt,
		                s);
		return -1;
	}
	*out = (double)ns * 1e-9;
	return 0;
}

int sonde_cmd_bench(int argc, char **argv)
{
	enum {
		OPT_RUNS = 256,
		OPT_WARMUP,
		OPT_MAX_P95,
		OPT_MAX_MEAN,
		OPT_CONF,
		OPT_SHOW,
		OPT_IGNORE,
		OPT_JSON,
		OPT_COMPARE,
	};
	static const struct option longopts[] = {
	        {"runs", required_argument, NULL, OPT_RUNS},
	        {"warmup", required_argument, NULL, OPT_WARMUP},
	        {"max-p95", required_argument, NULL, OPT_MAX_P95},
	        {"max-mean", required_argument, NULL, OPT_MAX_MEAN},
	        {"conf", required_argument, NULL, OPT_CONF},
	        {"show-output", no_argument, NULL, OPT_SHOW},
	        {"ignore-failure", no_argument, NULL, OPT_IGNORE},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"compare", no_argument, NULL, OPT_COMPARE},
	        {NULL, 0, NULL, 0},
	};
	bench_opts o = {.runs = 10, .warmup = 1, .max_p95_s = NAN, .max_mean_s = NAN, .conf = 0.95};
	bool compare = false;
	int c;
	opterr = 0;
	optind = 1;
	/* "+": stop at the first operand, so that the command's own options are left alone. */
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c == OPT_RUNS) {
			if (parse_count("runs", optarg, 2, &o.runs) < 0)
				return SONDE_EXIT_USAGE;
		} else if (c == OPT_WARMUP) {
			if (parse_count("warmup", optarg, 0, &o.warmup) < 0)
				return SONDE_EXIT_USAGE;
		} else if (c == OPT_MAX_P95 || c == OPT_MAX_MEAN) {
			if (parse_dur(c == OPT_MAX_P95 ? "max-p95" : "max-mean", optarg,
			              c == OPT_MAX_P95 ? &o.max_p95_s : &o.max_mean_s) < 0)
				return SONDE_EXIT_USAGE;
		} else if (c == OPT_CONF) {
			char *end;
			o.conf = strtod(optarg, &end);
			if (end == optarg || *end || !(o.conf > 0 && o.conf < 1)) {
				sonde_cli_error("bench", "--conf '%s': expected a number between 0 and 1",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
		} else if (c == OPT_SHOW) {
			o.show_output = true;
		} else if (c == OPT_IGNORE) {
			o.ignore_failure = true;
		} else if (c == OPT_JSON) {
			o.json = true;
		} else if (c == OPT_COMPARE) {
			compare = true;
		} else {
			sonde_cli_error("bench",
			                "unknown option or missing value '%s'; see sonde bench --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	o.tty = isatty(STDERR_FILENO);
	bench_cmd cmds[2];
	memset(cmds, 0, sizeof(cmds));
	size_t ncmds = compare ? 2 : 1;
	int rc = SONDE_EXIT_USAGE;
	if (compare) {
		if (argc - optind != 2) {
			sonde_cli_error("bench",
			                "--compare: expected two commands, each one quoted argument");
			return SONDE_EXIT_USAGE;
		}
		for (size_t i = 0; i < 2; i++) {
			cmds[i].text = argv[optind + (int)i];
			cmds[i].argv = split_words(cmds[i].text);
			if (!cmds[i].argv)
				goto out;
			if (!cmds[i].argv[0]) {
				sonde_cli_error("bench", "--compare: command %c is empty", (char)('A' + i));
				goto out;
			}
		}
	} else {
		if (optind >= argc) {
			sonde_cli_error("bench", "expected a command after --; see sonde bench --help");
			return SONDE_EXIT_USAGE;
		}
		cmds[0].argv = argv + optind;
		size_t len = 0;
		for (int i = optind; i < argc; i++)
			len += strlen(argv[i]) + 1;
		cmds[0].text = malloc(len);
		if (!cmds[0].text)
			goto out;
		cmds[0].text[0] = '\0';
		for (int i = optind; i < argc; i++) {
			if (i > optind)
				strcat(cmds[0].text, " ");
			strcat(cmds[0].text, argv[i]);
		}
	}
	for (size_t i = 0; i < ncmds; i++) {
		cmds[i].secs = malloc(o.runs * sizeof(double));
		if (!cmds[i].secs)
			goto out;
	}

	/* Warm-up, then the timed runs, A and B alternating in ABBA order. */
	for (size_t w = 0; w < o.warmup; w++) {
		progress(&o, "warm-up", w + 1, o.warmup);
		for (size_t i = 0; i < ncmds; i++)
			if ((rc = run_step(&o, &cmds[i], false)) != 0)
				goto out_progress;
	}
	for (size_t r = 0; r < o.runs; r++) {
		progress(&o, "run", r + 1, o.runs);
		for (size_t k = 0; k < ncmds; k++) {
			size_t i = (r % 2 == 1 && ncmds == 2) ? 1 - k : k;
			if ((rc = run_step(&o, &cmds[i], true)) != 0)
				goto out_progress;
		}
	}
	progress_done(&o);
	rc = SONDE_EXIT_USAGE;
	for (size_t i = 0; i < ncmds; i++)
		if (sonde_stats_summarize(cmds[i].secs, cmds[i].n, &cmds[i].sum) < 0)
			goto out;

	sonde_mwu_result mw = {0};
	sonde_hl_result hl = {0};
	if (compare) {
		if (sonde_stats_mann_whitney(cmds[0].secs, cmds[0].n, cmds[1].secs, cmds[1].n, SONDE_MWU_AUTO,
		                             &mw) < 0 ||
		    sonde_stats_hodges_lehmann(cmds[0].secs, cmds[0].n, cmds[1].secs, cmds[1].n, o.conf,
		                               &hl) < 0)
			goto out;
	}
	bool significant = compare && mw.p < 1 - o.conf;
	const char *verdict = !compare       ? NULL
	                      : !significant ? "no significant difference"
	                      : hl.shift > 0 ? "B is slower"
	                                     : "B is faster";
	if (o.json) {
		sonde_buf out = SONDE_BUF_INIT;
		sonde_json_writer w;
		sonde_json_writer_init(&w, &out, 2);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "commands");
		sonde_json_arr_begin(&w);
		for (size_t i = 0; i < ncmds; i++)
			json_summary(&w, &cmds[i]);
		sonde_json_arr_end(&w);
		if (compare) {
			sonde_json_key_cstr(&w, "comparison");
			sonde_json_obj_begin(&w);
			sonde_json_key_cstr(&w, "u");
			sonde_json_f64(&w, mw.u1);
			sonde_json_key_cstr(&w, "p");
			sonde_json_f64(&w, mw.p);
			sonde_json_key_cstr(&w, "exact");
			sonde_json_bool(&w, mw.exact);
			sonde_json_key_cstr(&w, "prob_b_slower");
			sonde_json_f64(&w, mw.auc);
			sonde_json_key_cstr(&w, "shift_s");
			sonde_json_f64(&w, hl.shift);
			sonde_json_key_cstr(&w, "shift_lo_s");
			sonde_json_f64(&w, hl.lo);
			sonde_json_key_cstr(&w, "shift_hi_s");
			sonde_json_f64(&w, hl.hi);
			sonde_json_key_cstr(&w, "conf");
			sonde_json_f64(&w, o.conf);
			sonde_json_key_cstr(&w, "verdict");
			sonde_json_str(&w, verdict, strlen(verdict));
			sonde_json_obj_end(&w);
		}
		sonde_json_obj_end(&w);
		if (out.data)
			fwrite(out.data, 1, out.len, stdout);
		putchar('\n');
		sonde_buf_release(&out);
	} else {
		for (size_t i = 0; i < ncmds; i++) {
			if (compare)
				printf("%c: ", (char)('A' + i));
			print_summary(&cmds[i]);
		}
		if (compare) {
			char b1[32], b2[32], b3[32];
			printf("\nB against A: shift %s (%g%% CI %s to %s, Hodges-Lehmann), Mann-Whitney U "
			       "%.1f, p %.3g%s\n",
			       dur(b1, sizeof b1, hl.shift), 100 * o.conf, dur(b2, sizeof b2, hl.lo),
			       dur(b3, sizeof b3, hl.hi), mw.u1, mw.p, mw.exact ? " (exact)" : "");
			printf("P(a run of B is slower than one of A) = %.2f\n", mw.auc);
			if (significant)
				printf("%s than A by %s (median of pairwise differences; %.0f%% of A's "
				       "median).\n",
				       verdict, dur(b1, sizeof b1, fabs(hl.shift)),
				       100 * fabs(hl.shift) / cmds[0].sum.median);
			else
				printf("No significant difference (p %.3g >= %g).\n", mw.p, 1 - o.conf);
		}
	}
	rc = SONDE_EXIT_OK;
	for (size_t i = 0; i < ncmds; i++)
		if (missed(&o, &cmds[i]))
			rc = SONDE_EXIT_FINDING;
	goto out;
out_progress:
	progress_done(&o);
out:
	for (size_t i = 0; i < ncmds; i++) {
		free(cmds[i].secs);
		if (compare)
			free(cmds[i].argv);
	}
	if (!compare)
		free(cmds[0].text);
	return rc;
}
