/*
 * cmd_incident.c - `sonde incident`: an investigation kept in the store next to its
 * evidence (journal.h). Sub-commands open an incident, record reproductions, evidence
 * (a stored trace, the output of a sonde query, a file, a command's output), hypotheses
 * and their verification, the root cause, fixes, action items and notes, resolve it, and
 * show or list incidents. The method's guard rails (postmortem.h) refuse a root cause
 * that restates a symptom and a resolution without a verified hypothesis unless --force.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "cli_query.h"
#include "hex.h"
#include "journal.h"
#include "json.h"
#include "postmortem.h"
#include "sonde/status.h"

const char sonde_incident_usage[] =
        "usage: sonde incident new TITLE --severity CRITICAL|HIGH|MEDIUM|LOW\n"
        "       sonde incident repro ID STEPS --attempts N --reproduced K\n"
        "       sonde incident evidence ID --trace TRACE-ID | --query 'VERB ARGS' | --file PATH\n"
        "                                  | --command CMD [ARGS...]\n"
        "       sonde incident hypothesis ID TEXT\n"
        "       sonde incident verify ID HYPOTHESIS-NUMBER --test TEXT --held yes|no\n"
        "       sonde incident root-cause ID TEXT [--force]\n"
        "       sonde incident fix ID TEXT [--verified-by TEXT]\n"
        "       sonde incident action ID ITEM --owner NAME --due YYYY-MM-DD --priority P0..P3\n"
        "                             [--status open|done]\n"
        "       sonde incident note ID TEXT [--tag went-well|went-wrong|contributing]\n"
        "       sonde incident resolve ID [--force]\n"
        "       sonde incident show ID [--json]\n"
        "       sonde incident list [--json]\n"
        "\n"
        "Keeps an investigation in the store, next to the telemetry it is about: how the\n"
        "failure was reproduced, the evidence (a stored trace, checked to exist; the output\n"
        "of a sonde query over the same store; a file; a command's output and exit status),\n"
        "the hypotheses and how each was tested, the root cause, the fix and how it was\n"
        "verified, action items, notes. Every entry is stamped with the time and $USER.\n"
        "`sonde postmortem ID` writes the post-mortem from it.\n"
        "\n"
        "Guard rails: a root cause that only restates a symptom (\"timeouts\", \"high latency\",\n"
        "or the text of the evidence) is refused, and resolving an incident without a\n"
        "verified hypothesis and a root cause is refused: both warn and exit 1 unless\n"
        "--force, which records anyway (the flag stays visible in show and the post-mortem).\n"
        "\n"
        "options:\n"
        "  --db PATH           the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --json              show, list: JSON for scripts\n"
        "  --force             root-cause, resolve: record despite a guard rail\n"
        "\n"
        "Text arguments may be given as several words; they are joined with spaces.\n"
        "--query runs sonde itself (no shell) on the same store: one of the verbs traces,\n"
        "trace, latency, queries, errors, anomalies, logs, db. --command runs CMD directly\n"
        "(no shell; PATH is searched) and takes every argument after it; put -- before CMD\n"
        "when its arguments include --help. Output is kept up to 256 KiB.\n"
        "\n"
        "environment:\n"
        "  USER                the author recorded with each entry (else the login name)\n"
        "  SONDE_NOW           an RFC 3339 time used instead of the clock (for tests and replays)\n"
        "\n"
        "examples:\n"
        "  id=$(sonde incident new 'checkout fails after release 2' --severity HIGH)\n"
        "  sonde incident evidence $id --trace 0af7651916cd43dd8448eb211c80319c\n"
        "  sonde incident evidence $id --query 'errors --since 1h'\n"
        "  sonde incident hypothesis $id 'the v2 order query lacks an index'\n"
        "  sonde incident verify $id 1 --test 'EXPLAIN shows a full scan' --held yes\n"
        "  sonde incident root-cause $id 'release 2 added a query on orders.user_id without an index'\n"
        "  sonde incident action $id 'add a query-plan check to CI' --owner bob --due 2024-06-01 --priority "
        "P1\n"
        "  sonde incident show $id\n";

#define VERB         "incident"
#define OUTPUT_LIMIT (256 * 1024)

uint64_t sonde_cli_now_ns(void)
{
	const char *env = getenv("SONDE_NOW");
	uint64_t ns;
	if (env && *env && sonde_cli_parse_time(env, &ns) == 0)
		return ns;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* SONDE_NOW, when set, must be a time: checked once so that a typo is not silently the
 * clock. */
static int check_now(void)
{
	const char *env = getenv("SONDE_NOW");
	uint64_t ns;
	if (env && *env && sonde_cli_parse_time(env, &ns) < 0) {
		sonde_cli_error(
		        VERB, "SONDE_NOW '%s': expected an RFC 3339 time such as 2024-05-01T10:00:00Z", env);
		return -1;
	}
	return 0;
}

static const char *author(void)
{
	const char *u = getenv("USER");
	if (u && *u)
		return u;
	const struct passwd *pw = getpwuid(geteuid()); /* a service account, cron, a container */
	return pw && pw->pw_name && *pw->pw_name ? pw->pw_name : "unknown";
}

static void fmt_time(uint64_t ns, char *out, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void fmt_iso(uint64_t ns, char *out, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t k = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, cap - k, ".%03uZ", (unsigned)(ns % 1000000000u / 1000000u));
}

/* ---- Options ---------------------------------------------------------------------------- */

enum {
	OPT_DB = 1,
	OPT_JSON,
	OPT_FORCE,
	OPT_SEVERITY,
	OPT_ATTEMPTS,
	OPT_REPRODUCED,
	OPT_TRACE,
	OPT_QUERY,
	OPT_FILE,
	OPT_TEST,
	OPT_HELD,
	OPT_VERIFIED_BY,
	OPT_OWNER,
	OPT_DUE,
	OPT_PRIORITY,
	OPT_STATUS,
	OPT_TAG,
	OPT_COUNT,
};

