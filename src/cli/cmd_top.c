/*
 * cmd_top.c - `sonde top`: a live view of the hottest functions of running processes.
 *
 * Samples like `sonde record` (src/profile/profiler.h) and, every interval, symbolizes
 * what is new and shows each function's self and total share of the samples taken during
 * that interval (or since the start with --cumulative). On a terminal the screen is
 * redrawn and keys change the view; elsewhere (or with --iterations) each refresh is
 * printed as a block, so it can be scripted and tested.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "perf_events.h"
#include "profiler.h"
#include "profsummary.h"
#include "sonde/status.h"

const char sonde_top_usage[] =
        "usage: sonde top -p PID[,PID...] [-F HZ] [--sort self|total] [--thread NAME] [-n ROWS]\n"
        "                 [--interval SECONDS] [--iterations N] [--cumulative]\n"
        "                 [--call-graph auto|fp|dwarf]\n"
        "\n"
        "Shows the functions where the processes spend their CPU time, refreshed every\n"
        "interval: SELF is the share of samples taken in the function itself, TOTAL the share\n"
        "with the function anywhere on the stack. On a terminal, keys: s sort by self,\n"
        "t sort by total, c toggle cumulative, q quit. Stops at Ctrl-C, after N iterations,\n"
        "or when the processes exit.\n"
        "\n"
        "options:\n"
        "  -p, --pid PID[,PID]   the processes to watch\n"
        "  -F, --freq HZ         samples per second per thread (default 99)\n"
        "  --sort KEY            self (default) or total\n"
        "  --thread NAME         only threads whose name contains NAME\n"
        "  -n, --rows N          functions shown (default 20)\n"
        "  --interval SECONDS    refresh period (default 1)\n"
        "  --iterations N        stop after N refreshes (non-interactive use)\n"
        "  --cumulative          shares since the start, not per interval\n"
        "  --call-graph MODE     auto (default), fp or dwarf\n"
        "\n"
        "examples:\n"
        "  sonde top -p $(pidof server)\n"
        "  sonde top -p 1234 --thread worker --sort total\n"
        "  sonde top -p 1234 --iterations 5 > top.txt\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

typedef struct view {
	bool by_total, cumulative, tty;
	size_t rows;
	const char *thread;
} view;

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const sonde_fn_share *)a)->name, ((const sonde_fn_share *)b)->name);
}

static int total_cmp(const void *a, const void *b)
{
	const sonde_fn_share *x = a, *y = b;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->self > y->self ? -1 : x->self < y->self;
}

static int self_cmp(const void *a, const void *b)
{
	const sonde_fn_share *x = a, *y = b;
	if (x->self != y->self)
		return x->self > y->self ? -1 : 1;
	return x->total > y->total ? -1 : x->total < y->total;
}

/* Subtracts the previous counts (prev sorted by name) from cur. */
static void subtract(sonde_fn_share *cur, size_t n, const sonde_fn_share *prev, size_t np)
{
	for (size_t i = 0; i < n; i++) {
		const sonde_fn_share *p = np ? bsearch(&cur[i], prev, np, sizeof(*prev), name_cmp) : NULL;
		if (p) {
			cur[i].self -= p->self;
			cur[i].total -= p->total;
		}
	}
}

static void show(const view *v, sonde_fn_share *a, size_t n, int64_t sum, const sonde_profiler_stats *st,
                 unsigned iteration)
{
	if (n)
		qsort(a, n, sizeof(*a), v->by_total ? total_cmp : self_cmp);
	if (v->tty)
		fputs("\033[H\033[2J", stdout);
	else if (iteration > 1)
		putchar('\n');
	printf("sonde top: %llu samples, %llu lost, %.1f s, %zu threads%s%s%s; %s; sorted by %s\n",
	       (unsigned long long)st->samples, (unsigned long long)st->lost, (double)st->duration_ns / 1e9,
	       st->threads, v->thread ? " (threads matching '" : "", v->thread ? v->thread : "",
	       v->thread ? "')" : "", v->cumulative ? "since the start" : "last interval",
	       v->by_total ? "total" : "self");
	printf("%7s %7s  %s\n", "SELF", "TOTAL", "FUNCTION");
	size_t shown = 0;
	for (size_t i = 0; i < n && shown < v->rows; i++) {
		if (a[i].total <= 0)
			continue;
		printf("%6.1f%% %6.1f%%  %s\n", sum ? 100.0 * (double)a[i].self / (double)sum : 0.0,
		       sum ? 100.0 * (double)a[i].total / (double)sum : 0.0, a[i].name);
		shown++;
	}
	if (shown == 0)
		printf("%7s %7s  (no samples)\n", "-", "-");
	if (v->tty)
		printf("\n[s] sort by self  [t] sort by total  [c] cumulative  [q] quit\n");
	fflush(stdout);
}

