/*
 * cmd_record.c - `sonde record`: sample processes or a command, write a profile.
 *
 * Thin over the profiler (src/profile/profiler.h): parse options, attach or spawn, poll
 * until Ctrl-C, the duration, or the targets' exit, then write the stack table in the
 * chosen format (src/wire/profile_formats.h, or a flame graph: src/render/flame_svg.h)
 * and a summary on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "flame_svg.h"
#include "perf_events.h"
#include "profile_formats.h"
#include "profiler.h"
#include "profsummary.h"
#include "sonde/status.h"

const char sonde_record_usage[] =
        "usage: sonde record [-F HZ] [-d SECONDS] (-p PID[,PID...] | -- COMMAND [ARGS...])\n"
        "                    [-o FILE] [--format folded|speedscope|pprof|svg]\n"
        "                    [--call-graph auto|fp|dwarf] [--stack-size BYTES] [--kernel]\n"
        "                    [--threads] [--debug-dir DIR] [--debug-cache DIR | --no-debug-cache] [-q]\n"
        "\n"
        "Samples the CPU use of running processes (every thread, and threads they start\n"
        "later) or of a command it starts, until Ctrl-C, the end of the duration, or the\n"
        "exit of what it samples; then writes the profile and a summary (samples, lost\n"
        "samples, duration, threads, hottest functions) on standard error.\n"
        "\n"
        "Stacks are unwound with frame pointers (fp), with DWARF unwind tables over a copy\n"
        "of the user stack (dwarf: works for code built without frame pointers), or auto:\n"
        "DWARF where it reaches the outermost frame, else the deeper of the two walks.\n"
        "Functions, source lines and inlined frames come from the ELF symbols and the DWARF\n"
        "debug information of each module or its separate debug file (by build-id, or\n"
        ".gnu_debuglink); JIT code from /tmp/perf-PID.map; what cannot be named shows as\n"
        "module+0xOFFSET.\n"
        "\n"
        "options:\n"
        "  -F, --freq HZ          samples per second of CPU time per thread (default 99)\n"
        "  -d, --duration SECS    stop after SECS seconds (default: until Ctrl-C or exit)\n"
        "  -p, --pid PID[,PID]    sample these running processes\n"
        "  -o, --output FILE      write the profile to FILE (default: standard output)\n"
        "  --format FORMAT        folded (default), speedscope, pprof or svg; by default\n"
        "                         taken from FILE's extension (.json speedscope,\n"
        "                         .pb.gz/.pprof pprof, .svg svg)\n"
        "  --call-graph MODE      auto (default), fp or dwarf\n"
        "  --stack-size BYTES     user stack copied per sample for dwarf (default 16384;\n"
        "                         up to 65528 for deep stacks)\n"
        "  --kernel               kernel frames too (needs root, CAP_PERFMON, or\n"
        "                         kernel.perf_event_paranoid <= 1)\n"
        "  --threads              one root frame per thread: \"<name>-<tid>\"\n"
        "  --debug-dir DIR        look for separate debug files under DIR (repeatable;\n"
        "                         default /usr/lib/debug)\n"
        "  --debug-cache DIR      keep uncompressed copies of compressed debug files there,\n"
        "                         so later runs symbolize without inflating them (default\n"
        "                         $XDG_CACHE_HOME/sonde/debug, else ~/.cache/sonde/debug;\n"
        "                         about the size of the debug files used)\n"
        "  --no-debug-cache       inflate compressed debug files every time instead\n"
        "  -q, --quiet            no summary\n"
        "\n"
        "examples:\n"
        "  sonde record -p 1234 -d 10 -o cpu.svg\n"
        "  sonde record -p 1234 -d 10 -o profile.folded\n"
        "  sonde record -F 999 --call-graph dwarf -o app.pb.gz -- ./app --serve\n"
        "  sonde record --threads -o threads.json -p $(pidof server)\n"
        "  sonde record -p 1234 | flamegraph.pl > cpu.svg\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The output format: --format, else from the file name, else folded. */