static const struct option longopts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"json", no_argument, NULL, OPT_JSON},
        {"force", no_argument, NULL, OPT_FORCE},
        {"severity", required_argument, NULL, OPT_SEVERITY},
        {"attempts", required_argument, NULL, OPT_ATTEMPTS},
        {"reproduced", required_argument, NULL, OPT_REPRODUCED},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"query", required_argument, NULL, OPT_QUERY},
        {"file", required_argument, NULL, OPT_FILE},
        {"test", required_argument, NULL, OPT_TEST},
        {"held", required_argument, NULL, OPT_HELD},
        {"verified-by", required_argument, NULL, OPT_VERIFIED_BY},
        {"owner", required_argument, NULL, OPT_OWNER},
        {"due", required_argument, NULL, OPT_DUE},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"status", required_argument, NULL, OPT_STATUS},
        {"tag", required_argument, NULL, OPT_TAG},
        {NULL, 0, NULL, 0},
};

typedef struct inc_args {
	const char *sub;
	const char *opt[OPT_COUNT]; /* by option code; flags hold "" when given */
	char **pos;                 /* positional arguments after the sub-command */
	int npos;
	char **command; /* --command CMD ARGS..., NULL-terminated; NULL when not given */
	sonde_store *store;
	const char *db;
} inc_args;

/* Which options each sub-command accepts (besides --db). */
static bool allowed(const char *sub, int opt)
{
	static const struct {
		const char *sub;
		int opts[6];
	} table[] = {
	        {"new", {OPT_SEVERITY}},
	        {"repro", {OPT_ATTEMPTS, OPT_REPRODUCED}},
	        {"evidence", {OPT_TRACE, OPT_QUERY, OPT_FILE}},
	        {"hypothesis", {0}},
	        {"verify", {OPT_TEST, OPT_HELD}},
	        {"root-cause", {OPT_FORCE}},
	        {"fix", {OPT_VERIFIED_BY}},
	        {"action", {OPT_OWNER, OPT_DUE, OPT_PRIORITY, OPT_STATUS}},
	        {"note", {OPT_TAG}},
	        {"resolve", {OPT_FORCE}},
	        {"show", {OPT_JSON}},
	        {"list", {OPT_JSON}},
	};
	if (opt == OPT_DB)
		return true;
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (strcmp(table[i].sub, sub) == 0)
			for (size_t k = 0; k < 6 && table[i].opts[k]; k++)
				if (table[i].opts[k] == opt)
					return true;
	return false;
}

static int parse_args(int argc, char **argv, inc_args *a)
{
	/* --command takes the rest of the line, so it is cut off before getopt sees it. */
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--command") == 0) {
			if (strcmp(a->sub, "evidence") != 0) {
				sonde_cli_error(VERB, "%s: --command is an option of evidence", a->sub);
				return -1;
			}
			int k = i + 1;
			if (k < argc && strcmp(argv[k], "--") == 0)
				k++;
			if (k >= argc) {
				sonde_cli_error(VERB, "--command needs a command to run");
				return -1;
			}
			a->command = argv + k;
			argv[i] = NULL;
			argc = i;
			break;
		}
	}
	int c;
	opterr = 0;
	optind = 1;
	/* argv[0] is the sub-command. */
	while ((c = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		if (c == '?' || c == ':' || c <= 0 || c >= OPT_COUNT) {
			const char *bad = argv[optind];
			sonde_cli_error(VERB,
			                "%s: unknown option or missing value '%s'; see sonde incident --help",
			                a->sub, bad ? bad : "");
			return -1;
		}
		if (!allowed(a->sub, c)) {
			sonde_cli_error(VERB, "%s does not take --%s; see sonde incident --help", a->sub,
			                longopts[c - 1].name);
			return -1;
		}
		a->opt[c] = optarg ? optarg : "";
	}
	a->pos = argv + 1 + optind;
	a->npos = argc - 1 - optind;
	a->db = a->opt[OPT_DB] ? a->opt[OPT_DB] : getenv("SONDE_DB");
	if (!a->db || !*a->db)
		a->db = SONDE_STORE_DEFAULT_URI;
	return 0;
}

/* The positional arguments from the i-th on, joined by spaces, into out. */
static const char *joined(const inc_args *a, int i, sonde_buf *out)
{
	for (int k = i; k < a->npos; k++) {
		if (k > i)
			sonde_buf_putc(out, ' ');
		sonde_buf_puts(out, a->pos[k]);
	}
	sonde_buf_putc(out, '\0');
	return out->data;
}

static int need(const inc_args *a, int n, const char *what)
{
	if (a->npos < n) {
		sonde_cli_error(VERB, "%s needs %s; see sonde incident --help", a->sub, what);
		return -1;
	}
	return 0;
}

static int need_opt(const inc_args *a, int opt)
{
	if (!a->opt[opt] || !*a->opt[opt]) {
		sonde_cli_error(VERB, "%s needs --%s; see sonde incident --help", a->sub,
		                longopts[opt - 1].name);
		return -1;
	}
	return 0;
}

/* Only `new` may create the store: recording into a mistyped --db must not make one. */
static int open_store(inc_args *a, unsigned flags)
{
	char msg[512];
	int rc = sonde_store_open(a->db, flags, &a->store, msg, sizeof msg);
	if (rc < 0) {
		if (rc == -ENOENT)
			sonde_cli_error(
			        VERB, "%s: no such store; `sonde incident new` or `sonde ingest` creates one",
			        a->db);
		else
			sonde_cli_error(VERB, "%s", msg[0] ? msg : sonde_strerror(rc));
		return -1;
	}
	return 0;
}

/* Reports a failed journal call; returns the exit code. */
static int journal_error(const inc_args *a, int rc)
{
	const char *m = sonde_store_errmsg(a->store);
	sonde_cli_error(VERB, "%s: %s", a->db, m[0] ? m : sonde_strerror(rc));
	return SONDE_EXIT_USAGE;
}

static int parse_count(const char *opt, const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (end == s || *end || errno || x < 0) {
		sonde_cli_error(VERB, "--%s '%s': expected a count (0, 1, 2, ...)", opt, s);
		return -1;
	}
	*v = x;
	return 0;
}

