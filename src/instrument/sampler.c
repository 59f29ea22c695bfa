/*
 * sampler.c - the OpenTelemetry samplers (AlwaysOn, AlwaysOff, TraceIdRatioBased,
 * ParentBased), the consistent probability sampler of OTEP 235 (tracestate "ot=th:"), a
 * lock-free rate limiter, and their configuration from OTEL_TRACES_SAMPLER.
 *
 * Design notes. A sampler is a tagged struct; deciding is one switch on the tag, so the
 * common case (ParentBased, local sampled parent) costs a few loads and branches. Ratios
 * and probabilities are turned into a 56-bit rejection threshold T once, at construction:
 * a span is sampled when its 56-bit randomness R (the trace id's low 7 bytes, or the
 * tracestate's "ot=rv:" for the probability sampler) is >= T, so a higher ratio samples a
 * superset of what a lower one does. The rate limiter is a GCRA token bucket whose whole
 * state is one atomic "theoretical arrival time", advanced by compare-and-swap; it reads
 * the clock only when the runtime did not pass the time.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporter_internal.h"
#include "sampler_internal.h"
#include "sonde/trace.h"

enum sampler_kind {
	K_ALWAYS_ON,
	K_ALWAYS_OFF,
	K_RATIO,
	K_PROBABILITY,
	K_PARENT,
	K_RATE,
};

/* ParentBased delegates, in the order of sonde_sampler_parent_based's arguments. */
enum { D_ROOT, D_REMOTE_SAMPLED, D_REMOTE_NOT_SAMPLED, D_LOCAL_SAMPLED, D_LOCAL_NOT_SAMPLED, D_COUNT };

#define RANDOM_BITS 56
#define RANDOM_SPAN (UINT64_C(1) << RANDOM_BITS)
#define NEVER       UINT64_MAX /* a threshold no 56-bit randomness reaches */

enum {
	OT_VALUE_MAX = 256, /* OpenTelemetry's limit for the whole "ot" value */
	TH_DIGITS = 14,
	TH_PRECISION = 4, /* the specification's recommended default */
};

struct sonde_sampler {
	enum sampler_kind kind;
	double param;       /* ratio, probability or spans per second, after clamping */
	uint64_t threshold; /* K_RATIO, K_PROBABILITY: sample iff randomness >= threshold */
	char th[TH_DIGITS + 1];
	sonde_sampler *delegate[D_COUNT]; /* K_PARENT; NULL: the specification's default */
	uint64_t interval_ns;             /* K_RATE: one token per interval */
	uint64_t burst_ns;                /* K_RATE: (capacity - 1) intervals */
	_Atomic uint64_t tat;             /* K_RATE: theoretical arrival time of the next span */
};

static sonde_sampler *sampler_new(enum sampler_kind kind)
{
	sonde_sampler *s = calloc(1, sizeof(*s));
	if (s)
		s->kind = kind;
	return s;
}

sonde_sampler *sonde_sampler_always_on(void)
{
	return sampler_new(K_ALWAYS_ON);
}

sonde_sampler *sonde_sampler_always_off(void)
{
	return sampler_new(K_ALWAYS_OFF);
}

static double clamp01(double x)
{
	if (!(x > 0)) /* also NaN */
		return 0;
	return x > 1 ? 1 : x;
}

sonde_sampler *sonde_sampler_trace_id_ratio(double ratio)
{
	sonde_sampler *s = sampler_new(K_RATIO);
	if (!s)
		return NULL;
	s->param = clamp01(ratio);
	if (s->param <= 0)
		s->threshold = NEVER;
	else if (s->param >= 1)
		s->threshold = 0;
	else /* ratio * 2^56 is exact; rounding it keeps T monotone in the ratio */
		s->threshold = RANDOM_SPAN - (uint64_t)llround(ldexp(s->param, RANDOM_BITS));
	return s;
}

