/*
 * otlp_json_read.c - reads OTLP/JSON export requests and the Collector's JSON lines into a
 * sonde_batch (see otlp_json.h).
 *
 * One pass over the pull reader of json.h, no tree. Keys are mapped to ids by a switch on
 * length and first byte. Lists whose length is unknown until their ']' (attributes, array
 * values, events, points...) are collected in scratch stacks owned by the reader context
 * and copied into the batch arena when complete; nested lists of the same kind are pushed
 * above the outer one and popped before it resumes. The path of the member being read is
 * kept as a small stack of (key, index) frames so that errors can name the field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "base64.h"
#include "hex.h"
#include "json.h"
#include "otlp_json.h"
#include "sonde/status.h"

/* ---- Keys ------------------------------------------------------------------------ */

/* Every member name of the OTLP messages read here; K_UNKNOWN for any other. */
enum key_id {
	K_UNKNOWN = 0,
	K_RESOURCE_SPANS,
	K_RESOURCE_METRICS,
	K_RESOURCE_LOGS,
	K_RESOURCE,
	K_SCOPE_SPANS,
	K_SCOPE_METRICS,
	K_SCOPE_LOGS,
	K_SCHEMA_URL,
	K_SCOPE,
	K_SPANS,
	K_METRICS,
	K_LOG_RECORDS,
	K_ATTRIBUTES,
	K_DROPPED_ATTRIBUTES_COUNT,
	K_NAME,
	K_VERSION,
	K_TRACE_ID,
	K_SPAN_ID,
	K_TRACE_STATE,
	K_PARENT_SPAN_ID,
	K_FLAGS,
	K_KIND,
	K_START_TIME_UNIX_NANO,
	K_END_TIME_UNIX_NANO,
	K_EVENTS,
	K_DROPPED_EVENTS_COUNT,
	K_LINKS,
	K_DROPPED_LINKS_COUNT,
	K_STATUS,
	K_MESSAGE,
	K_CODE,
	K_TIME_UNIX_NANO,
	K_KEY,
	K_VALUE,
	K_VALUES,
	K_STRING_VALUE,
	K_BOOL_VALUE,
	K_INT_VALUE,
	K_DOUBLE_VALUE,
	K_ARRAY_VALUE,
	K_KVLIST_VALUE,
	K_BYTES_VALUE,
	K_OBSERVED_TIME_UNIX_NANO,
	K_SEVERITY_NUMBER,
	K_SEVERITY_TEXT,
	K_BODY,
	K_EVENT_NAME,
	K_DESCRIPTION,
	K_UNIT,
	K_METADATA,
	K_GAUGE,
	K_SUM,
	K_HISTOGRAM,
	K_EXPONENTIAL_HISTOGRAM,
	K_SUMMARY,
	K_DATA_POINTS,
	K_AGGREGATION_TEMPORALITY,
	K_IS_MONOTONIC,
	K_AS_DOUBLE,
	K_AS_INT,
	K_EXEMPLARS,
	K_FILTERED_ATTRIBUTES,
	K_COUNT,
	K_BUCKET_COUNTS,
	K_EXPLICIT_BOUNDS,
	K_MIN,
	K_MAX,
	K_SCALE,
	K_ZERO_COUNT,
	K_POSITIVE,
	K_NEGATIVE,
	K_OFFSET,
	K_ZERO_THRESHOLD,
	K_QUANTILE_VALUES,
	K_QUANTILE,
	K__COUNT
};

/* lowerCamelCase names, for error paths. */
static const char *const key_names[K__COUNT] = {
        [K_UNKNOWN] = "",
        [K_RESOURCE_SPANS] = "resourceSpans",
        [K_RESOURCE_METRICS] = "resourceMetrics",
        [K_RESOURCE_LOGS] = "resourceLogs",
        [K_RESOURCE] = "resource",
        [K_SCOPE_SPANS] = "scopeSpans",
        [K_SCOPE_METRICS] = "scopeMetrics",
        [K_SCOPE_LOGS] = "scopeLogs",
        [K_SCHEMA_URL] = "schemaUrl",
        [K_SCOPE] = "scope",
        [K_SPANS] = "spans",
        [K_METRICS] = "metrics",
        [K_LOG_RECORDS] = "logRecords",
        [K_ATTRIBUTES] = "attributes",
        [K_DROPPED_ATTRIBUTES_COUNT] = "droppedAttributesCount",
        [K_NAME] = "name",
        [K_VERSION] = "version",
        [K_TRACE_ID] = "traceId",
        [K_SPAN_ID] = "spanId",
        [K_TRACE_STATE] = "traceState",
        [K_PARENT_SPAN_ID] = "parentSpanId",
        [K_FLAGS] = "flags",
        [K_KIND] = "kind",
        [K_START_TIME_UNIX_NANO] = "startTimeUnixNano",
        [K_END_TIME_UNIX_NANO] = "endTimeUnixNano",
        [K_EVENTS] = "events",
        [K_DROPPED_EVENTS_COUNT] = "droppedEventsCount",
        [K_LINKS] = "links",
        [K_DROPPED_LINKS_COUNT] = "droppedLinksCount",
        [K_STATUS] = "status",
        [K_MESSAGE] = "message",
        [K_CODE] = "code",
        [K_TIME_UNIX_NANO] = "timeUnixNano",
        [K_KEY] = "key",
        [K_VALUE] = "value",
        [K_VALUES] = "values",
        [K_STRING_VALUE] = "stringValue",
        [K_BOOL_VALUE] = "boolValue",
        [K_INT_VALUE] = "intValue",
        [K_DOUBLE_VALUE] = "doubleValue",
        [K_ARRAY_VALUE] = "arrayValue",
        [K_KVLIST_VALUE] = "kvlistValue",
        [K_BYTES_VALUE] = "bytesValue",
        [K_OBSERVED_TIME_UNIX_NANO] = "observedTimeUnixNano",
        [K_SEVERITY_NUMBER] = "severityNumber",
        [K_SEVERITY_TEXT] = "severityText",
        [K_BODY] = "body",
        [K_EVENT_NAME] = "eventName",
        [K_DESCRIPTION] = "description",
        [K_UNIT] = "unit",
        [K_METADATA] = "metadata",
        [K_GAUGE] = "gauge",
        [K_SUM] = "sum",
        [K_HISTOGRAM] = "histogram",
        [K_EXPONENTIAL_HISTOGRAM] = "exponentialHistogram",
        [K_SUMMARY] = "summary",
        [K_DATA_POINTS] = "dataPoints",
        [K_AGGREGATION_TEMPORALITY] = "aggregationTemporality",
        [K_IS_MONOTONIC] = "isMonotonic",
        [K_AS_DOUBLE] = "asDouble",
        [K_AS_INT] = "asInt",
        [K_EXEMPLARS] = "exemplars",
        [K_FILTERED_ATTRIBUTES] = "filteredAttributes",
        [K_COUNT] = "count",
        [K_BUCKET_COUNTS] = "bucketCounts",
        [K_EXPLICIT_BOUNDS] = "explicitBounds",
        [K_MIN] = "min",
        [K_MAX] = "max",
        [K_SCALE] = "scale",
        [K_ZERO_COUNT] = "zeroCount",
        [K_POSITIVE] = "positive",
        [K_NEGATIVE] = "negative",
        [K_OFFSET] = "offset",
        [K_ZERO_THRESHOLD] = "zeroThreshold",
        [K_QUANTILE_VALUES] = "quantileValues",
        [K_QUANTILE] = "quantile",
};

/* The id of a member name; snake_case names map to the same id as their lowerCamelCase
 * JSON names, as proto3 JSON parsers accept both. */