static int add_entry(inc_args *a, sonde_entry_kind kind, const char *text, const char *source,
                     const char *detail, int64_t ref)
{
	sonde_incident_entry e = {.kind = kind,
	                          .time_ns = sonde_cli_now_ns(),
	                          .author = author(),
	                          .text = text,
	                          .source = source,
	                          .detail_json = detail,
	                          .ref = ref};
	int64_t seq;
	int rc = sonde_incident_add_entry(a->store, a->pos[0], &e, &seq);
	if (rc < 0)
		return journal_error(a, rc);
	int64_t num = 0;
	sonde_incident_id_parse(a->pos[0], &num);
	printf("INC-%" PRId64 " #%" PRId64 " %s\n", num, seq, sonde_entry_kind_name(kind));
	return SONDE_EXIT_OK;
}

/* ---- Running sonde and commands ------------------------------------------------------- */

/* Splits a query into words: blanks separate, '...' and "..." quote, backslash escapes
 * outside single quotes. Words are written into buf (len(q) + 1 bytes) and pointed to by
 * words[0..cap). Returns the count, or -1 for an unterminated quote or too many words. */
static int split_words(const char *q, char *buf, char **words, int cap)
{
	int n = 0;
	char *o = buf;
	const char *p = q;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		if (n == cap - 1)
			return -1;
		words[n++] = o;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
			if (*p == '\'' || *p == '"') {
				char qc = *p++;
				while (*p && *p != qc) {
					if (qc == '"' && *p == '\\' && p[1])
						p++;
					*o++ = *p++;
				}
				if (*p != qc)
					return -1;
				p++;
			} else if (*p == '\\' && p[1]) {
				p++;
				*o++ = *p++;
			} else {
				*o++ = *p++;
			}
		}
		*o++ = '\0';
	}
	words[n] = NULL;
	return n;
}

typedef struct run_result {
	sonde_buf out;
	bool truncated;
	int status; /* exit status, or 128 + signal */
	char exec_error[160];
} run_result;

/* Runs argv[0] (path searched unless self) with stdout (and stderr when merge) into
 * res->out. Returns 0, or -errno when the process could not be started. */
