/*
 * fuzz_propagation.c - W3C traceparent, tracestate and baggage parsers. The input is split
 * at '\n' into a traceparent, a tracestate and a baggage value; whatever parses must
 * format and parse back to the same thing, and what is refused must change nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonde/propagation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_traceparent(const char *s, size_t n)
{
	sonde_span_context c, before, again;
	memset(&c, 0xa5, sizeof(c));
	before = c;
	if (sonde_traceparent_parse(s, n, &c) != 0) {
		if (memcmp(&c, &before, sizeof(c)) != 0)
			abort();
		return;
	}
	if (!sonde_span_context_is_valid(&c))
		abort();
	char out[56];
	sonde_traceparent_format(&c, out);
	if (strlen(out) != 55)
		abort();
	memset(&again, 0, sizeof(again));
	if (sonde_traceparent_parse(out, 55, &again) != 0)
		abort();
	if (memcmp(again.trace_id, c.trace_id, 16) != 0 || memcmp(again.span_id, c.span_id, 8) != 0 ||
	    again.trace_flags != (c.trace_flags & (SONDE_TRACE_FLAG_SAMPLED | SONDE_TRACE_FLAG_RANDOM)))
		abort();
}

static void check_tracestate(const char *s, size_t n)
{
	static sonde_span_context c, again;
	memset(&c, 0, sizeof(c));
	if (sonde_tracestate_parse(s, n, &c) != 0) {
		if (c.trace_state_len != 0 || c.trace_state[0] != '\0')
			abort();
		return;
	}
	if (c.trace_state_len > SONDE_TRACESTATE_MAX_LEN || strlen(c.trace_state) != c.trace_state_len)
		abort();
	/* The normalised list is a fixed point. */
	memset(&again, 0, sizeof(again));
	if (sonde_tracestate_parse(c.trace_state, c.trace_state_len, &again) != 0 ||
	    strcmp(again.trace_state, c.trace_state) != 0)
		abort();
	/* Every member can be looked up by its key. */
	char key[300];
	for (const char *m = c.trace_state; *m;) {
		const char *eq = strchr(m, '=');
		const char *end = strchr(m, ',');
		if (!end)
			end = m + strlen(m);
		if (!eq || eq > end || (size_t)(eq - m) >= sizeof(key))
			abort();
		memcpy(key, m, (size_t)(eq - m));
		key[eq - m] = '\0';
		size_t vl;
		const char *v = sonde_tracestate_get(&c, key, &vl);
		if (v != eq + 1 || vl != (size_t)(end - eq - 1))
			abort();
		m = *end ? end + 1 : end;
	}
	/* An update puts its member first and keeps the list valid. */
	if (sonde_tracestate_set(&again, "fuzz", "x y") != 0 ||
	    strncmp(again.trace_state, "fuzz=x y", 8) != 0)
		abort();
	if (sonde_tracestate_parse(again.trace_state, again.trace_state_len, &c) != 0)
		abort();
	if (sonde_tracestate_delete(&c, "fuzz") != 0 || sonde_tracestate_get(&c, "fuzz", NULL))
		abort();
}

static void check_baggage(const char *s, size_t n)
{
	static sonde_baggage a, b;
	static char fa[SONDE_BAGGAGE_MAX_LEN + 1], fb[SONDE_BAGGAGE_MAX_LEN + 1];
	sonde_baggage_init(&a);
	int rc = sonde_baggage_parse(&a, s, n);
	if (rc == -EINVAL && a.count != 0)
		abort();
	int la = sonde_baggage_format(&a, fa, sizeof(fa));
	if (la < 0 || (size_t)la > SONDE_BAGGAGE_MAX_LEN)
		abort();
	sonde_baggage_init(&b);
	if (sonde_baggage_parse(&b, fa, (size_t)la) != 0) {
		fprintf(stderr, "formatted baggage does not parse: %s\n", fa);
		abort();
	}
	int lb = sonde_baggage_format(&b, fb, sizeof(fb));
	if (lb != la || memcmp(fa, fb, (size_t)la) != 0) {
		fprintf(stderr, "baggage not stable:\n%s\n%s\n", fa, fb);
		abort();
	}
	/* Members the format kept read back as they were. */
	for (uint32_t i = 0; i < b.count; i++) {
		const sonde_baggage_entry *e = NULL;
		for (uint32_t j = 0; j < a.count && !e; j++) {
			if (strcmp(a.entries[j].key, b.entries[i].key) == 0)
				e = &a.entries[j];
		}
		if (!e || strcmp(e->value, b.entries[i].value) != 0 ||
		    strcmp(e->properties, b.entries[i].properties) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl1 = memchr(s, '\n', size);
	size_t n1 = nl1 ? (size_t)(nl1 - s) : size;
	check_traceparent(s, n1);
	if (!nl1)
		return 0;
	const char *p2 = nl1 + 1;
	size_t left = size - n1 - 1;
	const char *nl2 = memchr(p2, '\n', left);
	size_t n2 = nl2 ? (size_t)(nl2 - p2) : left;
	check_tracestate(p2, n2);
	if (nl2)
		check_baggage(nl2 + 1, left - n2 - 1);
	return 0;
}