static enum key_id key_lookup(const char *k, size_t n)
{
#define M(s, id)                          \
	if (!memcmp(k, s, sizeof(s) - 1)) \
	return id
	switch (n) {
	case 3:
		switch (k[0]) {
		case 'k': M("key", K_KEY); break;
		case 'm':
			M("min", K_MIN);
			M("max", K_MAX);
			break;
		case 's': M("sum", K_SUM); break;
		}
		break;
	case 4:
		switch (k[0]) {
		case 'b': M("body", K_BODY); break;
		case 'c': M("code", K_CODE); break;
		case 'k': M("kind", K_KIND); break;
		case 'n': M("name", K_NAME); break;
		case 'u': M("unit", K_UNIT); break;
		}
		break;
	case 5:
		switch (k[0]) {
		case 'a': M("asInt", K_AS_INT); break;
		case 'c': M("count", K_COUNT); break;
		case 'f': M("flags", K_FLAGS); break;
		case 'g': M("gauge", K_GAUGE); break;
		case 'l': M("links", K_LINKS); break;
		case 's':
			M("scope", K_SCOPE);
			M("spans", K_SPANS);
			M("scale", K_SCALE);
			break;
		case 'v': M("value", K_VALUE); break;
		}
		break;
	case 6:
		switch (k[0]) {
		case 'a': M("as_int", K_AS_INT); break;
		case 'e': M("events", K_EVENTS); break;
		case 'o': M("offset", K_OFFSET); break;
		case 's':
			M("spanId", K_SPAN_ID);
			M("status", K_STATUS);
			break;
		case 'v': M("values", K_VALUES); break;
		}
		break;
	case 7:
		switch (k[0]) {
		case 'm':
			M("metrics", K_METRICS);
			M("message", K_MESSAGE);
			break;
		case 's':
			M("span_id", K_SPAN_ID);
			M("summary", K_SUMMARY);
			break;
		case 't': M("traceId", K_TRACE_ID); break;
		case 'v': M("version", K_VERSION); break;
		}
		break;
	case 8:
		switch (k[0]) {
		case 'a': M("asDouble", K_AS_DOUBLE); break;
		case 'i': M("intValue", K_INT_VALUE); break;
		case 'm': M("metadata", K_METADATA); break;
		case 'n': M("negative", K_NEGATIVE); break;
		case 'p': M("positive", K_POSITIVE); break;
		case 'q': M("quantile", K_QUANTILE); break;
		case 'r': M("resource", K_RESOURCE); break;
		case 't': M("trace_id", K_TRACE_ID); break;
		}
		break;
	case 9:
		switch (k[0]) {
		case 'a': M("as_double", K_AS_DOUBLE); break;
		case 'b': M("boolValue", K_BOOL_VALUE); break;
		case 'e':
			M("eventName", K_EVENT_NAME);
			M("exemplars", K_EXEMPLARS);
			break;
		case 'h': M("histogram", K_HISTOGRAM); break;
		case 'i': M("int_value", K_INT_VALUE); break;
		case 's':
			M("scopeLogs", K_SCOPE_LOGS);
			M("schemaUrl", K_SCHEMA_URL);
			break;
		case 'z': M("zeroCount", K_ZERO_COUNT); break;
		}
		break;
	case 10:
		switch (k[0]) {
		case 'a':
			M("attributes", K_ATTRIBUTES);
			M("arrayValue", K_ARRAY_VALUE);
			break;
		case 'b':
			M("bool_value", K_BOOL_VALUE);
			M("bytesValue", K_BYTES_VALUE);
			break;
		case 'd': M("dataPoints", K_DATA_POINTS); break;
		case 'e': M("event_name", K_EVENT_NAME); break;
		case 'l': M("logRecords", K_LOG_RECORDS); break;
		case 's':
			M("scopeSpans", K_SCOPE_SPANS);
			M("scope_logs", K_SCOPE_LOGS);
			M("schema_url", K_SCHEMA_URL);
			break;
		case 't': M("traceState", K_TRACE_STATE); break;
		case 'z': M("zero_count", K_ZERO_COUNT); break;
		}
		break;
	case 11:
		switch (k[0]) {
		case 'a': M("array_value", K_ARRAY_VALUE); break;
		case 'b': M("bytes_value", K_BYTES_VALUE); break;
		case 'd':
			M("doubleValue", K_DOUBLE_VALUE);
			M("description", K_DESCRIPTION);
			M("data_points", K_DATA_POINTS);
			break;
		case 'i': M("isMonotonic", K_IS_MONOTONIC); break;
		case 'k': M("kvlistValue", K_KVLIST_VALUE); break;
		case 'l': M("log_records", K_LOG_RECORDS); break;
		case 's':
			M("scope_spans", K_SCOPE_SPANS);
			M("stringValue", K_STRING_VALUE);
			break;
		case 't': M("trace_state", K_TRACE_STATE); break;
		}
		break;
	case 12:
		switch (k[0]) {
		case 'b': M("bucketCounts", K_BUCKET_COUNTS); break;
		case 'd': M("double_value", K_DOUBLE_VALUE); break;
		case 'i': M("is_monotonic", K_IS_MONOTONIC); break;
		case 'k': M("kvlist_value", K_KVLIST_VALUE); break;
		case 'p': M("parentSpanId", K_PARENT_SPAN_ID); break;
		case 'r': M("resourceLogs", K_RESOURCE_LOGS); break;
		case 's':
			M("scopeMetrics", K_SCOPE_METRICS);
			M("string_value", K_STRING_VALUE);
			M("severityText", K_SEVERITY_TEXT);
			break;
		case 't': M("timeUnixNano", K_TIME_UNIX_NANO); break;
		}
		break;
	case 13:
		switch (k[0]) {
		case 'b': M("bucket_counts", K_BUCKET_COUNTS); break;
		case 'r':
			M("resourceSpans", K_RESOURCE_SPANS);
			M("resource_logs", K_RESOURCE_LOGS);
			break;
		case 's':
			M("scope_metrics", K_SCOPE_METRICS);
			M("severity_text", K_SEVERITY_TEXT);
			break;
		case 'z': M("zeroThreshold", K_ZERO_THRESHOLD); break;
		}
		break;
	case 14:
		switch (k[0]) {
		case 'e': M("explicitBounds", K_EXPLICIT_BOUNDS); break;
		case 'p': M("parent_span_id", K_PARENT_SPAN_ID); break;
		case 'q': M("quantileValues", K_QUANTILE_VALUES); break;
		case 'r': M("resource_spans", K_RESOURCE_SPANS); break;
		case 's': M("severityNumber", K_SEVERITY_NUMBER); break;
		case 't': M("time_unix_nano", K_TIME_UNIX_NANO); break;
		case 'z': M("zero_threshold", K_ZERO_THRESHOLD); break;
		}
		break;
	case 15:
		switch (k[0]) {
		case 'e':
			M("endTimeUnixNano", K_END_TIME_UNIX_NANO);
			M("explicit_bounds", K_EXPLICIT_BOUNDS);
			break;
		case 'q': M("quantile_values", K_QUANTILE_VALUES); break;
		case 'r': M("resourceMetrics", K_RESOURCE_METRICS); break;
		case 's': M("severity_number", K_SEVERITY_NUMBER); break;
		}
		break;
	case 16: M("resource_metrics", K_RESOURCE_METRICS); break;
	case 17:
		M("startTimeUnixNano", K_START_TIME_UNIX_NANO);
		M("droppedLinksCount", K_DROPPED_LINKS_COUNT);
		break;
	case 18:
		M("end_time_unix_nano", K_END_TIME_UNIX_NANO);
		M("droppedEventsCount", K_DROPPED_EVENTS_COUNT);
		M("filteredAttributes", K_FILTERED_ATTRIBUTES);
		break;
	case 19:
		M("dropped_links_count", K_DROPPED_LINKS_COUNT);
		M("filtered_attributes", K_FILTERED_ATTRIBUTES);
		break;
	case 20:
		switch (k[0]) {
		case 'd': M("dropped_events_count", K_DROPPED_EVENTS_COUNT); break;
		case 'e': M("exponentialHistogram", K_EXPONENTIAL_HISTOGRAM); break;
		case 'o': M("observedTimeUnixNano", K_OBSERVED_TIME_UNIX_NANO); break;
		case 's': M("start_time_unix_nano", K_START_TIME_UNIX_NANO); break;
		}
		break;
	case 21: M("exponential_histogram", K_EXPONENTIAL_HISTOGRAM); break;
	case 22:
		M("droppedAttributesCount", K_DROPPED_ATTRIBUTES_COUNT);
		M("aggregationTemporality", K_AGGREGATION_TEMPORALITY);
		break;
	case 23:
		M("observed_time_unix_nano", K_OBSERVED_TIME_UNIX_NANO);
		M("aggregation_temporality", K_AGGREGATION_TEMPORALITY);
		break;
	case 24: M("dropped_attributes_count", K_DROPPED_ATTRIBUTES_COUNT); break;
	}
#undef M
	return K_UNKNOWN;
}

/* ---- Reader context --------------------------------------------------------------- */

/* A growable scratch array used as a stack of list elements. */
typedef struct vec {
	void *p;
	size_t len, cap;
} vec;

/* Enough frames for the deepest path the value depth limit allows (3 per level). */
enum { MAX_FRAMES = 256, UNKNOWN_KEY_MAX = 40 };

/* Streaming: spans declared final were not (rd.in_place); never leaves this file. */
enum { RESTREAM = -5100 };
#define NO_INDEX SIZE_MAX

