/*
 * postmortem.h - the blameless post-mortem of an incident (journal.h), written as
 * Markdown from the incident's own entries and from the telemetry in the same store:
 * the impact over the incident window (duration, requests, failed requests, error rate,
 * affected users and endpoints), a timeline that merges what the store shows (first
 * error, anomaly onsets, version changes, journal events such as canary verdicts,
 * recovery) with the entries, the root cause, contributing factors, what went well and
 * wrong, and the action items by priority. Also the method's guard rails, which
 * `sonde incident` applies when a root cause is recorded or an incident resolved.
 *
 * The rules that choose the window, count requests and users, and decide recovery are
 * written down in docs/incident.md; in short: the window opens at the first error (a
 * failed span or an ERROR-or-worse log record) in the lookback before the incident was
 * created, and closes at recovery, the first minute after which the error rate of
 * requests (server spans and root spans) stays back at the baseline of the hour before.
 *
 * Lifetimes: the generator allocates nothing that outlives the call; the Markdown is
 * appended to the caller's buffer. Thread safety: as for the store handle.
 */
#ifndef SONDE_POSTMORTEM_H
#define SONDE_POSTMORTEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "journal.h"
#include "store.h"

/* ---- Guard rails ----------------------------------------------------------------------- */

enum {
	SONDE_PM_NO_VERIFIED_HYPOTHESIS = 1u << 0, /* no verify entry with held = yes */
	SONDE_PM_NO_ROOT_CAUSE = 1u << 1,          /* no root-cause entry */
	SONDE_PM_SYMPTOM_ROOT_CAUSE = 1u << 2,     /* the last root cause restates a symptom */
};

/* Whether text, offered as a root cause, only restates a symptom: it has no word of
 * mechanism (because, due to, caused, missing, leak, ...) and at least 60% of its words
 * (less small words such as "the") are symptom words (timeout, slow, errors, 500, high,
 * latency, crash, ...), or it equals (ignoring case, punctuation and spacing) one of
 * symptoms[0..n) (the title, evidence summaries). Writes the reason as a sentence into
 * why[0..why_len) when it does. */
bool sonde_root_cause_restates_symptom(const char *text, const char *const *symptoms, size_t n, char *why,
                                       size_t why_len);

/* The guard-rail flags (SONDE_PM_*) of an incident as recorded. */
unsigned sonde_incident_check(const sonde_incident_record *r);

/* The value of member key of the JSON object detail_json as text (strings unescaped,
 * numbers as written, true/false), NUL-terminated in out[0..cap) and cut to fit. Returns
 * false (out = "") when there is no such member or it is an object, array or null. */
bool sonde_incident_detail_get(const char *detail_json, const char *key, char *out, size_t cap);

/* ---- The post-mortem ------------------------------------------------------------------- */

typedef struct sonde_postmortem_opts {
	uint64_t since_ns, until_ns; /* the impact window; 0: derived (see above) */
	uint64_t lookback_ns;        /* how far before creation the first error is looked for; 0: 6 h */
	uint64_t now_ns;             /* the end of an open incident and the date written; 0: the clock */
} sonde_postmortem_opts;

/* Appends the post-mortem of incident_id to out. opts may be NULL. On success sets
 * *flags (when non-NULL) to the guard-rail flags, which the document also states, and
 * returns 0; on failure returns a negative code and writes a sentence into
 * err[0..errlen) (-ENOENT: no such incident). */
int sonde_postmortem_markdown(sonde_store *s, const char *incident_id, const sonde_postmortem_opts *o,
                              sonde_buf *out, unsigned *flags, char *err, size_t errlen);

#endif
