/*
 * cmd_mem.c - `sonde mem`: record a command's allocations with libsonde_mem.so, and
 * `sonde mem report`: peak, leaks, sites, temporary allocations, heap over time, flame
 * graphs.
 *
 * Recording is a preload: the command runs with LD_PRELOAD naming libsonde_mem.so and
 * the recorder's settings in SONDE_MEM_* variables (src/profile/memprof/memrec.c); this
 * file only finds the library, starts the command and waits. The report is the analysis
 * of src/profile/mem_report.h, printed as tables, JSON, profiles or SVG.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "flame_svg.h"
#include "json.h"
#include "mem_file.h"
#include "mem_report.h"
#include "profile_formats.h"

const char sonde_mem_usage[] =
        "usage: sonde mem [-o FILE] [--sample-bytes N | --all] -- COMMAND [ARGS...]\n"
        "       sonde mem report FILE [--json] [--top N] [--fail-on-leaks]\n"
        "                        [--flame peak|alloc|leak -o OUT.svg|.folded|.json|.pb.gz]\n"
        "                        [--plot OUT.svg]\n"
        "\n"
        "Records where a command allocates memory: malloc, calloc, realloc, reallocarray,\n"
        "posix_memalign, aligned_alloc, memalign, valloc, pvalloc (C++ new and delete come\n"
        "through them) and anonymous mmap/munmap of 64 KiB or more, each with its stack.\n"
        "The command runs with libsonde_mem.so preloaded; its output and exit status are\n"
        "its own. By default one allocation is recorded per N bytes allocated on average\n"
        "(exponentially distributed intervals; the report scales the samples without\n"
        "bias); --all records every allocation. A child process the command forks, or a\n"
        "program it runs, records into FILE.PID.\n"
        "\n"
        "`sonde mem report` reads a recording: the peak heap (when, how large, and the\n"
        "stacks holding the memory then), the leaks (live at exit, by stack), the top\n"
        "allocation sites by bytes and by count, temporary allocations (freed before the\n"
        "thread's next allocation), and the heap over time; or flame graphs and profiles of\n"
        "the bytes live at the peak, allocated in total, or leaked.\n"
        "\n"
        "options (recording):\n"
        "  -o, --output FILE      the recording (default sonde.mem)\n"
        "  --sample-bytes N       mean bytes between samples (default 524288)\n"
        "  --all                  record every allocation\n"
        "  -q, --quiet            no summary\n"
        "options (report):\n"
        "  --json                 the report as JSON on standard output\n"
        "  --top N                stacks per table (default 10)\n"
        "  --flame WHAT           peak, alloc or leak: write a flame graph or profile to -o;\n"
        "                         the format follows OUT's extension (.svg flame graph,\n"
        "                         .folded, .json speedscope, .pb.gz/.pprof pprof)\n"
        "  --plot OUT.svg         the heap over time as an SVG plot\n"
        "  --fail-on-leaks        exit 1 when anything is live at exit\n"
        "\n"
        "The library is looked up in $SONDE_MEM_LIB, then next to the sonde executable (a\n"
        "build directory), then in ../lib and ../lib/sonde beside it (an install).\n"
        "\n"
        "examples:\n"
        "  sonde mem -o app.mem -- ./app --serve\n"
        "  sonde mem --all -o test.mem -- ./unit_tests\n"
        "  sonde mem report app.mem\n"
        "  sonde mem report app.mem --flame leak -o leaks.svg --plot heap.svg\n"
        "  sonde mem report app.mem --flame peak -o peak.pb.gz && pprof -top peak.pb.gz\n";

static const char VERB[] = "mem";

/* --- recording --- */

