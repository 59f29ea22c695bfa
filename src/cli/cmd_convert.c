/*
 * cmd_convert.c - `sonde convert`: read telemetry in one format, write it in another.
 *
 * Every input is read into one batch (format detected from content unless --from says),
 * then the batch is written once. A bad input stops the command with exit 2 and a message
 * naming the file, line, byte offset and field.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "formats.h"
#include "sonde/status.h"

const char sonde_convert_usage[] =
        "usage: sonde convert [--from FORMAT] [--signal traces|metrics|logs] --to FORMAT\n"
        "                     [-o OUT] [--pretty] INPUT...\n"
        "       sonde convert --list-formats\n"
        "\n"
        "Reads telemetry from each INPUT (a file, or - for standard input) into one batch and\n"
        "writes it in another format. The input format is detected from its content unless\n"
        "--from names it; OTLP protobuf does not say which signal it carries, so --signal tells\n"
        "the reader (default traces) and, for one-signal outputs, which signal to write.\n"
        "\n"
        "options:\n"
        "  --from FORMAT     input format (default: detected)\n"
        "  --to FORMAT       output format (required)\n"
        "  --signal SIGNAL   traces, metrics or logs\n"
        "  -o, --output OUT  write to OUT instead of standard output\n"
        "  --pretty          indent JSON output\n"
        "  --list-formats    list the formats and what each can do\n"
        "\n"
        "examples:\n"
        "  sonde convert --to otlp-proto -o traces.pb traces.json\n"
        "  sonde convert --from otlp-proto --signal metrics --to prom metrics.pb\n"
        "  sonde convert --to text jaeger-trace.json\n"
        "  sonde convert --to otlp-json --pretty zipkin.json\n";

static int list_formats(void)
{
	printf("%-12s %-5s %-5s %s\n", "FORMAT", "READ", "WRITE", "DESCRIPTION");
	for (size_t i = 0; i < sonde_formats_count; i++) {
		const sonde_format *f = &sonde_formats[i];
		printf("%-12s %-5s %-5s %s\n", f->name, f->read ? "yes" : "-", f->write ? "yes" : "-",
		       f->description);
	}
	return SONDE_EXIT_OK;
}

static int parse_signal(const char *s, sonde_signal *out)
{
	if (strcmp(s, "traces") == 0)
		*out = SONDE_SIGNAL_TRACES;
	else if (strcmp(s, "metrics") == 0)
		*out = SONDE_SIGNAL_METRICS;
	else if (strcmp(s, "logs") == 0)
		*out = SONDE_SIGNAL_LOGS;
	else
		return -1;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads one input into b. Returns an exit code. */
