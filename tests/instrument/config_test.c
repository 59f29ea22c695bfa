/*
 * config_test.c - the configuration file (config.h): the example file parses without a
 * warning; bad files are refused with file:line: key: what; unknown keys are reported with
 * their line; ${VAR} substitution; anchors; and starting libsonde from a file - exporters
 * per signal, resource, sampler, views, the Prometheus pull reader, runtime metrics - with
 * the program's settings over the environment over the file, also through OTEL_CONFIG_FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config_internal.h"
#include "influx_read.h"
#include "otlp_json.h"
#include "sonde/config.h"
#include "sonde/export.h"
#include "sonde/log.h"
#include "sonde/metrics.h"
#include "sonde/runtime_metrics.h"
#include "sonde/trace.h"
#include "telemetry.h"

static char diag_log[16384];
static pthread_mutex_t diag_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_diag(void *ud, const char *msg)
{
	pthread_mutex_lock(&diag_mu);
	size_t n = strlen(diag_log);
	snprintf(diag_log + n, sizeof diag_log - n, "%s\n", msg);
	pthread_mutex_unlock(&diag_mu);
}

static int setup(void **state)
{
	diag_log[0] = '\0';
	sonde_set_diagnostics(on_diag, NULL);
	static const char *const vars[] = {"OTEL_SERVICE_NAME",
	                                   "OTEL_RESOURCE_ATTRIBUTES",
	                                   "OTEL_TRACES_SAMPLER",
	                                   "OTEL_CONFIG_FILE",
	                                   "OTEL_EXPERIMENTAL_CONFIG_FILE",
	                                   "OTEL_TRACES_EXPORTER",
	                                   "OTEL_METRICS_EXPORTER",
	                                   "OTEL_LOGS_EXPORTER",
	                                   "OTEL_EXPORTER_PROMETHEUS_HOST",
	                                   "OTEL_EXPORTER_PROMETHEUS_PORT",
	                                   "OTEL_EXPORTER_OTLP_ENDPOINT",
	                                   "CFG_T_VAR",
	                                   "CFG_T_RATIO"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	return 0;
}

static int parse(const char *text, sonde_config **c, char *err, size_t n)
{
	return sonde_config_parse(text, strlen(text), "t.yaml", c, err, n);
}

/* Parsing must fail with exactly this message. */
static void expect_error(const char *text, const char *want)
{
	sonde_config *c = NULL;
	char err[512];
	int rc = parse(text, &c, err, sizeof err);
	if (rc != -EINVAL)
		fail_msg("accepted (rc %d), expected: %s", rc, want);
	assert_null(c);
	if (strcmp(err, want) != 0)
		fail_msg("error \"%s\", expected \"%s\"", err, want);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* ---- Parsing ------------------------------------------------------------------------ */

static void test_example_file(void **state)
{
	char path[PATH_MAX], err[512];
	const char *src = getenv("SONDE_SRC");
	snprintf(path, sizeof path, "%s/examples/sonde.yaml", src && *src ? src : ".");
	sonde_config *c = NULL;
	int rc = sonde_config_load(path, &c, err, sizeof err);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(sonde_config_warnings(c), 0);
	assert_string_equal(diag_log, "");
	sonde_config_free(c);
	/* A file that is not there. */
	assert_int_equal(sonde_config_load("/nonexistent/sonde.yaml", &c, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/sonde.yaml: No such file"));
}

static void test_errors_name_line_and_key(void **state)
{
	expect_error("file_format: \"1.0\"\n"
	             "tracer_provider:\n"
	             "  sampler:\n"
	             "    alwayz_on:\n",
	             "t.yaml:4: tracer_provider.sampler: unknown sampler 'alwayz_on'");
	expect_error("tracer_provider: {}\n", "t.yaml:1: file_format: missing: the file must say its format "
	                                      "version, e.g. file_format: \"1.0\"");
	expect_error("file_format: \"2.0\"\n",
	             "t.yaml:1: file_format: unsupported version '2.0' (expected 0.x or 1.x)");
	expect_error("file_format: \"1.0\"\n"
	             "tracer_provider:\n"
	             "  processors:\n"
	             "    - batch:\n"
	             "        schedule_delay: soon\n"
	             "        exporter: {console: {}}\n",
	             "t.yaml:5: tracer_provider.processors[0].batch.schedule_delay: expected a whole number "
	             "from 0 "
	             "to 4294967295");
	expect_error("file_format: \"1.0\"\n"
	             "tracer_provider:\n"
	             "  sampler:\n"
	             "    trace_id_ratio_based:\n"
	             "      ratio: 1.5\n",
	             "t.yaml:5: tracer_provider.sampler.trace_id_ratio_based.ratio: expected a number from 0 "
	             "to 1");
	expect_error("file_format: \"1.0\"\n"
	             "meter_provider:\n"
	             "  readers:\n"
	             "    - periodic:\n"
	             "        exporter:\n"
	             "          kafka: {}\n",
	             "t.yaml:6: meter_provider.readers[0].periodic.exporter.kafka: unknown exporter 'kafka' "
	             "(expected "
	             "otlp_http, console, zipkin, otlp_file or influx)");
	expect_error("file_format: \"1.0\"\n"
	             "meter_provider:\n"
	             "  views:\n"
	             "    - selector: {instrument_name: x}\n"
	             "      stream:\n"
	             "        aggregation:\n"
	             "          explicit_bucket_histogram:\n"
	             "            boundaries: [1, 5, 2]\n",
	             "t.yaml:8: "
	             "meter_provider.views[0].stream.aggregation.explicit_bucket_histogram.boundaries[2]: "
	             "boundaries must ascend");
	expect_error("file_format: \"1.0\"\n"
	             "sonde:\n"
	             "  logs:\n"
	             "    level: loud\n",
	             "t.yaml:4: sonde.logs.level: unknown level 'loud' (expected trace, debug, info, warn, "
	             "error or "
	             "fatal)");
	/* YAML syntax errors and structure. */
	sonde_config *c = NULL;
	char err[512];
	assert_int_equal(
	        parse("file_format: \"1.0\"\ntracer_provider:\n  sampler: [unclosed\n", &c, err, sizeof err),
	        -EINVAL);
	assert_non_null(strstr(err, "t.yaml:"));
	assert_non_null(strstr(err, "YAML:"));
	expect_error("- a\n- b\n", "t.yaml:1: the configuration must be a mapping of keys");
	expect_error("file_format: \"1.0\"\nfile_format: \"1.0\"\n",
	             "t.yaml:2: key \"file_format\" given twice");
	expect_error("file_format: \"1.0\"\nresource: *nowhere\n",
	             "t.yaml:2: alias *nowhere names no anchor");
	expect_error("file_format: \"1.0\"\ntracer_provider: 3\n",
	             "t.yaml:2: tracer_provider: expected a mapping of keys");
	/* Too deep. */
	char deep[1024] = "file_format: \"1.0\"\nx: ";
	for (int i = 0; i < 100; i++)
		strcat(deep, "[");
	assert_int_equal(parse(deep, &c, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "nested deeper than 64 levels"));
}

static void test_unknown_keys_reported(void **state)
{
	sonde_config *c = NULL;
	char err[512];
	int rc = parse("file_format: \"1.0\"\n"
	               "tracer_provider:\n"
	               "  samplr:\n"
	               "    always_on:\n"
	               "  processors:\n"
	               "    - simple:\n"
	               "        exporter:\n"
	               "          console:\n"
	               "            colour: true\n"
	               "colour: blue\n",
	               &c, err, sizeof err);
	assert_int_equal(rc, 0);
	assert_int_equal(sonde_config_warnings(c), 3);
	assert_non_null(strstr(diag_log, "t.yaml:3: tracer_provider.samplr: unknown key, ignored\n"));
	assert_non_null(strstr(diag_log,
	                       "t.yaml:9: tracer_provider.processors[0].simple.exporter.console.colour: "
	                       "unknown key, ignored\n"));
	assert_non_null(strstr(diag_log, "t.yaml:10: colour: unknown key, ignored\n"));
	sonde_config_free(c);
}

static void test_env_substitution(void **state)
{
	sonde_arena a;
	sonde_arena_init(&a);
	char *out, err[200];
	size_t n;
	setenv("CFG_T_VAR", "value", 1);
#define SUBST(in, want)                                                                                  \
	do {                                                                                             \
		assert_int_equal(sonde__config_subst(in, strlen(in), &a, &out, &n, err, sizeof err), 0); \
		assert_string_equal(out, want);                                                          \
	} while (0)
	SUBST("${CFG_T_VAR}", "value");
	SUBST("x-${env:CFG_T_VAR}-y", "x-value-y");
	SUBST("${CFG_T_UNSET}", "");
	SUBST("${CFG_T_UNSET:-fallback}", "fallback");
	SUBST("${CFG_T_VAR:-fallback}", "value");
	SUBST("$${CFG_T_VAR}", "${CFG_T_VAR}");
	SUBST("cost: $5", "cost: $5");
	assert_int_equal(sonde__config_subst("${CFG_T_VAR", 11, &a, &out, &n, err, sizeof err), -EINVAL);
	assert_int_equal(sonde__config_subst("${1BAD}", 7, &a, &out, &n, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "bad environment reference \"${1BAD}\""));
	assert_int_equal(sonde__config_subst("${A B}", 6, &a, &out, &n, err, sizeof err), -EINVAL);
	sonde_arena_release(&a);
	/* In a file: values are substituted and then typed; keys are never substituted. */
	setenv("CFG_T_RATIO", "0.5", 1);
	sonde_config *c = NULL;
	assert_int_equal(parse("file_format: \"1.0\"\n"
	                       "tracer_provider:\n"
	                       "  sampler:\n"
	                       "    trace_id_ratio_based:\n"
	                       "      ratio: ${CFG_T_RATIO}\n"
	                       "${CFG_T_VAR}: 1\n",
	                       &c, err, sizeof err),
	                 0);
	assert_non_null(strstr(diag_log, "t.yaml:6: ${CFG_T_VAR}: unknown key, ignored"));
	sonde_config_free(c);
	setenv("CFG_T_RATIO", "lots", 1);
	expect_error(
	        "file_format: \"1.0\"\ntracer_provider:\n  sampler:\n    trace_id_ratio_based:\n      ratio: "
	        "${CFG_T_RATIO}\n",
	        "t.yaml:5: tracer_provider.sampler.trace_id_ratio_based.ratio: expected a number, not "
	        "\"lots\"");
	expect_error("file_format: \"1.0\"\nresource:\n  attributes:\n    - name: a\n      value: ${oops\n",
	             "t.yaml:5: unterminated ${ in \"${oops\"");
}

static void test_anchors(void **state)
{
	sonde_config *c = NULL;
	char err[512];
	/* An anchored exporter used by two readers. */
	assert_int_equal(parse("file_format: \"1.0\"\n"
	                       "exporters: &ex\n"
	                       "  console: {}\n"
	                       "meter_provider:\n"
	                       "  readers:\n"
	                       "    - periodic: {exporter: *ex}\n"
	                       "    - periodic: {exporter: *ex}\n",
	                       &c, err, sizeof err),
	                 0);
	assert_int_equal(sonde_config_warnings(c), 1); /* "exporters" itself is not a key */
	sonde_config_free(c);
	/* A "billion laughs" shape stays small: aliases share nodes. */
	char text[4096] = "file_format: \"1.0\"\na: &a [x, x, x, x, x, x, x, x, x, x]\n";
	for (char k = 'b'; k <= 'j'; k++) {
		char line[128];
		snprintf(line, sizeof line, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", k,
		         k, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1);
		strcat(text, line);
	}
	assert_int_equal(parse(text, &c, err, sizeof err), 0);
	sonde_config_free(c);
}

/* ---- Starting from a file --------------------------------------------------------------- */

static char tmpdir[256];

static const sonde_span_data *find_span(const sonde_batch *b, const char *name)
{
	for (size_t i = 0; i < b->spans_count; i++)
		if (strcmp(b->spans[i].name.ptr, name) == 0)
			return &b->spans[i];
	return NULL;
}

static const char *res_str(const sonde_resource *r, const char *key)
{
	const sonde_value *v = sonde_attrs_get(&r->attrs, key);
	return v && v->kind == SONDE_VAL_STRING ? v->u.str.ptr : NULL;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Starts from a file whose traces go to one OTLP file and metrics to an influx file; runs
 * a span and a counter; returns the spans file's batch. */
static sonde_batch *run(const char *spans, const char *metrics_lp, const sonde_trace_config *program,
                        bool via_env, char **lp_text)
{
	char yaml[4096], path[PATH_MAX + 32];
	snprintf(yaml, sizeof yaml,
	         "file_format: \"1.0\"\n"
	         "resource:\n"
	         "  attributes:\n"
	         "    - {name: service.name, value: from-file}\n"
	         "    - {name: team, value: file-team}\n"
	         "    - {name: tier, value: file-tier}\n"
	         "tracer_provider:\n"
	         "  processors:\n"
	         "    - simple:\n"
	         "        exporter:\n"
	         "          otlp_file/development:\n"
	         "            output_stream: file://%s\n"
	         "  sampler: {always_on: }\n"
	         "meter_provider:\n"
	         "  readers:\n"
	         "    - periodic:\n"
	         "        interval: 3600000\n"
	         "        exporter: {influx: {path: %s}}\n"
	         "  views:\n"
	         "    - selector: {instrument_name: cfg.latency}\n"
	         "      stream: {aggregation: {explicit_bucket_histogram: {boundaries: [1, 2, 3]}}}\n"
	         "sonde:\n"
	         "  metrics: {runtime: true}\n",
	         spans, metrics_lp);
	snprintf(path, sizeof path, "%s/c.yaml", tmpdir);
	write_file(path, yaml);
	if (via_env) {
		setenv("OTEL_CONFIG_FILE", path, 1);
		assert_int_equal(sonde_trace_init(program), 0);
		unsetenv("OTEL_CONFIG_FILE");
	} else {
		sonde_config *c;
		char err[512];
		if (sonde_config_load(path, &c, err, sizeof err) != 0)
			fail_msg("%s", err);
		int rc = sonde_config_start(c, program);
		sonde_config_free(c);
		if (rc != 0)
			fail_msg("start: %d; %s", rc, diag_log);
	}
	sonde_tracer *t = sonde_tracer_get("cfg.test", NULL, NULL);
	sonde_span *s = sonde_span_start(t, "configured-span");
	if (!sonde_span_is_recording(s))
		fail_msg("not recording; diagnostics: %s", diag_log);
	sonde_span_end(s);
	sonde_meter *m = sonde_meter_get("cfg.test", NULL, NULL);
	sonde_instrument_add(sonde_counter_new(m, "cfg.requests", NULL, NULL), 1, NULL, 0);
	sonde_instrument_record(sonde_histogram_new(m, "cfg.latency", "s", NULL, NULL, 0), 2.5, NULL, 0);
	assert_int_equal(sonde_trace_shutdown(10000), 0);
	size_t len = 0;
	char *text = slurp(spans, &len);
	assert_non_null(text);
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	if (sonde_otlp_jsonl_read(b, text, len, &err) != 0)
		fail_msg("spans file: %s", err.msg);
	/* The traces exporter got spans only: metrics went to the influx file. */
	assert_int_equal(b->metrics_count, 0);
	free(text);
	*lp_text = slurp(metrics_lp, &len);
	assert_non_null(*lp_text);
	unlink(spans);
	unlink(metrics_lp);
	unlink(path);
	return b;
}

static void test_start_from_file(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sonde-cfg-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	char spans[PATH_MAX], lp[PATH_MAX];
	snprintf(spans, sizeof spans, "%s/spans.jsonl", tmpdir);
	snprintf(lp, sizeof lp, "%s/metrics.lp", tmpdir);
	char *lines;

	/* The file alone. */
	sonde_batch *b = run(spans, lp, NULL, false, &lines);
	const sonde_span_data *s = find_span(b, "configured-span");
	assert_non_null(s);
	assert_string_equal(res_str(s->resource, "service.name"), "from-file");
	assert_string_equal(res_str(s->resource, "team"), "file-team");
	sonde_batch_free(b);
	/* The metrics: the counter, and the histogram with the view's boundaries. */
	assert_non_null(strstr(lines, "cfg.requests"));
	assert_non_null(strstr(lines, "le_1="));
	assert_non_null(strstr(lines, "le_3="));
	assert_null(strstr(lines, "le_5=")); /* not the default bounds */
	assert_null(strstr(lines, "configured-span"));
	free(lines);
	assert_true(sonde_runtime_metrics_enabled() & SONDE_RUNTIME_METRICS_PROCESS);

	/* The environment over the file. */
	setenv("OTEL_SERVICE_NAME", "from-env", 1);
	setenv("OTEL_RESOURCE_ATTRIBUTES", "team=env-team", 1);
	b = run(spans, lp, NULL, false, &lines);
	s = find_span(b, "configured-span");
	assert_string_equal(res_str(s->resource, "service.name"), "from-env");
	assert_string_equal(res_str(s->resource, "team"), "env-team");
	assert_string_equal(res_str(s->resource, "tier"), "file-tier");
	sonde_batch_free(b);
	free(lines);

	/* The program over both, through OTEL_CONFIG_FILE and sonde_trace_init. */
	sonde_trace_config prog = {.service_name = "from-code", .resource_attributes = "team=code-team"};
	b = run(spans, lp, &prog, true, &lines);
	s = find_span(b, "configured-span");
	assert_non_null(s);
	assert_string_equal(res_str(s->resource, "service.name"), "from-code");
	assert_string_equal(res_str(s->resource, "team"), "code-team");
	assert_string_equal(res_str(s->resource, "tier"), "file-tier");
	sonde_batch_free(b);
	free(lines);
	unsetenv("OTEL_SERVICE_NAME");
	unsetenv("OTEL_RESOURCE_ATTRIBUTES");
	rmdir(tmpdir);
}

static void test_bad_file_through_env(void **state)
{
	char path[] = "/tmp/sonde-cfg-bad-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "file_format: \"1.0\"\ntracer_provider:\n  sampler:\n    alwayz_on: {}\n");
	setenv("OTEL_CONFIG_FILE", path, 1);
	assert_int_equal(sonde_trace_init(NULL), -EINVAL);
	unsetenv("OTEL_CONFIG_FILE");
	char want[PATH_MAX + 128];
	snprintf(want, sizeof want, "%s:4: tracer_provider.sampler: unknown sampler 'alwayz_on'", path);
	assert_non_null(strstr(diag_log, want));
	unlink(path);
}

static void test_sampler_and_prometheus(void **state)
{
	sonde_config *c = NULL;
	char err[512];
	assert_int_equal(parse("file_format: \"0.3\"\n"
	                       "tracer_provider:\n"
	                       "  processors: [{simple: {exporter: {console: {}}}}]\n"
	                       "  sampler:\n"
	                       "    parent_based:\n"
	                       "      root: {always_off: }\n"
	                       "meter_provider:\n"
	                       "  readers:\n"
	                       "    - pull: {exporter: {prometheus: {host: localhost, port: 0}}}\n",
	                       &c, err, sizeof err),
	                 0);
	assert_int_equal(sonde_config_start(c, NULL), 0);
	sonde_config_free(c);
	sonde_span *s = sonde_span_start(sonde_tracer_get("cfg.sampler", NULL, NULL), "dropped");
	assert_false(sonde_span_is_recording(s));
	sonde_span_end(s);
	assert_true(sonde_metrics_prometheus_port() != 0);
	sonde_metrics_prometheus_stop();
	assert_int_equal(sonde_trace_shutdown(10000), 0);
}

/* ---- OTEL_{TRACES,METRICS,LOGS}_EXPORTER -------------------------------------------------- */

/* What one start wrote: the stderr of the console exporters, and the files. */
typedef struct signal_run {
	char *err, *spans, *lp, *logs, *prog;
} signal_run;

static char *slurp_or_empty(const char *path)
{
	size_t len;
	char *t = slurp(path, &len);
	return t ? t : strdup("");
}

static void signal_run_free(signal_run *r)
{
	free(r->err);
	free(r->spans);
	free(r->lp);
	free(r->logs);
	free(r->prog);
}

/* Starts from a file whose traces, metrics and logs each go to a file of their own (or,
 * with no file, from the environment alone), with program's settings over it; records a
 * span "sig-span", a counter "sig.requests" and a log "sig-log-body"; shuts down and
 * returns what every destination received. prog_file: an exporter the program gives. */
static signal_run signal_start(bool with_file, bool prog_file)
{
	char dir[] = "/tmp/sonde-cfg-sig-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char spans[64], lp[64], logs[64], prog[64], errp[64];
	snprintf(spans, sizeof spans, "%s/spans.jsonl", dir);
	snprintf(lp, sizeof lp, "%s/metrics.lp", dir);
	snprintf(logs, sizeof logs, "%s/logs.jsonl", dir);
	snprintf(prog, sizeof prog, "%s/prog.jsonl", dir);
	snprintf(errp, sizeof errp, "%s/stderr", dir);
	sonde_trace_config program = {0};
	if (prog_file) {
		program.exporters[0] = sonde_exporter_file_new(prog);
		assert_non_null(program.exporters[0]);
		program.exporters_count = 1;
	}
	/* The console exporters write to fd 2: catch it. */
	fflush(stderr);
	int saved = dup(2);
	int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	int rc;
	if (with_file) {
		char yaml[2048];
		snprintf(yaml, sizeof yaml,
		         "file_format: \"1.0\"\n"
		         "tracer_provider:\n"
		         "  processors: [{simple: {exporter: {otlp_file/development: {output_stream: "
		         "file://%s}}}}]\n"
		         "  sampler: {always_on: }\n"
		         "meter_provider:\n"
		         "  readers:\n"
		         "    - periodic: {interval: 3600000, exporter: {influx: {path: %s}}}\n"
		         "logger_provider:\n"
		         "  processors: [{simple: {exporter: {otlp_file/development: {output_stream: "
		         "file://%s}}}}]\n",
		         spans, lp, logs);
		sonde_config *c = NULL;
		char err[512];
		if (parse(yaml, &c, err, sizeof err) != 0)
			fail_msg("%s", err);
		rc = sonde_config_start(c, &program);
		sonde_config_free(c);
	} else {
		rc = sonde__config_init_from_env(NULL, &program);
	}
	if (rc == 0) {
		sonde_span *sp = sonde_span_start(sonde_tracer_get("cfg.sig", NULL, NULL), "sig-span");
		sonde_span_end(sp);
		sonde_meter *m = sonde_meter_get("cfg.sig", NULL, NULL);
		sonde_instrument_add(sonde_counter_new(m, "sig.requests", NULL, NULL), 3, NULL, 0);
		sonde_log(SONDE_LOG_WARN, "sig-log-body", NULL, 0);
		rc = sonde_trace_shutdown(10000);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (rc != 0)
		fail_msg("start or shutdown: %d; %s", rc, diag_log);
	signal_run r = {slurp_or_empty(errp), slurp_or_empty(spans), slurp_or_empty(lp), slurp_or_empty(logs),
	                slurp_or_empty(prog)};
	const char *files[] = {spans, lp, logs, prog, errp};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
		unlink(files[i]);
	rmdir(dir);
	return r;
}

static bool has(const char *text, const char *what)
{
	return strstr(text, what) != NULL;
}

static void test_env_signal_exporters(void **state)
{
	/* The file alone: each signal to its own file, nothing on the console. */
	signal_run r = signal_start(true, false);
	assert_true(has(r.spans, "sig-span") && !has(r.spans, "sig.requests") && !has(r.spans, "sig-log"));
	assert_true(has(r.lp, "sig.requests"));
	assert_true(has(r.logs, "sig-log-body") && !has(r.logs, "sig-span"));
	assert_false(has(r.err, "sig-span") || has(r.err, "sig.requests") || has(r.err, "sig-log-body"));
	signal_run_free(&r);

	/* Metrics to the console instead of the influx file; logs to nothing; traces keep the
	 * file's exporter. */
	setenv("OTEL_METRICS_EXPORTER", "console", 1);
	setenv("OTEL_LOGS_EXPORTER", "none", 1);
	r = signal_start(true, false);
	assert_true(has(r.spans, "sig-span"));
	assert_false(has(r.lp, "sig.requests"));
	assert_false(has(r.logs, "sig-log-body"));
	assert_true(has(r.err, "sig.requests"));
	assert_false(has(r.err, "sig-log-body") || has(r.err, "sig-span"));
	signal_run_free(&r);

	/* Logs to the console; traces and metrics to nothing. */
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	setenv("OTEL_METRICS_EXPORTER", "none", 1);
	setenv("OTEL_LOGS_EXPORTER", " console ", 1);
	r = signal_start(true, false);
	assert_false(has(r.spans, "sig-span") || has(r.lp, "sig.requests") || has(r.logs, "sig-log-body"));
	assert_true(has(r.err, "sig-log-body"));
	assert_false(has(r.err, "sig.requests") || has(r.err, "sig-span"));
	signal_run_free(&r);

	/* The program's exporters win over the environment and the file: they get all three. */
	setenv("OTEL_TRACES_EXPORTER", "console", 1);
	setenv("OTEL_METRICS_EXPORTER", "console", 1);
	r = signal_start(true, true);
	assert_true(has(r.prog, "sig-span") && has(r.prog, "sig.requests") && has(r.prog, "sig-log-body"));
	assert_false(has(r.err, "sig-span") || has(r.err, "sig.requests") || has(r.err, "sig-log-body"));
	assert_false(has(r.spans, "sig-span") || has(r.lp, "sig.requests") || has(r.logs, "sig-log-body"));
	signal_run_free(&r);

	/* Names a signal cannot take, and unknown names, are reported and ignored. */
	diag_log[0] = '\0';
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	setenv("OTEL_METRICS_EXPORTER", "zipkin,bogus,console", 1);
	setenv("OTEL_LOGS_EXPORTER", "prometheus", 1);
	r = signal_start(true, false);
	assert_true(has(r.err, "sig.requests"));
	assert_false(has(r.err, "sig-log-body") || has(r.logs, "sig-log-body"));
	assert_true(has(diag_log, "OTEL_METRICS_EXPORTER: the zipkin exporter does not take metrics"));
	assert_true(has(diag_log, "OTEL_METRICS_EXPORTER names unknown exporter \"bogus\""));
	assert_true(has(diag_log, "OTEL_LOGS_EXPORTER: the prometheus exporter does not take logs"));
	signal_run_free(&r);
}

/* Without a file (what sonde_trace_init does when OTEL_METRICS_EXPORTER or
 * OTEL_LOGS_EXPORTER is set): a signal whose variable is unset follows the traces. */
static void test_env_only_exporters(void **state)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	setenv("OTEL_METRICS_EXPORTER", "console", 1);
	signal_run r = signal_start(false, false);
	assert_true(has(r.err, "sig.requests"));
	assert_false(has(r.err, "sig-span") || has(r.err, "sig-log-body"));
	signal_run_free(&r);

	setenv("OTEL_TRACES_EXPORTER", "console", 1);
	setenv("OTEL_METRICS_EXPORTER", "none", 1);
	r = signal_start(false, false);
	assert_true(has(r.err, "sig-span") && has(r.err, "sig-log-body"));
	assert_false(has(r.err, "sig.requests"));
	signal_run_free(&r);

	setenv("OTEL_LOGS_EXPORTER", "none", 1);
	unsetenv("OTEL_METRICS_EXPORTER");
	r = signal_start(false, false);
	assert_true(has(r.err, "sig-span") && has(r.err, "sig.requests"));
	assert_false(has(r.err, "sig-log-body"));
	signal_run_free(&r);
}

/* A port nobody listens on right now. */
static uint16_t free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

/* GET /metrics from 127.0.0.1:port; the whole response, or NULL. */
static char *scrape(uint16_t port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {
	        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		close(s);
		return NULL;
	}
	const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
	assert_int_equal(write(s, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	ssize_t n;
	while ((n = read(s, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(s);
	return buf;
}

static void test_env_prometheus(void **state)
{
	uint16_t port = free_port();
	char ps[16];
	snprintf(ps, sizeof ps, "%u", port);
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	setenv("OTEL_LOGS_EXPORTER", "none", 1);
	setenv("OTEL_METRICS_EXPORTER", "prometheus", 1);
	setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost", 1);
	setenv("OTEL_EXPORTER_PROMETHEUS_PORT", ps, 1);
	assert_int_equal(sonde__config_init_from_env(NULL, NULL), 0);
	assert_int_equal(sonde_metrics_prometheus_port(), port);
	sonde_meter *m = sonde_meter_get("cfg.prom", NULL, NULL);
	sonde_instrument_add(sonde_counter_new(m, "envprom.hits", NULL, NULL), 7, NULL, 0);
	char *text = scrape(port);
	assert_non_null(text);
	assert_non_null(strstr(text, "200 OK"));
	const char *line = strstr(text, "\nenvprom_hits_total{");
	assert_non_null(line);
	const char *end = strchr(line + 1, '\n');
	assert_non_null(end);
	assert_true(end - line > 2 && strncmp(end - 2, " 7", 2) == 0);
	free(text);
	sonde_metrics_prometheus_stop();
	assert_int_equal(sonde_trace_shutdown(10000), 0);

	/* The environment over the file: the file's pull reader moves to the variables' port;
	 * OTEL_METRICS_EXPORTER=none keeps it from starting at all. */
	sonde_config *c = NULL;
	char err[512];
	assert_int_equal(parse("file_format: \"1.0\"\n"
	                       "meter_provider:\n"
	                       "  readers:\n"
	                       "    - pull: {exporter: {prometheus: {host: localhost, port: 1}}}\n",
	                       &c, err, sizeof err),
	                 0);
	unsetenv("OTEL_METRICS_EXPORTER");
	assert_int_equal(sonde_config_start(c, NULL), 0);
	assert_int_equal(sonde_metrics_prometheus_port(), port);
	sonde_metrics_prometheus_stop();
	assert_int_equal(sonde_trace_shutdown(10000), 0);
	setenv("OTEL_METRICS_EXPORTER", "none", 1);
	assert_int_equal(sonde_config_start(c, NULL), 0);
	assert_int_equal(sonde_metrics_prometheus_port(), 0);
	assert_int_equal(sonde_trace_shutdown(10000), 0);
	sonde_config_free(c);
	/* A bad port is reported; the file's stays. */
	diag_log[0] = '\0';
	setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "70000", 1);
	unsetenv("OTEL_METRICS_EXPORTER");
	assert_int_equal(parse("file_format: \"1.0\"\n"
	                       "meter_provider:\n"
	                       "  readers:\n"
	                       "    - pull: {exporter: {prometheus: {host: localhost, port: 0}}}\n",
	                       &c, err, sizeof err),
	                 0);
	assert_int_equal(sonde_config_start(c, NULL), 0);
	sonde_config_free(c);
	assert_true(sonde_metrics_prometheus_port() != 0);
	assert_true(has(diag_log, "OTEL_EXPORTER_PROMETHEUS_PORT=70000 ignored"));
	sonde_metrics_prometheus_stop();
	assert_int_equal(sonde_trace_shutdown(10000), 0);
	/* A host the endpoint cannot listen on: reported, and the start still succeeds. */
	diag_log[0] = '\0';
	setenv("OTEL_METRICS_EXPORTER", "prometheus", 1);
	setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "no-such-host.invalid", 1);
	setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0", 1);
	assert_int_equal(sonde__config_init_from_env(NULL, NULL), 0);
	assert_int_equal(sonde_metrics_prometheus_port(), 0);
	assert_true(has(diag_log, "the Prometheus endpoint no-such-host.invalid:0 could not start"));
	assert_int_equal(sonde_trace_shutdown(10000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_example_file, setup),
	        cmocka_unit_test_setup(test_errors_name_line_and_key, setup),
	        cmocka_unit_test_setup(test_unknown_keys_reported, setup),
	        cmocka_unit_test_setup(test_env_substitution, setup),
	        cmocka_unit_test_setup(test_anchors, setup),
	        cmocka_unit_test_setup(test_start_from_file, setup),
	        cmocka_unit_test_setup(test_bad_file_through_env, setup),
	        cmocka_unit_test_setup(test_sampler_and_prometheus, setup),
	        cmocka_unit_test_setup(test_env_signal_exporters, setup),
	        cmocka_unit_test_setup(test_env_only_exporters, setup),
	        cmocka_unit_test_setup(test_env_prometheus, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