static int find_library(char *out, size_t cap)
{
	const char *env = getenv("SONDE_MEM_LIB");
	if (env && *env) {
		if (access(env, R_OK) != 0)
			return -errno;
		snprintf(out, cap, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	static const char *const rel[] = {"/libsonde_mem.so", "/../lib/libsonde_mem.so",
	                                  "/../lib/sonde/libsonde_mem.so"};
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		if ((size_t)snprintf(out, cap, "%s%s", exe, rel[i]) < cap && access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*out = v;
	return 0;
}

static void human(char *buf, size_t cap, double b)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

/* Opens and checks a recording; prints the problem and returns an exit code. */
static int open_recording(const char *path, char **data, sonde_memfile **f)
{
	size_t len;
	int rc = sonde_cli_read_file(path, data, &len);
	if (rc) {
		sonde_cli_error(VERB, "%s: %s", path, strerror(-rc));
		return SONDE_EXIT_USAGE;
	}
	sonde_wire_error err = {0};
	rc = sonde_memfile_open((const uint8_t *)*data, len, f, &err);
	if (rc == -ENOMEM) {
		sonde_cli_error(VERB, "%s: out of memory", path);
		return SONDE_EXIT_USAGE;
	}
	if (rc) {
		sonde_cli_error(VERB, "%s: offset %zu: field %s: %s", path, err.offset, err.field, err.msg);
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

/* The recordings of child processes, FILE.PID: listed on stderr (list), or removed
 * (stale ones, before a new recording). */
static void children(const char *path, bool list)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : dir;
	if (slash)
		*slash = 0;
	const char *d_path = slash ? (dir[0] ? dir : "/") : ".";
	DIR *d = opendir(d_path);
	if (!d)
		return;
	size_t bl = strlen(base);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strncmp(n, base, bl) != 0 || n[bl] != '.' || !n[bl + 1] ||
		    strspn(n + bl + 1, "0123456789") != strlen(n + bl + 1))
			continue;
		char full[PATH_MAX];
		if ((size_t)snprintf(full, sizeof full, "%s/%s", d_path, n) >= sizeof full)
			continue;
		if (list)
			fprintf(stderr, "sonde mem: a child process recorded into %s\n", slash ? full : n);
		else
			unlink(full);
	}
	closedir(d);
}

/* The summary's figures from a look at the record headers (sonde_memfile_peek()), with
 * the file mapped so that only the pages holding them are read: the recording is not
 * read through, which for --all is some 5 bytes per allocation. Returns 0, or non-zero
 * when only a full open can tell (no END record, or a problem to report). */
static int peek_recording(const char *path, sonde_memfile_info *in, size_t *stacks)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			sonde_wire_error err = {0};
			rc = sonde_memfile_peek(m, (size_t)st.st_size, in, stacks, &err);
			munmap(m, (size_t)st.st_size);
		}
	}
	close(fd);
	return rc;
}

static void summary(const char *path)
{
	char *data = NULL;
	sonde_memfile *f = NULL;
	sonde_memfile_info peeked;
	size_t stacks;
	const sonde_memfile_info *in = &peeked;
	if (peek_recording(path, &peeked, &stacks) != 0) {
		if (open_recording(path, &data, &f) != SONDE_EXIT_OK) {
			free(data);
			return;
		}
		in = sonde_memfile_info_get(f);
		stacks = sonde_memfile_stacks_count(f);
	}
	fprintf(stderr, "sonde mem: %s: %llu events, %zu stacks, %zu threads, %.3f s%s%s", path,
	        (unsigned long long)in->events, stacks, in->threads, (double)in->end_ns / 1e9,
	        in->all ? ", every allocation" : ", sampled",
	        in->complete ? ""
	                     : " (incomplete: no END record; the command did not exit normally or closed the "
	                       "file)");
	if (in->lost)
		fprintf(stderr, ", %llu events lost", (unsigned long long)in->lost);
	fprintf(stderr, "\n");
	sonde_memfile_free(f);
	free(data);
	children(path, true);
	fprintf(stderr, "sonde mem: see `sonde mem report %s`\n", path);
}

/* The command's environment in *out (NULL-terminated; free out[0], then out): sonde's
 * own without the recorder's variables, then SONDE_MEM_PID= with room for the child's
 * pid (written by the child) first, LD_PRELOAD naming lib (before any preload already
 * set), SONDE_MEM_OUT=out_path and SONDE_MEM_SAMPLE_BYTES=sample. Returns 0 or -ENOMEM. */
