/*
 * cli_query.c - options, time parsing, the store and the terminal for the investigation
 * verbs (see cli_query.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_query.h"
#include "sonde/status.h"

void sonde_qopts_init(sonde_qopts *o, const char *verb)
{
	memset(o, 0, sizeof(*o));
	o->verb = verb;
	o->color = -1;
}

int sonde_cli_parse_duration(const char *s, uint64_t *ns)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !(v >= 0) || isinf(v))
		return -1;
	double unit;
	if (*end == '\0' || strcmp(end, "s") == 0)
		unit = 1e9;
	else if (strcmp(end, "ms") == 0)
		unit = 1e6;
	else if (strcmp(end, "us") == 0 || strcmp(end, "\xc2\xb5s") == 0)
		unit = 1e3;
	else if (strcmp(end, "ns") == 0)
		unit = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		unit = 60e9;
	else if (strcmp(end, "h") == 0)
		unit = 3600e9;
	else if (strcmp(end, "d") == 0)
		unit = 86400e9;
	else if (strcmp(end, "w") == 0)
		unit = 7 * 86400e9;
	else
		return -1;
	double r = v * unit;
	if (r >= 1.8e19)
		return -1;
	*ns = (uint64_t)llround(r);
	return 0;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int sonde_cli_parse_time(const char *s, uint64_t *ns)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
		return -1;
	uint64_t frac = 0;
	long off = 0;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				uint64_t scale = 100000000;
				if (!isdigit((unsigned char)*p))
					return -1;
				for (; isdigit((unsigned char)*p); p++) {
					frac += (uint64_t)(*p - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;
			if (digits(&p, 2, &oh))
				return -1;
			if (*p == ':')
				p++;
			if (digits(&p, 2, &om))
				return -1;
			off = sign * (oh * 3600L + om * 60L);
		} else if (*p) {
			return -1;
		}
		if (*p)
			return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -1;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec};
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || (long long)t - off < 0)
		return -1;
	*ns = (uint64_t)((long long)t - off) * 1000000000u + frac;
	return 0;
}

int sonde_cli_parse_when(const char *s, uint64_t ref_ns, uint64_t *ns)
{
	if (sonde_cli_parse_time(s, ns) == 0)
		return 0;
	uint64_t d;
	if (sonde_cli_parse_duration(s, &d) < 0)
		return -1;
	*ns = d < ref_ns ? ref_ns - d : 1;
	return 0;
}

static int bad(sonde_qopts *o, const char *opt, const char *arg, const char *want)
{
	sonde_cli_error(o->verb, "--%s '%s': expected %s", opt, arg, want);
	return -1;
}

int sonde_qopts_parse(sonde_qopts *o, int c, const char *arg)
{
	switch (c) {
	case SONDE_QOPT_DB: o->db = arg; return 1;
	case SONDE_QOPT_JSON: o->json = true; return 1;
	case SONDE_QOPT_SINCE: o->since = arg; return 1;
	case SONDE_QOPT_UNTIL: o->until = arg; return 1;
	case SONDE_QOPT_AT_DATA: o->at_data = true; return 1;
	case SONDE_QOPT_SERVICE: o->service = arg; return 1;
	case SONDE_QOPT_OPERATION: o->operation = arg; return 1;
	case SONDE_QOPT_ERROR: o->error = true; return 1;
	case SONDE_QOPT_ATTR: {
		if (o->attrs_count == sizeof(o->attrs) / sizeof(o->attrs[0])) {
			sonde_cli_error(o->verb, "at most %zu --attr options", o->attrs_count);
			return -1;
		}
		if (!*arg || *arg == '=')
			return bad(o, "attr", arg, "KEY=VALUE or KEY");
		/* The key is cut off in place: argv strings are ours to change. */
		char *eq = strchr((char *)arg, '=');
		if (eq)
			*eq = '\0';
		o->attrs[o->attrs_count++] = (sonde_attr_match){arg, eq ? eq + 1 : NULL};
		return 1;
	}
	case SONDE_QOPT_MIN_DURATION:
		if (sonde_cli_parse_duration(arg, &o->min_duration_ns) < 0)
			return bad(o, "min-duration", arg, "a duration such as 250ms, 2s or 1m");
		return 1;
	case SONDE_QOPT_LIMIT: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 10);
		if (end == arg || *end || errno || *arg == '-')
			return bad(o, "limit", arg, "a count");
		o->limit = (size_t)v;
		o->limit_set = true;
		return 1;
	}
	case SONDE_QOPT_COLOR:
		if (strcmp(arg, "auto") == 0)
			o->color = -1;
		else if (strcmp(arg, "always") == 0)
			o->color = 1;
		else if (strcmp(arg, "never") == 0)
			o->color = 0;
		else
			return bad(o, "color", arg, "auto, always or never");
		return 1;
	default: return 0;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void terminal(sonde_qopts *o)
{
	bool tty = isatty(STDOUT_FILENO);
	const char *term = getenv("TERM");
	if (o->color < 0)
		o->term.color = tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
	else
		o->term.color = o->color == 1;
	o->term.width = 120;
	const char *cols = getenv("COLUMNS");
	struct winsize ws;
	if (cols && atoi(cols) >= 40)
		o->term.width = atoi(cols);
	else if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		o->term.width = ws.ws_col;
}

