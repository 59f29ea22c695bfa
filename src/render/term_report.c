/*
 * term_report.c - text and JSON for the investigation verbs (see term_report.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "json.h"
#include "keymap.h"
#include "term_report.h"
#include "text_write.h"

/* ---- Small helpers ------------------------------------------------------------------- */

static void put_hex(sonde_buf *out, const uint8_t *id, size_t n)
{
	char hex[32];
	sonde_hex_encode(hex, id, n);
	sonde_buf_append(out, hex, 2 * n);
}

static void json_hex(sonde_json_writer *w, const char *key, const uint8_t *id, size_t n)
{
	char hex[32];
	sonde_hex_encode(hex, id, n);
	sonde_json_key_cstr(w, key);
	if (sonde_id_is_zero(id, n))
		sonde_json_null(w);
	else
		sonde_json_str(w, hex, 2 * n);
}

static void json_kstr(sonde_json_writer *w, const char *key, const char *s, size_t n)
{
	sonde_json_key_cstr(w, key);
	sonde_json_str(w, s, n);
}

static void json_ku64(sonde_json_writer *w, const char *key, uint64_t v)
{
	sonde_json_key_cstr(w, key);
	sonde_json_u64(w, v);
}

static void json_kf64(sonde_json_writer *w, const char *key, double v)
{
	sonde_json_key_cstr(w, key);
	sonde_json_f64(w, v);
}

/* A cell holding a duration. */
static void cell_dur(sonde_table *t, uint64_t ns)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_term_duration(&b, ns);
	sonde_table_cell(t, "%s", b.len ? b.data : "");
	sonde_buf_release(&b);
}

static void cell_time(sonde_table *t, uint64_t ns)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_text_time(&b, ns);
	sonde_table_cell(t, "%s", b.len ? b.data : "");
	sonde_buf_release(&b);
}

static int finish_table(sonde_table *t, const sonde_term_opts *o, sonde_buf *out)
{
	int rc = sonde_table_render(t, o, out);
	sonde_table_release(t);
	return rc;
}

static void heading(sonde_buf *out, const sonde_term_opts *o, const char *title)
{
	sonde_buf_printf(out, "\n%s%s%s\n", sonde_term_sgr(o, SONDE_SGR_BOLD), title,
	                 sonde_term_sgr(o, SONDE_SGR_RESET));
}

static const char *kind_name(sonde_span_kind k)
{
	switch (k) {
	case SONDE_SPAN_KIND_INTERNAL: return "internal";
	case SONDE_SPAN_KIND_SERVER: return "server";
	case SONDE_SPAN_KIND_CLIENT: return "client";
	case SONDE_SPAN_KIND_PRODUCER: return "producer";
	case SONDE_SPAN_KIND_CONSUMER: return "consumer";
	default: return "unspecified";
	}
}

static const char *status_name(sonde_status_code c)
{
	return c == SONDE_STATUS_ERROR ? "error" : c == SONDE_STATUS_OK ? "ok" : "unset";
}

static const char *rel_name(uint8_t rel)
{
	return rel == SONDE_REL_CHILD_OF ? "child_of" : rel == SONDE_REL_FOLLOWS ? "follows_from" : "root";
}

static sonde_str attr_str(const sonde_attrs *a, const char *key)
{
	const sonde_value *v = a ? sonde_attrs_get(a, key) : NULL;
	if (v && v->kind == SONDE_VAL_STRING)
		return v->u.str;
	return SONDE_STR_LIT("");
}

/* ---- Traces list ------------------------------------------------------------------ */

int sonde_render_traces_text(const sonde_trace_list *l, const sonde_term_opts *o, sonde_buf *out)
{
	static const char *const h[] = {"TRACE", "START", "DURATION", "SPANS", "ERR", "ROOT", "SERVICES"};
	sonde_table t;
	sonde_table_init(&t, 7, h, "llrrrll");
	sonde_buf tmp = SONDE_BUF_INIT;
	for (size_t i = 0; i < l->count; i++) {
		const sonde_trace_summary *s = &l->items[i];
		sonde_buf_reset(&tmp);
		put_hex(&tmp, s->trace_id, 16);
		sonde_table_cell(&t, "%s", tmp.data);
		cell_time(&t, s->start_ns);
		cell_dur(&t, s->duration_ns);
		sonde_table_cell(&t, "%" PRIu32, s->span_count);
		if (s->error_count)
			sonde_table_cell(&t, "%s%" PRIu32 "%s", sonde_term_sgr(o, SONDE_SGR_RED),
			                 s->error_count, sonde_term_sgr(o, SONDE_SGR_RESET));
		else
			sonde_table_cell(&t, "-");
		sonde_buf_reset(&tmp);
		sonde_term_text(&tmp, s->root_service, strlen(s->root_service));
		sonde_buf_puts(&tmp, ": ");
		sonde_term_text(&tmp, s->root_operation, strlen(s->root_operation));
		if (!s->has_root)
			sonde_buf_puts(&tmp, " (no root)");
		sonde_table_cell(&t, "%s", tmp.data);
		sonde_buf_reset(&tmp);
		for (size_t k = 0; k < s->services_count; k++) {
			if (k)
				sonde_buf_puts(&tmp, ",");
			sonde_term_text(&tmp, s->services[k], strlen(s->services[k]));
		}
		sonde_table_cell(&t, "%s", tmp.len ? tmp.data : "");
	}
	sonde_buf_release(&tmp);
	int rc = finish_table(&t, o, out);
	if (rc == 0 && l->count == 0)
		sonde_buf_puts(out, "(no traces match)\n");
	return rc ? rc : out->oom ? -ENOMEM : 0;
}