/* Encodes a 56-bit threshold as its 14 hex digits without trailing zeros ("0" for 0). */
static void th_encode(uint64_t t, char out[TH_DIGITS + 1])
{
	int n = TH_DIGITS;
	for (int i = TH_DIGITS - 1; i >= 0; i--) {
		out[i] = "0123456789abcdef"[t & 15];
		t >>= 4;
	}
	while (n > 1 && out[n - 1] == '0')
		n--;
	out[n] = '\0';
}

/* The threshold for probability p in (0, 1), rounded to TH_PRECISION hex digits, plus one
 * digit for every four leading 'f's so that small probabilities keep their precision: the
 * algorithm of tracestate-probability-sampling.md, done on the double's mantissa. */
static uint64_t probability_threshold(double p)
{
	int e2;
	frexp(p, &e2); /* p = m * 2^e2, m in [0.5, 1), e2 <= 0 */
	int prec = TH_PRECISION + (-e2) / 4;
	if (prec > 12)
		prec = 12;
	/* 2 - p lies in [1, 2): its 52 mantissa bits are the 13 hex digits of 1 - p. The
	 * added half of the last kept digit makes the truncation below a rounding. */
	double r = 2.0 - p + ldexp(0.5, -4 * prec);
	uint64_t mant = r >= 2.0 ? (UINT64_C(1) << 52) - 1 : (uint64_t)ldexp(r - 1.0, 52);
	uint64_t digits = mant >> (4 * (13 - prec));
	return digits << (4 * (TH_DIGITS - prec));
}

sonde_sampler *sonde_sampler_probability(double probability)
{
	sonde_sampler *s = sampler_new(K_PROBABILITY);
	if (!s)
		return NULL;
	double p = clamp01(probability);
	s->param = p;
	if (p <= 0) {
		/* Never sampling is not probability sampling: there is no threshold to write. */
		s->threshold = NEVER;
		strcpy(s->th, "");
		return s;
	}
	if (p < ldexp(1, -RANDOM_BITS))
		p = ldexp(1, -RANDOM_BITS);
	s->threshold = p >= 1 ? 0 : probability_threshold(p);
	th_encode(s->threshold, s->th);
	return s;
}

sonde_sampler *sonde_sampler_parent_based(sonde_sampler *root, sonde_sampler *remote_sampled,
                                          sonde_sampler *remote_not_sampled, sonde_sampler *local_sampled,
                                          sonde_sampler *local_not_sampled)
{
	sonde_sampler *s = sampler_new(K_PARENT);
	sonde_sampler *d[D_COUNT] = {root, remote_sampled, remote_not_sampled, local_sampled,
	                             local_not_sampled};
	if (!s) {
		/* The delegates were handed over; on failure they are not leaked. */
		for (int i = 0; i < D_COUNT; i++)
			sonde_sampler_free(d[i]);
		return NULL;
	}
	memcpy(s->delegate, d, sizeof(d));
	return s;
}

sonde_sampler *sonde_sampler_rate_limiting(double spans_per_second)
{
	sonde_sampler *s = sampler_new(K_RATE);
	if (!s)
		return NULL;
	double n = spans_per_second > 0 ? spans_per_second : 0; /* NaN: 0 */
	s->param = n;
	if (n <= 0) {
		s->interval_ns = NEVER;
		return s;
	}
	double interval = 1e9 / n;
	if (interval >= 9e18) {
		s->interval_ns = NEVER; /* less than one span in three centuries */
		return s;
	}
	if (interval < 1) {
		/* More than a span per nanosecond: no limit worth keeping. */
		s->interval_ns = 0;
		s->burst_ns = 0;
		return s;
	}
	double capacity = n > 1 ? n : 1;
	s->interval_ns = (uint64_t)llround(interval);
	s->burst_ns = (uint64_t)llround((capacity - 1) * interval);
	atomic_init(&s->tat, 0); /* a full bucket */
	return s;
}