static int run_capture(char *const *argv, bool self, bool merge, const char *db, run_result *res)
{
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		return -e;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		return -e;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		if (merge)
			dup2(out[1], STDERR_FILENO);
		if (db)
			setenv("SONDE_DB", db, 1);
		signal(SIGPIPE, SIG_DFL);
		if (self)
			execv("/proc/self/exe", argv);
		else
			execvp(argv[0], argv);
		int e = errno;
		ssize_t w = write(err[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	char chunk[8192];
	for (;;) {
		ssize_t n = read(out[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t room = res->out.len < OUTPUT_LIMIT ? OUTPUT_LIMIT - res->out.len : 0;
		if ((size_t)n > room)
			res->truncated = true;
		sonde_buf_append(&res->out, chunk, (size_t)n < room ? (size_t)n : room);
	}
	close(out[0]);
	int e = 0;
	ssize_t got = read(err[0], &e, sizeof e);
	close(err[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof e) {
		snprintf(res->exec_error, sizeof res->exec_error, "%s", strerror(e));
		return -e;
	}
	res->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
	return 0;
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	if (len && s[len - 1] != '\n')
		n++;
	return n;
}

static const char *const query_verbs[] = {"traces", "trace",     "latency", "queries",
                                          "errors", "anomalies", "logs",    "db"};

static int evidence(inc_args *a)
{
	int sources = !!a->opt[OPT_TRACE] + !!a->opt[OPT_QUERY] + !!a->opt[OPT_FILE] + !!a->command;
	if (sources != 1) {
		sonde_cli_error(VERB, "evidence needs exactly one of --trace, --query, --file, --command");
		return SONDE_EXIT_USAGE;
	}
	if (a->npos > 1) {
		sonde_cli_error(VERB, "evidence: unexpected argument '%s'", a->pos[1]);
		return SONDE_EXIT_USAGE;
	}
	sonde_buf detail = SONDE_BUF_INIT, summary = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &detail, 0);
	sonde_json_obj_begin(&w);
	const char *source;
	int rc = SONDE_EXIT_OK;
	char tmp[512];
	if (a->opt[OPT_TRACE]) {
		source = "trace";
		const char *hex = a->opt[OPT_TRACE];
		uint8_t id[16];
		if (strlen(hex) != 32 || sonde_hex_decode(id, 16, hex, 32) < 0) {
			sonde_cli_error(VERB, "--trace '%s': expected a trace id of 32 hex digits", hex);
			rc = SONDE_EXIT_USAGE;
			goto out;
		}
		sonde_batch *b = sonde_batch_new();
		ssize_t n = b ? sonde_store_get_trace(a->store, id, true, b) : -ENOMEM;
		if (n <= 0) {
			if (n == 0)
				sonde_cli_error(VERB, "%s: no trace %s in the store", a->db, hex);
			else
				journal_error(a, (int)n);
			sonde_batch_free(b);
			rc = SONDE_EXIT_USAGE;
			goto out;
		}
		uint64_t start = UINT64_MAX, end = 0, errors = 0;
		const sonde_span_data *root = &b->spans[0];
		static const uint8_t zero[8];
		for (size_t i = 0; i < b->spans_count; i++) {
			const sonde_span_data *sp = &b->spans[i];
			start = sp->start_ns < start ? sp->start_ns : start;
			end = sp->end_ns > end ? sp->end_ns : end;
			errors += sp->status_code == SONDE_STATUS_ERROR;
			if (memcmp(sp->parent_span_id, zero, 8) == 0 &&
			    memcmp(root->parent_span_id, zero, 8) != 0)
				root = sp;
		}
		const sonde_value *sv = sonde_attrs_get(&root->resource->attrs, "service.name");
		const char *svc = sv && sv->kind == SONDE_VAL_STRING ? sv->u.str.ptr : "unknown service";
		uint64_t dur_us = end > start ? (end - start) / 1000 : 0;
		sonde_buf_printf(
		        &summary,
		        "trace %s: %zu spans, %" PRIu64 " failed, root %s %s, %" PRIu64 ".%03" PRIu64 " ms",
		        hex, b->spans_count, errors, svc, root->name.ptr, dur_us / 1000, dur_us % 1000);
		if (b->logs_count)
			sonde_buf_printf(&summary, ", %zu log records", b->logs_count);
		sonde_json_key_cstr(&w, "trace_id");
		sonde_json_str(&w, hex, 32);
		sonde_json_key_cstr(&w, "spans");
		sonde_json_u64(&w, b->spans_count);
		sonde_json_key_cstr(&w, "failed_spans");
		sonde_json_u64(&w, errors);
		sonde_json_key_cstr(&w, "logs");
		sonde_json_u64(&w, b->logs_count);
		sonde_json_key_cstr(&w, "root_service");
		sonde_json_str(&w, svc, strlen(svc));
		sonde_json_key_cstr(&w, "root_operation");
		sonde_json_str(&w, root->name.ptr, root->name.len);
		sonde_json_key_cstr(&w, "start_ns");
		sonde_json_u64(&w, start);
		sonde_json_key_cstr(&w, "duration_ns");
		sonde_json_u64(&w, end > start ? end - start : 0);
		sonde_batch_free(b);
	} else if (a->opt[OPT_FILE]) {
		source = "file";
		char *data;
		size_t len;
		int e = sonde_cli_read_file(a->opt[OPT_FILE], &data, &len);
		if (e < 0) {
			sonde_cli_error(VERB, "--file %s: %s", a->opt[OPT_FILE], strerror(-e));
			rc = SONDE_EXIT_USAGE;
			goto out;
		}
		bool binary = memchr(data, '\0', len) != NULL;
		sonde_buf_printf(&summary, "file %s: %zu bytes", a->opt[OPT_FILE], len);
		if (!binary) {
			size_t nl = count_lines(data, len);
			sonde_buf_printf(&summary, ", %zu line%s", nl, nl == 1 ? "" : "s");
		} else {
			sonde_buf_puts(&summary, ", binary (content not kept)");
		}
		sonde_json_key_cstr(&w, "path");
		sonde_json_str(&w, a->opt[OPT_FILE], strlen(a->opt[OPT_FILE]));
		sonde_json_key_cstr(&w, "bytes");
		sonde_json_u64(&w, len);
		if (!binary) {
			sonde_json_key_cstr(&w, "content");
			sonde_json_str(&w, data, len < OUTPUT_LIMIT ? len : OUTPUT_LIMIT);
			sonde_json_key_cstr(&w, "truncated");
			sonde_json_bool(&w, len > OUTPUT_LIMIT);
		}
		free(data);
	} else {
		bool self = a->opt[OPT_QUERY] != NULL;
		source = self ? "query" : "command";
		char *words[128];
		char *buf = NULL;
		char *const *argv = a->command;
		if (self) {
			const char *q = a->opt[OPT_QUERY];
			buf = malloc(strlen(q) + 16);
			int n = buf ? split_words(q, buf + 0, words + 1, 127) : -1;
			if (n <= 0) {
				sonde_cli_error(
				        VERB,
				        "--query '%s': expected a sonde verb and its arguments, with balanced"
				        " quotes",
				        q);
				free(buf);
				rc = SONDE_EXIT_USAGE;
				goto out;
			}
			bool ok = false;
			for (size_t i = 0; i < sizeof query_verbs / sizeof *query_verbs; i++)
				ok |= strcmp(words[1], query_verbs[i]) == 0;
			if (!ok) {
				sonde_cli_error(
				        VERB,
				        "--query '%s': '%s' is not a query verb (traces, trace, latency,"
				        " queries, errors, anomalies, logs, db)",
				        q, words[1]);
				free(buf);
				rc = SONDE_EXIT_USAGE;
				goto out;
			}
			words[0] = "sonde";
			argv = words;
		}
		run_result res = {.out = SONDE_BUF_INIT};
		int e = run_capture(argv, self, !self, a->db, &res);
		if (e < 0) {
			sonde_cli_error(VERB, "cannot run %s: %s", self ? "sonde" : argv[0],
			                res.exec_error[0] ? res.exec_error : strerror(-e));
			sonde_buf_release(&res.out);
			free(buf);
			rc = SONDE_EXIT_USAGE;
			goto out;
		}
		sonde_buf line = SONDE_BUF_INIT;
		for (int i = self ? 1 : 0; argv[i]; i++) {
			if (line.len)
				sonde_buf_putc(&line, ' ');
			sonde_buf_puts(&line, argv[i]);
		}
		sonde_buf_putc(&line, '\0');
		snprintf(tmp, sizeof tmp, "%.400s", line.data);
		size_t nl = count_lines(res.out.data, res.out.len);
		sonde_buf_printf(&summary, "%s `%s`: exit %d, %zu line%s of output%s",
		                 self ? "sonde" : "command", self ? a->opt[OPT_QUERY] : tmp, res.status, nl,
		                 nl == 1 ? "" : "s", res.truncated ? " (cut to 256 KiB)" : "");
		sonde_json_key_cstr(&w, self ? "query" : "command");
		if (self)
			sonde_json_str(&w, a->opt[OPT_QUERY], strlen(a->opt[OPT_QUERY]));
		else {
			sonde_json_arr_begin(&w);
			for (int i = 0; argv[i]; i++)
				sonde_json_str(&w, argv[i], strlen(argv[i]));
			sonde_json_arr_end(&w);
		}
		sonde_json_key_cstr(&w, "exit_status");
		sonde_json_i64(&w, res.status);
		sonde_json_key_cstr(&w, "output");
		sonde_json_str(&w, res.out.len ? res.out.data : "", res.out.len);
		sonde_json_key_cstr(&w, "truncated");
		sonde_json_bool(&w, res.truncated);
		sonde_buf_release(&line);
		sonde_buf_release(&res.out);
		free(buf);
	}
	sonde_json_obj_end(&w);
	sonde_buf_putc(&detail, '\0');
	sonde_buf_putc(&summary, '\0');
	if (detail.oom || summary.oom) {
		sonde_cli_error(VERB, "out of memory");
		rc = SONDE_EXIT_USAGE;
		goto out;
	}
	rc = add_entry(a, SONDE_ENTRY_EVIDENCE, summary.data, source, detail.data, 0);
out:
	sonde_buf_release(&detail);
	sonde_buf_release(&summary);
	return rc;
}

/* ---- Show and list -------------------------------------------------------------------- */

static const char *const check_names[] = {"no_verified_hypothesis", "no_root_cause", "symptom_root_cause"};
static const char *const check_text[] = {
        "no hypothesis was verified (sonde incident verify ID N --held yes)",
        "no root cause was recorded (sonde incident root-cause ID TEXT)",
        "the root cause restates a symptom instead of naming a mechanism",
};

static void show_json(const sonde_incident_record *r, sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 1);
	char ts[40];
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "id");
	sonde_json_str(&w, r->inc.id, strlen(r->inc.id));
	sonde_json_key_cstr(&w, "title");
	sonde_json_str(&w, r->inc.title, strlen(r->inc.title));
	sonde_json_key_cstr(&w, "severity");
	const char *sev = sonde_incident_severity_name(r->inc.severity);
	sonde_json_str(&w, sev, strlen(sev));
	sonde_json_key_cstr(&w, "status");
	sonde_json_str(&w, r->inc.resolved ? "resolved" : "open", r->inc.resolved ? 8 : 4);
	sonde_json_key_cstr(&w, "author");
	sonde_json_str(&w, r->inc.author, strlen(r->inc.author));
	fmt_iso(r->inc.created_ns, ts, sizeof ts);
	sonde_json_key_cstr(&w, "created");
	sonde_json_str(&w, ts, strlen(ts));
	sonde_json_key_cstr(&w, "created_ns");
	sonde_json_u64(&w, r->inc.created_ns);
	sonde_json_key_cstr(&w, "resolved");
	if (r->inc.resolved) {
		fmt_iso(r->inc.resolved_ns, ts, sizeof ts);
		sonde_json_str(&w, ts, strlen(ts));
	} else {
		sonde_json_null(&w);
	}
	sonde_json_key_cstr(&w, "resolved_ns");
	sonde_json_u64(&w, r->inc.resolved_ns);
	sonde_json_key_cstr(&w, "entries");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "seq");
		sonde_json_i64(&w, e->seq);
		sonde_json_key_cstr(&w, "kind");
		const char *k = sonde_entry_kind_name(e->kind);
		sonde_json_str(&w, k, strlen(k));
		fmt_iso(e->time_ns, ts, sizeof ts);
		sonde_json_key_cstr(&w, "time");
		sonde_json_str(&w, ts, strlen(ts));
		sonde_json_key_cstr(&w, "time_ns");
		sonde_json_u64(&w, e->time_ns);
		sonde_json_key_cstr(&w, "author");
		sonde_json_str(&w, e->author, strlen(e->author));
		sonde_json_key_cstr(&w, "text");
		sonde_json_str(&w, e->text, strlen(e->text));
		if (e->source[0]) {
			sonde_json_key_cstr(&w, "source");
			sonde_json_str(&w, e->source, strlen(e->source));
		}
		if (e->ref) {
			sonde_json_key_cstr(&w, "hypothesis");
			sonde_json_i64(&w, e->ref);
		}
		sonde_json_key_cstr(&w, "detail");
		sonde_json_raw(&w, e->detail_json, strlen(e->detail_json));
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	unsigned flags = sonde_incident_check(r);
	sonde_json_key_cstr(&w, "checks");
	sonde_json_arr_begin(&w);
	for (int b = 0; b < 3; b++)
		if (flags & (1u << b))
			sonde_json_str(&w, check_names[b], strlen(check_names[b]));
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
}

/* Appends s on one line: control characters as spaces, cut to max bytes with "...". */
static void one_line(sonde_buf *out, const char *s, size_t max)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n && i < max; i++)
		sonde_buf_putc(out, (unsigned char)s[i] < 0x20 ? ' ' : s[i]);
	if (n > max)
		sonde_buf_puts(out, "...");
}