int sonde_render_traces_json(const sonde_trace_list *l, sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 0);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "traces");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < l->count; i++) {
		const sonde_trace_summary *s = &l->items[i];
		sonde_json_obj_begin(&w);
		json_hex(&w, "trace_id", s->trace_id, 16);
		json_ku64(&w, "start_ns", s->start_ns);
		json_ku64(&w, "duration_ns", s->duration_ns);
		json_ku64(&w, "span_count", s->span_count);
		json_ku64(&w, "error_count", s->error_count);
		sonde_json_key_cstr(&w, "has_root");
		sonde_json_bool(&w, s->has_root);
		json_kstr(&w, "root_service", s->root_service, strlen(s->root_service));
		json_kstr(&w, "root_operation", s->root_operation, strlen(s->root_operation));
		sonde_json_key_cstr(&w, "services");
		sonde_json_arr_begin(&w);
		for (size_t k = 0; k < s->services_count; k++)
			sonde_json_str(&w, s->services[k], strlen(s->services[k]));
		sonde_json_arr_end(&w);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
	return out->oom ? -ENOMEM : 0;
}

/* ---- One trace -------------------------------------------------------------------- */

static void span_label(sonde_buf *b, const sonde_tnode *nd)
{
	sonde_term_text(b, nd->span->name.ptr, nd->span->name.len);
	sonde_buf_puts(b, " (");
	sonde_term_text(b, nd->service.ptr, nd->service.len);
	sonde_buf_puts(b, ", ");
	put_hex(b, nd->span->span_id, 8);
	sonde_buf_puts(b, ")");
}

/* Body of a log record as one line of text. */
static void log_body(sonde_buf *b, const sonde_log_data *l)
{
	sonde_buf tmp = SONDE_BUF_INIT;
	sonde_text_value(&tmp, &l->body);
	sonde_term_text(b, tmp.len ? tmp.data : "", tmp.len);
	sonde_buf_release(&tmp);
}

static void point_value(sonde_buf *b, const sonde_metric_data *m, const sonde_point *p)
{
	char tmp[32];
	switch (m->type) {
	case SONDE_METRIC_GAUGE:
	case SONDE_METRIC_SUM:
		if (p->u.number.kind == SONDE_NUM_INT)
			sonde_buf_printf(b, "%" PRId64, p->u.number.v.i);
		else
			sonde_buf_append(b, tmp, sonde_fmt_double(tmp, p->u.number.v.d));
		break;
	case SONDE_METRIC_HISTOGRAM:
		sonde_buf_printf(b, "count %" PRIu64 " sum ", p->u.hist.count);
		sonde_buf_append(b, tmp, sonde_fmt_double(tmp, p->u.hist.sum));
		break;
	case SONDE_METRIC_EXP_HISTOGRAM:
		sonde_buf_printf(b, "count %" PRIu64 " sum ", p->u.exp.count);
		sonde_buf_append(b, tmp, sonde_fmt_double(tmp, p->u.exp.sum));
		break;
	case SONDE_METRIC_SUMMARY:
		sonde_buf_printf(b, "count %" PRIu64 " sum ", p->u.summary.count);
		sonde_buf_append(b, tmp, sonde_fmt_double(tmp, p->u.summary.sum));
		break;
	default: sonde_buf_puts(b, "-"); break;
	}
}

static sonde_str resource_service(const sonde_resource *r)
{
	return r ? attr_str(&r->attrs, "service.name") : SONDE_STR_LIT("");
}