void sonde_sampler_free(sonde_sampler *s)
{
	if (!s)
		return;
	if (s->kind == K_PARENT) {
		for (int i = 0; i < D_COUNT; i++)
			sonde_sampler_free(s->delegate[i]);
	}
	free(s);
}

/* ---- Deciding ------------------------------------------------------------------------ */

/* The trace id's low 56 bits: bytes 9 to 15, big-endian. */
/* A view of one piece of a delimited list: [p, p + len). */
typedef struct piece {
	const char *p;
	size_t len;
} piece;

/* Iterates over the pieces of s[0..n) separated by sep, skipping empty ones; *pos is
 * where to continue. Returns false at the end. */
static bool next_piece(const char *s, size_t n, char sep, size_t *pos, piece *out)
{
	while (*pos < n) {
		size_t i = *pos, j = i;
		while (j < n && s[j] != sep)
			j++;
		*pos = j + 1;
		while (i < j && (s[i] == ' ' || s[i] == '\t'))
			i++;
		while (j > i && (s[j - 1] == ' ' || s[j - 1] == '\t'))
			j--;
		if (j > i) {
			*out = (piece){s + i, j - i};
			return true;
		}
	}
	return false;
}

static bool piece_has_key(piece m, const char *key, size_t kl, char delim)
{
	return m.len > kl && m.p[kl] == delim && memcmp(m.p, key, kl) == 0;
}

/* The value of the "ot" tracestate member, if any. */
static bool find_ot(const sonde__sample_in *in, piece *ot)
{
	size_t pos = 0;
	piece m;
	while (next_piece(in->parent_trace_state, in->parent_trace_state_len, ',', &pos, &m)) {
		if (piece_has_key(m, "ot", 2, '=')) {
			*ot = (piece){m.p + 3, m.len - 3};
			return true;
		}
	}
	return false;
}

/* The value of sub-key key ("th", "rv") in the ot value. */
static bool ot_sub(piece ot, const char *key, piece *val)
{
	size_t pos = 0, kl = strlen(key);
	piece m;
	while (next_piece(ot.p, ot.len, ';', &pos, &m)) {
		if (piece_has_key(m, key, kl, ':')) {
			*val = (piece){m.p + kl + 1, m.len - kl - 1};
			return true;
		}
	}
	return false;
}

static int hexval(char ch, bool upper_ok)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (upper_ok && ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* rv: exactly 14 lower-case hex digits. th: 1 to 14 hex digits, extended with zeros. */
static bool parse_hex56(piece v, bool exact, uint64_t *out)
{
	if (v.len < 1 || v.len > TH_DIGITS || (exact && v.len != TH_DIGITS))
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < v.len; i++) {
		int d = hexval(v.p[i], !exact);
		if (d < 0)
			return false;
		x = x << 4 | (uint64_t)d;
	}
	*out = x << (4 * (TH_DIGITS - v.len));
	return true;
}

/* The randomness of a span: the parent's explicit "ot=rv:" when valid, else the trace
 * id's low 56 bits. */
static uint64_t randomness(const sonde__sample_in *in, bool has_ot, piece ot)
{
	piece rv;
	uint64_t r;
	if (has_ot && ot_sub(ot, "rv", &rv) && parse_hex56(rv, true, &r))
		return r;
	return sonde__trace_id_randomness(in->trace_id);
}

/* Writes the parent's trace state into out with the ot member's th replaced by th (or
 * removed when th is NULL) and the ot member moved first, as the entry a vendor updates
 * must be; th and rv lead the ot value, other sub-keys follow in their order. Sub-keys or
 * members that would break the 256- and 512-character limits (or the 32 members) are left
 * out. */