typedef struct frame {
	size_t idx;  /* element index, or NO_INDEX for a single nested message */
	uint8_t key; /* the member that holds the nested message or list */
} frame;

typedef struct rd {
	sonde_json_reader j;
	sonde_batch *b;
	vec kvs;       /* sonde_kv: attributes and kvlist values */
	vec vals;      /* sonde_value: array values */
	vec events;    /* sonde_span_event */
	vec links;     /* sonde_span_link */
	vec points;    /* sonde_point */
	vec exemplars; /* sonde_exemplar */
	vec u64s;      /* bucket counts */
	vec f64s;      /* explicit bounds */
	vec quantiles; /* sonde_quantile */
	/* Where we are, for error messages. */
	size_t nframes; /* may exceed MAX_FRAMES; only the first MAX_FRAMES are kept */
	frame frames[MAX_FRAMES];
	uint8_t cur_key; /* member being read; K_UNKNOWN: see unknown */
	uint8_t unknown_len;
	char unknown[UNKNOWN_KEY_MAX]; /* text of the unknown member being skipped */
	/* Streaming (sonde_otlp_json_read_stream): in_place: each span of the ResourceSpans
	 * being read is declared final as soon as it is read, on the word of the exporters,
	 * which write the resource before the scopes and each scope before its spans;
	 * gave_group, gave_scope: spans of this ResourceSpans, of this ScopeSpans, were
	 * declared so. A member that would change their resource or scope after that ends
	 * the read with RESTREAM. */
	sonde_otlp_json_spans_fn on_spans;
	void *on_ctx;
	bool in_place, gave_group, gave_scope;
	/* Streaming: what a span owns alone (attribute, event and link arrays, strings not
	 * interned) goes to scratch while in_span, and scratch starts over whenever on_spans
	 * has taken every span read into it, so that a long document is read in the memory
	 * of one slice; what is left of it at the end joins the batch's arena. pre: spans of
	 * the batch from before the read that on_spans has not taken. */
	sonde_arena scratch;
	bool in_span;
	size_t pre;
} rd;

/* Blocks of scratch kept for the spans that follow when it starts over. */
enum { SCRATCH_KEEP = 64 << 20 };

static void rd_init(rd *c, sonde_batch *b)
{
	memset(c, 0, sizeof(*c));
	c->b = b;
	sonde_arena_init(&c->scratch);
}

/* Where what is being read is kept. */
static sonde_arena *rd_mem(rd *c)
{
	return c->in_span ? &c->scratch : &c->b->arena;
}

static void rd_reset(rd *c)
{
	c->kvs.len = c->vals.len = c->events.len = c->links.len = c->points.len = 0;
	c->exemplars.len = c->u64s.len = c->f64s.len = c->quantiles.len = 0;
	c->nframes = 0;
	c->cur_key = K_UNKNOWN;
	c->unknown_len = 0;
}

static void rd_release(rd *c)
{
	free(c->kvs.p);
	free(c->vals.p);
	free(c->events.p);
	free(c->links.p);
	free(c->points.p);
	free(c->exemplars.p);
	free(c->u64s.p);
	free(c->f64s.p);
	free(c->quantiles.p);
	sonde_arena_release(&c->scratch);
}

/* Returns a new slot on top of v (uninitialised), or NULL when out of memory. */
static void *vec_push(vec *v, size_t elem)
{
	if (v->len == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 16;
		if (ncap > SIZE_MAX / elem)
			return NULL;
		void *np = realloc(v->p, ncap * elem);
		if (!np)
			return NULL;
		v->p = np;
		v->cap = ncap;
	}
	return (char *)v->p + v->len++ * elem;
}

/* Moves the elements [start, len) of v into the batch (rd_mem) and pops them. Returns the
 * copy, NULL when there are none, and sets *count and *rc (0, or < 0 on failure). */
static void *vec_take(rd *c, vec *v, size_t start, size_t elem, uint32_t *count, int *rc)
{
	size_t n = v->len - start;
	v->len = start;
	*count = 0;
	*rc = 0;
	if (n == 0)
		return NULL;
	if (n > UINT32_MAX) {
		*rc = sonde_json_fail(&c->j, "too many list elements");
		return NULL;
	}
	void *p = sonde_arena_memdup(rd_mem(c), (char *)v->p + start * elem, n * elem);
	if (!p) {
		*rc = -ENOMEM;
		return NULL;
	}
	*count = (uint32_t)n;
	return p;
}

/* Path frames: push when descending into the value of the current member, set the index
 * for each element of a list, pop on the way back. Only the success path pops, so after a
 * failure the frames describe where it happened. */
static inline void path_push(rd *c)
{
	if (c->nframes < MAX_FRAMES) {
		c->frames[c->nframes].key = c->cur_key;
		c->frames[c->nframes].idx = NO_INDEX;
	}
	c->nframes++;
	c->cur_key = K_UNKNOWN;
	c->unknown_len = 0;
}

static inline void path_index(rd *c, size_t idx)
{
	if (c->nframes - 1 < MAX_FRAMES)
		c->frames[c->nframes - 1].idx = idx;
	c->cur_key = K_UNKNOWN;
	c->unknown_len = 0;
}

static inline void path_pop(rd *c)
{
	c->nframes--;
	c->cur_key = c->nframes < MAX_FRAMES ? c->frames[c->nframes].key : K_UNKNOWN;
	c->unknown_len = 0;
}

static bool prepend(char *buf, size_t *pos, const char *s, size_t n)
{
	if (n > *pos)
		return false;
	*pos -= n;
	memcpy(buf + *pos, s, n);
	return true;
}

/* Renders the path as "resourceSpans[0].scopeSpans[1].spans[2].traceId", keeping the end
 * when it does not fit out_size. */
static void path_render(const rd *c, char *out, size_t out_size)
{
	char tmp[256], piece[64];
	size_t pos = sizeof(tmp);
	bool cut = false;
	if (c->cur_key != K_UNKNOWN)
		prepend(tmp, &pos, key_names[c->cur_key], strlen(key_names[c->cur_key]));
	else if (c->unknown_len)
		prepend(tmp, &pos, c->unknown, c->unknown_len);
	bool first = pos == sizeof(tmp);
	if (c->nframes > MAX_FRAMES) {
		/* Frames past MAX_FRAMES were not kept (the depth limits make this unreachable). */
		cut = !prepend(tmp, &pos, first ? "..." : "....", first ? 3 : 4);
		first = false;
	}
	size_t kept = c->nframes < MAX_FRAMES ? c->nframes : MAX_FRAMES;
	for (size_t i = kept; i-- > 0 && !cut;) {
		const frame *f = &c->frames[i];
		if (f->key == K_UNKNOWN)
			continue; /* an array element's own frame, named by its list */
		int n;
		if (f->idx == NO_INDEX)
			n = snprintf(piece, sizeof(piece), "%s%s", key_names[f->key], first ? "" : ".");
		else
			n = snprintf(piece, sizeof(piece), "%s[%zu]%s", key_names[f->key], f->idx,
			             first ? "" : ".");
		cut = n < 0 || !prepend(tmp, &pos, piece, (size_t)n);
		first = false;
	}
	size_t len = sizeof(tmp) - pos;
	if (!cut && len < out_size) {
		memcpy(out, tmp + pos, len);
		out[len] = '\0';
		return;
	}
	size_t keep = len < out_size - 4 ? len : out_size - 4;
	memcpy(out, "...", 3);
	memcpy(out + 3, tmp + sizeof(tmp) - keep, keep);
	out[3 + keep] = '\0';
}

/* ---- Scalars ---------------------------------------------------------------------- */

/* Reads the next member of the current object whose key is known and whose value is not
 * null (null means absent in the proto3 JSON mapping); other members are skipped. Returns
 * 1 with *id set, 0 at the object's end, or < 0. */
static int next_member(rd *c, enum key_id *id)
{
	const char *k;
	size_t kn;
	for (;;) {
		int rc = sonde_json_next_key(&c->j, &k, &kn);
		if (rc <= 0)
			return rc;
		enum key_id kid = key_lookup(k, kn);
		if (kid == K_UNKNOWN) {
			c->cur_key = K_UNKNOWN;
			c->unknown_len = (uint8_t)(kn < UNKNOWN_KEY_MAX ? kn : UNKNOWN_KEY_MAX);
			memcpy(c->unknown, k, c->unknown_len);
			if ((rc = sonde_json_skip(&c->j)) < 0)
				return rc;
			continue;
		}
		c->cur_key = (uint8_t)kid;
		sonde_json_tok t = sonde_json_peek(&c->j);
		if (t == SONDE_JSON_NULL) {
			sonde_json_next(&c->j);
			continue;
		}
		if (t == SONDE_JSON_ERROR)
			return c->j.oom ? -ENOMEM : SONDE_EPARSE;
		*id = kid;
		return 1;
	}
}

