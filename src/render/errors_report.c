/*
 * errors_report.c - `sonde errors` as text for people and JSON for scripts (see
 * errors_report.h).
 */
#include "errors_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "text_write.h"

enum { SPARK_COLUMNS = 60 };

static const char *field_name(sonde_error_rule_field f)
{
	switch (f) {
	case SONDE_ERRFIELD_TEXT: return "text";
	case SONDE_ERRFIELD_TYPE: return "type";
	case SONDE_ERRFIELD_STATUS: return "status";
	case SONDE_ERRFIELD_ATTR: return "attr";
	case SONDE_ERRFIELD_SERVICE: return "service";
	}
	return "";
}

static const char *bucket_name(uint64_t ns)
{
	return ns == 1000000000ull       ? "second"
	       : ns == 60000000000ull    ? "minute"
	       : ns == 3600000000000ull  ? "hour"
	       : ns == 86400000000000ull ? "day"
	                                 : NULL;
}

/* The bucket after "per": "minute", or a duration ("5m", "2d"). */
static void put_bucket(sonde_buf *out, uint64_t ns)
{
	const char *n = bucket_name(ns);
	if (n)
		sonde_buf_puts(out, n);
	else
		sonde_term_duration(out, ns);
}

/* The counts squeezed into at most SPARK_COLUMNS characters (sums of neighbours). */
static void sparkline(sonde_buf *out, const sonde_error_series *s)
{
	uint64_t v[SPARK_COLUMNS];
	size_t per = (s->count + SPARK_COLUMNS - 1) / SPARK_COLUMNS, n = 0;
	if (!per)
		return;
	for (size_t i = 0; i < s->count; i += per) {
		uint64_t sum = 0;
		for (size_t j = i; j < i + per && j < s->count; j++)
			sum += s->counts[j];
		v[n++] = sum;
	}
	sonde_term_sparkline(out, v, n);
}

static void series_text(sonde_buf *out, const sonde_error_series *s, const sonde_term_opts *o)
{
	sparkline(out, s);
	sonde_buf_puts(out, "  ");
	sonde_buf_printf(out, "%.3g per ", s->mean);
	put_bucket(out, s->bucket_ns);
	for (size_t i = 0; i < s->spikes_count && i < 3; i++) {
		sonde_buf_printf(out, "; %sspike%s from ", sonde_term_sgr(o, SONDE_SGR_RED),
		                 sonde_term_sgr(o, SONDE_SGR_RESET));
		sonde_text_time(out, s->spikes[i].onset_ns);
		sonde_buf_printf(out, " (peak %" PRIu64 ", ", s->spikes[i].peak);
		sonde_term_duration(out, s->spikes[i].end_ns - s->spikes[i].onset_ns);
		sonde_buf_puts(out, ")");
	}
	if (s->spikes_count > 3)
		sonde_buf_printf(out, "; %zu more spikes", s->spikes_count - 3);
	if (s->period_ns) {
		sonde_buf_puts(out, "; repeats every ");
		sonde_term_duration(out, s->period_ns);
		sonde_buf_printf(out, " (autocorrelation %.2f)", s->period_acf);
	}
	sonde_buf_putc(out, '\n');
}

static void dim_text(sonde_buf *out, const sonde_error_dim *d, const char *title, const sonde_term_opts *o)
{
	if (!d->top_count)
		return;
	sonde_buf_printf(out, "    %-10s", title);
	for (size_t i = 0; i < d->top_count && i < 3; i++) {
		sonde_buf_puts(out, i ? ", " : "");
		sonde_term_text(out, d->top[i].value, strlen(d->top[i].value));
		double pct = 100.0 * (double)d->top[i].count / (double)d->with_value;
		sonde_buf_printf(out, pct < 9.95 ? " %.1f%%" : " %.0f%%", pct);
	}
	sonde_buf_printf(out, "  (%zu%s distinct in %" PRIu64 " errors)", d->distinct,
	                 d->distinct >= 1024 ? "+" : "", d->with_value);
	if (d->concentrated)
		sonde_buf_printf(out, "  %sconcentrated%s", sonde_term_sgr(o, SONDE_SGR_YELLOW),
		                 sonde_term_sgr(o, SONDE_SGR_RESET));
	sonde_buf_putc(out, '\n');
}