int sonde_render_trace_text(const sonde_trace_report *r, const sonde_term_opts *o, size_t max_rows,
                            sonde_buf *out)
{
	const sonde_trace_tree *t = r->tree;
	sonde_buf tmp = SONDE_BUF_INIT;
	int rc = 0;
	if (t->count == 0)
		return 0;
	sonde_keymap seen;
	sonde_keymap_init(&seen);
	for (uint32_t i = 0; i < t->count; i++) {
		uint32_t v;
		if (sonde_keymap_upsert(&seen, t->nodes[i].service.ptr, t->nodes[i].service.len, 0, &v,
		                        NULL) < 0)
			rc = -ENOMEM;
	}
	size_t nservices = seen.count;
	sonde_keymap_release(&seen);
	if (rc < 0)
		goto out;
	sonde_buf_printf(out, "%strace ", sonde_term_sgr(o, SONDE_SGR_BOLD));
	put_hex(out, t->nodes[0].span->trace_id, 16);
	sonde_buf_printf(out, "%s  %zu span%s, %zu service%s, ", sonde_term_sgr(o, SONDE_SGR_RESET), t->count,
	                 t->count == 1 ? "" : "s", nservices, nservices == 1 ? "" : "s");
	sonde_buf_printf(out, "%zu failed, ", r->errors_count);
	sonde_term_duration(out, t->end_ns - t->start_ns);
	sonde_buf_puts(out, ", started ");
	sonde_text_time(out, t->start_ns);
	sonde_buf_putc(out, '\n');
	if (t->roots_count > 1)
		sonde_buf_printf(out,
		                 "%zu roots (spans whose parent is not in the store are shown as roots)\n",
		                 t->roots_count);
	if (t->cycles_broken || t->dup_ids)
		sonde_buf_printf(out,
		                 "note: %u parent links formed cycles and were cut; %u span ids repeat\n",
		                 t->cycles_broken, t->dup_ids);
	sonde_buf_putc(out, '\n');
	if ((rc = sonde_term_waterfall(t, o, max_rows, out)) < 0)
		goto out;
	sonde_buf_printf(
	        out,
	        "(%s\xe2\x96\x88%s critical path, \xe2\x94\x80 rest of the span, ! error, ~ follows from "
	        "its parent)\n",
	        sonde_term_sgr(o, SONDE_SGR_RED), sonde_term_sgr(o, SONDE_SGR_RESET));

	heading(out, o, "Critical path");
	sonde_buf_printf(out, "%zu segments, ", t->cp_count);
	sonde_term_duration(out, t->cp_total_ns);
	sonde_buf_puts(out, " in all (every segment is in --json)\n");
	{
		static const char *const h[] = {"SERVICE", "ON PATH", "SHARE"};
		sonde_table tb;
		sonde_table_init(&tb, 3, h, "lrr");
		for (size_t i = 0; i < r->services_count; i++) {
			sonde_table_cell_text(&tb, r->services[i].service.ptr, r->services[i].service.len);
			cell_dur(&tb, r->services[i].cp_ns);
			sonde_table_cell(&tb, "%.1f%%", 100 * r->services[i].share);
		}
		if ((rc = finish_table(&tb, o, out)) < 0)
			goto out;
	}
	{
		sonde_buf_putc(out, '\n');
		static const char *const h[] = {"OPERATION", "SERVICE", "ON PATH", "SHARE", "SPANS"};
		sonde_table tb;
		sonde_table_init(&tb, 5, h, "llrrr");
		for (size_t i = 0; i < r->operations_count && i < 10; i++) {
			const sonde_cp_share *s = &r->operations[i];
			sonde_table_cell_text(&tb, s->operation.ptr, s->operation.len);
			sonde_table_cell_text(&tb, s->service.ptr, s->service.len);
			cell_dur(&tb, s->cp_ns);
			sonde_table_cell(&tb, "%.1f%%", 100 * s->share);
			sonde_table_cell(&tb, "%" PRIu32, s->spans);
		}
		if ((rc = finish_table(&tb, o, out)) < 0)
			goto out;
		if (r->operations_count > 10)
			sonde_buf_printf(out, "... and %zu more operations\n", r->operations_count - 10);
	}

	heading(out, o, "Slowest");
	if (r->slowest != SONDE_TNODE_NONE) {
		const sonde_tnode *nd = &t->nodes[r->slowest];
		sonde_buf_puts(out, "longest span:      ");
		span_label(out, nd);
		sonde_buf_puts(out, "  ");
		sonde_term_duration(out, nd->end_ns - nd->start_ns);
		sonde_buf_putc(out, '\n');
		nd = &t->nodes[r->slowest_self];
		sonde_buf_puts(out, "largest self time: ");
		span_label(out, nd);
		sonde_buf_puts(out, "  ");
		sonde_term_duration(out, nd->self_ns);
		sonde_buf_puts(out, " self of ");
		sonde_term_duration(out, nd->end_ns - nd->start_ns);
		sonde_buf_putc(out, '\n');
	}

	heading(out, o, "Errors");
	if (r->errors_count == 0) {
		sonde_buf_puts(out, "none\n");
	} else {
		static const char *const h[] = {"SPAN", "SERVICE", "STATUS", "EXCEPTION"};
		sonde_table tb;
		sonde_table_init(&tb, 4, h, "llll");
		for (size_t i = 0; i < r->errors_count; i++) {
			const sonde_tnode *nd = &t->nodes[r->errors[i]];
			sonde_buf_reset(&tmp);
			sonde_term_text(&tmp, nd->span->name.ptr, nd->span->name.len);
			sonde_buf_puts(&tmp, " ");
			put_hex(&tmp, nd->span->span_id, 8);
			sonde_table_cell(&tb, "%s", tmp.data);
			sonde_table_cell_text(&tb, nd->service.ptr, nd->service.len);
			sonde_table_cell_text(
			        &tb, nd->span->status_message.len ? nd->span->status_message.ptr : "error",
			        nd->span->status_message.len ? nd->span->status_message.len : 5);
			const sonde_span_event *ex = sonde_span_exception(nd->span);
			sonde_buf_reset(&tmp);
			if (ex) {
				sonde_str ty = attr_str(&ex->attrs, "exception.type"),
				          msg = attr_str(&ex->attrs, "exception.message");
				sonde_term_text(&tmp, ty.ptr, ty.len);
				if (ty.len && msg.len)
					sonde_buf_puts(&tmp, ": ");
				sonde_term_text(&tmp, msg.ptr, msg.len);
			}
			sonde_table_cell(&tb, "%s", tmp.len ? tmp.data : "-");
		}
		if ((rc = finish_table(&tb, o, out)) < 0)
			goto out;
	}

	heading(out, o, "Repeated calls (N+1)");
	if (r->nplus1_count == 0) {
		sonde_buf_puts(out, "none\n");
	} else {
		static const char *const h[] = {"CALLS", "TOTAL", "SERVICE", "CALL", "UNDER"};
		sonde_table tb;
		sonde_table_init(&tb, 5, h, "rrlll");
		for (size_t i = 0; i < r->nplus1_count; i++) {
			const sonde_nplus1 *np = &r->nplus1[i];
			sonde_table_cell(&tb, "%" PRIu32, np->count);
			cell_dur(&tb, np->total_ns);
			sonde_table_cell_text(&tb, np->service.ptr, np->service.len);
			if (np->statement)
				sonde_table_cell_text(&tb, np->statement, strlen(np->statement));
			else
				sonde_table_cell_text(&tb, np->operation.ptr, np->operation.len);
			sonde_buf_reset(&tmp);
			span_label(&tmp, &t->nodes[np->parent]);
			sonde_table_cell(&tb, "%s", tmp.data);
		}
		if ((rc = finish_table(&tb, o, out)) < 0)
			goto out;
	}

	const sonde_batch *b = r->batch;
	heading(out, o, "Logs");
	if (b->logs_count == 0) {
		sonde_buf_puts(out, "none\n");
	} else {
		static const char *const h[] = {"TIME", "LEVEL", "SERVICE", "SPAN", "MESSAGE"};
		sonde_table tb;
		sonde_table_init(&tb, 5, h, "lllll");
		for (size_t i = 0; i < b->logs_count; i++) {
			const sonde_log_data *l = &b->logs[i];
			cell_time(&tb, l->time_ns ? l->time_ns : l->observed_time_ns);
			if (l->severity_text.len)
				sonde_table_cell_text(&tb, l->severity_text.ptr, l->severity_text.len);
			else
				sonde_table_cell(&tb, "%" PRId32, l->severity_number);
			sonde_str sv = resource_service(l->resource);
			sonde_table_cell_text(&tb, sv.ptr, sv.len);
			sonde_buf_reset(&tmp);
			if (sonde_id_is_zero(l->span_id, 8))
				sonde_buf_puts(&tmp, "-");
			else
				put_hex(&tmp, l->span_id, 8);
			sonde_table_cell(&tb, "%s", tmp.data);
			sonde_buf_reset(&tmp);
			log_body(&tmp, l);
			sonde_table_cell(&tb, "%s", tmp.len ? tmp.data : "");
		}
		if ((rc = finish_table(&tb, o, out)) < 0)
			goto out;
	}

	if (r->points) {
		heading(out, o, "Metrics of these services around the trace");
		size_t np = 0;
		static const char *const h[] = {"TIME", "SERVICE", "METRIC", "VALUE"};
		sonde_table tb;
		sonde_table_init(&tb, 4, h, "llll");
		for (size_t i = 0; i < r->points->metrics_count; i++) {
			const sonde_metric_data *m = &r->points->metrics[i];
			for (uint32_t k = 0; k < m->points_count; k++, np++) {
				const sonde_point *p = &m->points[k];
				cell_time(&tb, p->time_ns);
				sonde_str sv = resource_service(m->resource);
				sonde_table_cell_text(&tb, sv.ptr, sv.len);
				sonde_table_cell_text(&tb, m->name.ptr, m->name.len);
				sonde_buf_reset(&tmp);
				point_value(&tmp, m, p);
				sonde_table_cell(&tb, "%s", tmp.len ? tmp.data : "");
			}
		}
		if (np == 0) {
			sonde_table_release(&tb);
			sonde_buf_puts(out, "none\n");
		} else if ((rc = finish_table(&tb, o, out)) < 0) {
			goto out;
		}
	}
out:
	if (tmp.oom || out->oom)
		rc = -ENOMEM;
	sonde_buf_release(&tmp);
	return rc;
}