int sonde_cmd_top(int argc, char **argv)
{
	enum { OPT_SORT = 256, OPT_THREAD, OPT_INTERVAL, OPT_ITER, OPT_CUMUL, OPT_CALLGRAPH };
	static const struct option longopts[] = {
	        {"pid", required_argument, NULL, 'p'},
	        {"freq", required_argument, NULL, 'F'},
	        {"sort", required_argument, NULL, OPT_SORT},
	        {"thread", required_argument, NULL, OPT_THREAD},
	        {"rows", required_argument, NULL, 'n'},
	        {"interval", required_argument, NULL, OPT_INTERVAL},
	        {"iterations", required_argument, NULL, OPT_ITER},
	        {"cumulative", no_argument, NULL, OPT_CUMUL},
	        {"call-graph", required_argument, NULL, OPT_CALLGRAPH},
	        {NULL, 0, NULL, 0},
	};
	sonde_profiler_opts o = {0};
	view v = {false, false, false, 20, NULL};
	pid_t pids[64];
	size_t npids = 0;
	double interval = 1.0;
	long iterations = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:F:n:", longopts, NULL)) != -1) {
		char *end;
		long val;
		switch (c) {
		case 'p': {
			const char *s = optarg;
			while (*s) {
				val = strtol(s, &end, 10);
				if (end == s || val <= 0 || val > 0x3fffffff || (*end && *end != ',') ||
				    npids == 64) {
					sonde_cli_error("top",
					                "-p takes process ids separated by commas, not '%s'",
					                optarg);
					return SONDE_EXIT_USAGE;
				}
				pids[npids++] = (pid_t)val;
				s = *end ? end + 1 : end;
			}
			break;
		}
		case 'F':
			val = strtol(optarg, &end, 10);
			if (*end || val < 1 || val > 100000) {
				sonde_cli_error("top", "-F takes a frequency from 1 to 100000 Hz, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			o.freq_hz = (uint32_t)val;
			break;
		case 'n':
			val = strtol(optarg, &end, 10);
			if (*end || val < 1 || val > 100000) {
				sonde_cli_error("top", "-n takes a number of rows, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			v.rows = (size_t)val;
			break;
		case OPT_SORT:
			if (strcmp(optarg, "self") == 0 || strcmp(optarg, "total") == 0) {
				v.by_total = optarg[0] == 't';
			} else {
				sonde_cli_error("top", "--sort takes self or total, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_THREAD:
			v.thread = optarg;
			o.threads = true;
			break;
		case OPT_INTERVAL:
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.05) || !isfinite(interval) || interval > 3600) {
				sonde_cli_error("top", "--interval takes seconds from 0.05 to 3600, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_ITER:
			iterations = strtol(optarg, &end, 10);
			if (*end || iterations < 1) {
				sonde_cli_error("top", "--iterations takes a positive count, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_CUMUL: v.cumulative = true; break;
		case OPT_CALLGRAPH:
			if (strcmp(optarg, "auto") == 0)
				o.callgraph = SONDE_CALLGRAPH_AUTO;
			else if (strcmp(optarg, "fp") == 0)
				o.callgraph = SONDE_CALLGRAPH_FP;
			else if (strcmp(optarg, "dwarf") == 0)
				o.callgraph = SONDE_CALLGRAPH_DWARF;
			else {
				sonde_cli_error("top", "--call-graph takes auto, fp or dwarf, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		default:
			sonde_cli_error("top", "unknown option or missing value '%s'; see `sonde top --help`",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (npids == 0 || optind < argc) {
		sonde_cli_error("top", npids ? "unexpected argument '%s'" : "which process? give -p PID%s",
		                npids ? argv[optind] : "");
		return SONDE_EXIT_USAGE;
	}
	v.tty = isatty(STDOUT_FILENO) && iterations == 0;

	sonde_profiler *pr;
	int rc = sonde_profiler_new(&o, &pr);
	if (rc) {
		sonde_cli_error("top", "%s", sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	for (size_t i = 0; i < npids; i++) {
		rc = sonde_profiler_attach(pr, pids[i]);
		if (rc == -ESRCH) {
			sonde_cli_error("top", "process %d: no such process", (int)pids[i]);
		} else if (rc == -EACCES || rc == -EPERM) {
			sonde_cli_error("top",
			                "process %d: permission denied by perf_events "
			                "(kernel.perf_event_paranoid = %d); "
			                "run as root or with CAP_PERFMON",
			                (int)pids[i], sonde_perf_paranoid());
		} else if (rc) {
			sonde_cli_error("top", "process %d: %s", (int)pids[i], sonde_strerror(rc));
		}
		if (rc) {
			sonde_profiler_free(pr);
			return SONDE_EXIT_USAGE;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct termios saved;
	bool raw = v.tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &t);
	}
	if ((rc = sonde_profiler_start(pr)) != 0) {
		sonde_cli_error("top", "cannot start sampling: %s", sonde_strerror(rc));
		if (raw)
			tcsetattr(STDIN_FILENO, TCSANOW, &saved);
		sonde_profiler_free(pr);
		return SONDE_EXIT_USAGE;
	}
	sonde_fn_share *prev = NULL;
	size_t nprev = 0;
	int64_t prev_sum = 0;
	int exit_code = SONDE_EXIT_OK;
	for (unsigned it = 1; !stop_requested; it++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		bool alive = true;
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			double left = interval - ((double)(t1.tv_sec - t0.tv_sec) +
			                          (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
			if (left <= 0 || stop_requested)
				break;
			rc = sonde_profiler_poll(pr, (int)(left * 1000) < 100 ? (int)(left * 1000) + 1 : 100);
			if (rc && rc != -EINTR) {
				sonde_cli_error("top", "sampling failed: %s", sonde_strerror(rc));
				stop_requested = 1;
				exit_code = SONDE_EXIT_USAGE;
				break;
			}
			if (raw) {
				struct pollfd pf = {STDIN_FILENO, POLLIN, 0};
				char key;
				if (poll(&pf, 1, 0) > 0 && read(STDIN_FILENO, &key, 1) == 1) {
					if (key == 'q')
						stop_requested = 1;
					else if (key == 's' || key == 't')
						v.by_total = key == 't';
					else if (key == 'c')
						v.cumulative = !v.cumulative;
				}
			}
			if (!sonde_profiler_alive(pr, NULL)) {
				alive = false;
				break;
			}
		}
		const sonde_stacktab *tab = sonde_profiler_stacktab(pr);
		sonde_fn_share *cur;
		size_t n;
		int64_t sum;
		if (!tab || sonde_fn_shares(tab, 0, v.thread, &cur, &n, &sum) != 0) {
			sonde_cli_error("top", "out of memory");
			exit_code = SONDE_EXIT_USAGE;
			break;
		}
		/* Keep the cumulative counts, sorted by name, for the next interval. */
		sonde_fn_share *keep = n ? malloc(n * sizeof(*keep)) : NULL;
		for (size_t i = 0; keep && i < n; i++) {
			keep[i] = cur[i];
			keep[i].name = strdup(cur[i].name);
			if (!keep[i].name)
				keep[i].name = strdup("");
		}
		if (keep)
			qsort(keep, n, sizeof(*keep), name_cmp);
		int64_t shown_sum = sum;
		if (!v.cumulative) {
			subtract(cur, n, prev, nprev);
			shown_sum = sum - prev_sum;
		}
		sonde_profiler_stats st;
		sonde_profiler_get_stats(pr, &st);
		show(&v, cur, n, shown_sum, &st, it);
		sonde_fn_shares_free(cur, n);
		sonde_fn_shares_free(prev, nprev);
		prev = keep;
		nprev = keep ? n : 0;
		prev_sum = sum;
		if (!alive) {
			fprintf(stderr, "sonde top: the process exited\n");
			break;
		}
		if (iterations && (long)it >= iterations)
			break;
	}
	sonde_fn_shares_free(prev, nprev);
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	sonde_profiler_stop(pr);
	sonde_profiler_free(pr);
	return exit_code;
}