static void write_trace_state(const sonde__sample_in *in, bool has_ot, piece ot, const char *th,
                              sonde__sample_out *out)
{
	char val[OT_VALUE_MAX + 1];
	size_t vl = 0;
	if (th) {
		vl = (size_t)snprintf(val, sizeof(val), "th:%s", th);
	}
	/* rv comes right after th: it must survive, whatever else has to go. */
	for (int pass = 0; pass < 2 && has_ot; pass++) {
		size_t pos = 0;
		piece m;
		while (next_piece(ot.p, ot.len, ';', &pos, &m)) {
			bool rv = piece_has_key(m, "rv", 2, ':');
			if (piece_has_key(m, "th", 2, ':') || rv != (pass == 0) ||
			    vl + (vl ? 1 : 0) + m.len > OT_VALUE_MAX)
				continue;
			if (vl)
				val[vl++] = ';';
			memcpy(val + vl, m.p, m.len);
			vl += m.len;
		}
	}
	char *ts = out->trace_state;
	size_t len = 0;
	int members = 0;
	if (vl) {
		memcpy(ts, "ot=", 3);
		memcpy(ts + 3, val, vl);
		len = 3 + vl;
		members = 1;
	}
	size_t pos = 0;
	piece m;
	while (next_piece(in->parent_trace_state, in->parent_trace_state_len, ',', &pos, &m)) {
		if (piece_has_key(m, "ot", 2, '='))
			continue;
		if (members == SONDE_TRACESTATE_MAX_MEMBERS ||
		    len + (len ? 1 : 0) + m.len > SONDE_TRACESTATE_MAX_LEN)
			break;
		if (len)
			ts[len++] = ',';
		memcpy(ts + len, m.p, m.len);
		len += m.len;
		members++;
	}
	ts[len] = '\0';
	out->trace_state_len = (uint16_t)len;
	out->trace_state_set = true;
}

__attribute__((noinline)) static void sample_probability(const sonde_sampler *s, const sonde__sample_in *in,
                                                         sonde__sample_out *out)
{
	piece ot = {NULL, 0};
	bool has_ot = in->parent_trace_state_len && find_ot(in, &ot);
	if (s->threshold == NEVER || randomness(in, has_ot, ot) < s->threshold) {
		out->decision = SONDE__DROP;
		return;
	}
	out->decision = SONDE__RECORD_AND_SAMPLE;
	write_trace_state(in, has_ot, ot, s->th, out);
}

/* A remote parent says it was sampled: when its tracestate carries a threshold that its
 * own randomness does not reach (or one that does not parse), the threshold is erased, as
 * the specification asks of parent-based sampling. */
__attribute__((noinline)) static void check_parent_threshold(const sonde__sample_in *in,
                                                             sonde__sample_out *out)
{
	piece ot, th;
	uint64_t t;
	if (!find_ot(in, &ot) || !ot_sub(ot, "th", &th))
		return;
	if (parse_hex56(th, false, &t) && randomness(in, true, ot) >= t)
		return;
	write_trace_state(in, true, ot, NULL, out);
}

__attribute__((noinline)) static sonde__decision sample_rate(const sonde_sampler *s_const,
                                                             const sonde__sample_in *in)
{
	/* The bucket is the sampler's only mutable state; deciding mutates it. */
	sonde_sampler *s = (sonde_sampler *)s_const;
	if (in->has_parent || s->interval_ns == NEVER)
		return SONDE__DROP;
	/* 0: the runtime did not read the clock for this span. */
	uint64_t now = in->now_ns ? in->now_ns : sonde__mono_ns();
	uint64_t tat = atomic_load_explicit(&s->tat, memory_order_relaxed);
	for (;;) {
		if (now + s->burst_ns < tat)
			return SONDE__DROP;
		uint64_t next = (tat > now ? tat : now) + s->interval_ns;
		if (atomic_compare_exchange_weak_explicit(&s->tat, &tat, next, memory_order_relaxed,
		                                          memory_order_relaxed))
			return SONDE__RECORD_AND_SAMPLE;
	}
}

/* The common cases (ParentBased over the default delegates, AlwaysOn/Off, ratios) stay in
 * this function; the rest are out-of-line calls so that they do not weigh on its
 * prologue. */