static int child_env(const char *lib, const char *out_path, const char *sample, char ***out)
{
	static const char *const names[] = {
	        "SONDE_MEM_PID=", "LD_PRELOAD=", "SONDE_MEM_OUT=", "SONDE_MEM_SAMPLE_BYTES="};
	const char *pre = getenv("LD_PRELOAD");
	size_t n = 0;
	while (environ[n])
		n++;
	sonde_buf b = SONDE_BUF_INIT;
	size_t off[4];
	off[0] = b.len;
	sonde_buf_printf(&b, "%s%024d", names[0], 0);
	sonde_buf_putc(&b, 0);
	off[1] = b.len;
	sonde_buf_printf(&b, "%s%s%s%s", names[1], lib, pre && *pre ? ":" : "", pre && *pre ? pre : "");
	sonde_buf_putc(&b, 0);
	off[2] = b.len;
	sonde_buf_printf(&b, "%s%s", names[2], out_path);
	sonde_buf_putc(&b, 0);
	off[3] = b.len;
	sonde_buf_printf(&b, "%s%s", names[3], sample);
	sonde_buf_putc(&b, 0);
	char **env = calloc(n + 5, sizeof *env);
	if (!env || b.oom) {
		free(env);
		sonde_buf_release(&b);
		return -ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < 4; i++)
		env[k++] = b.data + off[i];
	for (size_t i = 0; i < n; i++) {
		bool ours = false;
		for (size_t j = 0; j < 4 && !ours; j++)
			ours = strncmp(environ[i], names[j], strlen(names[j])) == 0;
		if (!ours)
			env[k++] = environ[i];
	}
	env[k] = NULL;
	*out = env; /* env[0] == b.data: the buffer's storage, released with free() */
	return 0;
}

/* Starts argv with the environment envp (whose first entry is SONDE_MEM_PID= with room
 * for the pid, which the child writes). vfork: the command starts without copying sonde's
 * address space (some 45 shared libraries: their page tables, then a copy-on-write fault
 * for each page either process writes before the exec); the child writes its pid and
 * calls execvpe, nothing else. Returns the child's pid (or -1 with errno); *exec_err
 * receives execvpe's errno when the command could not be run (its status is then 127). */
static pid_t launch(char *const argv[], char **envp, int *exec_err)
{
	volatile int err = 0;
	pid_t child = vfork();
	if (child == 0) {
		char *d = envp[0] + sizeof "SONDE_MEM_PID=" - 1, digits[24];
		int k = 0;
		for (unsigned long v = (unsigned long)getpid(); v; v /= 10)
			digits[k++] = (char)('0' + v % 10);
		while (k)
			*d++ = digits[--k];
		*d = 0;
		execvpe(argv[0], argv, envp);
		err = errno;
		_exit(127);
	}
	*exec_err = err;
	return child;
}