static void json_span_ref(sonde_json_writer *w, const char *key, const sonde_trace_tree *t, uint32_t i)
{
	sonde_json_key_cstr(w, key);
	if (i == SONDE_TNODE_NONE) {
		sonde_json_null(w);
		return;
	}
	const sonde_tnode *nd = &t->nodes[i];
	sonde_json_obj_begin(w);
	json_hex(w, "span_id", nd->span->span_id, 8);
	json_kstr(w, "name", nd->span->name.ptr, nd->span->name.len);
	json_kstr(w, "service", nd->service.ptr, nd->service.len);
	json_ku64(w, "duration_ns", nd->end_ns - nd->start_ns);
	json_ku64(w, "self_ns", nd->self_ns);
	sonde_json_obj_end(w);
}

static void json_shares(sonde_json_writer *w, const char *key, const sonde_cp_share *s, size_t n, bool ops)
{
	sonde_json_key_cstr(w, key);
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < n; i++) {
		sonde_json_obj_begin(w);
		json_kstr(w, "service", s[i].service.ptr, s[i].service.len);
		if (ops)
			json_kstr(w, "operation", s[i].operation.ptr, s[i].operation.len);
		json_ku64(w, "critical_ns", s[i].cp_ns);
		json_kf64(w, "share", s[i].share);
		json_ku64(w, "spans", s[i].spans);
		sonde_json_obj_end(w);
	}
	sonde_json_arr_end(w);
}