static void frame_text(sonde_buf *out, const sonde_stack_frame *f)
{
	sonde_term_text(out, f->function, strlen(f->function));
	if (f->file[0]) {
		sonde_buf_puts(out, " (");
		sonde_term_text(out, f->file, strlen(f->file));
		if (f->line)
			sonde_buf_printf(out, ":%u", f->line);
		sonde_buf_putc(out, ')');
	}
}

static void group_text(sonde_buf *out, size_t idx, const sonde_error_group *g, const sonde_term_opts *o)
{
	sonde_buf_printf(out, "\n%s#%zu  %s%s  %" PRIu64 " error%s", sonde_term_sgr(o, SONDE_SGR_BOLD),
	                 idx + 1, sonde_error_category_name(g->category), sonde_term_sgr(o, SONDE_SGR_RESET),
	                 g->count, g->count == 1 ? "" : "s");
	if (g->logs && g->spans)
		sonde_buf_printf(out, " (%" PRIu64 " logs, %" PRIu64 " spans)", g->logs, g->spans);
	else
		sonde_buf_puts(out, g->spans ? " (spans)" : " (logs)");
	sonde_buf_puts(out, "  ");
	sonde_text_time(out, g->first_ns);
	sonde_buf_puts(out, " .. ");
	sonde_text_time(out, g->last_ns);
	sonde_buf_putc(out, '\n');
	sonde_buf_puts(out, "    template  ");
	sonde_term_text(out, g->template_text, strlen(g->template_text));
	sonde_buf_puts(out, "\n    example   ");
	sonde_term_text(out, g->example, strlen(g->example));
	sonde_buf_putc(out, '\n');
	if (g->error_type[0]) {
		sonde_buf_puts(out, "    type      ");
		sonde_term_text(out, g->error_type, strlen(g->error_type));
		sonde_buf_putc(out, '\n');
	}
	if (g->services_count) {
		sonde_buf_puts(out, "    services  ");
		for (size_t k = 0; k < g->services_count && k < 6; k++) {
			sonde_buf_puts(out, k ? ", " : "");
			sonde_term_text(out, g->services[k], strlen(g->services[k]));
		}
		if (g->services_count > 6)
			sonde_buf_printf(out, " and %zu more", g->services_count - 6);
		sonde_buf_putc(out, '\n');
	}
	sonde_buf_puts(out, "    rate      ");
	series_text(out, &g->series, o);
	dim_text(out, &g->dims[SONDE_ERRDIM_USER], "users", o);
	dim_text(out, &g->dims[SONDE_ERRDIM_ENDPOINT], "endpoints", o);
	dim_text(out, &g->dims[SONDE_ERRDIM_HOST], "hosts", o);
	if (g->common_count) {
		sonde_buf_printf(out, "    frames    %s, in at least half of %zu trace%s, innermost first:\n",
		                 sonde_stack_lang_name(g->trace_lang), g->traces, g->traces == 1 ? "" : "s");
		for (size_t k = 0; k < g->common_count && k < 8; k++) {
			sonde_buf_puts(out, "              ");
			frame_text(out, &g->common_frames[k]);
			sonde_buf_putc(out, '\n');
		}
		if (g->common_count > 8)
			sonde_buf_printf(out, "              ... %zu more\n", g->common_count - 8);
	}
	sonde_buf_printf(out, "    why       %s\n", sonde_error_category_hypothesis(g->category));
	sonde_buf_printf(out, "    next      %s\n", sonde_error_category_checks(g->category));
	if (g->rule) {
		sonde_buf_printf(out, "    %srule      %s: %s ", sonde_term_sgr(o, SONDE_SGR_DIM),
		                 g->rule->origin, field_name(g->rule->field));
		if (g->rule->key)
			sonde_buf_printf(out, "%s=", g->rule->key);
		sonde_term_text(out, g->rule->pattern, strlen(g->rule->pattern));
		sonde_buf_printf(out, "%s\n", sonde_term_sgr(o, SONDE_SGR_RESET));
	}
}