void sonde__sampler_should_sample(const sonde_sampler *s, const sonde__sample_in *in, sonde__sample_out *out)
{
	int which = -1;
	if (s && s->kind == K_PARENT && in->has_parent && !in->parent_remote) {
		/* The most frequent question of all: a child of a local span, default delegate. */
		bool sampled = in->parent_flags & SONDE_TRACE_FLAG_SAMPLED;
		if (!s->delegate[D_LOCAL_SAMPLED + !sampled]) {
			out->decision = sampled ? SONDE__RECORD_AND_SAMPLE : SONDE__DROP;
			return;
		}
	}
	if (!s || s->kind == K_PARENT) {
		/* No sampler at all means the default, ParentBased(root=AlwaysOn). */
		bool sampled = in->parent_flags & SONDE_TRACE_FLAG_SAMPLED;
		which = !in->has_parent ? D_ROOT
		                        : (in->parent_remote ? D_REMOTE_SAMPLED : D_LOCAL_SAMPLED) + !sampled;
		const sonde_sampler *d = s ? s->delegate[which] : NULL;
		if (!d) {
			out->decision = which == D_ROOT || sampled ? SONDE__RECORD_AND_SAMPLE : SONDE__DROP;
			goto parent_checked;
		}
		s = d;
	}
	switch (s->kind) {
	case K_ALWAYS_ON: out->decision = SONDE__RECORD_AND_SAMPLE; break;
	case K_ALWAYS_OFF: out->decision = SONDE__DROP; break;
	case K_RATIO:
		out->decision = sonde__trace_id_randomness(in->trace_id) >= s->threshold
		                        ? SONDE__RECORD_AND_SAMPLE
		                        : SONDE__DROP;
		break;
	case K_PROBABILITY: sample_probability(s, in, out); break;
	case K_RATE: out->decision = sample_rate(s, in); break;
	case K_PARENT: sonde__sampler_should_sample(s, in, out); break;
	}
parent_checked:
	if (which == D_REMOTE_SAMPLED && out->decision == SONDE__RECORD_AND_SAMPLE && !out->trace_state_set &&
	    in->parent_trace_state_len)
		check_parent_threshold(in, out);
}

static uint8_t fast_rule(const sonde_sampler *s, bool root)
{
	if (!s)
		return SONDE__FAST_ON;
	switch (s->kind) {
	case K_ALWAYS_ON: return SONDE__FAST_ON;
	case K_ALWAYS_OFF: return SONDE__FAST_OFF;
	case K_RATIO: return SONDE__FAST_RATIO;
	case K_PARENT:
		if (root)
			return s->delegate[D_ROOT] && s->delegate[D_ROOT]->kind == K_PARENT
			               ? SONDE__FAST_GENERAL
			               : fast_rule(s->delegate[D_ROOT], true);
		return !s->delegate[D_LOCAL_SAMPLED] && !s->delegate[D_LOCAL_NOT_SAMPLED]
		               ? SONDE__FAST_FOLLOW
		               : SONDE__FAST_GENERAL;
	default: return SONDE__FAST_GENERAL;
	}
}

void sonde__sampler_fast_plan(const sonde_sampler *s, sonde__fast_plan *out)
{
	out->root = fast_rule(s, true);
	out->child = s ? fast_rule(s, false) : SONDE__FAST_FOLLOW;
	const sonde_sampler *r = s && s->kind == K_PARENT ? s->delegate[D_ROOT] : s;
	out->threshold = r && r->kind == K_RATIO ? r->threshold : 0;
	if (out->child == SONDE__FAST_RATIO && s->threshold != out->threshold)
		out->child = SONDE__FAST_GENERAL;
}

/* ---- Descriptions -------------------------------------------------------------------- */

typedef struct writer {
	char *buf;
	size_t cap, len; /* len may run past cap: what would have been written */
} writer;