static void show_text(const sonde_incident_record *r, sonde_buf *out)
{
	char a[40], v1[64], v2[64], v3[64];
	sonde_buf_printf(out, "%s  ", r->inc.id);
	one_line(out, r->inc.title, 200);
	fmt_time(r->inc.created_ns, a, sizeof a);
	sonde_buf_printf(out, "\n  severity %s, %s, opened %s by %s",
	                 sonde_incident_severity_name(r->inc.severity), r->inc.resolved ? "resolved" : "open",
	                 a, r->inc.author);
	if (r->inc.resolved) {
		fmt_time(r->inc.resolved_ns, a, sizeof a);
		sonde_buf_printf(out, ", resolved %s", a);
	}
	sonde_buf_printf(out, "\n\n");
	if (!r->count)
		sonde_buf_puts(out, "  no entries yet\n");
	int64_t hyp = 0;
	for (size_t i = 0; i < r->count; i++) {
		const sonde_incident_entry *e = &r->entries[i];
		fmt_time(e->time_ns, a, sizeof a);
		sonde_buf_printf(out, "  %3" PRId64 "  %s  %-10s  %-8s  ", e->seq, a,
		                 sonde_entry_kind_name(e->kind), e->author);
		switch (e->kind) {
		case SONDE_ENTRY_REPRO:
			sonde_incident_detail_get(e->detail_json, "reproduced", v1, sizeof v1);
			sonde_incident_detail_get(e->detail_json, "attempts", v2, sizeof v2);
			one_line(out, e->text, 300);
			sonde_buf_printf(out, " (reproduced %s of %s attempts, %.0f%%)", v1, v2,
			                 atof(v2) > 0 ? 100 * atof(v1) / atof(v2) : 0.0);
			break;
		case SONDE_ENTRY_EVIDENCE:
			sonde_buf_printf(out, "[%s] ", e->source);
			one_line(out, e->text, 300);
			break;
		case SONDE_ENTRY_HYPOTHESIS:
			sonde_buf_printf(out, "H%" PRId64 ": ", ++hyp);
			one_line(out, e->text, 300);
			break;
		case SONDE_ENTRY_VERIFY:
			sonde_incident_detail_get(e->detail_json, "held", v1, sizeof v1);
			sonde_buf_printf(out, "H%" PRId64 " %s: ", e->ref,
			                 strcmp(v1, "true") == 0 ? "held" : "did not hold");
			one_line(out, e->text, 300);
			break;
		case SONDE_ENTRY_FIX:
			one_line(out, e->text, 300);
			if (sonde_incident_detail_get(e->detail_json, "verified_by", v1, sizeof v1))
				sonde_buf_printf(out, " (verified by %s)", v1);
			else
				sonde_buf_puts(out, " (not verified)");
			break;
		case SONDE_ENTRY_ACTION:
			sonde_incident_detail_get(e->detail_json, "priority", v1, sizeof v1);
			sonde_incident_detail_get(e->detail_json, "owner", v2, sizeof v2);
			sonde_incident_detail_get(e->detail_json, "due", v3, sizeof v3);
			sonde_buf_printf(out, "[%s] ", v1);
			one_line(out, e->text, 300);
			sonde_incident_detail_get(e->detail_json, "status", v1, sizeof v1);
			sonde_buf_printf(out, " (owner %s, due %s, %s)", v2, v3, v1);
			break;
		case SONDE_ENTRY_NOTE:
			if (sonde_incident_detail_get(e->detail_json, "tag", v1, sizeof v1))
				sonde_buf_printf(out, "[%s] ", v1);
			one_line(out, e->text, 300);
			break;
		default: one_line(out, e->text, 300); break;
		}
		if (sonde_incident_detail_get(e->detail_json, "flagged", v1, sizeof v1))
			sonde_buf_puts(out, "  [flagged, recorded with --force]");
		sonde_buf_putc(out, '\n');
	}
	unsigned flags = sonde_incident_check(r);
	sonde_buf_puts(out, "\nchecks\n");
	if (!flags)
		sonde_buf_puts(out, "  ok: a hypothesis was verified and the root cause names a mechanism\n");
	for (int b = 0; b < 3; b++)
		if (flags & (1u << b))
			sonde_buf_printf(out, "  ! %s\n", check_text[b]);
}

