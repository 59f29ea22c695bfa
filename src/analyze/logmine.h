/*
 * logmine.h - log template mining: an online miner of the Drain family that turns log
 * lines into templates ("Received block <BLK> of size <NUM> from <IP>"), and the header
 * splitter that finds the message of a line (after its timestamp, level, component).
 *
 * How a line is mined:
 *  1. Its header is split off (sonde_loghdr): a loghub-style format string, or "auto".
 *  2. The message is cut into whitespace-separated tokens, and common variables are
 *     masked inside each token as named placeholders by hand-written scanners: <IP>
 *     (IPv4/IPv6, with port), <HEX>, <NUM>, <UUID>, <PATH>, <URL>, <EMAIL>, <DUR> and
 *     <SIZE> (numbers with units), <TS> (dates and times), <BLK> (HDFS block ids), <REQ>
 *     (request ids), <ID> (identifiers made of words and digits), <BOOL> and <NULL>
 *     (true/false, null/nil). Some variables spanning tokens are joined into one
 *     ("Fri Jun 17 20:10:40 2005", "2.1 KB", a list of block ids).
 *  3. The line is routed by its token count and first token (a first token with a digit
 *     or placeholder routes with the wildcards) to a short list of templates; the most
 *     similar one (share of equal or wildcard tokens at or over the threshold, and no
 *     position where a word - letters, no digits - differs) takes the line, and the
 *     positions where they differ become <*>, or key=<*> when a prefix survives.
 *  4. sonde_logmine_refine() merges templates of the same shape that differ only where
 *     values vary, and turns a position into <*> when three or more templates differ only
 *     there, each with a different lowercase word (user and host names).
 * A template's id is a 64-bit hash of its text (with named placeholders), so the same
 * template has the same id in every run and every process.
 *
 * Memory is bounded: at most config.max_templates templates (the least recently used is
 * evicted), at most SONDE_LOGMINE_PARAM_VALUES sample values per placeholder, and the
 * per-line work allocates nothing once the miner has seen its longest line.
 *
 * A sonde_logmine and a sonde_loghdr are not thread-safe; use one per thread.
 */
#ifndef SONDE_LOGMINE_H
#define SONDE_LOGMINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- header splitting ---- */

typedef struct sonde_loghdr sonde_loghdr;

/* The spans a header split found, as offsets into the line (len 0: absent). */
typedef struct sonde_loghdr_fields {
	size_t content_off, content_len; /* the message */
	size_t time_off, time_len;       /* <Time>, <Timestamp> or what auto found */
	size_t level_off, level_len;     /* <Level> or a level word */
	size_t component_off, component_len;
} sonde_loghdr_fields;

/* Compiles a header format. fmt is "auto", or a loghub-style format string: <Name> is a
 * field, <Content> the message (it must come last); other text is literal, a run of spaces
 * matches one or more white-space characters, a backslash makes the next character
 * literal, and "(...)?" is an optional group ("<Component>([<PID>])?: <Content>").
 * Returns 0 and *out (caller frees with sonde_loghdr_free), or -EINVAL with a message in
 * err[0..errlen), or -ENOMEM. */
int sonde_loghdr_new(const char *fmt, sonde_loghdr **out, char *err, size_t errlen);
/* NULL is a no-op. */
void sonde_loghdr_free(sonde_loghdr *h);
/* Splits line[0..n) (no line terminator). Returns true when the header matched; when it
 * did not, f->content is the whole line and the other fields are empty. */
bool sonde_loghdr_split(const sonde_loghdr *h, const char *line, size_t n, sonde_loghdr_fields *f);

/* ---- the miner ---- */

typedef struct sonde_logmine sonde_logmine;

/* A handle on a template: stays valid while the template lives (a template merged into
 * another forwards to it; an evicted one is gone). 0 is never a valid handle. */
typedef uint64_t sonde_logmine_ref;

typedef struct sonde_logmine_config {
	size_t max_templates; /* LRU cap; default 20000 */
	double similarity;    /* share of equal tokens needed to join a template; default 0.5 */
} sonde_logmine_config;

#define SONDE_LOGMINE_PARAM_VALUES    4   /* sample values kept per placeholder */
#define SONDE_LOGMINE_PARAM_POSITIONS 16  /* placeholders per template with samples */
#define SONDE_LOGMINE_MAX_TOKENS      256 /* further tokens are folded into the last one */

