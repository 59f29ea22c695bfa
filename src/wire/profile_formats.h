/*
 * profile_formats.h - profiles, bytes <-> stack table: folded stacks (read, write), `perf
 * script` text (read), pprof (read, write), speedscope JSON (write), and telling them
 * apart from content.
 *
 * One API for everything that records or renders profiles: sonde_profile_read() parses
 * any readable format into a sonde_stacktab (src/model/stacktab.h, whose conventions for
 * kernel, inlined, JIT and thread frames every format here follows), and
 * sonde_profile_write() writes a table in any writable format into a sonde_buf. The
 * per-format functions below are the same thing without the dispatch; the folded reader
 * also comes as a streaming reader for inputs too large to hold in memory.
 *
 * Formats, in short (docs/flamegraph.md has the details):
 *   folded       "root;...;leaf COUNT" lines, as flamegraph.pl and inferno read and write;
 *                frame names may carry inferno's annotations _[k] (kernel), _[i]
 *                (inlined) and _[j] (JIT). One sample type.
 *   perf-script  the default text of `perf script` with call chains (perf record -g),
 *                as stackcollapse-perf.pl reads it. Read only.
 *   pprof        gzipped profile.proto: string table, sample types, mappings, locations
 *                (inlined frames as extra lines), functions, lines; thread markers
 *                become the sample label "thread".
 *   speedscope   speedscope's JSON file format: "sampled" profiles over shared frames,
 *                one profile per thread. Write only.
 *
 * Readers never trust their input: a problem is reported as SONDE_EPARSE with the byte
 * offset, line (text formats), field and what was expected in a sonde_wire_error, and
 * nothing in the input makes them crash, recurse or read out of bounds. The functions are
 * reentrant; each table and buffer belongs to one thread at a time.
 */
#ifndef SONDE_PROFILE_FORMATS_H
#define SONDE_PROFILE_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stacktab.h"
#include "wire_error.h"

typedef enum sonde_profile_format {
	SONDE_PROFILE_UNKNOWN = 0,
	SONDE_PROFILE_FOLDED,
	SONDE_PROFILE_PERF_SCRIPT,
	SONDE_PROFILE_PPROF,
	SONDE_PROFILE_SPEEDSCOPE,
} sonde_profile_format;

typedef struct sonde_profile_read_opts {
	/* Threads. folded: a root frame named "<name>-<digits>" is a thread marker (see
	 * stacktab.h). perf-script: each stack gets the thread marker "<comm>-<tid>" at its
	 * root; when false, the command name is the root frame, as stackcollapse-perf.pl
	 * does. */
	bool threads;
	/* pprof: the largest size a gzipped profile may inflate to; 0 means 1 GiB. */
	size_t max_inflated_bytes;
} sonde_profile_read_opts;

typedef struct sonde_profile_write_opts {
	/* folded, speedscope: the index of the sample type to write (folded and speedscope
	 * carry one). pprof writes every type. */
	size_t type;
	/* speedscope: the name of the file's profile group; NULL means "sonde". */
	const char *name;
	/* pprof: write the protobuf without gzip (for tests and protoc). */
	bool pprof_raw;
	/* pprof: informational Profile fields, written when non-zero. period_type and
	 * period_unit name the period's ValueType ("cpu", "nanoseconds"). */
	int64_t time_ns, duration_ns, period;
	const char *period_type, *period_unit;
} sonde_profile_write_opts;

/* "folded", "perf-script", "pprof", "speedscope"; "unknown" otherwise. */
const char *sonde_profile_format_name(sonde_profile_format f);
/* The format with this name, or SONDE_PROFILE_UNKNOWN. */
sonde_profile_format sonde_profile_format_find(const char *name);
bool sonde_profile_format_readable(sonde_profile_format f);
bool sonde_profile_format_writable(sonde_profile_format f);
/* Guesses the format from the first bytes: gzip or a protobuf Profile is pprof, a JSON
 * object naming speedscope is speedscope, indented "ADDRESS SYMBOL (MODULE)" lines are
 * perf script, and "...;... COUNT" lines are folded. SONDE_PROFILE_UNKNOWN when nothing
 * fits. Looks at most at the first 64 KiB. */
sonde_profile_format sonde_profile_format_detect(const char *buf, size_t len);

/* Reads buf[0..len) in format f and adds its stacks and counts to t (types by name,
 * frames and stacks by content, as sonde_stacktab_merge() does). opts may be NULL. Returns
 * 0; SONDE_EPARSE with err filled; SONDE_ELIMIT (more sample types than a table holds);
 * SONDE_EFORMAT when f cannot be read; or -ENOMEM. On failure t is as it was. */
int sonde_profile_read(sonde_stacktab *t, sonde_profile_format f, const char *buf, size_t len,
                       const sonde_profile_read_opts *opts, sonde_wire_error *err);
/* Appends t written in format f to out. opts may be NULL. Returns 0, -EINVAL when
 * opts->type is not a type of t, SONDE_EFORMAT when f cannot be written, or -ENOMEM. */