int sonde_render_trace_json(const sonde_trace_report *r, sonde_buf *out)
{
	const sonde_trace_tree *t = r->tree;
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 0);
	sonde_buf tmp = SONDE_BUF_INIT;
	sonde_json_obj_begin(&w);
	if (t->count)
		json_hex(&w, "trace_id", t->nodes[0].span->trace_id, 16);
	json_ku64(&w, "start_ns", t->start_ns);
	json_ku64(&w, "end_ns", t->end_ns);
	json_ku64(&w, "duration_ns", t->end_ns - t->start_ns);
	json_ku64(&w, "span_count", t->count);
	json_ku64(&w, "error_count", r->errors_count);
	sonde_json_key_cstr(&w, "roots");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < t->roots_count; i++) {
		char hex[16];
		sonde_hex_encode(hex, t->nodes[t->roots[i]].span->span_id, 8);
		sonde_json_str(&w, hex, 16);
	}
	sonde_json_arr_end(&w);

	sonde_json_key_cstr(&w, "spans");
	sonde_json_arr_begin(&w);
	for (size_t k = 0; k < t->count; k++) {
		const sonde_tnode *nd = &t->nodes[t->preorder[k]];
		const sonde_span_data *s = nd->span;
		sonde_json_obj_begin(&w);
		json_hex(&w, "span_id", s->span_id, 8);
		json_hex(&w, "parent_span_id", s->parent_span_id, 8);
		sonde_json_key_cstr(&w, "parent");
		if (nd->parent == SONDE_TNODE_NONE)
			sonde_json_null(&w);
		else {
			char hex[16];
			sonde_hex_encode(hex, t->nodes[nd->parent].span->span_id, 8);
			sonde_json_str(&w, hex, 16);
		}
		json_kstr(&w, "relation", rel_name(nd->rel), strlen(rel_name(nd->rel)));
		sonde_json_key_cstr(&w, "orphan");
		sonde_json_bool(&w, nd->orphan);
		json_ku64(&w, "depth", nd->depth);
		json_kstr(&w, "name", s->name.ptr, s->name.len);
		json_kstr(&w, "service", nd->service.ptr, nd->service.len);
		json_kstr(&w, "kind", kind_name(s->kind), strlen(kind_name(s->kind)));
		json_ku64(&w, "start_ns", nd->start_ns);
		json_ku64(&w, "end_ns", nd->end_ns);
		json_ku64(&w, "duration_ns", nd->end_ns - nd->start_ns);
		json_ku64(&w, "self_ns", nd->self_ns);
		json_ku64(&w, "critical_ns", nd->cp_ns);
		json_kstr(&w, "status", status_name(s->status_code), strlen(status_name(s->status_code)));
		if (s->status_message.len)
			json_kstr(&w, "status_message", s->status_message.ptr, s->status_message.len);
		const sonde_span_event *ex = sonde_span_exception(s);
		if (ex) {
			sonde_json_key_cstr(&w, "exception");
			sonde_json_obj_begin(&w);
			sonde_str ty = attr_str(&ex->attrs, "exception.type"),
			          msg = attr_str(&ex->attrs, "exception.message");
			json_kstr(&w, "type", ty.ptr, ty.len);
			json_kstr(&w, "message", msg.ptr, msg.len);
			json_ku64(&w, "time_ns", ex->time_ns);
			sonde_json_obj_end(&w);
		}
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);

	sonde_json_key_cstr(&w, "critical_path");
	sonde_json_obj_begin(&w);
	json_ku64(&w, "total_ns", t->cp_total_ns);
	sonde_json_key_cstr(&w, "segments");
	sonde_json_arr_begin(&w);
	for (size_t k = 0; k < t->cp_count; k++) {
		const sonde_cp_segment *sg = &t->cp[k];
		sonde_json_obj_begin(&w);
		json_hex(&w, "span_id", t->nodes[sg->node].span->span_id, 8);
		json_ku64(&w, "start_ns", sg->start_ns);
		json_ku64(&w, "end_ns", sg->end_ns);
		json_ku64(&w, "self_ns", sg->end_ns - sg->start_ns);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	json_shares(&w, "services", r->services, r->services_count, false);
	json_shares(&w, "operations", r->operations, r->operations_count, true);
	sonde_json_obj_end(&w);

	json_span_ref(&w, "slowest_span", t, r->slowest);
	json_span_ref(&w, "largest_self_time", t, r->slowest_self);

	sonde_json_key_cstr(&w, "errors");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->errors_count; i++) {
		char hex[16];
		sonde_hex_encode(hex, t->nodes[r->errors[i]].span->span_id, 8);
		sonde_json_str(&w, hex, 16);
	}
	sonde_json_arr_end(&w);

	sonde_json_key_cstr(&w, "nplus1");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->nplus1_count; i++) {
		const sonde_nplus1 *np = &r->nplus1[i];
		sonde_json_obj_begin(&w);
		json_hex(&w, "parent_span_id", t->nodes[np->parent].span->span_id, 8);
		json_kstr(&w, "service", np->service.ptr, np->service.len);
		json_kstr(&w, "operation", np->operation.ptr, np->operation.len);
		sonde_json_key_cstr(&w, "statement");
		if (np->statement)
			sonde_json_str(&w, np->statement, strlen(np->statement));
		else
			sonde_json_null(&w);
		json_ku64(&w, "count", np->count);
		json_ku64(&w, "total_ns", np->total_ns);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);

	const sonde_batch *b = r->batch;
	sonde_json_key_cstr(&w, "logs");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < b->logs_count; i++) {
		const sonde_log_data *l = &b->logs[i];
		sonde_json_obj_begin(&w);
		json_ku64(&w, "time_ns", l->time_ns ? l->time_ns : l->observed_time_ns);
		json_ku64(&w, "severity_number", (uint64_t)(l->severity_number > 0 ? l->severity_number : 0));
		json_kstr(&w, "severity_text", l->severity_text.ptr, l->severity_text.len);
		sonde_str sv = resource_service(l->resource);
		json_kstr(&w, "service", sv.ptr, sv.len);
		json_hex(&w, "span_id", l->span_id, 8);
		sonde_buf_reset(&tmp);
		sonde_text_value(&tmp, &l->body);
		json_kstr(&w, "body", tmp.len ? tmp.data : "", tmp.len);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);

	sonde_json_key_cstr(&w, "metrics");
	sonde_json_obj_begin(&w);
	json_ku64(&w, "since_ns", r->points_since_ns);
	json_ku64(&w, "until_ns", r->points_until_ns);
	sonde_json_key_cstr(&w, "points");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; r->points && i < r->points->metrics_count; i++) {
		const sonde_metric_data *m = &r->points->metrics[i];
		for (uint32_t k = 0; k < m->points_count; k++) {
			sonde_json_obj_begin(&w);
			json_kstr(&w, "metric", m->name.ptr, m->name.len);
			sonde_str sv = resource_service(m->resource);
			json_kstr(&w, "service", sv.ptr, sv.len);
			json_ku64(&w, "time_ns", m->points[k].time_ns);
			sonde_buf_reset(&tmp);
			point_value(&tmp, m, &m->points[k]);
			json_kstr(&w, "value", tmp.len ? tmp.data : "", tmp.len);
			sonde_json_obj_end(&w);
		}
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
	bool oom = tmp.oom;
	sonde_buf_release(&tmp);
	return out->oom || oom ? -ENOMEM : 0;
}