static const char *pick_format(const char *format, const char *out)
{
	if (format)
		return format;
	if (out && ends_with(out, ".svg"))
		return "svg";
	if (out && ends_with(out, ".json"))
		return "speedscope";
	if (out && (ends_with(out, ".pb.gz") || ends_with(out, ".pprof") || ends_with(out, ".pb")))
		return "pprof";
	return "folded";
}

static void explain_perf_error(const char *what, int rc, bool kernel)
{
	int paranoid = sonde_perf_paranoid();
	if (rc == -EACCES || rc == -EPERM) {
		char level[32] = "unknown";
		if (paranoid != INT32_MIN)
			snprintf(level, sizeof(level), "%d", paranoid);
		sonde_cli_error("record",
		                "%s: permission denied by perf_events (kernel.perf_event_paranoid = %s); run "
		                "as root, "
		                "give sonde CAP_PERFMON (setcap cap_perfmon,cap_sys_ptrace+ep), or lower the "
		                "setting: sysctl kernel.perf_event_paranoid=%d",
		                what, level, kernel ? 1 : 2);
	} else if (rc == -ESRCH) {
		sonde_cli_error("record", "%s: no such process", what);
	} else if (rc == -ENOENT || rc == -ENODEV || rc == -EOPNOTSUPP) {
		sonde_cli_error("record", "%s: this kernel has no cpu-clock perf event (%s)", what,
		                strerror(-rc));
	} else if (rc == -EMFILE) {
		sonde_cli_error("record",
		                "%s: too many open files (one per thread and CPU); raise `ulimit -n`", what);
	} else {
		sonde_cli_error("record", "%s: %s", what, sonde_strerror(rc));
	}
}

static void print_summary(sonde_profiler *pr, const sonde_stacktab *tab, const sonde_profiler_opts *o)
{
	sonde_profiler_stats st;
	sonde_profiler_get_stats(pr, &st);
	double secs = (double)st.duration_ns / 1e9;
	fprintf(stderr, "sonde record: %llu samples, %llu lost, %.2f s, %zu thread%s in %zu process%s\n",
	        (unsigned long long)st.samples, (unsigned long long)st.lost, secs, st.threads,
	        st.threads == 1 ? "" : "s", st.processes, st.processes == 1 ? "" : "es");
	if (o->callgraph != SONDE_CALLGRAPH_FP && st.samples)
		fprintf(stderr,
		        "  unwinding: %.1f%% of samples reached main or their thread's start (%.1f%% DWARF, "
		        "%.1f%% frame pointers)\n",
		        100.0 * sonde_profile_rooted_share(tab, 0),
		        100.0 * (double)st.dwarf_used / (double)st.samples,
		        100.0 * (double)st.fp_used / (double)st.samples);
	sonde_fn_share *a;
	size_t n;
	int64_t sum;
	if (!st.samples || sonde_fn_shares(tab, 0, NULL, &a, &n, &sum) != 0 || sum == 0)
		return;
	fprintf(stderr, "  top functions by self share:\n");
	for (size_t i = 0; i < n && i < 5 && a[i].self > 0; i++)
		fprintf(stderr, "    %5.1f%%  %s\n", 100.0 * (double)a[i].self / (double)sum, a[i].name);
	/* By total: sort a copy of the order by total. */
	size_t *order = malloc(n * sizeof(*order));
	if (order) {
		for (size_t i = 0; i < n; i++)
			order[i] = i;
		for (size_t k = 0; k < 5 && k < n; k++) { /* partial selection sort: 5 largest */
			size_t best = k;
			for (size_t j = k + 1; j < n; j++)
				if (a[order[j]].total > a[order[best]].total)
					best = j;
			size_t tmp = order[k];
			order[k] = order[best];
			order[best] = tmp;
		}
		fprintf(stderr, "  top functions by total share:\n");
		for (size_t i = 0; i < n && i < 5; i++)
			fprintf(stderr, "    %5.1f%%  %s\n", 100.0 * (double)a[order[i]].total / (double)sum,
			        a[order[i]].name);
		free(order);
	}
	sonde_fn_shares_free(a, n);
}