int sonde_render_errors_text(const sonde_errors_result *r, size_t limit, uint64_t cascade_window_ns,
                             const sonde_term_opts *o, sonde_buf *out)
{
	if (!r->total) {
		sonde_buf_puts(out,
		               "no errors in the window (log records of severity ERROR or worse, spans with "
		               "status ERROR)\n");
		return out->oom ? -ENOMEM : 0;
	}
	sonde_buf_printf(
	        out, "%s%" PRIu64 " error%s%s (%" PRIu64 " log records, %" PRIu64 " spans) in %zu group%s, ",
	        sonde_term_sgr(o, SONDE_SGR_BOLD), r->total, r->total == 1 ? "" : "s",
	        sonde_term_sgr(o, SONDE_SGR_RESET), r->logs, r->spans, r->groups_count,
	        r->groups_count == 1 ? "" : "s");
	sonde_text_time(out, r->since_ns);
	sonde_buf_puts(out, " .. ");
	sonde_text_time(out, r->until_ns);
	sonde_buf_puts(out, "\nall groups  ");
	series_text(out, &r->overall, o);
	size_t shown = limit && limit < r->groups_count ? limit : r->groups_count;
	for (size_t i = 0; i < shown; i++)
		group_text(out, i, &r->groups[i], o);
	if (shown < r->groups_count)
		sonde_buf_printf(out, "\n... %zu more group%s (--limit)\n", r->groups_count - shown,
		                 r->groups_count - shown == 1 ? "" : "s");
	if (r->clusters_count) {
		sonde_buf_printf(out,
		                 "\n%sCascades%s (errors of several services whose onsets follow within ",
		                 sonde_term_sgr(o, SONDE_SGR_BOLD), sonde_term_sgr(o, SONDE_SGR_RESET));
		sonde_term_duration(out, cascade_window_ns);
		sonde_buf_puts(out, " of each other, earliest first)\n");
	}
	for (size_t c = 0; c < r->clusters_count; c++) {
		const sonde_error_cluster *cl = &r->clusters[c];
		sonde_buf_puts(out, "\n  ");
		sonde_text_time(out, cl->start_ns);
		sonde_buf_puts(out, " .. ");
		sonde_text_time(out, cl->end_ns);
		sonde_buf_printf(out, "  began in %s%s%s ", sonde_term_sgr(o, SONDE_SGR_RED),
		                 cl->origin_service, sonde_term_sgr(o, SONDE_SGR_RESET));
		if (cl->origin_by_traces)
			sonde_buf_printf(out, "(first error in %" PRIu64 " trace%s linking its services)\n",
			                 cl->linked_traces, cl->linked_traces == 1 ? "" : "s");
		else
			sonde_buf_puts(out, "(earliest onset; no trace links its services)\n");
		sonde_buf_puts(out, "    services  ");
		for (size_t k = 0; k < cl->services_count; k++) {
			sonde_buf_puts(out, k ? " -> " : "");
			sonde_term_text(out, cl->services[k], strlen(cl->services[k]));
		}
		sonde_buf_putc(out, '\n');
		for (size_t k = 0; k < cl->groups_count; k++) {
			const sonde_error_group *g = &r->groups[cl->groups[k]];
			sonde_buf_printf(out, "    #%-4zu ", cl->groups[k] + 1);
			sonde_text_time(out, g->onset_ns);
			sonde_buf_puts(out, "  ");
			if (g->services_count)
				sonde_term_text(out, g->services[0], strlen(g->services[0]));
			sonde_buf_puts(out, ": ");
			sonde_term_text(out, g->template_text, strlen(g->template_text));
			sonde_buf_putc(out, '\n');
		}
	}
	return out->oom ? -ENOMEM : 0;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void jstr(sonde_json_writer *w, const char *k, const char *v)
{
	sonde_json_key_cstr(w, k);
	sonde_json_str(w, v, strlen(v));
}

static void jnum(sonde_json_writer *w, const char *k, uint64_t v)
{
	sonde_json_key_cstr(w, k);
	sonde_json_u64(w, v);
}

static void series_json(sonde_json_writer *w, const sonde_error_series *s)
{
	sonde_json_obj_begin(w);
	jnum(w, "start_ns", s->start_ns);
	jnum(w, "bucket_ns", s->bucket_ns);
	sonde_json_key_cstr(w, "mean");
	sonde_json_f64(w, s->mean);
	sonde_json_key_cstr(w, "counts");
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < s->count; i++)
		sonde_json_u64(w, s->counts[i]);
	sonde_json_arr_end(w);
	sonde_json_key_cstr(w, "spikes");
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < s->spikes_count; i++) {
		sonde_json_obj_begin(w);
		jnum(w, "onset_ns", s->spikes[i].onset_ns);
		jnum(w, "end_ns", s->spikes[i].end_ns);
		jnum(w, "peak", s->spikes[i].peak);
		sonde_json_obj_end(w);
	}
	sonde_json_arr_end(w);
	sonde_json_key_cstr(w, "period_ns");
	if (s->period_ns)
		sonde_json_u64(w, s->period_ns);
	else
		sonde_json_null(w);
	sonde_json_key_cstr(w, "period_acf");
	if (s->period_ns)
		sonde_json_f64(w, s->period_acf);
	else
		sonde_json_null(w);
	sonde_json_obj_end(w);
}

