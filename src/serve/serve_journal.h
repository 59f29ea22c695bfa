/*
 * serve_journal.h - the write-ahead journal of sonde serve (--journal DIR): request bodies
 * appended to local segment files before they are acknowledged, and removed once the store
 * has committed them; a server that died replays what is left at its next start.
 *
 * Design notes
 *
 *   Files. A journal belongs to one process at a time (an flock on DIR/lock, held until
 *   close). It is a directory of segments DIR/journal-<16 hex digits>.wal, numbered
 *   in the order they were written. Records are appended to the active (newest) segment
 *   only; past segment_bytes (64 MiB by default) a new segment becomes the active one.
 *
 *   Records. A record is a 20-byte header, little-endian: magic "SJRN", version (1), route,
 *   encoding, flags (0), the body's length (u64), then the CRC32 (zlib) of the header's
 *   first 16 bytes followed by the body; then the body, as the decoder reads it (after
 *   gunzip). A reader stops at the first record that is short (a torn tail: the process
 *   died in the middle of a write) or corrupt, and says where and what it expected.
 *
 *   Outstanding records. Each segment counts the records appended to it and not yet
 *   committed (sonde__journal_done). A segment that is no longer the active one and has no
 *   outstanding record is unlinked at once; the active one when the journal is closed.
 *   The bytes of outstanding records are the journal's backlog (sonde__journal_backlog).
 *
 *   Durability. An append is one write(2) of header and body: once it returns, the record
 *   survives the process being killed (it is in the kernel's page cache). With sync, a
 *   record survives a power cut only after sonde__journal_sync() returned 0 (fdatasync of
 *   the active segment; a segment left behind by a rotation is synced before it is
 *   closed, and the directory after a segment is created).
 *
 * Thread safety: appends, sync and done may come from different threads (one internal
 * mutex); open, close and the reader are for one thread.
 */
#ifndef SONDE_SERVE_JOURNAL_H
#define SONDE_SERVE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	SONDE__JOURNAL_HEADER = 20,  /* bytes of a record's header */
	SONDE__JOURNAL_VERSION = 1,  /* the record format written */
	SONDE__JOURNAL_SEGS_MAX = 8, /* sonde__journal_span: segments one span may name */
};
#define SONDE__JOURNAL_SEGMENT_BYTES ((uint64_t)64 << 20)

typedef struct sonde__journal sonde__journal;

/* One record as read: body is borrowed from the reader's buffer. */
typedef struct sonde__journal_rec {
	unsigned route; /* a sonde_serve_route, TRACES..ZIPKIN */
	unsigned enc;   /* a sonde_serve_encoding */
	const uint8_t *body;
	size_t len;
	size_t offset; /* of its header in the segment */
} sonde__journal_rec;

/* Where appended records are, to be given back with sonde__journal_done once committed:
 * per segment, its number, how many records and how many bytes. */
typedef struct sonde__journal_use {
	uint64_t seq;
	size_t records;
	uint64_t bytes;
} sonde__journal_use;
typedef struct sonde__journal_span {
	sonde__journal_use seg[SONDE__JOURNAL_SEGS_MAX];
	unsigned n;
} sonde__journal_span;

/* Opens the journal in dir (created with mode 0700 when missing; its parent must exist);
 * -EBUSY when another process has it open. Segments already there are left alone (see sonde__journal_segments for replay); new
 * records go to a new segment numbered after them, created at the first append.
 * segment_bytes 0: 64 MiB. On failure returns a negative errno and writes a sentence into
 * errmsg. dir is copied. Close with sonde__journal_close. */
int sonde__journal_open(const char *dir, uint64_t segment_bytes, bool sync, sonde__journal **out,
                        char *errmsg, size_t errmsg_len);

/* The segments in j's directory when it was opened, oldest first: *seqs (malloc'd, the
 * caller frees it) and *n. Returns 0 or -errno (with errmsg). */
int sonde__journal_segments(const sonde__journal *j, uint64_t **seqs, size_t *n, char *errmsg,
                            size_t errmsg_len);
/* Writes the path of segment seq into out[0..out_len). */
void sonde__journal_path(const sonde__journal *j, uint64_t seq, char *out, size_t out_len);

/* Appends one record (route, enc, body[0..len)) to the active segment, rotating first when
 * it is full, and adds it to *span (which the caller zeroes before its first append).
 * Returns 0; -ENOSPC, -EIO... when the write failed (the segment is cut back to where it
 * was, so the journal holds whole records only); -E2BIG when span names
 * SONDE__JOURNAL_SEGS_MAX segments already and this record would need another (nothing
 * written). */
int sonde__journal_append(sonde__journal *j, unsigned route, unsigned enc, const void *body, size_t len,
                          sonde__journal_span *span);
/* With sync: fdatasync of the active segment, when something was appended since the last.
 * Without: nothing. Returns 0 or -errno. */
int sonde__journal_sync(sonde__journal *j);
/* The records of span are committed: their segments' outstanding counts go down, and a
 * segment that is not the active one with none left is unlinked. */
void sonde__journal_done(sonde__journal *j, const sonde__journal_span *span);
/* Bytes of records appended and not yet done. */
uint64_t sonde__journal_backlog(sonde__journal *j);
/* Closes j: the active segment is unlinked when it has no outstanding record; segments
 * with outstanding records stay for the next start. NULL is a no-op. */
void sonde__journal_close(sonde__journal *j);

/* The record at *off of a segment's bytes data[0..len). Returns 1 with *rec filled and *off
 * moved past it; 0 at the end (*off == len); or SONDE_EPARSE when the bytes at *off are
 * not a whole, valid record (*off unchanged), with why[0..why_len) saying what was
 * expected at which offset. *torn says whether it was cut short (the end came first)
 * rather than corrupt. */
int sonde__journal_next(const uint8_t *data, size_t len, size_t *off, sonde__journal_rec *rec, bool *torn,
                        char *why, size_t why_len);

#endif
