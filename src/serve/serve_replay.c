/*
 * serve_replay.c - what sonde serve does with a journal a previous server left behind:
 * before it listens, every segment is read in order and its records are decoded and
 * appended to the store in groups, as the writer would have; then the segments are
 * removed. Appends are idempotent, so records that were committed before the server died
 * add nothing. A torn or corrupt tail and records that no longer decode are reported in
 * srv->replay.warnings and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve.h"
#include "serve_internal.h"
#include "serve_journal.h"
#include "sonde/status.h"
#include "store.h"

/* Reads the whole file at path into *data (malloc'd) and *len. Returns 0 or -errno. */
static int read_file(const char *path, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *p = malloc(n ? n : 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* shorter than it was: read what is there */
		got += (size_t)r;
	}
	close(fd);
	*data = p;
	*len = got;
	return 0;
}

/* Appends b to the store and empties it. */
static int flush(sonde_serve *srv, sonde_batch *b, char *errmsg, size_t errmsg_len)
{
	if (!b->spans_count && !b->logs_count && !b->metrics_count)
		return 0;
	sonde_append_opts ao = {.log_source = NULL, .log_position = 0};
	sonde_append_stats as;
	memset(&as, 0, sizeof as);
	int rc = sonde_store_append(srv->store, b, &ao, &as);
	if (rc < 0) {
		const char *m = sonde_store_errmsg(srv->store);
		snprintf(errmsg, errmsg_len, "cannot replay the journal into the store: %s",
		         m && *m ? m : sonde_strerror(rc));
		return rc;
	}
	sonde_batch_clear(b);
	return 0;
}

static void warn(sonde_serve *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(sonde_serve *srv, const char *fmt, ...)
{
	char line[700];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sonde_buf_append(&srv->replay_warnings, line, strlen(line));
	sonde_buf_append(&srv->replay_warnings, "\n", 1);
}

int sonde__serve_replay(sonde_serve *srv, char *errmsg, size_t errmsg_len)
{
	uint64_t *seqs = NULL;
	size_t nseq = 0;
	int rc = sonde__journal_segments(srv->journal, &seqs, &nseq, errmsg, errmsg_len);
	if (rc < 0 || !nseq)
		return rc;
	sonde_batch *b = sonde_batch_new();
	if (!b) {
		free(seqs);
		snprintf(errmsg, errmsg_len, "cannot replay the journal: out of memory");
		return -ENOMEM;
	}
	sonde_serve_replay *r = &srv->replay;
	bool has_logs = false;
	char path[4200];
	for (size_t i = 0; i < nseq && rc == 0; i++) {
		sonde__journal_path(srv->journal, seqs[i], path, sizeof path);
		uint8_t *data;
		size_t len;
		rc = read_file(path, &data, &len);
		if (rc < 0) {
			snprintf(errmsg, errmsg_len, "cannot read the journal segment %s: %s", path,
			         strerror(-rc));
			break;
		}
		r->segments++;
		size_t off = 0;
		for (;;) {
			sonde__journal_rec rec;
			bool torn;
			char why[300];
			int n = sonde__journal_next(data, len, &off, &rec, &torn, why, sizeof why);
			if (n == 0)
				break;
			if (n < 0) {
				warn(srv, "%s: %s %s; the last %zu bytes of the segment dropped", path,
				     torn ? "torn tail (the writer died mid-record):" : "corrupt record:",
				     why, len - off);
				r->dropped_bytes += len - off;
				break;
			}
			if (rec.route == SONDE_ROUTE_LOGS && has_logs) {
				/* Log positions count from 0 in each request: its own transaction. */
				if ((rc = flush(srv, b, errmsg, errmsg_len)) < 0)
					break;
				has_logs = false;
			}
			size_t s0 = b->spans_count, l0 = b->logs_count, m0 = b->metrics_count;
			sonde_wire_error err;
			memset(&err, 0, sizeof err);
			int d = sonde_serve_decode(b, (sonde_serve_route)rec.route,
			                           (sonde_serve_encoding)rec.enc,
			                           rec.len ? rec.body : (const uint8_t *)"", rec.len, &err);
			if (d == -ENOMEM) {
				rc = d;
				snprintf(errmsg, errmsg_len, "cannot replay the journal: out of memory");
				break;
			}
			if (d < 0) {
				warn(srv,
				     "%s: the record at offset %zu (%s) no longer decodes: offset %zu: %s; "
				     "skipped",
				     path, rec.offset, sonde_serve_route_name((sonde_serve_route)rec.route),
				     err.offset, err.msg);
				r->skipped++;
				continue;
			}
			sonde_serve_drop_invalid(b, s0, NULL, 0);
			r->requests++;
			r->spans += b->spans_count - s0;
			r->logs += b->logs_count - l0;
			r->points += sonde__serve_points(b, m0);
			has_logs |= b->logs_count > l0;
			if (sonde__serve_records(b) >= srv->o.batch_records) {
				if ((rc = flush(srv, b, errmsg, errmsg_len)) < 0)
					break;
				has_logs = false;
			}
		}
		free(data);
	}
	if (rc == 0)
		rc = flush(srv, b, errmsg, errmsg_len);
	if (rc == 0) {
		/* Everything is in the store: the segments may go. */
		for (size_t i = 0; i < nseq; i++) {
			sonde__journal_path(srv->journal, seqs[i], path, sizeof path);
			unlink(path);
		}
	}
	sonde_batch_free(b);
	free(seqs);
	return rc;
}