int sonde_qopts_open(sonde_qopts *o)
{
	const char *db = o->db ? o->db : getenv("SONDE_DB");
	if (!db || !*db)
		db = SONDE_STORE_DEFAULT_URI;
	char msg[512];
	int rc = sonde_store_open(db, SONDE_STORE_READONLY, &o->store, msg, sizeof(msg));
	if (rc < 0) {
		if (rc == -ENOENT)
			sonde_cli_error(
			        o->verb,
			        "%s: no such store; `sonde ingest FILE` creates one, --db names another", db);
		else
			sonde_cli_error(o->verb, "%s", msg[0] ? msg : sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	uint64_t ref = now_ns();
	if (o->at_data && (o->since || o->until)) {
		sonde_store_info info;
		if ((rc = sonde_store_info_get(o->store, &info)) < 0) {
			sonde_cli_error(o->verb, "%s: %s", db, sonde_store_errmsg(o->store));
			return SONDE_EXIT_USAGE;
		}
		/* Relative to the newest span's start, plus one so that span is inside. */
		ref = info.spans_max_ns ? info.spans_max_ns + 1 : ref;
	}
	memset(&o->q, 0, sizeof(o->q));
	if (o->since && sonde_cli_parse_when(o->since, ref, &o->q.since_ns) < 0) {
		sonde_cli_error(
		        o->verb,
		        "--since '%s': expected an RFC 3339 time, a date, or a duration (15m, 2h, 1d)",
		        o->since);
		return SONDE_EXIT_USAGE;
	}
	if (o->until && sonde_cli_parse_when(o->until, ref, &o->q.until_ns) < 0) {
		sonde_cli_error(
		        o->verb,
		        "--until '%s': expected an RFC 3339 time, a date, or a duration (15m, 2h, 1d)",
		        o->until);
		return SONDE_EXIT_USAGE;
	}
	if (o->q.since_ns && o->q.until_ns && o->q.until_ns <= o->q.since_ns) {
		sonde_cli_error(o->verb, "--until is not after --since: the window is empty");
		return SONDE_EXIT_USAGE;
	}
	o->q.service = o->service;
	o->q.operation = o->operation;
	o->q.attrs = o->attrs;
	o->q.attrs_count = o->attrs_count;
	o->q.errors_only = o->error;
	o->q.min_duration_ns = o->min_duration_ns;
	o->q.limit = o->limit;
	terminal(o);
	return SONDE_EXIT_OK;
}

void sonde_qopts_close(sonde_qopts *o)
{
	sonde_store_close(o->store);
	o->store = NULL;
}

int sonde_cli_emit(const char *verb, const sonde_buf *out)
{
	if (out->oom) {
		sonde_cli_error(verb, "out of memory");
		return SONDE_EXIT_USAGE;
	}
	if (out->len)
		fwrite(out->data, 1, out->len, stdout);
	return SONDE_EXIT_OK;
}