static int record(int argc, char **argv)
{
	const char *out = "sonde.mem";
	uint64_t sample = 512 * 1024;
	bool all = false, quiet = false, have_sample = false;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (sonde_cli_is_help(a))
			return sonde_cli_usage(sonde_cli_find(VERB));
		if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(a, "--sample-bytes") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], &sample) || sample == 0) {
				sonde_cli_error(
				        VERB, "--sample-bytes: expected a positive number of bytes, got '%s'",
				        argv[i]);
				return SONDE_EXIT_USAGE;
			}
			have_sample = true;
		} else if (strcmp(a, "--all") == 0) {
			all = true;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (a[0] == '-') {
			sonde_cli_error(VERB, "unknown option or missing value: '%s' (see sonde mem --help)",
			                a);
			return SONDE_EXIT_USAGE;
		} else {
			break; /* the command, without "--" */
		}
	}
	if (i >= argc) {
		sonde_cli_error(VERB, "no command to run (sonde mem [options] -- COMMAND [ARGS...])");
		return SONDE_EXIT_USAGE;
	}
	if (all && have_sample) {
		sonde_cli_error(VERB, "--all and --sample-bytes exclude each other");
		return SONDE_EXIT_USAGE;
	}
	char lib[PATH_MAX];
	int rc = find_library(lib, sizeof lib);
	if (rc) {
		sonde_cli_error(VERB, "cannot find libsonde_mem.so (%s): set SONDE_MEM_LIB to its path",
		                strerror(-rc));
		return SONDE_EXIT_USAGE;
	}
	/* The command may change directory: give it an absolute path. */
	char abs[PATH_MAX];
	if (out[0] == '/') {
		snprintf(abs, sizeof abs, "%s", out);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd) ||
		    (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, out) >= sizeof abs) {
			sonde_cli_error(VERB, "%s: path too long", out);
			return SONDE_EXIT_USAGE;
		}
	}
	unlink(abs);
	children(abs, false);
	char num[32];
	snprintf(num, sizeof num, "%llu", all ? 0ull : (unsigned long long)sample);
	char **envp = NULL;
	rc = child_env(lib, abs, num, &envp);
	if (rc) {
		sonde_cli_error(VERB, "%s", strerror(-rc));
		return SONDE_EXIT_USAGE;
	}
	fflush(NULL);
	int e = 0;
	pid_t child = launch(argv + i, envp, &e);
	free(envp[0]);
	free(envp);
	if (child < 0) {
		sonde_cli_error(VERB, "vfork: %s", strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	struct sigaction ign = {0}, old_int, old_term;
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &old_int); /* Ctrl-C reaches the command; we wait for it */
	sigaction(SIGQUIT, &ign, &old_term);
	int status = 0;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_term, NULL);
	if (e) {
		sonde_cli_error(VERB, "cannot run '%s': %s", argv[i], strerror(e));
		return 127;
	}
	if (!quiet)
		summary(out);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return SONDE_EXIT_USAGE;
}

/* --- report --- */

typedef struct ranked {
	uint32_t stack;
	int64_t v, n;
	char *key;
} ranked;

static int by_value(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->v != y->v)
		return x->v < y->v ? 1 : -1;
	return strcmp(x->key, y->key);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const ranked *)a)->key, ((const ranked *)b)->key);
}

/* How a stack is shown: the innermost frame with its file:line (the allocation site),
 * then the names of its callers (up to max_frames in all; 0: all of them). */
static void stack_text(const sonde_stacktab *t, uint32_t s, size_t max_frames, sonde_buf *out)
{
	size_t n;
	const uint32_t *fr = sonde_stacktab_stack(t, s, &n);
	if (n == 0)
		sonde_buf_puts(out, "(no stack)");
	for (size_t i = 0; i < n && (max_frames == 0 || i < max_frames); i++) {
		const sonde_frame *f = sonde_stacktab_frame(t, fr[i]);
		if (i)
			sonde_buf_puts(out, " <- ");
		sonde_profile_frame_name(f, out);
		if (i == 0 && f->line) {
			const char *base = strrchr(f->file, '/');
			sonde_buf_printf(out, " (%s:%u)", base ? base + 1 : f->file, f->line);
		}
	}
	if (max_frames && n > max_frames)
		sonde_buf_puts(out, " <- ...");
}

static void free_ranked(ranked *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		free(r[i].key);
	free(r);
}

/* The stacks with a positive count of type, grouped by how they are shown (call sites
 * that differ only in their callers' lines are one), largest first; *n receives how
 * many. Free with free_ranked(). */
