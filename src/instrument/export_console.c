/*
 * export_console.c - the console exporter: one readable line per span on a file
 * descriptor the application owns (usually stderr), for development. Also home of
 * sonde_exporter_free, which every exporter shares.
 *
 * The descriptor may be a pipe whose reader is slow or gone. Writes wait for room with
 * poll() and go out in chunks of at most PIPE_BUF, which a pipe that polls writable always
 * takes whole, so the export keeps its deadline; a reader that went away is EPIPE, with
 * the SIGPIPE it raises blocked and consumed on this thread, so the process is not killed
 * and no handler is installed.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exporter_internal.h"
#include "text_write.h"

typedef struct console_exporter {
	sonde_exporter base;
	int fd; /* borrowed; never closed */
	sonde_buf text;
} console_exporter;

/* write() that turns a broken pipe into EPIPE without a signal reaching the process. */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n)
{
	sigset_t pipe_set, old, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE) == 1;
	ssize_t w = write(fd, p, n);
	int err = errno;
	if (w < 0 && err == EPIPE && !was_pending) {
		const struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return w;
}

static int write_by(int fd, const char *p, size_t n, uint64_t deadline_ns)
{
	size_t done = 0;
	while (done < n) {
		uint64_t now = sonde__mono_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		uint64_t left_ms = (deadline_ns - now + 999999u) / 1000000u;
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int r = poll(&pfd, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			continue;
		size_t chunk = n - done > PIPE_BUF ? PIPE_BUF : n - done;
		ssize_t w = write_nosigpipe(fd, p + done, chunk);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

static int console_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	console_exporter *x = (console_exporter *)e;
	sonde_buf_reset(&x->text);
	int rc = sonde_text_write(b, &x->text);
	if (rc == 0 && x->text.oom)
		rc = -ENOMEM;
	if (rc < 0)
		return rc;
	rc = write_by(x->fd, x->text.data, x->text.len, deadline_ns);
	if (rc < 0)
		sonde__diag("sonde: console: writing to fd %d: %s", x->fd, strerror(-rc));
	return rc;
}

/* The text buffer may have been in use by the parent's exporter thread: abandoned. */
static void console_after_fork_child(sonde_exporter *e)
{
	console_exporter *x = (console_exporter *)e;
	x->text = (sonde_buf)SONDE_BUF_INIT;
}

static void console_destroy(sonde_exporter *e)
{
	console_exporter *x = (console_exporter *)e;
	sonde_buf_release(&x->text);
	free(x);
}

static const sonde_exporter_ops console_ops = {
        .name = "console",
        .deliver = console_export,
        .force_flush = NULL,
        .shutdown = NULL,
        .destroy = console_destroy,
        .after_fork_child = console_after_fork_child,
};

sonde_exporter *sonde_exporter_console_new(int fd)
{
	if (fd < 0) {
		sonde__diag("sonde: console: invalid file descriptor %d", fd);
		return NULL;
	}
	console_exporter *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->base.ops = &console_ops;
	x->fd = fd;
	return &x->base;
}

void sonde_exporter_free(sonde_exporter *e)
{
	if (e)
		e->ops->destroy(e);
}