/* One template, as sonde_logmine_get() shows it. The strings are borrowed: valid until
 * the next call that adds, loads, refines or frees. */
typedef struct sonde_logmine_template {
	uint64_t id;      /* hash of text */
	uint64_t count;   /* lines matched (including counts given to load) */
	const char *text; /* named placeholders: "Received block <BLK> of size <NUM>" */
	size_t text_len;
	const char *example; /* the first line seen (the message part) */
	size_t example_len;
	size_t ntokens;
	size_t nparams; /* placeholders with sample values, for sonde_logmine_param() */
} sonde_logmine_template;

/* The sample values of one placeholder position. Borrowed like the template. */
typedef struct sonde_logmine_param {
	size_t token;     /* token index in the template */
	const char *name; /* the placeholder text at that token, e.g. "<IP>" or "<*>" */
	size_t nvalues;
	const char *values[SONDE_LOGMINE_PARAM_VALUES];
	size_t value_lens[SONDE_LOGMINE_PARAM_VALUES];
} sonde_logmine_param;

/* Rendering styles. NAMED keeps the placeholder names, for people; STAR writes every
 * placeholder as "<*>", as the Loghub ground truth does. */
enum { SONDE_LOGMINE_NAMED = 0, SONDE_LOGMINE_STAR = 1 };

/* Fills c with the defaults (the one configuration used for every kind of log). */
void sonde_logmine_config_default(sonde_logmine_config *c);
/* Creates a miner (cfg NULL: defaults). Returns 0 and *out (caller frees with
 * sonde_logmine_free), -EINVAL or -ENOMEM. */
int sonde_logmine_new(const sonde_logmine_config *cfg, sonde_logmine **out);
/* NULL is a no-op. */
void sonde_logmine_free(sonde_logmine *m);

/* Mines one message (the content after the header; no line terminator). Sets *ref to
 * the template that took it. Returns 0, or -ENOMEM (the miner is unchanged). */
int sonde_logmine_add(sonde_logmine *m, const char *msg, size_t n, sonde_logmine_ref *ref);
/* Finds the template that covers a message as it is (every constant token equal),
 * without learning anything. Returns 0 and *ref, or -ENOENT. */
int sonde_logmine_match(sonde_logmine *m, const char *msg, size_t n, sonde_logmine_ref *ref);
/* Merges templates that differ only where values vary (the merged-away handles forward
 * to the survivor). Returns the number of merges. Cheap to call at the end of a file or
 * now and then while streaming. */
size_t sonde_logmine_refine(sonde_logmine *m);

/* Describes the template behind ref. Returns 0, or -ENOENT when it was evicted. */
int sonde_logmine_get(sonde_logmine *m, sonde_logmine_ref ref, sonde_logmine_template *t);
/* The i-th (0 <= i < t.nparams) sample-value set of the template. Returns 0 or -ENOENT. */
int sonde_logmine_param_get(sonde_logmine *m, sonde_logmine_ref ref, size_t i, sonde_logmine_param *p);
/* Appends the template's text in the given style to out. Returns 0, -ENOENT or -ENOMEM. */
int sonde_logmine_render(sonde_logmine *m, sonde_logmine_ref ref, int style, sonde_buf *out);
/* The current handle of ref (following merges), or 0 when it is gone. */
sonde_logmine_ref sonde_logmine_resolve(const sonde_logmine *m, sonde_logmine_ref ref);

/* Number of live templates. */
size_t sonde_logmine_count(const sonde_logmine *m);
/* Enumerates live templates: start with *cursor = 0; returns false when done. */
bool sonde_logmine_next(const sonde_logmine *m, size_t *cursor, sonde_logmine_ref *ref);

/* Re-adds a template saved earlier (its NAMED text, as sonde_logmine_get() gave it, and
 * its count), so that later lines join it and it keeps its id. A template with the same
 * text already present just adds count. Returns 0 and *ref (may be NULL), -EINVAL for an
 * empty text, or -ENOMEM. */
int sonde_logmine_load(sonde_logmine *m, const char *text, size_t len, uint64_t count,
                       sonde_logmine_ref *ref);

/* The id a NAMED template text has (what sonde_logmine_get() reports for it). */
uint64_t sonde_logmine_id(const char *text, size_t len);

#endif
