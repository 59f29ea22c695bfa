/*
 * procmaps.h - the reader of /proc/PID/maps: which file is mapped at which addresses.
 *
 * The profiler needs, for every sampled address, the file it belongs to and the offset in
 * that file. This reader parses the text of /proc/PID/maps (a whole buffer, never trusted)
 * and hands each line to a callback; the profiler's address spaces keep what they need.
 * Stateless and thread-safe.
 */
#ifndef SONDE_PROCMAPS_H
#define SONDE_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire_error.h"

enum {
	SONDE_MAP_READ = 1,
	SONDE_MAP_WRITE = 2,
	SONDE_MAP_EXEC = 4,
	SONDE_MAP_SHARED = 8,
};

/* One line of /proc/PID/maps. */
typedef struct sonde_map_entry {
	uint64_t start, end; /* [start, end) in the process */
	uint64_t pgoff;      /* file offset of start */
	uint32_t prot;       /* SONDE_MAP_* bits */
	uint32_t dev_major, dev_minor;
	uint64_t inode;   /* 0 for anonymous memory */
	const char *path; /* NUL-terminated, "" when anonymous; borrowed for the callback */
	size_t path_len;  /* without " (deleted)" */
	int deleted;      /* the path ended in " (deleted)" */
} sonde_map_entry;

/* Called once per line; a non-zero return stops the parse and is returned. */
typedef int (*sonde_map_fn)(void *ctx, const sonde_map_entry *e);

/* Parses buf[0..len), the text of a /proc/PID/maps file. Returns 0, the callback's
 * non-zero value, -ENOMEM, or SONDE_EPARSE with err (may be NULL) naming the line, byte
 * offset and field that was not as expected. Lines are handed over as they are parsed, so
 * the callback may have seen some lines before a parse error. */
int sonde_procmaps_parse(const char *buf, size_t len, sonde_map_fn fn, void *ctx, sonde_wire_error *err);

/* Reads /proc/PID/maps whole into a malloc'd buffer (*buf, caller frees; NUL-terminated).
 * Returns 0 or -errno (-ENOENT / -ESRCH when the process is gone). */
int sonde_procmaps_load(pid_t pid, char **buf, size_t *len);

#endif