/* ---- Latency ------------------------------------------------------------------------- */

static double per_second(uint64_t count, uint64_t window_ns)
{
	return window_ns ? (double)count * 1e9 / (double)window_ns : 0;
}

static void latency_rows(sonde_table *tb, const sonde_latency_table *lt, bool two_keys, uint64_t window_ns,
                         bool downstream)
{
	sonde_buf tmp = SONDE_BUF_INIT;
	for (size_t i = 0; i < lt->count; i++) {
		const sonde_latency_row *r = &lt->rows[i];
		sonde_table_cell_text(tb, r->key[0] ? r->key : "(none)", r->key[0] ? strlen(r->key) : 6);
		if (two_keys)
			sonde_table_cell_text(tb, r->key2 ? r->key2 : "", r->key2 ? strlen(r->key2) : 0);
		sonde_table_cell(tb, "%" PRIu64, r->count);
		if (!downstream) {
			double ps = per_second(r->count, window_ns);
			if (ps >= 1 || ps == 0)
				sonde_table_cell(tb, "%.1f/s", ps);
			else if (ps * 60 >= 1)
				sonde_table_cell(tb, "%.1f/min", ps * 60);
			else
				sonde_table_cell(tb, "%.2g/h", ps * 3600);
		}
		sonde_table_cell(tb, "%.1f%%", r->count ? 100.0 * (double)r->errors / (double)r->count : 0.0);
		cell_dur(tb, (uint64_t)r->p50_ns);
		cell_dur(tb, (uint64_t)r->p95_ns);
		cell_dur(tb, (uint64_t)r->p99_ns);
		if (!downstream)
			cell_dur(tb, (uint64_t)r->p999_ns);
		cell_dur(tb, r->max_ns);
		sonde_buf_reset(&tmp);
		sonde_term_sparkline(&tmp, r->bins, SONDE_LATENCY_BINS);
		sonde_table_cell(tb, "%s%s", tmp.len ? tmp.data : "", r->exact ? "" : " ~");
	}
	sonde_buf_release(&tmp);
}

