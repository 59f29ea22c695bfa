/*
 * export_file.c - the file exporters: each batch appended as one line of OTLP JSON per
 * signal, the layout of the OpenTelemetry Collector's file exporter, which `sonde ingest`
 * reads back; or, for logs only, one JSON line per record (log.h's
 * sonde_exporter_log_json_new) to a file or a descriptor such as stderr.
 *
 * Each line goes to the kernel in write() calls as soon as it is encoded, so nothing is
 * buffered here and force_flush has nothing to do; the data reaches the disk at shutdown
 * (fdatasync), which keeps an fsync off every export. O_APPEND keeps lines whole when
 * several processes share the file, as long as each line fits one write().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter_internal.h"
#include "logline.h"
#include "otlp_json.h"
#include "sonde/log.h"

typedef struct file_exporter {
	sonde_exporter base;
	int fd;         /* owned; -1 after shutdown */
	char *path;     /* owned, for diagnostics */
	bool torn;      /* the last line was cut short by a failed write */
	bool logs_json; /* JSON lines of log records, not OTLP */
	bool own_fd;    /* opened here: synced and closed at shutdown */
	sonde_buf line;
} file_exporter;

/* Writes all of p[0..n). Returns 0, or -errno with *done set to the bytes written. */
static int write_all(int fd, const char *p, size_t n, size_t *done)
{
	*done = 0;
	while (*done < n) {
		ssize_t w = write(fd, p + *done, n - *done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*done += (size_t)w;
	}
	return 0;
}

static int file_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	file_exporter *x = (file_exporter *)e;
	if (x->fd < 0)
		return -EBADF;
	sonde_buf_reset(&x->line);
	/* A newline ends a torn line, so one failed write costs one unreadable line, not two. */
	if (x->torn)
		sonde_buf_putc(&x->line, '\n');
	int rc = x->logs_json ? sonde_logjson_write(b, &x->line) : sonde_otlp_jsonl_write(b, &x->line);
	if (rc == 0 && x->line.oom)
		rc = -ENOMEM;
	if (rc < 0) {
		sonde__diag("sonde: file: encoding for %s failed (%d)", x->path, rc);
		return rc;
	}
	if (x->line.len == (size_t)x->torn)
		return 0;
	size_t done;
	rc = write_all(x->fd, x->line.data, x->line.len, &done);
	if (rc < 0) {
		x->torn = x->torn ? done < x->line.len : done > 0;
		sonde__diag("sonde: file: writing %s: %s", x->path, strerror(-rc));
		return rc;
	}
	x->torn = false;
	return 0;
}

static int file_force_flush(sonde_exporter *e, uint64_t deadline_ns)
{
	return 0;
}

static int file_shutdown(sonde_exporter *e, uint64_t deadline_ns)
{
	file_exporter *x = (file_exporter *)e;
	int rc = 0;
	if (x->fd < 0)
		return 0;
	if (!x->own_fd) {
		x->fd = -1;
		sonde_buf_release(&x->line);
		return 0;
	}
	/* EINVAL: the path is a pipe or a terminal, which has nothing to sync. */
	if (fdatasync(x->fd) < 0 && errno != EINVAL && errno != EROFS) {
		rc = -errno;
		sonde__diag("sonde: file: syncing %s: %s", x->path, strerror(errno));
	}
	if (close(x->fd) < 0 && rc == 0 && errno != EINTR) {
		rc = -errno;
		sonde__diag("sonde: file: closing %s: %s", x->path, strerror(errno));
	}
	x->fd = -1;
	sonde_buf_release(&x->line);
	return rc;
}

/* The descriptor is shared with the parent, which O_APPEND makes harmless; the line buffer
 * may have been in use by the parent's exporter thread, so the child abandons it. */
static void file_after_fork_child(sonde_exporter *e)
{
	file_exporter *x = (file_exporter *)e;
	x->line = (sonde_buf)SONDE_BUF_INIT;
	x->torn = false;
}

static void file_destroy(sonde_exporter *e)
{
	file_exporter *x = (file_exporter *)e;
	if (x->fd >= 0 && x->own_fd)
		close(x->fd);
	sonde_buf_release(&x->line);
	free(x->path);
	free(x);
}

static const sonde_exporter_ops file_ops = {
        .name = "file",
        .deliver = file_export,
        .force_flush = file_force_flush,
        .shutdown = file_shutdown,
        .destroy = file_destroy,
        .after_fork_child = file_after_fork_child,
};

/* A file exporter writing to path (opened for appending) or, when path is NULL, to fd. */
static sonde_exporter *file_new(const char *path, int fd, bool logs_json)
{
	file_exporter *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->base.ops = &file_ops;
	x->logs_json = logs_json;
	char name[32];
	snprintf(name, sizeof name, "fd %d", fd);
	x->path = strdup(path ? path : name);
	if (!x->path) {
		free(x);
		return NULL;
	}
	x->own_fd = path != NULL;
	x->fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : fd;
	if (x->fd < 0) {
		sonde__diag("sonde: file: cannot open %s: %s", x->path,
		            path ? strerror(errno) : "bad descriptor");
		free(x->path);
		free(x);
		return NULL;
	}
	return &x->base;
}

sonde_exporter *sonde_exporter_file_new(const char *path)
{
	if (!path || !*path) {
		sonde__diag("sonde: file: no path given");
		return NULL;
	}
	return file_new(path, -1, false);
}

sonde_exporter *sonde_exporter_log_json_new(const char *path, int fd)
{
	if (path && !*path) {
		sonde__diag("sonde: log-json: empty path");
		return NULL;
	}
	return file_new(path, fd, true);
}
