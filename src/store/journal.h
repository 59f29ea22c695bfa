/*
 * journal.h - what people and verbs record next to the telemetry: incidents with their
 * investigation entries (`sonde incident`), and a journal of events (canary and compare
 * verdicts, deploys, anomalies) that the post-mortem's timeline reads.
 *
 * Incidents are numbered in order of creation and named "INC-<n>". Each has a title, a
 * severity, a status (open or resolved) and times, and a list of entries numbered from 1
 * in order of recording: reproductions, evidence, hypotheses, verifications, the root
 * cause, fixes, action items and notes. An entry's text says the thing in words; its
 * detail is a JSON object with whatever else the kind carries (see docs/incident.md).
 * Events are independent records with a time, a kind ("canary", "compare", "deploy",
 * "anomaly", ...), a source, a one-line summary, a JSON detail and optionally the
 * incident they belong to.
 *
 * Storage: only the SQLite backend keeps a journal. Its tables (journal_incidents,
 * journal_entries, journal_events) are created on the first write, so stores that never
 * held an incident do not have them and reads of such a store find nothing. On another
 * backend every call fails with SONDE_EUNSUPPORTED. Each write is one statement, atomic
 * against other writers of the same store.
 *
 * Lifetimes: results (sonde_incident_record, sonde_incident_list, sonde_event_list) own
 * their memory and outlive the store; release them with their _release function, which
 * is also safe after a failed call. Strings passed in are borrowed for the call only.
 *
 * Thread safety: as for the store handle (one thread at a time).
 *
 * Errors: 0 (or a count) on success; -ENOENT for an incident that does not exist,
 * -EINVAL for a bad argument (sonde_store_errmsg() says which), SONDE_EUNSUPPORTED for a
 * backend without a journal, -EIO for a database failure, -EROFS on a read-only store.
 */
#ifndef SONDE_JOURNAL_H
#define SONDE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "store.h"

/* ---- Incidents ----------------------------------------------------------------------- */

typedef enum sonde_incident_severity {
	SONDE_SEV_CRITICAL = 0,
	SONDE_SEV_HIGH,
	SONDE_SEV_MEDIUM,
	SONDE_SEV_LOW,
} sonde_incident_severity;

/* "CRITICAL", "HIGH", "MEDIUM", "LOW". Static strings. */
const char *sonde_incident_severity_name(sonde_incident_severity s);
/* The severity called name (case-insensitive), or -1. */
int sonde_incident_severity_parse(const char *name);

typedef enum sonde_entry_kind {
	SONDE_ENTRY_REPRO = 0,  /* text: the steps; detail: attempts, reproduced */
	SONDE_ENTRY_EVIDENCE,   /* text: a one-line summary; source: trace, query, file, command */
	SONDE_ENTRY_HYPOTHESIS, /* text: the hypothesis; numbered 1, 2, ... per incident */
	SONDE_ENTRY_VERIFY,     /* text: the test; ref: the hypothesis number; detail: held */
	SONDE_ENTRY_ROOT_CAUSE, /* text: the mechanism */
	SONDE_ENTRY_FIX,        /* text: the change; detail: verified_by */
	SONDE_ENTRY_ACTION,     /* text: the item; detail: owner, due, priority, status */
	SONDE_ENTRY_NOTE,       /* text; detail: tag (went-well, went-wrong, contributing) */
	SONDE_ENTRY_KIND_COUNT,
} sonde_entry_kind;

/* "repro", "evidence", "hypothesis", "verify", "root-cause", "fix", "action", "note".
 * Static strings. */
const char *sonde_entry_kind_name(sonde_entry_kind k);
/* The kind called name, or -1. */
int sonde_entry_kind_parse(const char *name);

/* An incident's header. Strings point into the owning result. */
typedef struct sonde_incident {
	int64_t num; /* the n of "INC-n" */
	char id[24]; /* "INC-n" */
	const char *title;
	sonde_incident_severity severity;
	bool resolved;
	uint64_t created_ns;
	uint64_t resolved_ns; /* 0 while open */
	const char *author;
	size_t entries; /* how many entries it holds (filled by list and get) */
} sonde_incident;

