/* text_write.c - readable one-line-per-record rendering of a batch (see text_write.h). */
#include <errno.h>
#include <inttypes.h>
#include <time.h>

#include "hex.h"
#include "json.h"
#include "text_write.h"

static const char *const kind_names[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                         "CLIENT",      "PRODUCER", "CONSUMER"};
static const char *const metric_types[] = {"none", "gauge", "sum", "histogram", "exp-histogram", "summary"};

void sonde_text_time(sonde_buf *out, uint64_t ns)
{
	if (ns == 0) {
		sonde_buf_putc(out, '-');
		return;
	}
	time_t secs = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&secs, &tm);
	sonde_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
	                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	                 (unsigned)(ns % 1000000000u / 1000000u));
}

/* s seconds (100 or more) in the two largest units, the second left out when it is zero:
 * "5m07s", "2h05m", "2h", "3d04h", "3d". */
static void long_duration(sonde_buf *out, uint64_t s)
{
	static const struct {
		uint64_t big, small;
		char bu, su;
	} units[] = {{60, 1, 'm', 's'}, {3600, 60, 'h', 'm'}, {86400, 3600, 'd', 'h'}};
	size_t u = s < 3600 ? 0 : s < 86400 ? 1 : 2;
	uint64_t hi = s / units[u].big, lo = s % units[u].big / units[u].small;
	if (lo)
		sonde_buf_printf(out, "%" PRIu64 "%c%02" PRIu64 "%c", hi, units[u].bu, lo, units[u].su);
	else
		sonde_buf_printf(out, "%" PRIu64 "%c", hi, units[u].bu);
}

void sonde_text_duration(sonde_buf *out, uint64_t ns)
{
	if (ns < 1000)
		sonde_buf_printf(out, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		sonde_buf_printf(out, "%.2fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		sonde_buf_printf(out, "%.3gms", (double)ns / 1e6);
	else if (ns < 100000000000ull)
		sonde_buf_printf(out, "%.3fs", (double)ns / 1e9);
	else
		long_duration(out, ns / 1000000000ull);
}

static void short_id(sonde_buf *out, const uint8_t *id, size_t n)
{
	char hex[32];
	if (sonde_id_is_zero(id, n)) {
		sonde_buf_putc(out, '-');
		return;
	}
	sonde_hex_encode(hex, id, 4);
	sonde_buf_append(out, hex, 8);
}

static void put_double(sonde_buf *out, double v)
{
	char tmp[32];
	sonde_buf_append(out, tmp, sonde_fmt_double(tmp, v));
}

/* Strings with control characters would break the one-line-per-record layout: escape
 * them the way C and JSON do. */
static void put_text(sonde_buf *out, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != 0x7f)
			continue;
		sonde_buf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '\n': sonde_buf_puts(out, "\\n"); break;
		case '\t': sonde_buf_puts(out, "\\t"); break;
		case '\r': sonde_buf_puts(out, "\\r"); break;
		default: sonde_buf_printf(out, "\\x%02x", c); break;
		}
	}
	sonde_buf_append(out, s + run, n - run);
}

static void attrs_text(sonde_buf *out, const sonde_attrs *a)
{
	for (uint32_t i = 0; i < a->count; i++) {
		sonde_buf_putc(out, ' ');
		sonde_buf_append(out, a->items[i].key.ptr, a->items[i].key.len);
		sonde_buf_putc(out, '=');
		sonde_text_value(out, &a->items[i].value);
	}
}