int sonde_render_latency_text(const sonde_latency_view *v, const sonde_term_opts *o, sonde_buf *out)
{
	int rc;
	{
		const char *first =
		        v->by_operation || strcmp(v->by_name, "service") == 0 ? "SERVICE" : v->by_name;
		const char *const h2[] = {first, "OPERATION", "COUNT", "RATE", "ERRORS",   "P50",
		                          "P95", "P99",       "P99.9", "MAX",  "HISTOGRAM"};
		const char *const h1[] = {first, "COUNT", "RATE",  "ERRORS", "P50",
		                          "P95", "P99",   "P99.9", "MAX",    "HISTOGRAM"};
		sonde_table tb;
		if (v->by_operation)
			sonde_table_init(&tb, 11, h2, "llrrrrrrrrl");
		else
			sonde_table_init(&tb, 10, h1, "lrrrrrrrrl");
		latency_rows(&tb, v->main, v->by_operation, v->window_ns, false);
		if ((rc = finish_table(&tb, o, out)) < 0)
			return rc;
		if (v->main->count == 0)
			sonde_buf_puts(out, "(no spans match)\n");
	}
	heading(out, o, "Operations holding the most time (sum of span durations)");
	{
		static const char *const h[] = {"SERVICE", "OPERATION", "TOTAL", "SHARE", "COUNT", "MEAN"};
		sonde_table tb;
		sonde_table_init(&tb, 6, h, "llrrrr");
		size_t top = v->top_ops ? v->top_ops : 10;
		for (size_t i = 0; i < v->ops->count && i < top; i++) {
			const sonde_latency_row *r = &v->ops->rows[i];
			sonde_table_cell_text(&tb, r->key, strlen(r->key));
			sonde_table_cell_text(&tb, r->key2 ? r->key2 : "", r->key2 ? strlen(r->key2) : 0);
			cell_dur(&tb, r->sum_ns);
			sonde_table_cell(&tb, "%.1f%%", 100 * r->share);
			sonde_table_cell(&tb, "%" PRIu64, r->count);
			cell_dur(&tb, r->count ? r->sum_ns / r->count : 0);
		}
		if ((rc = finish_table(&tb, o, out)) < 0)
			return rc;
	}
	if (v->downstream) {
		heading(out, o, "Downstream latency seen by each service (client spans)");
		static const char *const h[] = {"SERVICE", "CALLS", "COUNT", "ERRORS",   "P50",
		                                "P95",     "P99",   "MAX",   "HISTOGRAM"};
		sonde_table tb;
		sonde_table_init(&tb, 9, h, "llrrrrrrl");
		latency_rows(&tb, v->downstream, true, v->window_ns, true);
		if ((rc = finish_table(&tb, o, out)) < 0)
			return rc;
		if (v->downstream->count == 0)
			sonde_buf_puts(out, "(no client spans)\n");
	}
	sonde_buf_puts(out, "\n(~ after a histogram: quantiles from a sketch, within 1%; without: exact)\n");
	return out->oom ? -ENOMEM : 0;
}

static void json_latency_rows(sonde_json_writer *w, const char *key, const sonde_latency_table *lt,
                              const char *k1, const char *k2, uint64_t window_ns)
{
	sonde_json_key_cstr(w, key);
	sonde_json_arr_begin(w);
	for (size_t i = 0; i < lt->count; i++) {
		const sonde_latency_row *r = &lt->rows[i];
		sonde_json_obj_begin(w);
		json_kstr(w, k1, r->key, strlen(r->key));
		if (k2)
			json_kstr(w, k2, r->key2 ? r->key2 : "", r->key2 ? strlen(r->key2) : 0);
		json_ku64(w, "count", r->count);
		json_ku64(w, "errors", r->errors);
		json_kf64(w, "error_rate", r->count ? (double)r->errors / (double)r->count : 0);
		json_kf64(w, "per_second", per_second(r->count, window_ns));
		json_ku64(w, "sum_ns", r->sum_ns);
		json_kf64(w, "share", r->share);
		json_ku64(w, "min_ns", r->min_ns);
		json_kf64(w, "p50_ns", r->p50_ns);
		json_kf64(w, "p95_ns", r->p95_ns);
		json_kf64(w, "p99_ns", r->p99_ns);
		json_kf64(w, "p999_ns", r->p999_ns);
		json_ku64(w, "max_ns", r->max_ns);
		sonde_json_key_cstr(w, "exact");
		sonde_json_bool(w, r->exact);
		sonde_json_key_cstr(w, "histogram");
		sonde_json_arr_begin(w);
		for (size_t k = 0; k < SONDE_LATENCY_BINS; k++)
			sonde_json_u64(w, r->bins[k]);
		sonde_json_arr_end(w);
		sonde_json_obj_end(w);
	}
	sonde_json_arr_end(w);
}

int sonde_render_latency_json(const sonde_latency_view *v, sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 0);
	sonde_json_obj_begin(&w);
	json_kstr(&w, "by", v->by_name, strlen(v->by_name));
	json_ku64(&w, "window_ns", v->window_ns);
	json_latency_rows(&w, "groups", v->main, v->by_operation ? "service" : "key",
	                  v->by_operation ? "operation" : NULL, v->window_ns);
	json_latency_rows(&w, "operations", v->ops, "service", "operation", v->window_ns);
	if (v->downstream)
		json_latency_rows(&w, "downstream", v->downstream, "service", "calls", v->window_ns);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
	return out->oom ? -ENOMEM : 0;
}

/* ---- Database calls ----------------------------------------------------------------- */