/* One entry. When adding, seq is ignored and NULL strings mean "". */
typedef struct sonde_incident_entry {
	int64_t seq; /* 1, 2, ... in order of recording */
	sonde_entry_kind kind;
	uint64_t time_ns;
	const char *author;
	const char *text;
	const char *source;      /* evidence: "trace", "query", "file", "command"; else "" */
	const char *detail_json; /* a JSON object; NULL or "" when adding: "{}" */
	int64_t ref;             /* verify: the hypothesis number; else 0 */
} sonde_incident_entry;

/* A whole incident. */
typedef struct sonde_incident_record {
	sonde_incident inc;
	sonde_incident_entry *entries; /* in seq order; in the arena */
	size_t count;
	sonde_arena arena;
} sonde_incident_record;

typedef struct sonde_incident_list {
	sonde_incident *items; /* by number, oldest first; in the arena */
	size_t count;
	sonde_arena arena;
} sonde_incident_list;

/* Parses "INC-n" (case-insensitive) or a bare "n" into *num. Returns 0 or -EINVAL. */
int sonde_incident_id_parse(const char *id, int64_t *num);

/* Creates an incident, open, created at created_ns by author (NULL: ""). Writes its id
 * ("INC-n", NUL-terminated) into id_out[0..id_cap) (id_cap >= 24) and returns 0. */
int sonde_incident_create(sonde_store *s, const char *title, sonde_incident_severity sev, uint64_t created_ns,
                          const char *author, char *id_out, size_t id_cap);

/* Adds entry e to incident id. detail_json must be a JSON object (or NULL/""). A verify
 * entry's ref must name an existing hypothesis of the incident. On success sets *seq_out
 * (when non-NULL) to the entry's number and returns 0. */
int sonde_incident_add_entry(sonde_store *s, const char *id, const sonde_incident_entry *e, int64_t *seq_out);

/* Marks incident id resolved at when_ns. Resolving a resolved incident keeps its first
 * resolution time and returns 0. */
int sonde_incident_resolve(sonde_store *s, const char *id, uint64_t when_ns);

/* Reads incident id with all its entries into *out (initialised here; release with
 * sonde_incident_record_release() even on failure). */
int sonde_incident_get(sonde_store *s, const char *id, sonde_incident_record *out);
void sonde_incident_record_release(sonde_incident_record *r);

/* Lists every incident (headers with their entry counts) into *out (initialised here;
 * release with sonde_incident_list_release() even on failure). Returns the count. */
ssize_t sonde_incident_list_all(sonde_store *s, sonde_incident_list *out);
void sonde_incident_list_release(sonde_incident_list *l);

/* ---- Events -------------------------------------------------------------------------- */

/* One event of the journal. When adding, id is ignored, NULL strings mean "", and
 * detail_json must be a JSON object (NULL or "": "{}"). */
typedef struct sonde_event {
	int64_t id; /* 1, 2, ... in order of recording */
	uint64_t time_ns;
	const char *kind;        /* "canary", "compare", "deploy", "anomaly", ...: required */
	const char *source;      /* who recorded it: "sonde canary", a CI job, ... */
	const char *summary;     /* one line: "fail: error rate 7.5% > 5%" */
	const char *detail_json; /* the verdict's details */
	const char *incident_id; /* "INC-n" it belongs to; NULL or "": none */
} sonde_event;

typedef struct sonde_event_list {
	sonde_event *items; /* by time, then id; in the arena */
	size_t count;
	sonde_arena arena;
} sonde_event_list;

/* Filter for sonde_store_events(); zero fields match everything. */
typedef struct sonde_event_query {
	uint64_t since_ns, until_ns; /* [since, until) on the event time; 0: open */
	const char *kind;            /* exactly this kind */
	const char *incident_id;     /* only events linked to this incident */
	size_t limit;                /* most events returned (the oldest); 0: no limit */
} sonde_event_query;

/* Appends an event. Sets *id_out (when non-NULL) and returns 0. An incident_id must name
 * an existing incident. */
int sonde_store_event_add(sonde_store *s, const sonde_event *ev, int64_t *id_out);

/* Reads the events matching q (NULL: all) into *out (initialised here; release with
 * sonde_event_list_release() even on failure). Returns the count. */
ssize_t sonde_store_events(sonde_store *s, const sonde_event_query *q, sonde_event_list *out);
void sonde_event_list_release(sonde_event_list *l);

#endif