void sonde_text_value(sonde_buf *out, const sonde_value *v)
{
	switch (v->kind) {
	case SONDE_VAL_EMPTY: sonde_buf_puts(out, "(empty)"); break;
	case SONDE_VAL_STRING: put_text(out, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_BOOL: sonde_buf_puts(out, v->u.b ? "true" : "false"); break;
	case SONDE_VAL_INT: sonde_buf_printf(out, "%" PRId64, v->u.i); break;
	case SONDE_VAL_DOUBLE: put_double(out, v->u.d); break;
	case SONDE_VAL_BYTES: sonde_buf_printf(out, "(%zu bytes)", v->u.str.len); break;
	case SONDE_VAL_ARRAY:
		sonde_buf_putc(out, '[');
		for (uint32_t i = 0; i < v->u.array.count; i++) {
			if (i)
				sonde_buf_putc(out, ',');
			sonde_text_value(out, &v->u.array.items[i]);
		}
		sonde_buf_putc(out, ']');
		break;
	case SONDE_VAL_KVLIST:
		sonde_buf_putc(out, '{');
		attrs_text(out, &v->u.kvlist);
		sonde_buf_puts(out, " }");
		break;
	}
}

static void service_of(sonde_buf *out, const sonde_resource *r)
{
	const sonde_value *v = r ? sonde_attrs_get(&r->attrs, "service.name") : NULL;
	if (v && v->kind == SONDE_VAL_STRING)
		sonde_buf_append(out, v->u.str.ptr, v->u.str.len);
	else
		sonde_buf_putc(out, '-');
}

static void span_text(sonde_buf *out, const sonde_span_data *s)
{
	sonde_buf_puts(out, "span   ");
	sonde_text_time(out, s->start_ns);
	sonde_buf_putc(out, ' ');
	sonde_text_duration(out, s->end_ns >= s->start_ns ? s->end_ns - s->start_ns : 0);
	sonde_buf_putc(out, ' ');
	service_of(out, s->resource);
	sonde_buf_puts(out, " \"");
	put_text(out, s->name.ptr, s->name.len);
	sonde_buf_puts(out, "\" ");
	sonde_buf_puts(out, (unsigned)s->kind < 6 ? kind_names[s->kind] : "?");
	if (s->status_code == SONDE_STATUS_ERROR) {
		sonde_buf_puts(out, " ERROR");
		if (s->status_message.len) {
			sonde_buf_puts(out, "(");
			sonde_buf_append(out, s->status_message.ptr, s->status_message.len);
			sonde_buf_puts(out, ")");
		}
	} else if (s->status_code == SONDE_STATUS_OK) {
		sonde_buf_puts(out, " OK");
	}
	sonde_buf_puts(out, " trace=");
	short_id(out, s->trace_id, 16);
	sonde_buf_puts(out, " span=");
	short_id(out, s->span_id, 8);
	sonde_buf_puts(out, " parent=");
	short_id(out, s->parent_span_id, 8);
	attrs_text(out, &s->attrs);
	if (s->events_count)
		sonde_buf_printf(out, " events=%" PRIu32, s->events_count);
	if (s->links_count)
		sonde_buf_printf(out, " links=%" PRIu32, s->links_count);
	sonde_buf_putc(out, '\n');
}

static void log_text(sonde_buf *out, const sonde_log_data *l)
{
	sonde_buf_puts(out, "log    ");
	sonde_text_time(out, l->time_ns ? l->time_ns : l->observed_time_ns);
	sonde_buf_putc(out, ' ');
	if (l->severity_text.len)
		sonde_buf_append(out, l->severity_text.ptr, l->severity_text.len);
	else
		sonde_buf_printf(out, "sev%" PRId32, l->severity_number);
	sonde_buf_putc(out, ' ');
	service_of(out, l->resource);
	sonde_buf_puts(out, " \"");
	sonde_text_value(out, &l->body);
	sonde_buf_puts(out, "\"");
	if (!sonde_id_is_zero(l->trace_id, 16)) {
		sonde_buf_puts(out, " trace=");
		short_id(out, l->trace_id, 16);
		sonde_buf_puts(out, " span=");
		short_id(out, l->span_id, 8);
	}
	attrs_text(out, &l->attrs);
	sonde_buf_putc(out, '\n');
}

static void point_text(sonde_buf *out, const sonde_metric_data *m, const sonde_point *p)
{
	sonde_buf_puts(out, "metric ");
	sonde_text_time(out, p->time_ns);
	sonde_buf_putc(out, ' ');
	sonde_buf_append(out, m->name.ptr, m->name.len);
	sonde_buf_printf(out, " %s", (unsigned)m->type < 6 ? metric_types[m->type] : "?");
	if (m->unit.len) {
		sonde_buf_puts(out, " [");
		sonde_buf_append(out, m->unit.ptr, m->unit.len);
		sonde_buf_putc(out, ']');
	}
	switch (m->type) {
	case SONDE_METRIC_GAUGE:
	case SONDE_METRIC_SUM:
		if (p->u.number.kind == SONDE_NUM_INT)
			sonde_buf_printf(out, " value=%" PRId64, p->u.number.v.i);
		else {
			sonde_buf_puts(out, " value=");
			put_double(out, p->u.number.v.d);
		}
		break;
	case SONDE_METRIC_HISTOGRAM:
		sonde_buf_printf(out, " count=%" PRIu64, p->u.hist.count);
		if (p->u.hist.has_sum) {
			sonde_buf_puts(out, " sum=");
			put_double(out, p->u.hist.sum);
		}
		sonde_buf_printf(out, " buckets=%" PRIu32, p->u.hist.bucket_counts_count);
		break;
	case SONDE_METRIC_EXP_HISTOGRAM:
		sonde_buf_printf(out, " count=%" PRIu64 " scale=%" PRId32, p->u.exp.count, p->u.exp.scale);
		if (p->u.exp.has_sum) {
			sonde_buf_puts(out, " sum=");
			put_double(out, p->u.exp.sum);
		}
		break;
	case SONDE_METRIC_SUMMARY:
		sonde_buf_printf(out, " count=%" PRIu64 " sum=", p->u.summary.count);
		put_double(out, p->u.summary.sum);
		for (uint32_t i = 0; i < p->u.summary.quantiles_count; i++) {
			sonde_buf_printf(out, " q%g=", p->u.summary.quantiles[i].quantile);
			put_double(out, p->u.summary.quantiles[i].value);
		}
		break;
	case SONDE_METRIC_NONE: break;
	}
	attrs_text(out, &p->attrs);
	sonde_buf_putc(out, '\n');
}

int sonde_text_write(const sonde_batch *b, sonde_buf *out)
{
	for (size_t i = 0; i < b->spans_count; i++)
		span_text(out, &b->spans[i]);
	for (size_t i = 0; i < b->logs_count; i++)
		log_text(out, &b->logs[i]);
	for (size_t i = 0; i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		for (uint32_t j = 0; j < m->points_count; j++)
			point_text(out, m, &m->points[j]);
	}
	return out->oom ? -ENOMEM : 0;
}