static ranked *rank(const sonde_stacktab *t, size_t type, size_t count_type, size_t *n)
{
	size_t ns = sonde_stacktab_stacks_count(t), k = 0;
	ranked *r = calloc(ns ? ns : 1, sizeof *r);
	*n = 0;
	if (!r)
		return NULL;
	sonde_buf b = SONDE_BUF_INIT;
	for (uint32_t s = 0; s < ns; s++) {
		int64_t v = sonde_stacktab_count(t, s, type);
		if (v <= 0)
			continue;
		sonde_buf_reset(&b);
		stack_text(t, s, 0, &b);
		char *key = strdup(b.data ? b.data : "");
		if (!key || b.oom) {
			free(key);
			free_ranked(r, k);
			sonde_buf_release(&b);
			return NULL;
		}
		r[k++] = (ranked){s, v, sonde_stacktab_count(t, s, count_type), key};
	}
	sonde_buf_release(&b);
	qsort(r, k, sizeof *r, by_key);
	size_t m = 0;
	for (size_t i = 0; i < k; i++) {
		if (m > 0 && strcmp(r[m - 1].key, r[i].key) == 0) {
			r[m - 1].v += r[i].v;
			r[m - 1].n += r[i].n;
			free(r[i].key);
			continue;
		}
		r[m++] = r[i];
	}
	qsort(r, m, sizeof *r, by_value);
	*n = m;
	return r;
}

static void print_table(const sonde_stacktab *t, const char *title, size_t type, size_t count_type,
                        bool bytes, double total, size_t top)
{
	size_t n;
	ranked *r = rank(t, type, count_type, &n);
	printf("%s\n", title);
	if (n == 0)
		printf("  (none)\n");
	sonde_buf b = SONDE_BUF_INIT;
	for (size_t i = 0; i < n && i < top; i++) {
		char h[32];
		if (bytes)
			human(h, sizeof h, (double)r[i].v);
		else
			snprintf(h, sizeof h, "%lld", (long long)r[i].v);
		sonde_buf_reset(&b);
		stack_text(t, r[i].stack, 6, &b);
		if (bytes)
			printf("  %10s %5.1f%% %9lld blocks  %s\n", h,
			       total > 0 ? 100.0 * (double)r[i].v / total : 0, (long long)r[i].n,
			       b.data ? b.data : "");
		else
			printf("  %10s %5.1f%%  %s\n", h, total > 0 ? 100.0 * (double)r[i].v / total : 0,
			       b.data ? b.data : "");
	}
	if (n > top)
		printf("  ... %zu more\n", n - top);
	sonde_buf_release(&b);
	free_ranked(r, n);
}

static void sparkline(const sonde_mem_report *r, size_t width)
{
	static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	double max = r->peak_bytes > 0 ? r->peak_bytes : 1;
	size_t n = r->timeline_len;
	if (width > n)
		width = n;
	printf("  ");
	for (size_t c = 0; c < width; c++) {
		double v = 0;
		for (size_t i = c * n / width; i < (c + 1) * n / width; i++)
			if (r->timeline_bytes[i] > v)
				v = r->timeline_bytes[i];
		int k = (int)(v / max * 7.999);
		printf("%s", bars[k < 0 ? 0 : k > 7 ? 7 : k]);
	}
	char h[32];
	human(h, sizeof h, r->peak_bytes);
	printf("  (0 .. %.3g s, max %s)\n", (double)r->info.end_ns / 1e9, h);
}

static void json_stacks(sonde_json_writer *w, const sonde_stacktab *t, size_t type, size_t count_type,
                        const char *vname, size_t top)
{
	size_t n;
	ranked *r = rank(t, type, count_type, &n);
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < n && i < top; i++) {
		sonde_json_obj_begin(w);
		sonde_json_key_cstr(w, "site");
		sonde_json_str(w, r[i].key, strlen(r[i].key));
		sonde_json_key_cstr(w, vname);
		sonde_json_i64(w, r[i].v);
		if (count_type != type) {
			sonde_json_key_cstr(w, "count");
			sonde_json_i64(w, r[i].n);
		}
		sonde_json_key_cstr(w, "frames");
		sonde_json_arr_begin(w);
		size_t nf;
		const uint32_t *fr = sonde_stacktab_stack(t, r[i].stack, &nf);
		for (size_t k = 0; k < nf; k++) {
			const sonde_frame *f = sonde_stacktab_frame(t, fr[k]);
			sonde_json_obj_begin(w);
			sonde_json_key_cstr(w, "function");
			sonde_json_str(w, f->function, strlen(f->function));
			sonde_json_key_cstr(w, "file");
			sonde_json_str(w, f->file, strlen(f->file));
			sonde_json_key_cstr(w, "line");
			sonde_json_i64(w, f->line);
			sonde_json_key_cstr(w, "module");
			sonde_json_str(w, f->module, strlen(f->module));
			sonde_json_key_cstr(w, "address");
			sonde_json_u64(w, f->address);
			if (f->inlined) {
				sonde_json_key_cstr(w, "inlined");
				sonde_json_bool(w, true);
			}
			sonde_json_obj_end(w);
		}
		sonde_json_arr_end(w);
		sonde_json_obj_end(w);
	}
	sonde_json_arr_end(w);
	free_ranked(r, n);
}

