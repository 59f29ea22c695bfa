/*
 * cli_select.c - parsing SEL for compare and canary (see cli_select.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "cli_query.h"
#include "cli_select.h"
#include "journal.h"
#include "sonde/status.h"

void sonde_cli_sel_release(sonde_cli_sel *s)
{
	if (!s)
		return;
	sonde_store_close(s->owned);
	free(s->text);
	memset(s, 0, sizeof(*s));
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *store_uri(const char *db_uri)
{
	const char *uri = db_uri ? db_uri : getenv("SONDE_DB");
	return uri && *uri ? uri : SONDE_STORE_DEFAULT_URI;
}

void sonde_cli_record_verdict(const char *verb, const sonde_store *db, const char *db_uri,
                              const char *summary, const char *detail_json)
{
	if (!db)
		return;
	char msg[512] = "";
	sonde_store *w = NULL;
	int rc = sonde_store_open(store_uri(db_uri), SONDE_STORE_NOCREATE, &w, msg, sizeof msg);
	if (rc == 0) {
		sonde_event ev = {.time_ns = sonde_cli_now_ns(),
		                  .kind = verb,
		                  .source = strcmp(verb, "canary") ? "sonde compare" : "sonde canary",
		                  .summary = summary,
		                  .detail_json = detail_json};
		rc = sonde_store_event_add(w, &ev, NULL);
		if (rc < 0)
			snprintf(msg, sizeof msg, "%s", sonde_store_errmsg(w));
	}
	if (rc < 0)
		fprintf(stderr, "sonde %s: warning: the verdict was not recorded in the journal: %s\n", verb,
		        msg[0] ? msg : sonde_strerror(rc));
	sonde_store_close(w);
}

static int open_db(const char *verb, const char *db_uri, sonde_store **db)
{
	if (*db)
		return SONDE_EXIT_OK;
	const char *uri = store_uri(db_uri);
	char msg[512];
	int rc = sonde_store_open(uri, SONDE_STORE_READONLY, db, msg, sizeof msg);
	if (rc == -ENOENT) {
		sonde_cli_error(
		        verb, "%s: no such store; `sonde ingest FILE` creates one, --db names another", uri);
		return SONDE_EXIT_USAGE;
	}
	if (rc < 0) {
		sonde_cli_error(verb, "%s", msg[0] ? msg : sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The newest span's start + 1 in st, or now when st holds no span. */
static int newest(const char *verb, sonde_store *st, uint64_t *ref)
{
	sonde_store_info info;
	if (sonde_store_info_get(st, &info) < 0) {
		sonde_cli_error(verb, "%s", sonde_store_errmsg(st));
		return SONDE_EXIT_USAGE;
	}
	*ref = info.spans_max_ns ? info.spans_max_ns + 1 : now_ns();
	return SONDE_EXIT_OK;
}

int sonde_cli_sel_parse(const char *verb, const char *opt, const char *text, const char *db_uri, bool at_data,
                        sonde_store **db, sonde_cli_sel *out)
{
	memset(out, 0, sizeof(*out));
	out->text = strdup(text);
	if (!out->text)
		return SONDE_EXIT_USAGE;
	out->sel.label = text;
	const char *file = NULL, *last = NULL, *since = NULL, *until = NULL;
	bool window = false;
#define BAD(...)                                                  \
	do {                                                      \
		sonde_cli_error(verb, "--%s '%s': " __VA_ARGS__); \
		return SONDE_EXIT_USAGE;                          \
	} while (0)
	if (!*text)
		BAD("an empty selection; expected version=V, service=S, last:D, SINCE..UNTIL or a file", opt,
		    text);
	if (is_file(text)) {
		file = out->text;
	} else {
		char *save = NULL;
		for (char *t = strtok_r(out->text, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(t, '=');
			char *dots = strstr(t, "..");
			if (eq &&
			    (strncmp(t, "version=", 8) == 0 || strncmp(t, "service.version=", 16) == 0)) {
				if (!eq[1])
					BAD("'%s' names no version", opt, text, t);
				out->sel.version = eq + 1;
			} else if (eq &&
			           (strncmp(t, "service=", 8) == 0 || strncmp(t, "service.name=", 13) == 0)) {
				if (!eq[1])
					BAD("'%s' names no service", opt, text, t);
				out->sel.service = eq + 1;
			} else if (strncmp(t, "last:", 5) == 0) {
				uint64_t d;
				if (sonde_cli_parse_duration(t + 5, &d) < 0 || d == 0)
					BAD("'%s': expected last:DURATION such as last:15m or last:2h", opt,
					    text, t);
				last = t + 5;
				window = true;
			} else if (strncmp(t, "file:", 5) == 0) {
				file = t + 5;
				if (!is_file(file))
					BAD("%s: no such file", opt, text, file);
			} else if (dots) {
				*dots = '\0';
				since = *t ? t : NULL;
				until = dots[2] ? dots + 2 : NULL;
				window = true;
			} else {
				BAD("'%s' is not a selector: expected version=V, service=S, last:D (15m), "
				    "SINCE..UNTIL, file:PATH or the path of an existing file",
				    opt, text, t);
			}
		}
		if (last && (since || until))
			BAD("give either last:D or SINCE..UNTIL, not both", opt, text);
	}
	sonde_store *st;
	if (file) {
		char msg[1024];
		int rc = sonde_selection_load_file(file, &out->owned, msg, sizeof msg);
		if (rc < 0)
			BAD("%s", opt, text, msg);
		st = out->owned;
	} else {
		int rc = open_db(verb, db_uri, db);
		if (rc != SONDE_EXIT_OK)
			return rc;
		st = *db;
	}
	out->sel.store = st;
	if (!window)
		return SONDE_EXIT_OK;
	uint64_t ref = now_ns();
	if (last || at_data) {
		int rc = newest(verb, st, &ref);
		if (rc != SONDE_EXIT_OK)
			return rc;
	}
	if (last) {
		uint64_t d;
		sonde_cli_parse_duration(last, &d);
		out->sel.until_ns = ref;
		out->sel.since_ns = d < ref ? ref - d : 1;
		return SONDE_EXIT_OK;
	}
	if (since && sonde_cli_parse_when(since, ref, &out->sel.since_ns) < 0)
		BAD("'%s': expected an RFC 3339 time, a date, or a duration ago (15m, 2h)", opt, text, since);
	if (until && sonde_cli_parse_when(until, ref, &out->sel.until_ns) < 0)
		BAD("'%s': expected an RFC 3339 time, a date, or a duration ago (15m, 2h)", opt, text, until);
	if (out->sel.since_ns && out->sel.until_ns && out->sel.until_ns <= out->sel.since_ns)
		BAD("the window ends before it starts", opt, text);
#undef BAD
	return SONDE_EXIT_OK;
}