static int read_input(sonde_batch *b, const char *path, const sonde_format *from, const sonde_read_opts *ro)
{
	char *data;
	size_t len;
	int rc = sonde_cli_read_file(path, &data, &len);
	if (rc < 0) {
		sonde_cli_error("convert", "%s: %s", path, sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	const sonde_format *f = from ? from : sonde_format_detect(data, len);
	if (!f) {
		sonde_cli_error("convert",
		                "%s: cannot tell the format from the content; name it with --from "
		                "(sonde convert --list-formats)",
		                path);
		free(data);
		return SONDE_EXIT_USAGE;
	}
	if (!f->read) {
		sonde_cli_error("convert", "%s: sonde cannot read %s, only write it", path, f->name);
		free(data);
		return SONDE_EXIT_USAGE;
	}
	size_t spans = b->spans_count, logs = b->logs_count, metrics = b->metrics_count;
	sonde_wire_error err = {0};
	rc = f->read(b, data, len, ro, &err);
	if (rc < 0) {
		if (rc == SONDE_EPARSE) {
			size_t line = err.line ? err.line : sonde_wire_line_of(data, len, err.offset);
			fprintf(stderr, "sonde convert: %s:%zu: offset %zu%s%s: %s (reading %s)\n", path,
			        line, err.offset, err.field[0] ? ": field " : "", err.field, err.msg,
			        f->name);
		} else {
			sonde_cli_error("convert", "%s: %s", path, sonde_strerror(rc));
		}
		free(data);
		return SONDE_EXIT_USAGE;
	}
	fprintf(stderr, "sonde convert: %s (%s): %zu spans, %zu log records, %zu metrics\n", path, f->name,
	        b->spans_count - spans, b->logs_count - logs, b->metrics_count - metrics);
	free(data);
	return SONDE_EXIT_OK;
}

int sonde_cmd_convert(int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_SIGNAL, OPT_PRETTY, OPT_LIST };
	static const struct option longopts[] = {
	        {"from", required_argument, NULL, OPT_FROM},
	        {"to", required_argument, NULL, OPT_TO},
	        {"signal", required_argument, NULL, OPT_SIGNAL},
	        {"output", required_argument, NULL, 'o'},
	        {"pretty", no_argument, NULL, OPT_PRETTY},
	        {"list-formats", no_argument, NULL, OPT_LIST},
	        {NULL, 0, NULL, 0},
	};
	const sonde_format *from = NULL, *to = NULL;
	const char *out_path = NULL;
	sonde_read_opts ro = {.signal = SONDE_SIGNAL_TRACES, .default_time_ns = now_ns()};
	sonde_write_opts wo = {0};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FROM:
		case OPT_TO: {
			const sonde_format *f = sonde_format_find(optarg);
			if (!f) {
				sonde_cli_error("convert",
				                "unknown format '%s' for --%s; sonde convert --list-formats "
				                "lists them",
				                optarg, c == OPT_FROM ? "from" : "to");
				return SONDE_EXIT_USAGE;
			}
			*(c == OPT_FROM ? &from : &to) = f;
			break;
		}
		case OPT_SIGNAL:
			if (parse_signal(optarg, &ro.signal) < 0) {
				sonde_cli_error("convert", "--signal takes traces, metrics or logs, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			wo.signal = ro.signal;
			wo.signal_set = true;
			break;
		case 'o': out_path = optarg; break;
		case OPT_PRETTY: wo.pretty = 2; break;
		case OPT_LIST: return list_formats();
		default:
			sonde_cli_error("convert",
			                "unknown option '%s'; sonde convert --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (!to) {
		sonde_cli_error("convert",
		                "--to FORMAT is required; sonde convert --list-formats lists them");
		return SONDE_EXIT_USAGE;
	}
	if (!to->write) {
		sonde_cli_error("convert", "sonde can read %s but not write it", to->name);
		return SONDE_EXIT_USAGE;
	}
	if (optind >= argc) {
		sonde_cli_error("convert", "no INPUT given (use - for standard input)");
		return SONDE_EXIT_USAGE;
	}
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return SONDE_EXIT_USAGE;
	int rc = SONDE_EXIT_OK;
	for (int i = optind; i < argc && rc == SONDE_EXIT_OK; i++)
		rc = read_input(b, argv[i], from, &ro);
	if (rc != SONDE_EXIT_OK) {
		sonde_batch_free(b);
		return rc;
	}
	sonde_buf out = SONDE_BUF_INIT;
	int wrc = to->write(b, &wo, &out);
	sonde_batch_free(b);
	if (wrc == -EINVAL) {
		sonde_cli_error("convert",
		                "the input holds several signals and %s carries one per document: "
		                "choose one with --signal, or write otlp-jsonl",
		                to->name);
		sonde_buf_release(&out);
		return SONDE_EXIT_USAGE;
	}
	if (wrc < 0) {
		sonde_cli_error("convert", "writing %s: %s", to->name, sonde_strerror(wrc));
		sonde_buf_release(&out);
		return SONDE_EXIT_USAGE;
	}
	FILE *f = out_path ? fopen(out_path, to->binary ? "wb" : "w") : stdout;
	if (!f) {
		sonde_cli_error("convert", "%s: %s", out_path, strerror(errno));
		sonde_buf_release(&out);
		return SONDE_EXIT_USAGE;
	}
	size_t wrote = fwrite(out.data, 1, out.len, f);
	if (!to->binary && out.len && out.data[out.len - 1] != '\n' && wrote == out.len)
		fputc('\n', f);
	if (wrote != out.len || (f != stdout && fclose(f) != 0)) {
		sonde_cli_error("convert", "%s: write failed: %s", out_path ? out_path : "stdout",
		                strerror(errno));
		rc = SONDE_EXIT_USAGE;
	}
	sonde_buf_release(&out);
	return rc;
}