static void json_num(sonde_json_writer *w, const char *k, double v)
{
	sonde_json_key_cstr(w, k);
	sonde_json_i64(w, llround(v));
}

static int print_json(const char *path, const sonde_mem_report *r, size_t top)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &b, 1);
	const sonde_memfile_info *in = &r->info;
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "file");
	sonde_json_str(&w, path, strlen(path));
	json_num(&w, "pid", (double)in->pid);
	sonde_json_key_cstr(&w, "mode");
	sonde_json_str(&w, in->all ? "all" : "sampled", in->all ? 3 : 7);
	json_num(&w, "sample_bytes", (double)in->sample_bytes);
	json_num(&w, "duration_ns", (double)in->end_ns);
	json_num(&w, "threads", (double)in->threads);
	json_num(&w, "events", (double)in->events);
	json_num(&w, "lost_events", (double)in->lost);
	sonde_json_key_cstr(&w, "complete");
	sonde_json_bool(&w, in->complete);
	json_num(&w, "alloc_bytes", r->alloc_bytes);
	json_num(&w, "alloc_count", r->alloc_count);
	json_num(&w, "free_count", r->free_count);
	json_num(&w, "temp_count", r->temp_count);
	json_num(&w, "temp_bytes", r->temp_bytes);
	sonde_json_key_cstr(&w, "peak");
	sonde_json_obj_begin(&w);
	json_num(&w, "bytes", r->peak_bytes);
	json_num(&w, "time_ns", (double)r->peak_ns);
	sonde_json_key_cstr(&w, "stacks");
	json_stacks(&w, r->tab, SONDE_MEM_PEAK_SPACE, SONDE_MEM_PEAK_OBJECTS, "bytes", top);
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "leaks");
	sonde_json_obj_begin(&w);
	json_num(&w, "bytes", r->leak_bytes);
	json_num(&w, "count", r->leak_count);
	sonde_json_key_cstr(&w, "stacks");
	json_stacks(&w, r->tab, SONDE_MEM_LEAK_SPACE, SONDE_MEM_LEAK_OBJECTS, "bytes", top);
	sonde_json_key_cstr(&w, "by_count");
	json_stacks(&w, r->tab, SONDE_MEM_LEAK_OBJECTS, SONDE_MEM_LEAK_OBJECTS, "count", top);
	sonde_json_obj_end(&w);
	sonde_json_key_cstr(&w, "top_by_bytes");
	json_stacks(&w, r->tab, SONDE_MEM_ALLOC_SPACE, SONDE_MEM_ALLOC_OBJECTS, "bytes", top);
	sonde_json_key_cstr(&w, "top_by_count");
	json_stacks(&w, r->tab, SONDE_MEM_ALLOC_OBJECTS, SONDE_MEM_ALLOC_OBJECTS, "count", top);
	sonde_json_key_cstr(&w, "temporary");
	json_stacks(&w, r->tab, SONDE_MEM_TEMP_OBJECTS, SONDE_MEM_TEMP_OBJECTS, "count", top);
	sonde_json_key_cstr(&w, "timeline_bytes");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->timeline_len; i++)
		sonde_json_i64(&w, llround(r->timeline_bytes[i]));
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(&b, '\n');
	int rc = b.oom ? SONDE_EXIT_USAGE : sonde_cli_write_output(VERB, NULL, &b, false);
	sonde_buf_release(&b);
	return rc;
}