static int write_profile(const sonde_stacktab *tab, const char *format, const char *out_path,
                         const sonde_profiler_stats *st, uint32_t freq_hz)
{
	sonde_buf buf = SONDE_BUF_INIT;
	int rc;
	if (strcmp(format, "svg") == 0) {
		char subtitle[128];
		snprintf(subtitle, sizeof(subtitle), "%llu samples at %u Hz, %.2f s",
		         (unsigned long long)st->samples, freq_hz, (double)st->duration_ns / 1e9);
		sonde_flame_opts fo = {.title = "CPU Flame Graph", .subtitle = subtitle};
		rc = sonde_flame_svg(tab, &fo, &buf);
	} else {
		sonde_profile_write_opts wo = {0};
		wo.type = 0;
		wo.name = "sonde record";
		wo.duration_ns = (int64_t)st->duration_ns;
		wo.time_ns = (int64_t)time(NULL) * 1000000000ll - wo.duration_ns;
		wo.period = 1000000000ll / freq_hz;
		wo.period_type = "cpu";
		wo.period_unit = "nanoseconds";
		rc = sonde_profile_write(tab, sonde_profile_format_find(format), &wo, &buf);
	}
	if (rc) {
		sonde_cli_error("record", "writing %s: %s", format, sonde_strerror(rc));
		sonde_buf_release(&buf);
		return SONDE_EXIT_USAGE;
	}
	FILE *fp = out_path && strcmp(out_path, "-") != 0 ? fopen(out_path, "wb") : stdout;
	if (!fp) {
		sonde_cli_error("record", "%s: %s", out_path, strerror(errno));
		sonde_buf_release(&buf);
		return SONDE_EXIT_USAGE;
	}
	bool ok = fwrite(buf.data ? buf.data : "", 1, buf.len, fp) == buf.len;
	if (fp != stdout)
		ok = (fclose(fp) == 0) && ok;
	sonde_buf_release(&buf);
	if (!ok) {
		sonde_cli_error("record", "%s: write failed: %s", out_path ? out_path : "standard output",
		                strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

static int parse_pids(const char *s, pid_t *pids, size_t max, size_t *n)
{
	*n = 0;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v <= 0 || v > 0x3fffffff || (*end && *end != ','))
			return -1;
		if (*n == max)
			return -1;
		pids[(*n)++] = (pid_t)v;
		s = *end ? end + 1 : end;
	}
	return *n ? 0 : -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* More file descriptors: one event per thread and CPU. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int sonde_cmd_record(int argc, char **argv)
{
	enum {
		OPT_FORMAT = 256,
		OPT_CALLGRAPH,
		OPT_STACK,
		OPT_KERNEL,
		OPT_THREADS,
		OPT_DEBUGDIR,
		OPT_CACHE,
		OPT_NOCACHE
	};
	static const struct option longopts[] = {
	        {"freq", required_argument, NULL, 'F'},
	        {"duration", required_argument, NULL, 'd'},
	        {"pid", required_argument, NULL, 'p'},
	        {"output", required_argument, NULL, 'o'},
	        {"format", required_argument, NULL, OPT_FORMAT},
	        {"call-graph", required_argument, NULL, OPT_CALLGRAPH},
	        {"stack-size", required_argument, NULL, OPT_STACK},
	        {"kernel", no_argument, NULL, OPT_KERNEL},
	        {"threads", no_argument, NULL, OPT_THREADS},
	        {"debug-dir", required_argument, NULL, OPT_DEBUGDIR},
	        {"debug-cache", required_argument, NULL, OPT_CACHE},
	        {"no-debug-cache", no_argument, NULL, OPT_NOCACHE},
	        {"quiet", no_argument, NULL, 'q'},
	        {NULL, 0, NULL, 0},
	};
	sonde_profiler_opts o = {0};
	const char *cache = NULL;
	bool no_cache = false;
	char cache_buf[4096];
	double duration = 0;
	pid_t pids[64];
	size_t npids = 0;
	const char *out_path = NULL, *format = NULL;
	const char *debug_dirs[16];
	size_t ndebug = 0;
	bool quiet = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+F:d:p:o:q", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'F': {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 100000) {
				sonde_cli_error("record",
				                "-F takes a frequency from 1 to 100000 Hz, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			o.freq_hz = (uint32_t)v;
			break;
		}
		case 'd':
			duration = strtod(optarg, &end);
			if (*end || !(duration > 0) || !isfinite(duration)) {
				sonde_cli_error("record", "-d takes a positive number of seconds, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case 'p': {
			size_t n;
			if (parse_pids(optarg, pids + npids, 64 - npids, &n) != 0) {
				sonde_cli_error("record",
				                "-p takes process ids separated by commas, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			npids += n;
			break;
		}
		case 'o': out_path = optarg; break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_CALLGRAPH:
			if (strcmp(optarg, "auto") == 0)
				o.callgraph = SONDE_CALLGRAPH_AUTO;
			else if (strcmp(optarg, "fp") == 0)
				o.callgraph = SONDE_CALLGRAPH_FP;
			else if (strcmp(optarg, "dwarf") == 0)
				o.callgraph = SONDE_CALLGRAPH_DWARF;
			else {
				sonde_cli_error("record", "--call-graph takes auto, fp or dwarf, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_STACK: {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 256 || v > 65528) {
				sonde_cli_error("record", "--stack-size takes 256 to 65528 bytes, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			o.stack_bytes = (uint32_t)v;
			break;
		}
		case OPT_KERNEL: o.kernel = true; break;
		case OPT_THREADS: o.threads = true; break;
		case OPT_DEBUGDIR:
			if (ndebug == 16) {
				sonde_cli_error("record", "at most 16 --debug-dir");
				return SONDE_EXIT_USAGE;
			}
			debug_dirs[ndebug++] = optarg;
			break;
		case OPT_CACHE: cache = optarg; break;
		case OPT_NOCACHE: no_cache = true; break;
		case 'q': quiet = true; break;
		case '?':
		default:
			if (optopt)
				sonde_cli_error(
				        "record",
				        "option -%c needs a value or is unknown; see `sonde record --help`",
				        optopt);
			else
				sonde_cli_error("record", "unknown option '%s'; see `sonde record --help`",
				                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	char **cmd = argv + optind;
	int ncmd = argc - optind;
	if ((npids == 0) == (ncmd == 0)) {
		sonde_cli_error("record", npids ? "give either -p PID or -- COMMAND, not both"
		                                : "nothing to record: give -p PID or -- COMMAND");
		return SONDE_EXIT_USAGE;
	}
	format = pick_format(format, out_path);
	if (strcmp(format, "svg") != 0 &&
	    (sonde_profile_format_find(format) == SONDE_PROFILE_UNKNOWN ||
	     !sonde_profile_format_writable(sonde_profile_format_find(format)))) {
		sonde_cli_error("record", "unknown format '%s': use folded, speedscope, pprof or svg",
		                format);
		return SONDE_EXIT_USAGE;
	}
	if (ndebug) {
		o.debug_dirs = debug_dirs;
		o.debug_dirs_count = ndebug;
	}
	if (!no_cache) {
		const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
		if (!cache && xdg && *xdg == '/')
			cache = snprintf(cache_buf, sizeof cache_buf, "%s/sonde/debug", xdg) <
			                        (int)sizeof cache_buf
			                ? cache_buf
			                : NULL;
		else if (!cache && home && *home == '/')
			cache = snprintf(cache_buf, sizeof cache_buf, "%s/.cache/sonde/debug", home) <
			                        (int)sizeof cache_buf
			                ? cache_buf
			                : NULL;
		o.debug_cache = cache;
	}
	raise_fd_limit();

	sonde_profiler *pr;
	int rc = sonde_profiler_new(&o, &pr);
	if (rc) {
		sonde_cli_error("record", "%s", sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	pid_t child = 0;
	char what[64];
	for (size_t i = 0; i < npids; i++) {
		snprintf(what, sizeof(what), "process %d", (int)pids[i]);
		if ((rc = sonde_profiler_attach(pr, pids[i])) != 0) {
			explain_perf_error(what, rc, o.kernel);
			sonde_profiler_free(pr);
			return SONDE_EXIT_USAGE;
		}
	}
	if (ncmd) {
		snprintf(what, sizeof(what), "%s", cmd[0]);
		if ((rc = sonde_profiler_spawn(pr, cmd, &child)) != 0) {
			explain_perf_error(what, rc, o.kernel);
			sonde_profiler_free(pr);
			return SONDE_EXIT_USAGE;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if ((rc = sonde_profiler_start(pr)) != 0) {
		if (child && rc != -EACCES && rc != -EPERM && rc != -EPIPE)
			sonde_cli_error("record", "cannot run '%s': %s", cmd[0], strerror(-rc));
		else
			explain_perf_error(what, rc, o.kernel);
		sonde_profiler_free(pr);
		return SONDE_EXIT_USAGE;
	}
	if (isatty(STDERR_FILENO) && !quiet)
		fprintf(stderr, "sonde record: sampling at %u Hz; Ctrl-C to stop\n",
		        o.freq_hz ? o.freq_hz : 99);
	uint64_t t0 = now_ns();
	int status = 0;
	bool exited = false;
	while (!stop_requested) {
		if (duration > 0 && (double)(now_ns() - t0) / 1e9 >= duration)
			break;
		rc = sonde_profiler_poll(pr, 100);
		if (rc && rc != -EINTR) {
			sonde_cli_error("record", "sampling failed: %s", sonde_strerror(rc));
			break;
		}
		if (!sonde_profiler_alive(pr, &status)) {
			exited = true;
			break;
		}
	}
	rc = sonde_profiler_stop(pr);
	if (rc)
		sonde_cli_error("record", "stopping: %s", sonde_strerror(rc));
	if (child && !exited) { /* Ctrl-C or the duration: the command goes too, as with perf */
		kill(child, SIGTERM);
		for (int i = 0; i < 50 && sonde_profiler_alive(pr, &status); i++)
			usleep(10000);
		if (sonde_profiler_alive(pr, &status)) {
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
		}
	}
	const sonde_stacktab *tab = sonde_profiler_stacktab(pr);
	if (!tab) {
		sonde_cli_error("record", "out of memory while symbolizing");
		sonde_profiler_free(pr);
		return SONDE_EXIT_USAGE;
	}
	sonde_profiler_stats st;
	sonde_profiler_get_stats(pr, &st);
	int exit_code = write_profile(tab, format, out_path, &st, o.freq_hz ? o.freq_hz : 99);
	if (!quiet) {
		print_summary(pr, tab, &o);
		if (exited && npids)
			fprintf(stderr,
			        "  the target exited after %.2f s; the profile covers its run until then\n",
			        (double)st.duration_ns / 1e9);
		if (child && exited && WIFEXITED(status) && WEXITSTATUS(status) != 0)
			fprintf(stderr, "  %s exited with status %d\n", cmd[0], WEXITSTATUS(status));
		if (child && exited && WIFSIGNALED(status))
			fprintf(stderr, "  %s was killed by signal %d\n", cmd[0], WTERMSIG(status));
		if (st.lost)
			fprintf(stderr, "  %llu samples were lost (the ring buffers filled); lower -F\n",
			        (unsigned long long)st.lost);
		if (out_path && exit_code == SONDE_EXIT_OK)
			fprintf(stderr, "  wrote %s (%s)\n", out_path, format);
	}
	sonde_profiler_free(pr);
	return exit_code;
}