/* String values up to this length are interned (methods, status codes, booleans spelled
 * out repeat a lot); longer ones are mostly unique (URLs, ids, messages) and are copied,
 * which measured about 15% faster on span-heavy input than interning them. */
enum { INTERN_VALUE_MAX = 8 };

static const sonde_str empty_str = {"", 0};

/* s[0, n) kept in the batch, interned (names, keys) or copied; "" for n 0. Its ptr is
 * NULL when out of memory. */
static sonde_str keep_str(rd *c, const char *s, size_t n, bool intern)
{
	if (n == 0)
		return empty_str;
	if (intern)
		return sonde_batch_intern(c->b, s, n);
	const char *p = sonde_arena_strndup(rd_mem(c), s, n);
	return (sonde_str){p, p ? n : 0};
}

/* An AnyValue's string: short ones interned, long ones copied (INTERN_VALUE_MAX). */
static sonde_str keep_value_str(rd *c, const char *s, size_t n)
{
	return keep_str(c, s, n, n <= INTERN_VALUE_MAX);
}

/* Reads a string member into the batch, interned (names, keys) or copied. */
static int rd_str(rd *c, sonde_str *out, bool intern)
{
	const char *s;
	size_t n;
	int rc = sonde_json_read_str(&c->j, &s, &n);
	if (rc < 0)
		return rc;
	*out = keep_str(c, s, n, intern);
	return out->ptr ? 0 : -ENOMEM;
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The value of 8 decimal digits at s (s[0] the most significant), or UINT64_MAX when one
 * is not a digit: the bytes' low nibbles, then pairs, quads and the two halves combined
 * by multiplications. */
static inline uint64_t digits8(const char *s)
{
	uint64_t x;
	memcpy(&x, s, 8);
	/* Every byte is 0x30..0x39: its high nibble is 3, and adding 6 keeps it 3 (a carry
	 * out of a byte comes only from one that already failed the first test). */
	if ((x & 0xf0f0f0f0f0f0f0f0ull) != 0x3030303030303030ull ||
	    ((x + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) != 0x3030303030303030ull)
		return UINT64_MAX;
	x &= 0x0f0f0f0f0f0f0f0full;
	x = x * 10 + (x >> 8); /* byte 2k: digits 2k and 2k+1 as one number */
	x = ((x & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
	     ((x >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >>
	    32;
	return x;
}
#endif

/* Timestamps and counts are nearly always plain digit strings: parse those here from the
 * peeked token and leave every other form (numbers with exponents, signs, errors) to
 * json.h. Leading zeros go the slow way too, which rejects them. */
static inline bool plain_digits(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
		return false;
	uint64_t v = 0;
	size_t i = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Times in ns are 19 digits: eight at a time (19 digits never overflow). */
	for (; i + 8 <= n; i += 8) {
		uint64_t d8 = digits8(s + i);
		if (d8 == UINT64_MAX)
			return false;
		v = v * 100000000 + d8;
	}
#endif
	for (; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* The text of the next token when it is a string or a number, else NULL. */
static inline const char *peek_text(rd *c, size_t *n)
{
	sonde_json_tok t = sonde_json_peek(&c->j);
	if (t == SONDE_JSON_STRING) {
		*n = c->j.str_len;
		return c->j.str;
	}
	if (t == SONDE_JSON_NUMBER) {
		*n = c->j.num_len;
		return c->j.num;
	}
	return NULL;
}

static int rd_u64(rd *c, uint64_t *out)
{
	size_t n;
	const char *s = peek_text(c, &n);
	if (s && plain_digits(s, n, out)) {
		sonde_json_next(&c->j);
		return 0;
	}
	return sonde_json_read_u64(&c->j, out);
}

static int rd_i64(rd *c, int64_t *out)
{
	size_t n;
	uint64_t v;
	const char *s = peek_text(c, &n);
	if (s && n <= 18 && plain_digits(s, n, &v)) {
		*out = (int64_t)v;
		sonde_json_next(&c->j);
		return 0;
	}
	return sonde_json_read_i64(&c->j, out);
}

static int rd_u32(rd *c, uint32_t *out)
{
	uint64_t v;
	int rc = rd_u64(c, &v);
	if (rc < 0)
		return rc;
	if (v > UINT32_MAX)
		return sonde_json_fail(&c->j, "expected an unsigned 32-bit integer");
	*out = (uint32_t)v;
	return 0;
}

static int rd_i32(rd *c, int32_t *out)
{
	int64_t v;
	int rc = rd_i64(c, &v);
	if (rc < 0)
		return rc;
	if (v < INT32_MIN || v > INT32_MAX)
		return sonde_json_fail(&c->j, "expected a signed 32-bit integer");
	*out = (int32_t)v;
	return 0;
}

/* A trace (n = 16) or span (n = 8) id in hex; "" means all zero. */
static int rd_id(rd *c, uint8_t *out, size_t n)
{
	const char *s;
	size_t sn;
	int rc = sonde_json_read_str(&c->j, &s, &sn);
	if (rc < 0)
		return rc;
	if (sn == 0) {
		memset(out, 0, n);
		return 0;
	}
	if (sonde_hex_decode(out, n, s, sn) < 0)
		return sonde_json_fail(&c->j, n == 16 ? "expected 32 hex digits" : "expected 16 hex digits");
	return 0;
}

static int rd_bytes(rd *c, sonde_str *out)
{
	const char *s;
	size_t sn;
	int rc = sonde_json_read_str(&c->j, &s, &sn);
	if (rc < 0)
		return rc;
	if (sn == 0) {
		*out = empty_str;
		return 0;
	}
	char *p = sonde_arena_alloc(rd_mem(c), sonde_base64_decoded_max(sn) + 1);
	if (!p)
		return -ENOMEM;
	size_t n;
	if (sonde_base64_decode((uint8_t *)p, &n, s, sn) < 0)
		return sonde_json_fail(&c->j, "expected base64");
	p[n] = '\0';
	*out = (sonde_str){p, n};
	return 0;
}

/* An enum given as an integer in [0, count) or as one of its value names. */
static int rd_enum(rd *c, const char *const *names, int count, const char *what, int *out)
{
	char msg[96];
	int rc;
	if (sonde_json_peek(&c->j) == SONDE_JSON_STRING) {
		const char *s;
		size_t n;
		if ((rc = sonde_json_read_str(&c->j, &s, &n)) < 0)
			return rc;
		for (int i = 0; i < count; i++) {
			if (strlen(names[i]) == n && !memcmp(names[i], s, n)) {
				*out = i;
				return 0;
			}
		}
		snprintf(msg, sizeof(msg), "expected a %s name", what);
		return sonde_json_fail(&c->j, msg);
	}
	int64_t v;
	if ((rc = rd_i64(c, &v)) < 0)
		return rc;
	if (v < 0 || v >= count) {
		snprintf(msg, sizeof(msg), "expected a %s (0 to %d, or its name)", what, count - 1);
		return sonde_json_fail(&c->j, msg);
	}
	*out = (int)v;
	return 0;
}

static const char *const span_kind_names[] = {
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *const status_code_names[] = {
        "STATUS_CODE_UNSET",
        "STATUS_CODE_OK",
        "STATUS_CODE_ERROR",
};
static const char *const temporality_names[] = {
        "AGGREGATION_TEMPORALITY_UNSPECIFIED",
        "AGGREGATION_TEMPORALITY_DELTA",
        "AGGREGATION_TEMPORALITY_CUMULATIVE",
};
static const char *const severity_names[] = {
        "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2",
        "SEVERITY_NUMBER_TRACE3",      "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG",
        "SEVERITY_NUMBER_DEBUG2",      "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
        "SEVERITY_NUMBER_INFO",        "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
        "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",
        "SEVERITY_NUMBER_WARN3",       "SEVERITY_NUMBER_WARN4",  "SEVERITY_NUMBER_ERROR",
        "SEVERITY_NUMBER_ERROR2",      "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
        "SEVERITY_NUMBER_FATAL",       "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
        "SEVERITY_NUMBER_FATAL4",
};
#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- Lists ------------------------------------------------------------------------ */

/* Reads a list of messages, calling fn for each element with the reader positioned at it. */
static int rd_list(rd *c, int (*fn)(rd *c, const void *arg), const void *arg)
{
	int rc = sonde_json_enter_array(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	size_t i = 0;
	while ((rc = sonde_json_next_elem(&c->j)) > 0) {
		path_index(c, i++);
		rc = fn(c, arg);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

static int rd_u64_list(rd *c, uint64_t **out, uint32_t *count)
{
	int rc = sonde_json_enter_array(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	size_t start = c->u64s.len, i = 0;
	while ((rc = sonde_json_next_elem(&c->j)) > 0) {
		path_index(c, i++);
		uint64_t *slot = vec_push(&c->u64s, sizeof(uint64_t));
		if (!slot)
			return -ENOMEM;
		if ((rc = rd_u64(c, slot)) < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	*out = vec_take(c, &c->u64s, start, sizeof(uint64_t), count, &rc);
	return rc;
}

static int rd_f64_list(rd *c, double **out, uint32_t *count)
{
	int rc = sonde_json_enter_array(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	size_t start = c->f64s.len, i = 0;
	while ((rc = sonde_json_next_elem(&c->j)) > 0) {
		path_index(c, i++);
		double *slot = vec_push(&c->f64s, sizeof(double));
		if (!slot)
			return -ENOMEM;
		if ((rc = sonde_json_read_f64(&c->j, slot)) < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	*out = vec_take(c, &c->f64s, start, sizeof(double), count, &rc);
	return rc;
}

/* ---- AnyValue and attributes ------------------------------------------------------ */

/* ---- KeyValue the common way: a fast path --------------------------------------------
 * Nearly every KeyValue an exporter writes is {"key":"K","value":{"stringValue":"V"}}, or
 * with an intValue or boolValue, in plain ASCII. fast_kv reads exactly that from the text
 * instead of token by token (about a fifth of the instructions); anything else (escapes,
 * bytes outside printable ASCII, members in another order or repeated, doubles, arrays,
 * negative or long integers) is left to the reader, which reads it, or fails on it, as
 * if the fast path did not exist. */

/* p at ws, then sep: the position past sep and the whitespace after it, or NULL. */
static inline const char *fast_sep(const char *p, const char *end, char sep)
{
	p = sonde_json_skip_ws(p, end);
	return p < end && *p == sep ? sonde_json_skip_ws(p + 1, end) : NULL;
}

/* p at a string of printable ASCII (' ' to '~', DEL) without escapes: its text in *s, *n
 * and the position past its closing quote; NULL for anything else. */
static inline const char *fast_str(const char *p, const char *end, const char **s, size_t *n)
{
	if (p >= end || *p != '"')
		return NULL;
	const char *q = ++p;
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(' ');
	while (end - q >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
		/* Signed compare: bytes from 0x80 are negative, so below ' ' too. */
		__m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
		                            _mm_cmplt_epi8(v, space));
		unsigned m = (unsigned)_mm_movemask_epi8(stop);
		if (m) {
			q += __builtin_ctz(m);
			goto found;
		}
		q += 16;
	}
#endif
	while (q < end && *q != '"' && *q != '\\' && (signed char)*q >= ' ')
		q++;
#ifdef __SSE2__
found:
#endif
	if (q >= end || *q != '"')
		return NULL;
	*s = p;
	*n = (size_t)(q - p);
	return q + 1;
}

static inline const char *fast_lit(const char *p, const char *end, const char *lit, size_t n)
{
	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* Reads the KeyValue at the reader's next token the fast way: 1 when it did (*kv set),
 * 0 when the KeyValue is not of that shape (nothing read), -ENOMEM. */
static int fast_kv(rd *c, sonde_kv *kv)
{
	const char *p = sonde_json_raw_object(&c->j), *end = c->j.end, *k, *t, *s = NULL, *q;
	size_t kn, tn, sn = 0;
	if (!p || !(p = fast_lit(sonde_json_skip_ws(p, end), end, "\"key\"", 5)) ||
	    !(p = fast_sep(p, end, ':')) || !(p = fast_str(p, end, &k, &kn)) ||
	    !(p = fast_sep(p, end, ',')) || !(p = fast_lit(p, end, "\"value\"", 7)) ||
	    !(p = fast_sep(p, end, ':')) || !(p = fast_sep(p, end, '{')) ||
	    !(p = fast_str(p, end, &t, &tn)) || !(p = fast_sep(p, end, ':')))
		return 0;
	sonde_value v;
	memset(&v, 0, sizeof v);
	if (tn == 11 && memcmp(t, "stringValue", 11) == 0) {
		if (!(p = fast_str(p, end, &s, &sn)))
			return 0;
		v.kind = SONDE_VAL_STRING;
	} else if (tn == 8 && memcmp(t, "intValue", 8) == 0) {
		const char *d = p;
		size_t dn;
		uint64_t u;
		if (p < end && *p == '"') {
			if (!(p = fast_str(p, end, &d, &dn)))
				return 0;
		} else {
			while (p < end && *p >= '0' && *p <= '9')
				p++;
			dn = (size_t)(p - d);
		}
		/* Not a number's prefix: "1.5" or "1e3" stop at '.' or 'e', and the '}' test fails. */
		if (dn > 18 || !plain_digits(d, dn, &u))
			return 0;
		v.kind = SONDE_VAL_INT;
		v.u.i = (int64_t)u;
	} else if (tn == 9 && memcmp(t, "boolValue", 9) == 0) {
		if ((q = fast_lit(p, end, "true", 4)))
			v.u.b = true;
		else if (!(q = fast_lit(p, end, "false", 5)))
			return 0;
		p = q;
		v.kind = SONDE_VAL_BOOL;
	} else {
		return 0;
	}
	p = sonde_json_skip_ws(p, end);
	if (p >= end || *p != '}')
		return 0;
	p = sonde_json_skip_ws(p + 1, end);
	if (p >= end || *p != '}')
		return 0;
	kv->key = keep_str(c, k, kn, true);
	if (!kv->key.ptr)
		return -ENOMEM;
	if (v.kind == SONDE_VAL_STRING && !(v.u.str = keep_value_str(c, s, sn)).ptr)
		return -ENOMEM;
	kv->value = v;
	sonde_json_raw_object_end(&c->j, p + 1);
	c->cur_key = K_VALUE; /* where the reader would have left it */
	c->unknown_len = 0;
	return 1;
}

static int rd_value(rd *c, sonde_value *v, unsigned depth);

/* One KeyValue, token by token. */
static int rd_kv(rd *c, sonde_kv *kv, unsigned depth)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_KEY)
			rc = rd_str(c, &kv->key, true);
		else if (id == K_VALUE)
			rc = rd_value(c, &kv->value, depth);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* A list of KeyValue whose values are at nesting level depth. */
static int rd_kvs(rd *c, sonde_attrs *out, unsigned depth)
{
	int rc = sonde_json_enter_array(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	size_t start = c->kvs.len, i = 0;
	while ((rc = sonde_json_next_elem(&c->j)) > 0) {
		path_index(c, i++);
		sonde_kv kv = {.key = empty_str, .value = {.kind = SONDE_VAL_EMPTY}};
		rc = depth <= SONDE_OTLP_JSON_MAX_VALUE_DEPTH ? fast_kv(c, &kv) : 0;
		if (rc == 0)
			rc = rd_kv(c, &kv, depth);
		if (rc < 0)
			return rc;
		sonde_kv *slot = vec_push(&c->kvs, sizeof(sonde_kv));
		if (!slot)
			return -ENOMEM;
		*slot = kv;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	out->items = vec_take(c, &c->kvs, start, sizeof(sonde_kv), &out->count, &rc);
	return rc;
}

static int rd_attrs(rd *c, sonde_attrs *out)
{
	return rd_kvs(c, out, 1);
}

/* ArrayValue or KeyValueList: {"values": [...]}; an absent list is an empty one. */
static int rd_value_list(rd *c, sonde_value *v, unsigned depth, bool kvlist)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	v->kind = kvlist ? SONDE_VAL_KVLIST : SONDE_VAL_ARRAY;
	memset(&v->u, 0, sizeof(v->u));
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id != K_VALUES) {
			rc = sonde_json_skip(&c->j);
		} else if (kvlist) {
			rc = rd_kvs(c, &v->u.kvlist, depth + 1);
		} else {
			if ((rc = sonde_json_enter_array(&c->j)) < 0)
				return rc;
			path_push(c);
			size_t start = c->vals.len, i = 0;
			while ((rc = sonde_json_next_elem(&c->j)) > 0) {
				path_index(c, i++);
				sonde_value item;
				if ((rc = rd_value(c, &item, depth + 1)) < 0)
					return rc;
				sonde_value *slot = vec_push(&c->vals, sizeof(sonde_value));
				if (!slot)
					return -ENOMEM;
				*slot = item;
			}
			if (rc < 0)
				return rc;
			path_pop(c);
			v->u.array.items =
			        vec_take(c, &c->vals, start, sizeof(sonde_value), &v->u.array.count, &rc);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

/* An AnyValue at nesting level depth (an attribute's value is level 1). {} is the empty
 * value; when several members are set, the last wins. */
static int rd_value(rd *c, sonde_value *v, unsigned depth)
{
	if (depth > SONDE_OTLP_JSON_MAX_VALUE_DEPTH)
		return sonde_json_fail(&c->j, "values nested more than 64 levels deep");
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	memset(v, 0, sizeof(*v));
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_STRING_VALUE: {
			const char *s;
			size_t n;
			if ((rc = sonde_json_read_str(&c->j, &s, &n)) < 0)
				return rc;
			v->kind = SONDE_VAL_STRING;
			if (!(v->u.str = keep_value_str(c, s, n)).ptr)
				return -ENOMEM;
			break;
		}
		case K_BOOL_VALUE:
			v->kind = SONDE_VAL_BOOL;
			rc = sonde_json_read_bool(&c->j, &v->u.b);
			break;
		case K_INT_VALUE:
			v->kind = SONDE_VAL_INT;
			rc = rd_i64(c, &v->u.i);
			break;
		case K_DOUBLE_VALUE:
			v->kind = SONDE_VAL_DOUBLE;
			rc = sonde_json_read_f64(&c->j, &v->u.d);
			break;
		case K_ARRAY_VALUE: rc = rd_value_list(c, v, depth, false); break;
		case K_KVLIST_VALUE: rc = rd_value_list(c, v, depth, true); break;
		case K_BYTES_VALUE:
			v->kind = SONDE_VAL_BYTES;
			rc = rd_bytes(c, &v->u.str);
			break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

/* ---- Resource and scope ----------------------------------------------------------- */

static int rd_resource(rd *c, sonde_resource *res)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_ATTRIBUTES)
			rc = rd_attrs(c, &res->attrs);
		else if (id == K_DROPPED_ATTRIBUTES_COUNT)
			rc = rd_u32(c, &res->dropped_attrs_count);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

static int rd_scope(rd *c, sonde_scope *scope)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_NAME: rc = rd_str(c, &scope->name, true); break;
		case K_VERSION: rc = rd_str(c, &scope->version, true); break;
		case K_ATTRIBUTES: rc = rd_attrs(c, &scope->attrs); break;
		case K_DROPPED_ATTRIBUTES_COUNT: rc = rd_u32(c, &scope->dropped_attrs_count); break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

/* The resource and scope that records being read belong to. */
typedef struct group {
	sonde_signal sig;
	sonde_resource *res;
	sonde_scope *scope;
} group;

/* ---- Traces ----------------------------------------------------------------------- */

static int rd_event(rd *c, const void *arg)
{
	(void)arg;
	sonde_span_event ev = {.name = empty_str};
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_TIME_UNIX_NANO: rc = rd_u64(c, &ev.time_ns); break;
		case K_NAME: rc = rd_str(c, &ev.name, true); break;
		case K_ATTRIBUTES: rc = rd_attrs(c, &ev.attrs); break;
		case K_DROPPED_ATTRIBUTES_COUNT: rc = rd_u32(c, &ev.dropped_attrs_count); break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	sonde_span_event *slot = vec_push(&c->events, sizeof(ev));
	if (!slot)
		return -ENOMEM;
	*slot = ev;
	return 0;
}

static int rd_link(rd *c, const void *arg)
{
	(void)arg;
	sonde_span_link ln = {.trace_state = empty_str};
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_TRACE_ID: rc = rd_id(c, ln.trace_id, 16); break;
		case K_SPAN_ID: rc = rd_id(c, ln.span_id, 8); break;
		case K_TRACE_STATE: rc = rd_str(c, &ln.trace_state, false); break;
		case K_ATTRIBUTES: rc = rd_attrs(c, &ln.attrs); break;
		case K_DROPPED_ATTRIBUTES_COUNT: rc = rd_u32(c, &ln.dropped_attrs_count); break;
		case K_FLAGS: rc = rd_u32(c, &ln.flags); break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	sonde_span_link *slot = vec_push(&c->links, sizeof(ln));
	if (!slot)
		return -ENOMEM;
	*slot = ln;
	return 0;
}

static int rd_status(rd *c, sonde_span_data *sp)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_MESSAGE) {
			rc = rd_str(c, &sp->status_message, false);
		} else if (id == K_CODE) {
			int v = 0;
			rc = rd_enum(c, status_code_names, COUNT_OF(status_code_names), "StatusCode", &v);
			sp->status_code = (sonde_status_code)v;
		} else {
			rc = sonde_json_skip(&c->j);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

/* Declares the batch's spans final (on_spans) and takes out those on_spans took. */
static int give(rd *c)
{
	int rc = c->on_spans(c->on_ctx, c->b, c->b->spans_count);
	if (rc <= 0)
		return rc;
	sonde_batch *b = c->b;
	size_t n = (size_t)rc < b->spans_count ? (size_t)rc : b->spans_count;
	memmove(b->spans, b->spans + n, (b->spans_count - n) * sizeof *b->spans);
	b->spans_count -= n;
	c->pre = c->pre > n ? c->pre - n : 0;
	if (b->spans_count == c->pre)
		sonde_arena_reset(&c->scratch, SCRATCH_KEEP);
	return 0;
}

static int rd_span(rd *c, const void *arg)
{
	const group *g = arg;
	sonde_span_data *sp = sonde_batch_add_span(c->b, g->res, g->scope);
	if (!sp)
		return -ENOMEM;
	c->in_span = c->in_place;
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_TRACE_ID: rc = rd_id(c, sp->trace_id, 16); break;
		case K_SPAN_ID: rc = rd_id(c, sp->span_id, 8); break;
		case K_TRACE_STATE: rc = rd_str(c, &sp->trace_state, false); break;
		case K_PARENT_SPAN_ID: rc = rd_id(c, sp->parent_span_id, 8); break;
		case K_FLAGS: rc = rd_u32(c, &sp->flags); break;
		case K_NAME: rc = rd_str(c, &sp->name, true); break;
		case K_KIND: {
			int v = 0;
			rc = rd_enum(c, span_kind_names, COUNT_OF(span_kind_names), "SpanKind", &v);
			sp->kind = (sonde_span_kind)v;
			break;
		}
		case K_START_TIME_UNIX_NANO: rc = rd_u64(c, &sp->start_ns); break;
		case K_END_TIME_UNIX_NANO: rc = rd_u64(c, &sp->end_ns); break;
		case K_ATTRIBUTES: rc = rd_attrs(c, &sp->attrs); break;
		case K_DROPPED_ATTRIBUTES_COUNT: rc = rd_u32(c, &sp->dropped_attrs_count); break;
		case K_EVENTS: {
			size_t start = c->events.len;
			if ((rc = rd_list(c, rd_event, NULL)) < 0)
				return rc;
			sp->events = vec_take(c, &c->events, start, sizeof(sonde_span_event),
			                      &sp->events_count, &rc);
			break;
		}
		case K_DROPPED_EVENTS_COUNT: rc = rd_u32(c, &sp->dropped_events_count); break;
		case K_LINKS: {
			size_t start = c->links.len;
			if ((rc = rd_list(c, rd_link, NULL)) < 0)
				return rc;
			sp->links =
			        vec_take(c, &c->links, start, sizeof(sonde_span_link), &sp->links_count, &rc);
			break;
		}
		case K_DROPPED_LINKS_COUNT: rc = rd_u32(c, &sp->dropped_links_count); break;
		case K_STATUS: rc = rd_status(c, sp); break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	c->in_span = false;
	if (rc == 0 && c->in_place) {
		c->gave_group = c->gave_scope = true;
		rc = give(c);
	}
	return rc;
}

/* ---- Logs ------------------------------------------------------------------------- */

static int rd_log(rd *c, const void *arg)
{
	const group *g = arg;
	sonde_log_data *l = sonde_batch_add_log(c->b, g->res, g->scope);
	if (!l)
		return -ENOMEM;
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_TIME_UNIX_NANO: rc = rd_u64(c, &l->time_ns); break;
		case K_OBSERVED_TIME_UNIX_NANO: rc = rd_u64(c, &l->observed_time_ns); break;
		case K_SEVERITY_NUMBER: {
			int v = 0;
			rc = rd_enum(c, severity_names, COUNT_OF(severity_names), "SeverityNumber", &v);
			l->severity_number = v;
			break;
		}
		case K_SEVERITY_TEXT: rc = rd_str(c, &l->severity_text, true); break;
		case K_BODY: rc = rd_value(c, &l->body, 1); break;
		case K_ATTRIBUTES: rc = rd_attrs(c, &l->attrs); break;
		case K_DROPPED_ATTRIBUTES_COUNT: rc = rd_u32(c, &l->dropped_attrs_count); break;
		case K_FLAGS: rc = rd_u32(c, &l->flags); break;
		case K_TRACE_ID: rc = rd_id(c, l->trace_id, 16); break;
		case K_SPAN_ID: rc = rd_id(c, l->span_id, 8); break;
		case K_EVENT_NAME: rc = rd_str(c, &l->event_name, true); break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* ---- Metrics ---------------------------------------------------------------------- */

static int rd_exemplar(rd *c, const void *arg)
{
	(void)arg;
	sonde_exemplar ex;
	memset(&ex, 0, sizeof(ex));
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_FILTERED_ATTRIBUTES: rc = rd_attrs(c, &ex.filtered_attrs); break;
		case K_TIME_UNIX_NANO: rc = rd_u64(c, &ex.time_ns); break;
		case K_AS_DOUBLE:
			ex.value_kind = SONDE_NUM_DOUBLE;
			rc = sonde_json_read_f64(&c->j, &ex.value.d);
			break;
		case K_AS_INT:
			ex.value_kind = SONDE_NUM_INT;
			rc = rd_i64(c, &ex.value.i);
			break;
		case K_SPAN_ID: rc = rd_id(c, ex.span_id, 8); break;
		case K_TRACE_ID: rc = rd_id(c, ex.trace_id, 16); break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	sonde_exemplar *slot = vec_push(&c->exemplars, sizeof(ex));
	if (!slot)
		return -ENOMEM;
	*slot = ex;
	return 0;
}

static int rd_quantile(rd *c, const void *arg)
{
	(void)arg;
	sonde_quantile q = {0, 0};
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_QUANTILE)
			rc = sonde_json_read_f64(&c->j, &q.quantile);
		else if (id == K_VALUE)
			rc = sonde_json_read_f64(&c->j, &q.value);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	sonde_quantile *slot = vec_push(&c->quantiles, sizeof(q));
	if (!slot)
		return -ENOMEM;
	*slot = q;
	return 0;
}

/* ExponentialHistogramDataPoint.Buckets. */
static int rd_exp_buckets(rd *c, sonde_exp_buckets *bk)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_OFFSET)
			rc = rd_i32(c, &bk->offset);
		else if (id == K_BUCKET_COUNTS)
			rc = rd_u64_list(c, &bk->counts, &bk->count);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

/* One data point of a metric of type *(sonde_metric_type *)arg; members that do not
 * belong to that type's point are skipped as unknown. */
static int rd_point(rd *c, const void *arg)
{
	const sonde_metric_type type = *(const sonde_metric_type *)arg;
	sonde_point pt;
	memset(&pt, 0, sizeof(pt));
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	const bool number = type == SONDE_METRIC_GAUGE || type == SONDE_METRIC_SUM;
	const bool hist = type == SONDE_METRIC_HISTOGRAM, exp = type == SONDE_METRIC_EXP_HISTOGRAM;
	const bool summary = type == SONDE_METRIC_SUMMARY;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_ATTRIBUTES: rc = rd_attrs(c, &pt.attrs); break;
		case K_START_TIME_UNIX_NANO: rc = rd_u64(c, &pt.start_time_ns); break;
		case K_TIME_UNIX_NANO: rc = rd_u64(c, &pt.time_ns); break;
		case K_FLAGS: rc = rd_u32(c, &pt.flags); break;
		case K_EXEMPLARS: {
			if (summary)
				goto unknown;
			size_t start = c->exemplars.len;
			if ((rc = rd_list(c, rd_exemplar, NULL)) < 0)
				return rc;
			pt.exemplars = vec_take(c, &c->exemplars, start, sizeof(sonde_exemplar),
			                        &pt.exemplars_count, &rc);
			break;
		}
		case K_AS_DOUBLE:
			if (!number)
				goto unknown;
			pt.u.number.kind = SONDE_NUM_DOUBLE;
			rc = sonde_json_read_f64(&c->j, &pt.u.number.v.d);
			break;
		case K_AS_INT:
			if (!number)
				goto unknown;
			pt.u.number.kind = SONDE_NUM_INT;
			rc = rd_i64(c, &pt.u.number.v.i);
			break;
		/* hist, exp and summary all begin with count and sum. */
		case K_COUNT:
			if (!hist && !exp && !summary)
				goto unknown;
			rc = rd_u64(c, hist ? &pt.u.hist.count : exp ? &pt.u.exp.count : &pt.u.summary.count);
			break;
		case K_SUM:
			if (hist) {
				pt.u.hist.has_sum = true;
				rc = sonde_json_read_f64(&c->j, &pt.u.hist.sum);
			} else if (exp) {
				pt.u.exp.has_sum = true;
				rc = sonde_json_read_f64(&c->j, &pt.u.exp.sum);
			} else if (summary) {
				rc = sonde_json_read_f64(&c->j, &pt.u.summary.sum);
			} else {
				goto unknown;
			}
			break;
		case K_MIN:
			if (hist) {
				pt.u.hist.has_min = true;
				rc = sonde_json_read_f64(&c->j, &pt.u.hist.min);
			} else if (exp) {
				pt.u.exp.has_min = true;
				rc = sonde_json_read_f64(&c->j, &pt.u.exp.min);
			} else {
				goto unknown;
			}
			break;
		case K_MAX:
			if (hist) {
				pt.u.hist.has_max = true;
				rc = sonde_json_read_f64(&c->j, &pt.u.hist.max);
			} else if (exp) {
				pt.u.exp.has_max = true;
				rc = sonde_json_read_f64(&c->j, &pt.u.exp.max);
			} else {
				goto unknown;
			}
			break;
		case K_BUCKET_COUNTS:
			if (!hist)
				goto unknown;
			rc = rd_u64_list(c, &pt.u.hist.bucket_counts, &pt.u.hist.bucket_counts_count);
			break;
		case K_EXPLICIT_BOUNDS:
			if (!hist)
				goto unknown;
			rc = rd_f64_list(c, &pt.u.hist.bounds, &pt.u.hist.bounds_count);
			break;
		case K_SCALE:
			if (!exp)
				goto unknown;
			rc = rd_i32(c, &pt.u.exp.scale);
			break;
		case K_ZERO_COUNT:
			if (!exp)
				goto unknown;
			rc = rd_u64(c, &pt.u.exp.zero_count);
			break;
		case K_ZERO_THRESHOLD:
			if (!exp)
				goto unknown;
			rc = sonde_json_read_f64(&c->j, &pt.u.exp.zero_threshold);
			break;
		case K_POSITIVE:
		case K_NEGATIVE:
			if (!exp)
				goto unknown;
			rc = rd_exp_buckets(c, id == K_POSITIVE ? &pt.u.exp.positive : &pt.u.exp.negative);
			break;
		case K_QUANTILE_VALUES: {
			if (!summary)
				goto unknown;
			size_t qstart = c->quantiles.len;
			if ((rc = rd_list(c, rd_quantile, NULL)) < 0)
				return rc;
			pt.u.summary.quantiles = vec_take(c, &c->quantiles, qstart, sizeof(sonde_quantile),
			                                  &pt.u.summary.quantiles_count, &rc);
			break;
		}
		default:
		unknown:
			rc = sonde_json_skip(&c->j);
			break;
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	sonde_point *slot = vec_push(&c->points, sizeof(pt));
	if (!slot)
		return -ENOMEM;
	*slot = pt;
	return 0;
}

/* Gauge, Sum, Histogram, ExponentialHistogram or Summary; m->type is already set. When a
 * metric carries several, the last one wins. */
static int rd_metric_data(rd *c, sonde_metric_data *m)
{
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	path_push(c);
	m->points = NULL;
	m->points_count = 0;
	m->temporality = SONDE_TEMPORALITY_UNSPECIFIED;
	m->is_monotonic = false;
	const bool has_temporality = m->type == SONDE_METRIC_SUM || m->type == SONDE_METRIC_HISTOGRAM ||
	                             m->type == SONDE_METRIC_EXP_HISTOGRAM;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_DATA_POINTS) {
			size_t start = c->points.len;
			if ((rc = rd_list(c, rd_point, &m->type)) < 0)
				return rc;
			m->points =
			        vec_take(c, &c->points, start, sizeof(sonde_point), &m->points_count, &rc);
		} else if (id == K_AGGREGATION_TEMPORALITY && has_temporality) {
			int v = 0;
			rc = rd_enum(c, temporality_names, COUNT_OF(temporality_names),
			             "AggregationTemporality", &v);
			m->temporality = (sonde_temporality)v;
		} else if (id == K_IS_MONOTONIC && m->type == SONDE_METRIC_SUM) {
			rc = sonde_json_read_bool(&c->j, &m->is_monotonic);
		} else {
			rc = sonde_json_skip(&c->j);
		}
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	path_pop(c);
	return 0;
}

static int rd_metric(rd *c, const void *arg)
{
	const group *g = arg;
	sonde_metric_data *m = sonde_batch_add_metric(c->b, g->res, g->scope);
	if (!m)
		return -ENOMEM;
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		switch (id) {
		case K_NAME: rc = rd_str(c, &m->name, true); break;
		case K_DESCRIPTION: rc = rd_str(c, &m->description, true); break;
		case K_UNIT: rc = rd_str(c, &m->unit, true); break;
		case K_METADATA: rc = rd_attrs(c, &m->metadata); break;
		case K_GAUGE:
			m->type = SONDE_METRIC_GAUGE;
			rc = rd_metric_data(c, m);
			break;
		case K_SUM:
			m->type = SONDE_METRIC_SUM;
			rc = rd_metric_data(c, m);
			break;
		case K_HISTOGRAM:
			m->type = SONDE_METRIC_HISTOGRAM;
			rc = rd_metric_data(c, m);
			break;
		case K_EXPONENTIAL_HISTOGRAM:
			m->type = SONDE_METRIC_EXP_HISTOGRAM;
			rc = rd_metric_data(c, m);
			break;
		case K_SUMMARY:
			m->type = SONDE_METRIC_SUMMARY;
			rc = rd_metric_data(c, m);
			break;
		default: rc = sonde_json_skip(&c->j); break;
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* ---- Groups and the request --------------------------------------------------------- */

/* ScopeSpans / ScopeMetrics / ScopeLogs. */
static int rd_scope_group(rd *c, const void *arg)
{
	const group *outer = arg;
	group g = {outer->sig, outer->res, sonde_batch_new_scope(c->b)};
	if (!g.scope)
		return -ENOMEM;
	static const enum key_id rec_key[] = {
	        [SONDE_SIGNAL_TRACES] = K_SPANS,
	        [SONDE_SIGNAL_METRICS] = K_METRICS,
	        [SONDE_SIGNAL_LOGS] = K_LOG_RECORDS,
	};
	static int (*const rec_fn[])(rd *, const void *) = {
	        [SONDE_SIGNAL_TRACES] = rd_span,
	        [SONDE_SIGNAL_METRICS] = rd_metric,
	        [SONDE_SIGNAL_LOGS] = rd_log,
	};
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	c->gave_scope = false;
	while ((rc = next_member(c, &id)) > 0) {
		if ((id == K_SCOPE || id == K_SCHEMA_URL) && c->gave_scope)
			return RESTREAM; /* it would change the scope of spans declared final */
		if (id == K_SCOPE)
			rc = rd_scope(c, g.scope);
		else if (id == K_SCHEMA_URL)
			rc = rd_str(c, &g.scope->schema_url, true);
		else if (id == rec_key[g.sig])
			rc = rd_list(c, rec_fn[g.sig], &g);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* ResourceSpans / ResourceMetrics / ResourceLogs; *(sonde_signal *)arg says which. */
static int rd_resource_group(rd *c, const void *arg)
{
	group g = {*(const sonde_signal *)arg, sonde_batch_new_resource(c->b), NULL};
	if (!g.res)
		return -ENOMEM;
	c->in_place = c->on_spans && g.sig == SONDE_SIGNAL_TRACES;
	c->gave_group = false;
	static const enum key_id scope_key[] = {
	        [SONDE_SIGNAL_TRACES] = K_SCOPE_SPANS,
	        [SONDE_SIGNAL_METRICS] = K_SCOPE_METRICS,
	        [SONDE_SIGNAL_LOGS] = K_SCOPE_LOGS,
	};
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if ((id == K_RESOURCE || id == K_SCHEMA_URL) && c->gave_group)
			return RESTREAM; /* it would change the resource of spans declared final */
		if (id == K_RESOURCE)
			rc = rd_resource(c, g.res);
		else if (id == K_SCHEMA_URL)
			rc = rd_str(c, &g.res->schema_url, true);
		else if (id == scope_key[g.sig])
			rc = rd_list(c, rd_scope_group, &g);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	c->in_place = false;
	/* The group is whole: its spans cannot change any more. */
	if (rc == 0 && c->on_spans && g.sig == SONDE_SIGNAL_TRACES)
		rc = give(c);
	return rc;
}

/* One export request: the reader must have been initialised on its text. */
static int rd_request(rd *c)
{
	static const sonde_signal sigs[] = {SONDE_SIGNAL_TRACES, SONDE_SIGNAL_METRICS, SONDE_SIGNAL_LOGS};
	int rc = sonde_json_enter_object(&c->j);
	if (rc < 0)
		return rc;
	enum key_id id;
	while ((rc = next_member(c, &id)) > 0) {
		if (id == K_RESOURCE_SPANS)
			rc = rd_list(c, rd_resource_group, &sigs[0]);
		else if (id == K_RESOURCE_METRICS)
			rc = rd_list(c, rd_resource_group, &sigs[1]);
		else if (id == K_RESOURCE_LOGS)
			rc = rd_list(c, rd_resource_group, &sigs[2]);
		else
			rc = sonde_json_skip(&c->j);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	c->cur_key = K_UNKNOWN;
	c->unknown_len = 0;
	return sonde_json_finish(&c->j);
}

/* Fills err for a failure rc of the document starting at buf + base; line 0 asks for the
 * line to be computed from the whole input. */
static void rd_error(const rd *c, int rc, const char *buf, size_t len, size_t base, size_t line,
                     sonde_wire_error *err)
{
	if (!err)
		return;
	char field[sizeof(err->field)];
	path_render(c, field, sizeof(field));
	if (rc != SONDE_EPARSE) {
		sonde_wire_fail(err, base + c->j.err_offset, line, field, "out of memory");
		return;
	}
	size_t off = base + c->j.err_offset;
	if (line == 0)
		line = sonde_wire_line_of(buf, len, off);
	sonde_wire_fail(err, off, line, field, "%s", c->j.err_msg);
}

int sonde_otlp_json_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err)
{
	return sonde_otlp_json_read_stream(b, buf, len, err, NULL, NULL);
}

int sonde_otlp_json_read_stream(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err,
                                sonde_otlp_json_spans_fn on_spans, void *ctx)
{
	const size_t nspans = b->spans_count, nlogs = b->logs_count, nmetrics = b->metrics_count;
	rd *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	rd_init(c, b);
	c->on_spans = on_spans;
	c->on_ctx = ctx;
	c->pre = nspans;
	sonde_json_reader_init(&c->j, buf, len);
	int rc = rd_request(c);
	if (rc < 0) {
		if (rc != RESTREAM)
			rd_error(c, rc, buf, len, 0, 0, err);
		b->spans_count = c->pre;
		b->logs_count = nlogs;
		b->metrics_count = nmetrics;
	} else if (b->spans_count > c->pre) {
		/* Spans read into scratch and not taken stay in the batch: so does their data. */
		sonde_arena_adopt(&b->arena, &c->scratch);
	}
	sonde_json_reader_release(&c->j);
	rd_release(c);
	free(c);
	return rc == RESTREAM ? 1 : rc < 0 ? rc : 0;
}

static bool blank(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

int sonde_otlp_jsonl_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err)
{
	const size_t nspans = b->spans_count, nlogs = b->logs_count, nmetrics = b->metrics_count;
	rd *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	rd_init(c, b);
	const char *p = buf, *end = buf + len;
	size_t line = 0;
	int rc = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		line++;
		if (!blank(p, eol)) {
			rd_reset(c);
			sonde_json_reader_init(&c->j, p, (size_t)(eol - p));
			rc = rd_request(c);
			if (rc < 0)
				rd_error(c, rc, buf, len, (size_t)(p - buf), line, err);
			sonde_json_reader_release(&c->j);
			if (rc < 0)
				break;
		}
		p = nl ? nl + 1 : end;
	}
	if (rc < 0) {
		b->spans_count = nspans;
		b->logs_count = nlogs;
		b->metrics_count = nmetrics;
	}
	rd_release(c);
	free(c);
	return rc < 0 ? rc : 0;
}
