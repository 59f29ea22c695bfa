/*
 * report_html.h - `sonde report`: one self-contained HTML file over a store window: an
 * overview (services, throughput, error rate, p95 over time), the slowest traces with
 * the waterfall and critical path of the worst, error groups with their spike charts,
 * anomalies plotted on their series, a flame graph of a given profile, canary and
 * compare verdicts, and a post-mortem.
 *
 * The file needs nothing else: charts are inline SVG, the style sheet is inline, and a
 * small inline script only adds sorting to tables; everything reads with scripts off and
 * prints (@media print). A Content-Security-Policy meta element forbids every fetch
 * but data: frames, so even a bug cannot make the report reach the network. The flame
 * graph (flame_svg.h, with its own script) sits in an iframe whose source is a data:
 * URL, where its script and ids cannot clash with the page's.
 *
 * Every string that comes from the store, a profile or a post-mortem is escaped
 * (sonde_html_escape()); nothing from them reaches the page as markup.
 *
 * Functions are reentrant; the store handle follows store.h's thread rules.
 */
#ifndef SONDE_REPORT_HTML_H
#define SONDE_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stacktab.h"
#include "store.h"

/* A canary or compare verdict to list (from the store's event journal, when the caller
 * has one). Strings are borrowed for the call; NULL reads as "". */
typedef struct sonde_report_verdict {
	uint64_t time_ns;
	const char *kind;    /* "canary", "compare" */
	const char *source;  /* who recorded it: "sonde canary", a CI job, ... */
	const char *verdict; /* "pass", "fail", "inconclusive", ... */
	const char *detail;  /* a sentence, or NULL */
} sonde_report_verdict;

typedef struct sonde_report_opts {
	const char *title; /* NULL: "sonde report" */
	/* The window and filters (since/until, service); NULL: everything stored. */
	const sonde_query *q;
	/* A profile to draw as a flame graph (its sample type profile_type), or NULL. */
	const sonde_stacktab *profile;
	size_t profile_type;
	const char *profile_name; /* shown as the flame graph's subtitle; may be NULL */
	/* Verdicts to list. verdicts_known false: the caller has no journal to read them
	 * from, and the section says so instead of "none". */
	const sonde_report_verdict *verdicts;
	size_t verdicts_count;
	bool verdicts_known;
	/* The incident the report is about (NULL: none) and its post-mortem in Markdown
	 * (NULL: none), rendered with sonde_markdown_html(). */
	const char *incident_id;
	const char *postmortem_md;
	size_t postmortem_len;
	size_t slow_traces;    /* rows in the slowest-traces table; 0: 10 */
	uint64_t generated_ns; /* shown as the time of the report; 0: not shown */
} sonde_report_opts;

/* Appends the whole report over store s to out. Returns 0, -ENOMEM, or a store error
 * (sonde_store_errmsg(s) says more); out may then hold part of a page. */
int sonde_report_html(sonde_store *s, const sonde_report_opts *o, sonde_buf *out);

/* Appends s[0..n) as HTML text, safe in element content and in quoted attribute values:
 * & < > " ' become entities, other control characters (but tab and newline) are dropped,
 * and bytes that are not valid UTF-8 become U+FFFD. */
void sonde_html_escape(sonde_buf *out, const char *s, size_t n);

/* Appends the HTML of the Markdown md[0..n): ATX headings (levels shifted down by
 * heading_shift, at most h6), paragraphs, bullet and numbered lists (one level), pipe
 * tables, fenced code blocks, block quotes, horizontal rules, and inline code, **strong**
 * and *emphasis* (or _emphasis_). All text is escaped; links and raw HTML stay as text.
 * Never fails but on memory (out->oom). */
void sonde_markdown_html(const char *md, size_t n, int heading_shift, sonde_buf *out);

#endif