static void put(writer *w, const char *s)
{
	for (; *s; s++, w->len++) {
		if (w->len + 1 < w->cap)
			w->buf[w->len] = *s;
	}
}

/* printf's %f follows the locale's decimal point; descriptions must not. */
static void put_fixed6(writer *w, double x)
{
	long long micro = llround(x * 1e6);
	char tmp[48];
	snprintf(tmp, sizeof(tmp), "%lld.%06lld", micro / 1000000, micro % 1000000);
	put(w, tmp);
}

/* A rate: an integer when it is one, else up to six decimals without trailing zeros. */
static void put_rate(writer *w, double x)
{
	char tmp[48];
	if (x == floor(x) || x >= 1e12) {
		snprintf(tmp, sizeof(tmp), "%.0f", x); /* no decimal point, so no locale */
	} else {
		long long micro = llround(x * 1e6);
		int n = snprintf(tmp, sizeof(tmp), "%lld.%06lld", micro / 1000000, micro % 1000000);
		while (n > 0 && tmp[n - 1] == '0')
			tmp[--n] = '\0';
		if (n > 0 && tmp[n - 1] == '.')
			tmp[--n] = '\0';
	}
	put(w, tmp);
}

static void describe(const sonde_sampler *s, writer *w)
{
	static const char *const names[D_COUNT] = {"root", "remoteParentSampled", "remoteParentNotSampled",
	                                           "localParentSampled", "localParentNotSampled"};
	if (!s) {
		put(w, "ParentBased{root=AlwaysOnSampler,remoteParentSampled=AlwaysOnSampler,"
		       "remoteParentNotSampled=AlwaysOffSampler,localParentSampled=AlwaysOnSampler,"
		       "localParentNotSampled=AlwaysOffSampler}");
		return;
	}
	switch (s->kind) {
	case K_ALWAYS_ON: put(w, "AlwaysOnSampler"); return;
	case K_ALWAYS_OFF: put(w, "AlwaysOffSampler"); return;
	case K_RATIO:
		put(w, "TraceIdRatioBased{");
		put_fixed6(w, s->param);
		put(w, "}");
		return;
	case K_PROBABILITY:
		put(w, "ProbabilitySampler{");
		put_fixed6(w, s->param);
		if (s->th[0]) {
			put(w, ",th:");
			put(w, s->th);
		}
		put(w, "}");
		return;
	case K_RATE:
		put(w, "RateLimitingSampler{");
		put_rate(w, s->param);
		put(w, "}");
		return;
	case K_PARENT:
		put(w, "ParentBased{");
		for (int i = 0; i < D_COUNT; i++) {
			if (i)
				put(w, ",");
			put(w, names[i]);
			put(w, "=");
			if (s->delegate[i])
				describe(s->delegate[i], w);
			else
				put(w, i == D_ROOT || i == D_REMOTE_SAMPLED || i == D_LOCAL_SAMPLED
				               ? "AlwaysOnSampler"
				               : "AlwaysOffSampler");
		}
		put(w, "}");
		return;
	}
}

void sonde__sampler_describe(const sonde_sampler *s, char *buf, size_t cap)
{
	if (!buf || !cap)
		return;
	writer w = {buf, cap, 0};
	describe(s, &w);
	buf[w.len < cap ? w.len : cap - 1] = '\0';
}

/* ---- OTEL_TRACES_SAMPLER --------------------------------------------------------------- */

static bool ascii_ieq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Parses a decimal number ("0.25", ".5", "1", "1e-3") without strtod, whose decimal point
 * follows the application's locale. Returns false unless all of s is the number. */