static void dim_json(sonde_json_writer *w, const char *k, const sonde_error_dim *d)
{
	sonde_json_key_cstr(w, k);
	sonde_json_obj_begin(w);
	jnum(w, "with_value", d->with_value);
	jnum(w, "distinct", d->distinct);
	sonde_json_key_cstr(w, "concentrated");
	sonde_json_bool(w, d->concentrated);
	sonde_json_key_cstr(w, "top_share");
	sonde_json_f64(w, d->top_count ? d->top_share : 0);
	sonde_json_key_cstr(w, "top");
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < d->top_count; i++) {
		sonde_json_obj_begin(w);
		jstr(w, "value", d->top[i].value);
		jnum(w, "count", d->top[i].count);
		sonde_json_obj_end(w);
	}
	sonde_json_arr_end(w);
	sonde_json_obj_end(w);
}

static void strs_json(sonde_json_writer *w, const char *k, const char *const *v, size_t n)
{
	sonde_json_key_cstr(w, k);
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		sonde_json_str(w, v[i], strlen(v[i]));
	sonde_json_arr_end(w);
}

static void group_json(sonde_json_writer *w, const sonde_error_group *g)
{
	char hex[17];
	snprintf(hex, sizeof(hex), "%016" PRIx64, g->template_id);
	sonde_json_obj_begin(w);
	jstr(w, "template_id", hex);
	jstr(w, "template", g->template_text);
	jstr(w, "example", g->example);
	jstr(w, "error_type", g->error_type);
	jnum(w, "count", g->count);
	jnum(w, "logs", g->logs);
	jnum(w, "spans", g->spans);
	jnum(w, "first_ns", g->first_ns);
	jnum(w, "last_ns", g->last_ns);
	jnum(w, "onset_ns", g->onset_ns);
	strs_json(w, "services", g->services, g->services_count);
	jstr(w, "category", sonde_error_category_name(g->category));
	sonde_json_key_cstr(w, "rule");
	if (g->rule) {
		sonde_json_obj_begin(w);
		jstr(w, "origin", g->rule->origin);
		jstr(w, "field", field_name(g->rule->field));
		if (g->rule->key)
			jstr(w, "key", g->rule->key);
		jstr(w, "pattern", g->rule->pattern);
		sonde_json_obj_end(w);
	} else {
		sonde_json_null(w);
	}
	jstr(w, "hypothesis", sonde_error_category_hypothesis(g->category));
	jstr(w, "checks", sonde_error_category_checks(g->category));
	dim_json(w, "users", &g->dims[SONDE_ERRDIM_USER]);
	dim_json(w, "endpoints", &g->dims[SONDE_ERRDIM_ENDPOINT]);
	dim_json(w, "hosts", &g->dims[SONDE_ERRDIM_HOST]);
	sonde_json_key_cstr(w, "series");
	series_json(w, &g->series);
	sonde_json_key_cstr(w, "stack");
	sonde_json_obj_begin(w);
	jnum(w, "traces", g->traces);
	jstr(w, "language", sonde_stack_lang_name(g->trace_lang));
	sonde_json_key_cstr(w, "common_frames");
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < g->common_count; i++) {
		sonde_json_obj_begin(w);
		jstr(w, "function", g->common_frames[i].function);
		jstr(w, "file", g->common_frames[i].file);
		jnum(w, "line", g->common_frames[i].line);
		sonde_json_obj_end(w);
	}
	sonde_json_arr_end(w);
	sonde_json_obj_end(w);
	sonde_json_obj_end(w);
}