int sonde_profile_write(const sonde_stacktab *t, sonde_profile_format f, const sonde_profile_write_opts *opts,
                        sonde_buf *out);

/* The name a frame is shown by: its function; else "module+0xADDRESS" (the module's base
 * name); else "0xADDRESS"; else "" (nothing known). Appended to out. */
void sonde_profile_frame_name(const sonde_frame *f, sonde_buf *out);

/*
 * Folded stacks. Each line is "frame;frame;...;frame COUNT", root first; the count is a
 * non-negative integer after the last space or tab; a line with nothing before the count
 * is the empty stack. Empty lines are skipped; "\r\n" line ends are accepted. Frames read
 * with an annotation keep it as their kind: "_[k]" gives module "[kernel.kallsyms]",
 * "_[j]" module "[jit]", "_[i]" an inlined frame. Counts go to the sample type "samples"
 * ("count"), added when missing.
 *
 * The writer writes one line per stack with a positive count of the chosen type, sorted
 * bytewise (as `LC_ALL=C sort`), frames named by sonde_profile_frame_name() with the
 * annotation of their kind; ';' in a name becomes ':' and control characters become '?'
 * so that every line reads back, and stacks that come out as the same text (frames that
 * differ only in file, line or address) become one line with the summed count. Thread markers are written as plain frames. Folded text
 * that the writer wrote (or that is sorted and merged the same way) reads and writes back
 * byte for byte.
 */
int sonde_folded_read(sonde_stacktab *t, const char *buf, size_t len, const sonde_profile_read_opts *opts,
                      sonde_wire_error *err);
int sonde_folded_write(const sonde_stacktab *t, size_t type, sonde_buf *out);

/* Streaming folded reader: feed the input in pieces of any size (a line may span pieces),
 * then finish. Memory stays proportional to the table plus the longest line, not to the
 * input. On failure the table holds the lines before the bad one: read into a table of
 * your own and drop it. Not thread-safe. */
typedef struct sonde_folded_reader sonde_folded_reader;
/* t is borrowed until sonde_folded_reader_free(); opts may be NULL. NULL when out of
 * memory or when t has no room for the "samples" type. */
sonde_folded_reader *sonde_folded_reader_new(sonde_stacktab *t, const sonde_profile_read_opts *opts);
/* Parses every complete line of buf[0..len) and keeps the rest for the next call.
 * Returns 0, SONDE_EPARSE (err filled; offsets count from the first byte ever fed), or
 * -ENOMEM. After a failure every call fails. */
int sonde_folded_reader_feed(sonde_folded_reader *r, const char *buf, size_t len, sonde_wire_error *err);
/* Parses the last line when it has no newline. Returns as _feed does. */
int sonde_folded_reader_finish(sonde_folded_reader *r, sonde_wire_error *err);
/* NULL is a no-op. */
void sonde_folded_reader_free(sonde_folded_reader *r);

/*
 * perf script. Each sample is a header line ("COMM PID[/TID] [CPU] TIME: [PERIOD] EVENT:
 * ...") followed by one line per frame, leaf first ("\tADDRESS SYMBOL[+0xOFF] (MODULE)"),
 * and an empty line. "[unknown]" symbols keep their address; "(inlined)" frames (perf
 * script --inline) are inlined into the frame below them and take its module. Each sample
 * counts 1 of "samples" ("count"), as stackcollapse-perf.pl counts. Lines starting with
 * '#' (perf's header with -I or --header) are skipped.
 */
int sonde_perf_script_read(sonde_stacktab *t, const char *buf, size_t len,
                           const sonde_profile_read_opts *opts, sonde_wire_error *err);

/*
 * pprof (github.com/google/pprof proto/profile.proto). The writer writes mappings (one per
 * module, starting at address 0: stack table addresses are module-relative), locations
 * (a frame plus the frames inlined into it, innermost line first), functions (name, file)
 * and lines, one sample per stack with a value for every sample type, and a "thread"
 * label for stacks with a thread marker; gzipped unless opts->pprof_raw. The reader takes
 * gzipped or raw protobuf and turns each sample into a stack: a location's lines become
 * frames (all but the last inlined), a location without lines a frame with its mapping's
 * file name and its address relative to the mapping, and a "thread" label a thread marker
 * at the root. Other labels are ignored.
 */
int sonde_pprof_read(sonde_stacktab *t, const char *buf, size_t len, const sonde_profile_read_opts *opts,
                     sonde_wire_error *err);
int sonde_pprof_write(const sonde_stacktab *t, const sonde_profile_write_opts *opts, sonde_buf *out);

/*
 * speedscope (https://www.speedscope.app/file-format-schema.json). One "sampled" profile
 * per thread marker (named by it; stacks without one go to a profile named after the
 * file), samples root first over shared frames (name, file — or the module when the file
 * is unknown — and line), weights from the chosen sample type; the heaviest profile is
 * the one speedscope opens.
 */
int sonde_speedscope_write(const sonde_stacktab *t, const sonde_profile_write_opts *opts, sonde_buf *out);

#endif