static bool parse_decimal(const char *s, size_t n, double *out)
{
	/* Digits past 15 or so cannot change a double; they are dropped. */
	const uint64_t MANT_LIMIT = ((UINT64_C(1) << 53) - 9) / 10;
	size_t i = 0;
	uint64_t mant = 0;
	int exp10 = 0, digits = 0;
	bool dot = false;
	if (i < n && s[i] == '+')
		i++;
	for (; i < n; i++) {
		char ch = s[i];
		if (ch == '.' && !dot) {
			dot = true;
		} else if (ch >= '0' && ch <= '9') {
			digits++;
			if (mant <= MANT_LIMIT) {
				mant = mant * 10 + (uint64_t)(ch - '0');
				exp10 -= dot;
			} else {
				exp10 += !dot;
			}
		} else {
			break;
		}
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		bool neg = false;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			neg = s[i++] == '-';
		int e = 0, ed = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++) {
			if (e < 10000)
				e = e * 10 + (s[i] - '0');
		}
		if (!ed)
			return false;
		exp10 += neg ? -e : e;
	}
	if (i != n)
		return false;
	/* Both operands exact (mant < 2^53, 10^k exact up to k = 22): one rounding. */
	double x = (double)mant;
	if (exp10 < 0)
		x = exp10 >= -22 ? x / pow(10, -exp10) : x * pow(10, exp10);
	else if (exp10 > 0)
		x *= pow(10, exp10);
	*out = x;
	return true;
}

static double ratio_from_env(const char *sampler)
{
	const char *arg = getenv("OTEL_TRACES_SAMPLER_ARG");
	if (!arg)
		return 1.0;
	size_t n = strlen(arg);
	trim(&arg, &n);
	double r;
	if (n == 0)
		return 1.0;
	if (!parse_decimal(arg, n, &r) || !(r >= 0 && r <= 1)) {
		sonde__diag("OTEL_TRACES_SAMPLER_ARG=\"%.*s\" is not a ratio in [0, 1] for %s: using 1.0",
		            (int)(n > 64 ? 64 : n), arg, sampler);
		return 1.0;
	}
	return r;
}

/* ParentBased(root=AlwaysOn): NULL delegates, so the common case never recurses. */
static sonde_sampler *default_sampler(void)
{
	sonde_sampler *root = sonde_sampler_always_on();
	return root ? sonde_sampler_parent_based(root, NULL, NULL, NULL, NULL) : NULL;
}

sonde_sampler *sonde_sampler_from_env(void)
{
	const char *v = getenv("OTEL_TRACES_SAMPLER");
	size_t n = v ? strlen(v) : 0;
	if (v)
		trim(&v, &n);
	if (!v || n == 0 || ascii_ieq(v, n, "parentbased_always_on"))
		return default_sampler();
	if (ascii_ieq(v, n, "always_on"))
		return sonde_sampler_always_on();
	if (ascii_ieq(v, n, "always_off"))
		return sonde_sampler_always_off();
	if (ascii_ieq(v, n, "traceidratio"))
		return sonde_sampler_trace_id_ratio(ratio_from_env("traceidratio"));
	if (ascii_ieq(v, n, "parentbased_always_off")) {
		sonde_sampler *root = sonde_sampler_always_off();
		return root ? sonde_sampler_parent_based(root, NULL, NULL, NULL, NULL) : NULL;
	}
	if (ascii_ieq(v, n, "parentbased_traceidratio")) {
		sonde_sampler *root =
		        sonde_sampler_trace_id_ratio(ratio_from_env("parentbased_traceidratio"));
		return root ? sonde_sampler_parent_based(root, NULL, NULL, NULL, NULL) : NULL;
	}
	if (ascii_ieq(v, n, "jaeger_remote") || ascii_ieq(v, n, "parentbased_jaeger_remote") ||
	    ascii_ieq(v, n, "xray"))
		sonde__diag("OTEL_TRACES_SAMPLER=\"%.*s\" is not supported by libsonde: using "
		            "parentbased_always_on",
		            (int)(n > 64 ? 64 : n), v);
	else
		sonde__diag(
		        "OTEL_TRACES_SAMPLER=\"%.*s\" is not a known sampler: using parentbased_always_on",
		        (int)(n > 64 ? 64 : n), v);
	return default_sampler();
}