static int show(inc_args *a)
{
	if (need(a, 1, "an incident id") < 0)
		return SONDE_EXIT_USAGE;
	sonde_incident_record r;
	int rc = sonde_incident_get(a->store, a->pos[0], &r);
	if (rc < 0) {
		sonde_incident_record_release(&r);
		return journal_error(a, rc);
	}
	sonde_buf out = SONDE_BUF_INIT;
	if (a->opt[OPT_JSON])
		show_json(&r, &out);
	else
		show_text(&r, &out);
	rc = sonde_cli_emit(VERB, &out);
	sonde_buf_release(&out);
	sonde_incident_record_release(&r);
	return rc;
}

static int list(inc_args *a)
{
	sonde_incident_list l;
	ssize_t n = sonde_incident_list_all(a->store, &l);
	if (n < 0) {
		sonde_incident_list_release(&l);
		return journal_error(a, (int)n);
	}
	sonde_buf out = SONDE_BUF_INIT;
	char ts[40];
	if (a->opt[OPT_JSON]) {
		sonde_json_writer w;
		sonde_json_writer_init(&w, &out, 1);
		sonde_json_arr_begin(&w);
		for (size_t i = 0; i < l.count; i++) {
			const sonde_incident *inc = &l.items[i];
			sonde_json_obj_begin(&w);
			sonde_json_key_cstr(&w, "id");
			sonde_json_str(&w, inc->id, strlen(inc->id));
			sonde_json_key_cstr(&w, "title");
			sonde_json_str(&w, inc->title, strlen(inc->title));
			sonde_json_key_cstr(&w, "severity");
			const char *sev = sonde_incident_severity_name(inc->severity);
			sonde_json_str(&w, sev, strlen(sev));
			sonde_json_key_cstr(&w, "status");
			sonde_json_str(&w, inc->resolved ? "resolved" : "open", inc->resolved ? 8 : 4);
			fmt_iso(inc->created_ns, ts, sizeof ts);
			sonde_json_key_cstr(&w, "created");
			sonde_json_str(&w, ts, strlen(ts));
			sonde_json_key_cstr(&w, "entries");
			sonde_json_u64(&w, inc->entries);
			sonde_json_obj_end(&w);
		}
		sonde_json_arr_end(&w);
		sonde_buf_putc(&out, '\n');
	} else if (!l.count) {
		sonde_buf_puts(&out, "no incidents; `sonde incident new TITLE --severity HIGH` opens one\n");
	} else {
		sonde_buf_printf(&out, "%-8s  %-8s  %-8s  %-20s  %7s  %s\n", "ID", "SEVERITY", "STATUS",
		                 "OPENED", "ENTRIES", "TITLE");
		for (size_t i = 0; i < l.count; i++) {
			const sonde_incident *inc = &l.items[i];
			fmt_time(inc->created_ns, ts, sizeof ts);
			sonde_buf_printf(&out, "%-8s  %-8s  %-8s  %-20s  %7zu  ", inc->id,
			                 sonde_incident_severity_name(inc->severity),
			                 inc->resolved ? "resolved" : "open", ts, inc->entries);
			one_line(&out, inc->title, 200);
			sonde_buf_putc(&out, '\n');
		}
	}
	int rc = sonde_cli_emit(VERB, &out);
	sonde_buf_release(&out);
	sonde_incident_list_release(&l);
	return rc;
}

/* ---- Guard rails ---------------------------------------------------------------------- */

static int root_cause(inc_args *a, const char *text)
{
	sonde_incident_record r;
	int rc = sonde_incident_get(a->store, a->pos[0], &r);
	if (rc < 0) {
		sonde_incident_record_release(&r);
		return journal_error(a, rc);
	}
	const char **sym = calloc(r.count + 1, sizeof *sym);
	if (!sym) {
		sonde_incident_record_release(&r);
		sonde_cli_error(VERB, "out of memory");
		return SONDE_EXIT_USAGE;
	}
	size_t n = 0;
	sym[n++] = r.inc.title;
	for (size_t i = 0; i < r.count; i++)
		if (r.entries[i].kind == SONDE_ENTRY_EVIDENCE || r.entries[i].kind == SONDE_ENTRY_REPRO)
			sym[n++] = r.entries[i].text;
	char why[400];
	bool flagged = sonde_root_cause_restates_symptom(text, sym, n, why, sizeof why);
	free(sym);
	sonde_incident_record_release(&r);
	sonde_buf detail = SONDE_BUF_INIT;
	if (flagged) {
		if (!a->opt[OPT_FORCE]) {
			sonde_cli_error(
			        VERB,
			        "%s: not recorded: %s. Name the mechanism (what changed or broke, and why"
			        " that produced the symptom), or add --force to record it anyway",
			        a->pos[0], why);
			return SONDE_EXIT_FINDING;
		}
		sonde_cli_error(VERB, "warning: %s: %s (recorded because of --force)", a->pos[0], why);
		sonde_json_writer w;
		sonde_json_writer_init(&w, &detail, 0);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "flagged");
		sonde_json_str(&w, why, strlen(why));
		sonde_json_obj_end(&w);
		sonde_buf_putc(&detail, '\0');
	}
	rc = add_entry(a, SONDE_ENTRY_ROOT_CAUSE, text, NULL, flagged ? detail.data : NULL, 0);
	sonde_buf_release(&detail);
	return rc;
}