int sonde_render_errors_json(const sonde_errors_result *r, size_t limit, uint64_t cascade_window_ns,
                             sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 0);
	sonde_json_obj_begin(&w);
	jnum(&w, "since_ns", r->since_ns);
	jnum(&w, "until_ns", r->until_ns);
	jnum(&w, "total", r->total);
	jnum(&w, "logs", r->logs);
	jnum(&w, "spans", r->spans);
	jnum(&w, "groups_count", r->groups_count);
	sonde_json_key_cstr(&w, "overall");
	series_json(&w, &r->overall);
	size_t shown = limit && limit < r->groups_count ? limit : r->groups_count;
	sonde_json_key_cstr(&w, "groups");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < shown; i++)
		group_json(&w, &r->groups[i]);
	sonde_json_arr_end(&w);
	jnum(&w, "cascade_window_ns", cascade_window_ns);
	sonde_json_key_cstr(&w, "cascades");
	sonde_json_arr_begin(&w);
	for (size_t c = 0; c < r->clusters_count; c++) {
		const sonde_error_cluster *cl = &r->clusters[c];
		sonde_json_obj_begin(&w);
		jnum(&w, "start_ns", cl->start_ns);
		jnum(&w, "end_ns", cl->end_ns);
		jstr(&w, "origin_service", cl->origin_service);
		jstr(&w, "origin_by", cl->origin_by_traces ? "traces" : "time");
		jnum(&w, "linked_traces", cl->linked_traces);
		strs_json(&w, "services", cl->services, cl->services_count);
		sonde_json_key_cstr(&w, "groups");
		sonde_json_arr_begin(&w);
		for (size_t k = 0; k < cl->groups_count; k++) {
			const sonde_error_group *g = &r->groups[cl->groups[k]];
			sonde_json_obj_begin(&w);
			jnum(&w, "index", cl->groups[k]); /* into groups (when not cut by --limit) */
			jstr(&w, "template", g->template_text);
			jstr(&w, "service", g->services_count ? g->services[0] : "");
			jnum(&w, "onset_ns", g->onset_ns);
			sonde_json_obj_end(&w);
		}
		sonde_json_arr_end(&w);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
	return out->oom ? -ENOMEM : 0;
}
