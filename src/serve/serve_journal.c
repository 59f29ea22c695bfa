/*
 * serve_journal.c - the write-ahead journal of sonde serve: segment files of CRC-checked
 * records, appended by the decoder, given back by the committers, read back at start
 * (serve_journal.h has the format and the rules).
 */
#include "serve_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "pbwire.h"
#include "serve.h"
#include "sonde/status.h"

static const uint8_t magic[4] = {'S', 'J', 'R', 'N'};

/* A segment with records not yet done (or the active one). */
typedef struct seg {
	uint64_t seq;
	size_t outstanding;
	uint64_t bytes;
} seg;

struct sonde__journal {
	char dir[PATH_MAX];
	uint64_t seg_max;
	bool sync;
	int lock_fd;     /* DIR/lock, flock'ed: one server per journal */
	uint64_t *found; /* segments present at open, sorted */
	size_t nfound;

	pthread_mutex_t mu;
	int fd; /* the active segment's; -1 before the first append */
	uint64_t active_seq, active_size, next_seq;
	bool dirty; /* appended since the last sync */
	seg *segs;  /* the active one and those with outstanding records */
	size_t nsegs, segs_cap;
	uint64_t backlog;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The CRC32 of the header's first 16 bytes, then the body. */
static uint32_t record_crc(const uint8_t *hdr, const void *body, size_t len)
{
	uLong c = crc32(0L, hdr, 16);
	const uint8_t *p = body;
	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

void sonde__journal_path(const sonde__journal *j, uint64_t seq, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s/journal-%016" PRIx64 ".wal", j->dir, seq);
}

/* seq of a segment's file name, or false when name is not one. */
static bool parse_name(const char *name, uint64_t *seq)
{
	if (strncmp(name, "journal-", 8) != 0 || strlen(name) != 8 + 16 + 4 || strcmp(name + 24, ".wal") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 8; i < 24; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*seq = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int sonde__journal_open(const char *dir, uint64_t segment_bytes, bool sync, sonde__journal **out,
                        char *errmsg, size_t errmsg_len)
{
	*out = NULL;
	if (strlen(dir) + 32 > PATH_MAX) {
		snprintf(errmsg, errmsg_len, "journal %s: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(errmsg, errmsg_len, "journal %s: cannot create the directory: %s", dir, strerror(e));
		return -e;
	}
	char lock_path[PATH_MAX + 8];
	snprintf(lock_path, sizeof lock_path, "%s/lock", dir);
	int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		if (e == EWOULDBLOCK)
			snprintf(errmsg, errmsg_len, "journal %s is in use by another sonde serve", dir);
		else
			snprintf(errmsg, errmsg_len, "journal %s: %s: %s", dir, lock_path, strerror(e));
		if (lock_fd >= 0)
			close(lock_fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		snprintf(errmsg, errmsg_len, "journal %s: %s", dir, strerror(e));
		close(lock_fd);
		return -e;
	}
	sonde__journal *j = calloc(1, sizeof *j);
	if (!j) {
		closedir(d);
		close(lock_fd);
		return -ENOMEM;
	}
	j->lock_fd = lock_fd;
	snprintf(j->dir, sizeof j->dir, "%s", dir);
	j->seg_max = segment_bytes ? segment_bytes : SONDE__JOURNAL_SEGMENT_BYTES;
	j->sync = sync;
	j->fd = -1;
	size_t cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		if (!parse_name(de->d_name, &seq))
			continue;
		if (j->nfound == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *p = realloc(j->found, cap * sizeof *p);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			j->found = p;
		}
		j->found[j->nfound++] = seq;
		if (seq >= j->next_seq)
			j->next_seq = seq + 1;
	}
	closedir(d);
	if (rc < 0) {
		close(lock_fd);
		free(j->found);
		free(j);
		return rc;
	}
	if (j->nfound)
		qsort(j->found, j->nfound, sizeof *j->found, cmp_u64);
	pthread_mutex_init(&j->mu, NULL);
	*out = j;
	return 0;
}

int sonde__journal_segments(const sonde__journal *j, uint64_t **seqs, size_t *n, char *errmsg,
                            size_t errmsg_len)
{
	*seqs = NULL;
	*n = 0;
	if (!j->nfound)
		return 0;
	uint64_t *p = malloc(j->nfound * sizeof *p);
	if (!p) {
		snprintf(errmsg, errmsg_len, "journal %s: out of memory", j->dir);
		return -ENOMEM;
	}
	memcpy(p, j->found, j->nfound * sizeof *p);
	*seqs = p;
	*n = j->nfound;
	return 0;
}

static seg *find_seg(sonde__journal *j, uint64_t seq)
{
	for (size_t i = 0; i < j->nsegs; i++)
		if (j->segs[i].seq == seq)
			return &j->segs[i];
	return NULL;
}

static void drop_seg(sonde__journal *j, seg *s)
{
	char path[PATH_MAX + 64];
	sonde__journal_path(j, s->seq, path, sizeof path);
	unlink(path);
	*s = j->segs[--j->nsegs];
}

static void sync_dir(const sonde__journal *j)
{
	int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

/* Closes the active segment, if any (synced first with sync), and drops it when none
 * of its records is outstanding. Caller holds j->mu (or is the last user). */
static void close_active(sonde__journal *j)
{
	if (j->fd < 0)
		return;
	if (j->sync && j->dirty)
		fdatasync(j->fd);
	close(j->fd);
	seg *s = find_seg(j, j->active_seq);
	if (s && !s->outstanding)
		drop_seg(j, s);
}

/* Closes the active segment (close_active) and opens a new one. Caller holds j->mu. */
static int rotate(sonde__journal *j)
{
	if (j->segs_cap == j->nsegs) {
		size_t cap = j->segs_cap ? j->segs_cap * 2 : 8;
		seg *p = realloc(j->segs, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		j->segs = p;
		j->segs_cap = cap;
	}
	char path[PATH_MAX + 64];
	uint64_t seq = j->next_seq;
	sonde__journal_path(j, seq, path, sizeof path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (j->sync)
		sync_dir(j);
	j->next_seq++;
	close_active(j);
	j->fd = fd;
	j->active_seq = seq;
	j->active_size = 0;
	j->dirty = false;
	j->segs[j->nsegs++] = (seg){.seq = seq};
	return 0;
}

/* Writes iov[0..n) whole, resuming after short writes. Returns 0 or -errno. */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int sonde__journal_append(sonde__journal *j, unsigned route, unsigned enc, const void *body, size_t len,
                          sonde__journal_span *span)
{
	uint8_t hdr[SONDE__JOURNAL_HEADER];
	memcpy(hdr, magic, 4);
	hdr[4] = SONDE__JOURNAL_VERSION;
	hdr[5] = (uint8_t)route;
	hdr[6] = (uint8_t)enc;
	hdr[7] = 0;
	put_le(hdr + 8, len, 8);
	put_le(hdr + 16, record_crc(hdr, body, len), 4);
	uint64_t size = SONDE__JOURNAL_HEADER + (uint64_t)len;

	pthread_mutex_lock(&j->mu);
	int rc = 0;
	if (j->fd < 0 || (j->active_size && j->active_size + size > j->seg_max))
		rc = rotate(j);
	unsigned k = span->n;
	bool fresh = !(k && span->seg[k - 1].seq == j->active_seq);
	if (rc == 0 && fresh) {
		if (k == SONDE__JOURNAL_SEGS_MAX)
			rc = -E2BIG;
		else
			span->seg[k] = (sonde__journal_use){.seq = j->active_seq};
	}
	if (rc == 0) {
		struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)(uintptr_t)body, len}};
		rc = write_all(j->fd, iov, len ? 2 : 1);
		if (rc < 0) {
			/* Whole records only: a later append must not follow a torn one. */
			if (ftruncate(j->fd, (off_t)j->active_size) < 0)
				rc = -EIO;
		}
	}
	if (rc == 0) {
		if (fresh)
			span->n++;
		span->seg[span->n - 1].records++;
		span->seg[span->n - 1].bytes += size;
		seg *s = find_seg(j, j->active_seq);
		s->outstanding++;
		s->bytes += size;
		j->active_size += size;
		j->backlog += size;
		j->dirty = true;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

int sonde__journal_sync(sonde__journal *j)
{
	if (!j->sync)
		return 0;
	pthread_mutex_lock(&j->mu);
	int rc = 0;
	if (j->fd >= 0 && j->dirty) {
		rc = fdatasync(j->fd) < 0 ? -errno : 0;
		if (rc == 0)
			j->dirty = false;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

void sonde__journal_done(sonde__journal *j, const sonde__journal_span *span)
{
	pthread_mutex_lock(&j->mu);
	for (unsigned i = 0; i < span->n; i++) {
		seg *s = find_seg(j, span->seg[i].seq);
		if (!s)
			continue;
		size_t r = span->seg[i].records < s->outstanding ? span->seg[i].records : s->outstanding;
		uint64_t b = span->seg[i].bytes < s->bytes ? span->seg[i].bytes : s->bytes;
		s->outstanding -= r;
		s->bytes -= b;
		j->backlog -= b < j->backlog ? b : j->backlog;
		if (!s->outstanding && s->seq != j->active_seq)
			drop_seg(j, s);
	}
	pthread_mutex_unlock(&j->mu);
}

uint64_t sonde__journal_backlog(sonde__journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint64_t b = j->backlog;
	pthread_mutex_unlock(&j->mu);
	return b;
}

void sonde__journal_close(sonde__journal *j)
{
	if (!j)
		return;
	close_active(j);
	close(j->lock_fd);
	pthread_mutex_destroy(&j->mu);
	free(j->segs);
	free(j->found);
	free(j);
}

int sonde__journal_next(const uint8_t *data, size_t len, size_t *off, sonde__journal_rec *rec, bool *torn,
                        char *why, size_t why_len)
{
	size_t o = *off;
	*torn = false;
	if (o >= len)
		return 0;
	size_t left = len - o;
	if (left < SONDE__JOURNAL_HEADER) {
		*torn = true;
		snprintf(why, why_len, "offset %zu: expected a %d-byte record header, found %zu bytes", o,
		         SONDE__JOURNAL_HEADER, left);
		return SONDE_EPARSE;
	}
	const uint8_t *h = data + o;
	if (memcmp(h, magic, 4) != 0) {
		snprintf(why, why_len, "offset %zu: expected the record magic \"SJRN\"", o);
		return SONDE_EPARSE;
	}
	if (h[4] != SONDE__JOURNAL_VERSION) {
		snprintf(why, why_len, "offset %zu: record version %u, expected %d", o, h[4],
		         SONDE__JOURNAL_VERSION);
		return SONDE_EPARSE;
	}
	if (h[5] > SONDE_ROUTE_ZIPKIN || h[6] > SONDE_SERVE_JSON || h[7] != 0) {
		snprintf(why, why_len, "offset %zu: route %u, encoding %u, flags %u: expected 0-%d, 0-%d, 0",
		         o, h[5], h[6], h[7], SONDE_ROUTE_ZIPKIN, SONDE_SERVE_JSON);
		return SONDE_EPARSE;
	}
	uint64_t blen = sonde_pb_load_le64(h + 8);
	if (blen > left - SONDE__JOURNAL_HEADER) {
		*torn = true;
		snprintf(why, why_len, "offset %zu: expected a body of %" PRIu64 " bytes, found %zu", o, blen,
		         left - SONDE__JOURNAL_HEADER);
		return SONDE_EPARSE;
	}
	const uint8_t *body = h + SONDE__JOURNAL_HEADER;
	uint32_t want = sonde_pb_load_le32(h + 16), got = record_crc(h, body, (size_t)blen);
	if (want != got) {
		snprintf(why, why_len,
		         "offset %zu: bad CRC: expected %08x, computed %08x over %" PRIu64 " bytes", o, want,
		         got, blen);
		return SONDE_EPARSE;
	}
	rec->route = h[5];
	rec->enc = h[6];
	rec->body = body;
	rec->len = (size_t)blen;
	rec->offset = o;
	*off = o + SONDE__JOURNAL_HEADER + (size_t)blen;
	return 1;
}