static int resolve(inc_args *a)
{
	sonde_incident_record r;
	int rc = sonde_incident_get(a->store, a->pos[0], &r);
	if (rc < 0) {
		sonde_incident_record_release(&r);
		return journal_error(a, rc);
	}
	unsigned flags = sonde_incident_check(&r);
	sonde_incident_record_release(&r);
	if (flags) {
		for (int b = 0; b < 3; b++)
			if (flags & (1u << b))
				sonde_cli_error(VERB, "%s%s: %s", a->opt[OPT_FORCE] ? "warning: " : "",
				                a->pos[0], check_text[b]);
		if (!a->opt[OPT_FORCE]) {
			sonde_cli_error(VERB, "%s: not resolved; record what is missing, or add --force",
			                a->pos[0]);
			return SONDE_EXIT_FINDING;
		}
	}
	if ((rc = sonde_incident_resolve(a->store, a->pos[0], sonde_cli_now_ns())) < 0)
		return journal_error(a, rc);
	int64_t num = 0;
	sonde_incident_id_parse(a->pos[0], &num);
	printf("INC-%" PRId64 " resolved\n", num);
	return SONDE_EXIT_OK;
}

/* ---- The sub-commands that record ------------------------------------------------------ */

static int record(inc_args *a)
{
	const char *sub = a->sub;
	sonde_buf text = SONDE_BUF_INIT, detail = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &detail, 0);
	sonde_json_obj_begin(&w);
	int rc = SONDE_EXIT_USAGE;
	if (strcmp(sub, "repro") == 0) {
		int64_t n, k;
		if (need(a, 2, "an incident id and the steps") < 0 || need_opt(a, OPT_ATTEMPTS) < 0 ||
		    need_opt(a, OPT_REPRODUCED) < 0 ||
		    parse_count("attempts", a->opt[OPT_ATTEMPTS], &n) < 0 ||
		    parse_count("reproduced", a->opt[OPT_REPRODUCED], &k) < 0)
			goto out;
		if (n == 0 || k > n) {
			sonde_cli_error(
			        VERB,
			        "repro: --reproduced %" PRId64 " of --attempts %" PRId64
			        ": expected at least one attempt and no more reproductions than attempts",
			        k, n);
			goto out;
		}
		sonde_json_key_cstr(&w, "attempts");
		sonde_json_i64(&w, n);
		sonde_json_key_cstr(&w, "reproduced");
		sonde_json_i64(&w, k);
		sonde_json_key_cstr(&w, "rate");
		sonde_json_f64(&w, (double)k / (double)n);
		sonde_json_obj_end(&w);
		sonde_buf_putc(&detail, '\0');
		rc = add_entry(a, SONDE_ENTRY_REPRO, joined(a, 1, &text), NULL, detail.data, 0);
	} else if (strcmp(sub, "hypothesis") == 0 || strcmp(sub, "note") == 0) {
		bool note = sub[0] == 'n';
		if (need(a, 2, note ? "an incident id and the note" : "an incident id and the hypothesis") <
		    0)
			goto out;
		const char *tag = a->opt[OPT_TAG];
		if (tag && strcmp(tag, "went-well") != 0 && strcmp(tag, "went-wrong") != 0 &&
		    strcmp(tag, "contributing") != 0) {
			sonde_cli_error(VERB, "--tag '%s': expected went-well, went-wrong or contributing",
			                tag);
			goto out;
		}
		if (tag) {
			sonde_json_key_cstr(&w, "tag");
			sonde_json_str(&w, tag, strlen(tag));
		}
		sonde_json_obj_end(&w);
		sonde_buf_putc(&detail, '\0');
		rc = add_entry(a, note ? SONDE_ENTRY_NOTE : SONDE_ENTRY_HYPOTHESIS, joined(a, 1, &text), NULL,
		               detail.data, 0);
	} else if (strcmp(sub, "verify") == 0) {
		int64_t h;
		if (need(a, 2, "an incident id and a hypothesis number") < 0 || need_opt(a, OPT_TEST) < 0 ||
		    need_opt(a, OPT_HELD) < 0 || parse_count("hypothesis number", a->pos[1], &h) < 0)
			goto out;
		if (a->npos > 2) {
			sonde_cli_error(VERB, "verify: unexpected argument '%s'; the test goes in --test",
			                a->pos[2]);
			goto out;
		}
		const char *held = a->opt[OPT_HELD];
		bool yes = strcmp(held, "yes") == 0 || strcmp(held, "true") == 0;
		if (!yes && strcmp(held, "no") != 0 && strcmp(held, "false") != 0) {
			sonde_cli_error(VERB, "--held '%s': expected yes or no", held);
			goto out;
		}
		sonde_json_key_cstr(&w, "held");
		sonde_json_bool(&w, yes);
		sonde_json_obj_end(&w);
		sonde_buf_putc(&detail, '\0');
		rc = add_entry(a, SONDE_ENTRY_VERIFY, a->opt[OPT_TEST], NULL, detail.data, h);
	} else if (strcmp(sub, "root-cause") == 0) {
		if (need(a, 2, "an incident id and the root cause") < 0)
			goto out;
		rc = root_cause(a, joined(a, 1, &text));
	} else if (strcmp(sub, "fix") == 0) {
		if (need(a, 2, "an incident id and the fix") < 0)
			goto out;
		if (a->opt[OPT_VERIFIED_BY]) {
			if (need_opt(a, OPT_VERIFIED_BY) < 0)
				goto out;
			sonde_json_key_cstr(&w, "verified_by");
			sonde_json_str(&w, a->opt[OPT_VERIFIED_BY], strlen(a->opt[OPT_VERIFIED_BY]));
		}
		sonde_json_obj_end(&w);
		sonde_buf_putc(&detail, '\0');
		rc = add_entry(a, SONDE_ENTRY_FIX, joined(a, 1, &text), NULL, detail.data, 0);
	} else if (strcmp(sub, "action") == 0) {
		if (need(a, 2, "an incident id and the action item") < 0 || need_opt(a, OPT_OWNER) < 0 ||
		    need_opt(a, OPT_DUE) < 0 || need_opt(a, OPT_PRIORITY) < 0)
			goto out;
		uint64_t due;
		const char *d = a->opt[OPT_DUE], *p = a->opt[OPT_PRIORITY];
		const char *status = a->opt[OPT_STATUS] ? a->opt[OPT_STATUS] : "open";
		if (strlen(d) != 10 || sonde_cli_parse_time(d, &due) < 0) {
			sonde_cli_error(VERB, "--due '%s': expected a date YYYY-MM-DD", d);
			goto out;
		}
		if (strlen(p) != 2 || (p[0] != 'P' && p[0] != 'p') || p[1] < '0' || p[1] > '3') {
			sonde_cli_error(VERB, "--priority '%s': expected P0, P1, P2 or P3", p);
			goto out;
		}
		if (strcmp(status, "open") != 0 && strcmp(status, "done") != 0) {
			sonde_cli_error(VERB, "--status '%s': expected open or done", status);
			goto out;
		}
		char pr[3] = {'P', p[1], 0};
		sonde_json_key_cstr(&w, "owner");
		sonde_json_str(&w, a->opt[OPT_OWNER], strlen(a->opt[OPT_OWNER]));
		sonde_json_key_cstr(&w, "due");
		sonde_json_str(&w, d, 10);
		sonde_json_key_cstr(&w, "priority");
		sonde_json_str(&w, pr, 2);
		sonde_json_key_cstr(&w, "status");
		sonde_json_str(&w, status, strlen(status));
		sonde_json_obj_end(&w);
		sonde_buf_putc(&detail, '\0');
		rc = add_entry(a, SONDE_ENTRY_ACTION, joined(a, 1, &text), NULL, detail.data, 0);
	} else if (strcmp(sub, "evidence") == 0) {
		if (need(a, 1, "an incident id") < 0)
			goto out;
		rc = evidence(a);
	} else if (strcmp(sub, "resolve") == 0) {
		if (need(a, 1, "an incident id") < 0)
			goto out;
		if (a->npos > 1) {
			sonde_cli_error(VERB, "resolve: unexpected argument '%s'", a->pos[1]);
			goto out;
		}
		rc = resolve(a);
	}