int sonde_render_queries_text(const sonde_queries *q, size_t limit, const sonde_term_opts *o, sonde_buf *out)
{
	int rc;
	size_t n = limit && limit < q->count ? limit : q->count;
	sonde_buf_printf(out, "%" PRIu64 " database calls in %" PRIu64 " spans, %zu statements\n\n",
	                 q->db_spans, q->spans_seen, q->count);
	static const char *const h[] = {"COUNT", "TOTAL", "MEAN", "P95", "MAX",
	                                "ERR",   "SLOW",  "N+1",  "DB",  "STATEMENT"};
	sonde_table tb;
	sonde_table_init(&tb, 10, h, "rrrrrrrrll");
	for (size_t i = 0; i < n; i++) {
		const sonde_query_group *g = &q->groups[i];
		sonde_table_cell(&tb, "%" PRIu64, g->count);
		cell_dur(&tb, g->total_ns);
		cell_dur(&tb, (uint64_t)g->mean_ns);
		cell_dur(&tb, (uint64_t)g->p95_ns);
		cell_dur(&tb, g->max_ns);
		sonde_table_cell(&tb, "%" PRIu64, g->errors);
		sonde_table_cell(&tb, "%" PRIu64, g->slow);
		if (g->nplus1_parents)
			sonde_table_cell(&tb, "%s%" PRIu64 "x%" PRIu64 "%s",
			                 sonde_term_sgr(o, SONDE_SGR_YELLOW), g->nplus1_parents,
			                 g->nplus1_max, sonde_term_sgr(o, SONDE_SGR_RESET));
		else
			sonde_table_cell(&tb, "-");
		sonde_table_cell_text(&tb, g->system, strlen(g->system));
		sonde_table_cell_text(&tb, g->statement, strlen(g->statement));
	}
	if ((rc = finish_table(&tb, o, out)) < 0)
		return rc;
	if (n < q->count)
		sonde_buf_printf(out, "... and %zu more statements\n", q->count - n);
	sonde_buf_puts(out,
	               "(N+1: parents under which the statement ran repeatedly x the most runs under one)\n");
	heading(out, o, "Slow calls");
	if (q->slow_count == 0) {
		sonde_buf_puts(out, "none at or over the threshold ");
		sonde_term_duration(out, q->slow_ns);
		sonde_buf_putc(out, '\n');
		return out->oom ? -ENOMEM : 0;
	}
	static const char *const hs[] = {"DURATION", "START", "TRACE", "SPAN", "STATEMENT"};
	sonde_table ts;
	sonde_table_init(&ts, 5, hs, "rllll");
	sonde_buf tmp = SONDE_BUF_INIT;
	for (size_t i = 0; i < q->slow_count; i++) {
		const sonde_slow_call *c = &q->slow[i];
		cell_dur(&ts, c->duration_ns);
		cell_time(&ts, c->start_ns);
		sonde_buf_reset(&tmp);
		put_hex(&tmp, c->trace_id, 16);
		sonde_table_cell(&ts, "%s", tmp.data);
		sonde_buf_reset(&tmp);
		put_hex(&tmp, c->span_id, 8);
		sonde_table_cell(&ts, "%s", tmp.data);
		const char *st = q->groups[c->group].statement;
		sonde_table_cell_text(&ts, st, strlen(st));
	}
	sonde_buf_release(&tmp);
	return finish_table(&ts, o, out);
}

int sonde_render_queries_json(const sonde_queries *q, size_t limit, sonde_buf *out)
{
	size_t n = limit && limit < q->count ? limit : q->count;
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 0);
	sonde_json_obj_begin(&w);
	json_ku64(&w, "spans", q->spans_seen);
	json_ku64(&w, "db_spans", q->db_spans);
	json_ku64(&w, "slow_threshold_ns", q->slow_ns);
	json_ku64(&w, "nplus1_min", q->nplus1_min);
	sonde_json_key_cstr(&w, "statements");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < n; i++) {
		const sonde_query_group *g = &q->groups[i];
		sonde_json_obj_begin(&w);
		json_kstr(&w, "statement", g->statement, strlen(g->statement));
		json_kstr(&w, "db_system", g->system, strlen(g->system));
		json_kstr(&w, "service", g->service, strlen(g->service));
		json_ku64(&w, "count", g->count);
		json_ku64(&w, "errors", g->errors);
		json_ku64(&w, "total_ns", g->total_ns);
		json_kf64(&w, "mean_ns", g->mean_ns);
		json_kf64(&w, "p95_ns", g->p95_ns);
		json_ku64(&w, "max_ns", g->max_ns);
		json_ku64(&w, "slow", g->slow);
		json_ku64(&w, "nplus1_parents", g->nplus1_parents);
		json_ku64(&w, "nplus1_max", g->nplus1_max);
		json_hex(&w, "slowest_trace_id", g->slowest_trace, 16);
		json_hex(&w, "slowest_span_id", g->slowest_span, 8);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_key_cstr(&w, "slow");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < q->slow_count; i++) {
		const sonde_slow_call *c = &q->slow[i];
		sonde_json_obj_begin(&w);
		json_kstr(&w, "statement", q->groups[c->group].statement,
		          strlen(q->groups[c->group].statement));
		json_hex(&w, "trace_id", c->trace_id, 16);
		json_hex(&w, "span_id", c->span_id, 8);
		json_ku64(&w, "start_ns", c->start_ns);
		json_ku64(&w, "duration_ns", c->duration_ns);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(out, '\n');
	return out->oom ? -ENOMEM : 0;
}