static void print_text(const char *path, const sonde_mem_report *r, size_t top)
{
	const sonde_memfile_info *in = &r->info;
	char a[32], b[32];
	printf("recording: %s  pid %llu  %s", path, (unsigned long long)in->pid,
	       in->all ? "every allocation" : "sampled");
	if (!in->all) {
		human(a, sizeof a, (double)in->sample_bytes);
		printf(" (one per %s on average; figures are estimates)", a);
	}
	printf("  %.3f s  %zu threads%s\n", (double)in->end_ns / 1e9, in->threads,
	       in->complete ? ""
	                    : "  INCOMPLETE (no END record: the program did not exit normally, or closed the "
	                      "file)");
	if (in->lost)
		printf("lost events: %llu\n", (unsigned long long)in->lost);
	human(a, sizeof a, r->alloc_bytes);
	printf("allocated: %.0f allocations, %s; temporary: %.0f (%.1f%%)\n", r->alloc_count, a,
	       r->temp_count, r->alloc_count > 0 ? 100 * r->temp_count / r->alloc_count : 0);
	human(a, sizeof a, r->peak_bytes);
	printf("peak heap: %s at %.3f s\n", a, (double)r->peak_ns / 1e9);
	human(b, sizeof b, r->leak_bytes);
	printf("leaked (live at exit): %.0f blocks, %s\n\n", r->leak_count, b);
	print_table(r->tab, "peak: stacks holding memory at the peak", SONDE_MEM_PEAK_SPACE,
	            SONDE_MEM_PEAK_OBJECTS, true, r->peak_bytes, top);
	print_table(r->tab, "\nleaks: live at exit", SONDE_MEM_LEAK_SPACE, SONDE_MEM_LEAK_OBJECTS, true,
	            r->leak_bytes, top);
	/* A leak that grows with the work (one block per request) shows by its count. */
	print_table(r->tab, "\nleaks by count", SONDE_MEM_LEAK_OBJECTS, SONDE_MEM_LEAK_OBJECTS, false,
	            r->leak_count, top);
	print_table(r->tab, "\ntop allocation sites by bytes", SONDE_MEM_ALLOC_SPACE, SONDE_MEM_ALLOC_OBJECTS,
	            true, r->alloc_bytes, top);
	print_table(r->tab, "\ntop allocation sites by count", SONDE_MEM_ALLOC_OBJECTS,
	            SONDE_MEM_ALLOC_OBJECTS, false, r->alloc_count, top);
	print_table(r->tab, "\ntemporary allocations (freed before the thread's next allocation)",
	            SONDE_MEM_TEMP_OBJECTS, SONDE_MEM_TEMP_OBJECTS, false, r->temp_count, top);
	printf("\nheap over time\n");
	sparkline(r, 60);
}

static int write_flame(const sonde_mem_report *r, const char *what, const char *out)
{
	size_t type;
	const char *title;
	if (strcmp(what, "peak") == 0) {
		type = SONDE_MEM_PEAK_SPACE;
		title = "Heap at its peak (bytes)";
	} else if (strcmp(what, "alloc") == 0) {
		type = SONDE_MEM_ALLOC_SPACE;
		title = "Allocated (bytes)";
	} else if (strcmp(what, "leak") == 0) {
		type = SONDE_MEM_LEAK_SPACE;
		title = "Leaked: live at exit (bytes)";
	} else {
		sonde_cli_error(VERB, "--flame: expected peak, alloc or leak, got '%s'", what);
		return SONDE_EXIT_USAGE;
	}
	size_t l = strlen(out);
#define ENDS(s) (l >= sizeof(s) - 1 && strcmp(out + l - (sizeof(s) - 1), s) == 0)
	sonde_buf b = SONDE_BUF_INIT;
	int rc;
	bool binary = false;
	if (ENDS(".svg")) {
		sonde_flame_opts fo = {0};
		fo.title = title;
		fo.type = type;
		rc = sonde_flame_svg(r->tab, &fo, &b);
	} else {
		sonde_profile_format f = ENDS(".folded") || ENDS(".txt") ? SONDE_PROFILE_FOLDED
		                         : ENDS(".json")                 ? SONDE_PROFILE_SPEEDSCOPE
		                         : ENDS(".pb.gz") || ENDS(".pprof") || ENDS(".pb")
		                                 ? SONDE_PROFILE_PPROF
		                                 : SONDE_PROFILE_UNKNOWN;
		if (f == SONDE_PROFILE_UNKNOWN) {
			sonde_cli_error(VERB,
			                "%s: expected the extension .svg, .folded, .json, .pb.gz or .pprof",
			                out);
			return SONDE_EXIT_USAGE;
		}
		sonde_profile_write_opts wo = {0};
		wo.type = type;
		wo.name = title;
		binary = f == SONDE_PROFILE_PPROF;
		rc = sonde_profile_write(r->tab, f, &wo, &b);
	}
#undef ENDS
	if (rc == 0 && !b.oom)
		rc = sonde_cli_write_output(VERB, out, &b, binary);
	else {
		sonde_cli_error(VERB, "%s: cannot render (%d)", out, rc);
		rc = SONDE_EXIT_USAGE;
	}
	sonde_buf_release(&b);
	return rc;
}