out:
	if (text.oom || detail.oom) {
		sonde_cli_error(VERB, "out of memory");
		rc = SONDE_EXIT_USAGE;
	}
	sonde_buf_release(&text);
	sonde_buf_release(&detail);
	return rc;
}

static int create(inc_args *a)
{
	if (need(a, 1, "a title") < 0 || need_opt(a, OPT_SEVERITY) < 0)
		return SONDE_EXIT_USAGE;
	int sev = sonde_incident_severity_parse(a->opt[OPT_SEVERITY]);
	if (sev < 0) {
		sonde_cli_error(VERB, "--severity '%s': expected CRITICAL, HIGH, MEDIUM or LOW",
		                a->opt[OPT_SEVERITY]);
		return SONDE_EXIT_USAGE;
	}
	sonde_buf title = SONDE_BUF_INIT;
	char id[24];
	int rc = sonde_incident_create(a->store, joined(a, 0, &title), (sonde_incident_severity)sev,
	                               sonde_cli_now_ns(), author(), id, sizeof id);
	sonde_buf_release(&title);
	if (rc < 0)
		return journal_error(a, rc);
	printf("%s\n", id);
	return SONDE_EXIT_OK;
}

int sonde_cmd_incident(int argc, char **argv)
{
	static const char *const subs[] = {"new", "repro",  "evidence", "hypothesis", "verify", "root-cause",
	                                   "fix", "action", "note",     "resolve",    "show",   "list"};
	if (argc < 2 || argv[1][0] == '-') {
		sonde_cli_error(
		        VERB,
		        "which sub-command? new, repro, evidence, hypothesis, verify, root-cause, fix,"
		        " action, note, resolve, show, list, before any option (sonde incident --help)");
		return SONDE_EXIT_USAGE;
	}
	bool known = false;
	for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
		known |= strcmp(argv[1], subs[i]) == 0;
	if (!known) {
		sonde_cli_error(VERB, "'%s' is not a sub-command of incident; see sonde incident --help",
		                argv[1]);
		return SONDE_EXIT_USAGE;
	}
	if (check_now() < 0)
		return SONDE_EXIT_USAGE;
	inc_args a;
	memset(&a, 0, sizeof a);
	a.sub = argv[1];
	if (parse_args(argc, argv, &a) < 0)
		return SONDE_EXIT_USAGE;
	bool reading = strcmp(a.sub, "show") == 0 || strcmp(a.sub, "list") == 0;
	if (!reading && strcmp(a.sub, "new") != 0 && a.npos >= 1) {
		int64_t num;
		if (sonde_incident_id_parse(a.pos[0], &num) < 0) {
			sonde_cli_error(VERB, "%s: '%s' is not an incident id (INC-1, INC-2, ...)", a.sub,
			                a.pos[0]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (strcmp(a.sub, "list") == 0 && a.npos) {
		sonde_cli_error(VERB, "list: unexpected argument '%s'", a.pos[0]);
		return SONDE_EXIT_USAGE;
	}
	if (open_store(&a, reading                     ? SONDE_STORE_READONLY
	                   : strcmp(a.sub, "new") == 0 ? 0
	                                               : SONDE_STORE_NOCREATE) < 0)
		return SONDE_EXIT_USAGE;
	int rc;
	if (strcmp(a.sub, "new") == 0)
		rc = create(&a);
	else if (strcmp(a.sub, "show") == 0)
		rc = show(&a);
	else if (reading)
		rc = list(&a);
	else
		rc = record(&a);
	sonde_store_close(a.store);
	return rc;
}