static int report(int argc, char **argv)
{
	const char *path = NULL, *flame = NULL, *out = NULL, *plot = NULL;
	bool json = false, fail_on_leaks = false;
	uint64_t top = 10;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (sonde_cli_is_help(a))
			return sonde_cli_usage(sonde_cli_find(VERB));
		if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--fail-on-leaks") == 0)
			fail_on_leaks = true;
		else if (strcmp(a, "--flame") == 0 && i + 1 < argc)
			flame = argv[++i];
		else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(a, "--plot") == 0 && i + 1 < argc)
			plot = argv[++i];
		else if (strcmp(a, "--top") == 0 && i + 1 < argc) {
			if (parse_u64(argv[++i], &top) || top == 0) {
				sonde_cli_error(VERB, "--top: expected a positive number, got '%s'", argv[i]);
				return SONDE_EXIT_USAGE;
			}
		} else if (a[0] == '-' && a[1]) {
			sonde_cli_error(VERB, "report: unknown option or missing value: '%s'", a);
			return SONDE_EXIT_USAGE;
		} else if (!path)
			path = a;
		else {
			sonde_cli_error(VERB, "report: one recording at a time ('%s' is a second)", a);
			return SONDE_EXIT_USAGE;
		}
	}
	if (!path) {
		sonde_cli_error(VERB, "report: which recording? (sonde mem report FILE)");
		return SONDE_EXIT_USAGE;
	}
	if ((flame != NULL) != (out != NULL)) {
		sonde_cli_error(VERB, "report: --flame and -o go together (--flame peak -o peak.svg)");
		return SONDE_EXIT_USAGE;
	}
	char *data = NULL;
	sonde_memfile *f = NULL;
	int rc = open_recording(path, &data, &f);
	if (rc) {
		free(data);
		return rc;
	}
	sonde_mem_report *r = NULL;
	int brc = sonde_mem_report_build(f, NULL, &r);
	if (brc) {
		sonde_cli_error(VERB, "%s: %s", path, strerror(-brc));
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	if (flame)
		rc = write_flame(r, flame, out);
	if (rc == 0 && plot) {
		sonde_buf b = SONDE_BUF_INIT;
		rc = sonde_mem_plot_svg(r, "Heap over time", &b)
		             ? SONDE_EXIT_USAGE
		             : sonde_cli_write_output(VERB, plot, &b, false);
		sonde_buf_release(&b);
	}
	if (rc == 0 && (json || (!flame && !plot))) {
		if (json)
			rc = print_json(path, r, (size_t)top);
		else
			print_text(path, r, (size_t)top);
	}
	if (rc == 0 && fail_on_leaks && r->leak_count > 0)
		rc = SONDE_EXIT_FINDING;
done:
	sonde_mem_report_free(r);
	sonde_memfile_free(f);
	free(data);
	return rc;
}

int sonde_cmd_mem(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "report") == 0)
		return report(argc, argv);
	return record(argc, argv);
}
