/*
 * cmd_flame.c - `sonde flame`: render a profile (folded stacks, perf script text or
 * pprof) as an interactive flame graph, or convert it to folded, speedscope or pprof.
 *
 * Also home of sonde_cli_read_profile(), which `sonde diff` shares: folded input is
 * streamed through the folded reader in pieces (so a large file never sits in memory
 * whole), other formats are read whole.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flame_svg.h"
#include "profile_formats.h"
#include "sonde/status.h"

const char sonde_flame_usage[] =
        "usage: sonde flame [options] INPUT\n"
        "\n"
        "Renders a CPU or memory profile as an interactive flame graph (SVG: hover for details,\n"
        "click to zoom, Search or Ctrl-F to highlight and measure, Reset Zoom), or writes it in\n"
        "another profile format. INPUT is a file or - for standard input, in any of:\n"
        "  folded       \"root;...;leaf COUNT\" lines (flamegraph.pl, inferno, sonde record)\n"
        "  perf-script  the text of `perf script` for a `perf record -g` recording\n"
        "  pprof        profile.proto, gzipped or not (Go, pprof tools, sonde record)\n"
        "detected from the content unless --from names it.\n"
        "\n"
        "options:\n"
        "  -o, --output OUT      write to OUT instead of standard output\n"
        "  --format FORMAT       svg (default), folded, speedscope or pprof\n"
        "  --from FORMAT         input format: folded, perf-script or pprof\n"
        "  --title TEXT          the graph's title (default \"Flame Graph\")\n"
        "  --subtitle TEXT       a second line under the title\n"
        "  --inverted            icicle graph: roots at the top\n"
        "  --colors SCHEME       kind (default: user, kernel, inlined, JIT differ) or module\n"
        "  --type NAME           the sample type to draw or write (default: the first)\n"
        "  --threads             folded: a root frame NAME-TID marks a thread; perf-script: one\n"
        "                        root frame per thread (NAME-TID) instead of per command\n"
        "  --min-width PERCENT   merge frames narrower than PERCENT of the total (default 0.1)\n"
        "  --width PIXELS        width of the SVG (default 1200)\n"
        "\n"
        "examples:\n"
        "  sonde flame profile.folded -o flame.svg\n"
        "  perf record -g -- ./app && perf script | sonde flame - -o flame.svg\n"
        "  sonde flame --inverted --colors module cpu.pb.gz -o icicle.svg\n"
        "  sonde flame --format speedscope --threads perf.txt -o app.speedscope.json\n"
        "  sonde flame --format pprof profile.folded -o profile.pb.gz\n";

enum { PROBE_BYTES = 65536, PIECE_BYTES = 1 << 20 };

/* Reads up to want bytes (fewer only at the end of the file). */
static size_t read_full(FILE *f, char *buf, size_t want)
{
	size_t n = 0;
	while (n < want) {
		size_t got = fread(buf + n, 1, want - n, f);
		if (got == 0)
			break;
		n += got;
	}
	return n;
}

static void report_parse(const char *verb, const char *path, const sonde_wire_error *err, size_t line,
                         sonde_profile_format f)
{
	fprintf(stderr, "sonde %s: %s:%zu: offset %zu%s%s: %s (reading %s)\n", verb, path, line, err->offset,
	        err->field[0] ? ": field " : "", err->field, err->msg, sonde_profile_format_name(f));
}

/* Streams the rest of a folded file (after the first n bytes in buf) into t. */
static int stream_folded(const char *verb, const char *path, FILE *f, char *buf, size_t n, sonde_stacktab *t,
                         const sonde_profile_read_opts *ro)
{
	sonde_folded_reader *r = sonde_folded_reader_new(t, ro);
	if (!r) {
		sonde_cli_error(verb, "%s: out of memory", path);
		return SONDE_EXIT_USAGE;
	}
	sonde_wire_error err = {0};
	int rc = sonde_folded_reader_feed(r, buf, n, &err);
	char *piece = rc == 0 ? malloc(PIECE_BYTES) : NULL;
	if (rc == 0 && !piece)
		rc = -ENOMEM;
	while (rc == 0) {
		size_t got = read_full(f, piece, PIECE_BYTES);
		if (got == 0)
			break;
		rc = sonde_folded_reader_feed(r, piece, got, &err);
	}
	if (rc == 0 && ferror(f))
		rc = -EIO;
	if (rc == 0)
		rc = sonde_folded_reader_finish(r, &err);
	free(piece);
	sonde_folded_reader_free(r);
	if (rc == SONDE_EPARSE) {
		report_parse(verb, path, &err, err.line, SONDE_PROFILE_FOLDED);
		return SONDE_EXIT_USAGE;
	}
	if (rc < 0) {
		sonde_cli_error(verb, "%s: %s", path, sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

int sonde_cli_read_profile(const char *verb, const char *path, int from, const sonde_profile_read_opts *ro,
                           sonde_stacktab *t)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		sonde_cli_error(verb, "%s: %s", path, strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	size_t cap = PROBE_BYTES;
	char *buf = malloc(cap + 1);
	int rc = SONDE_EXIT_USAGE;
	if (!buf) {
		sonde_cli_error(verb, "%s: out of memory", path);
		goto out;
	}
	size_t n = read_full(f, buf, PROBE_BYTES);
	if (ferror(f)) {
		sonde_cli_error(verb, "%s: %s", path, strerror(errno));
		goto out;
	}
	sonde_profile_format fmt = from ? (sonde_profile_format)from : sonde_profile_format_detect(buf, n);
	if (fmt == SONDE_PROFILE_UNKNOWN) {
		sonde_cli_error(
		        verb,
		        "%s: cannot tell the profile format from the content (expected folded stacks, "
		        "perf script text or pprof); name it with --from",
		        path);
		goto out;
	}
	if (!sonde_profile_format_readable(fmt)) {
		sonde_cli_error(verb, "%s: sonde cannot read %s, only write it", path,
		                sonde_profile_format_name(fmt));
		goto out;
	}
	if (fmt == SONDE_PROFILE_FOLDED) {
		rc = stream_folded(verb, path, f, buf, n, t, ro);
		goto out;
	}
	/* The rest of the file, whole. */
	while (n == cap) {
		char *p = realloc(buf, cap * 2 + 1);
		if (!p) {
			sonde_cli_error(verb, "%s: out of memory", path);
			goto out;
		}
		buf = p;
		n += read_full(f, buf + n, cap);
		cap *= 2;
	}
	if (ferror(f)) {
		sonde_cli_error(verb, "%s: %s", path, strerror(errno));
		goto out;
	}
	sonde_wire_error err = {0};
	int prc = sonde_profile_read(t, fmt, buf, n, ro, &err);
	if (prc == SONDE_EPARSE) {
		report_parse(verb, path, &err, err.line ? err.line : sonde_wire_line_of(buf, n, err.offset),
		             fmt);
		if (fmt == SONDE_PROFILE_PPROF)
			fprintf(stderr, "sonde %s: (pprof offsets count bytes of the protobuf)\n", verb);
		goto out;
	}
	if (prc < 0) {
		sonde_cli_error(verb, "%s: %s", path, sonde_strerror(prc));
		goto out;
	}
	rc = SONDE_EXIT_OK;
out:
	free(buf);
	if (f && !is_stdin)
		fclose(f);
	return rc;
}

int sonde_cli_profile_type(const char *verb, const sonde_stacktab *t, const char *name, size_t *type)
{
	*type = 0;
	if (!name)
		return SONDE_EXIT_OK;
	for (size_t k = 0; k < sonde_stacktab_types_count(t); k++)
		if (strcmp(sonde_stacktab_type(t, k)->name, name) == 0) {
			*type = k;
			return SONDE_EXIT_OK;
		}
	sonde_cli_error(verb, "the profile has no sample type '%s'; it has:", name);
	for (size_t k = 0; k < sonde_stacktab_types_count(t); k++)
		fprintf(stderr, "  %s (%s)\n", sonde_stacktab_type(t, k)->name,
		        sonde_stacktab_type(t, k)->unit);
	return SONDE_EXIT_USAGE;
}

int sonde_cli_write_output(const char *verb, const char *path, const sonde_buf *out, bool binary)
{
	FILE *f = path ? fopen(path, binary ? "wb" : "w") : stdout;
	if (!f) {
		sonde_cli_error(verb, "%s: %s", path, strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	size_t wrote = out->len ? fwrite(out->data, 1, out->len, f) : 0;
	if (wrote != out->len || (f != stdout && fclose(f) != 0)) {
		sonde_cli_error(verb, "%s: write failed: %s", path ? path : "standard output",
		                strerror(errno));
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

int sonde_cmd_flame(int argc, char **argv)
{
	enum {
		OPT_FORMAT = 256,
		OPT_FROM,
		OPT_TITLE,
		OPT_SUBTITLE,
		OPT_INVERTED,
		OPT_COLORS,
		OPT_TYPE,
		OPT_THREADS,
		OPT_MINW,
		OPT_WIDTH
	};
	static const struct option longopts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"format", required_argument, NULL, OPT_FORMAT},
	        {"from", required_argument, NULL, OPT_FROM},
	        {"title", required_argument, NULL, OPT_TITLE},
	        {"subtitle", required_argument, NULL, OPT_SUBTITLE},
	        {"inverted", no_argument, NULL, OPT_INVERTED},
	        {"colors", required_argument, NULL, OPT_COLORS},
	        {"colours", required_argument, NULL, OPT_COLORS},
	        {"type", required_argument, NULL, OPT_TYPE},
	        {"threads", no_argument, NULL, OPT_THREADS},
	        {"min-width", required_argument, NULL, OPT_MINW},
	        {"width", required_argument, NULL, OPT_WIDTH},
	        {NULL, 0, NULL, 0},
	};
	const char *out_path = NULL, *type_name = NULL;
	sonde_profile_format to = SONDE_PROFILE_UNKNOWN, from = SONDE_PROFILE_UNKNOWN;
	sonde_flame_opts fo = {0};
	sonde_profile_read_opts ro = {0};
	double v;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out_path = optarg; break;
		case OPT_FORMAT:
			if (strcmp(optarg, "svg") == 0) {
				to = SONDE_PROFILE_UNKNOWN;
				break;
			}
			to = sonde_profile_format_find(optarg);
			if (!sonde_profile_format_writable(to)) {
				sonde_cli_error("flame",
				                "--format takes svg, folded, speedscope or pprof, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_FROM:
			from = sonde_profile_format_find(optarg);
			if (!sonde_profile_format_readable(from)) {
				sonde_cli_error("flame",
				                "--from takes folded, perf-script or pprof, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_TITLE: fo.title = optarg; break;
		case OPT_SUBTITLE: fo.subtitle = optarg; break;
		case OPT_INVERTED: fo.inverted = true; break;
		case OPT_COLORS:
			if (strcmp(optarg, "kind") == 0)
				fo.colors = SONDE_FLAME_COLOR_KIND;
			else if (strcmp(optarg, "module") == 0)
				fo.colors = SONDE_FLAME_COLOR_MODULE;
			else {
				sonde_cli_error("flame", "--colors takes kind or module, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_TYPE: type_name = optarg; break;
		case OPT_THREADS: ro.threads = true; break;
		case OPT_MINW:
			if (parse_double(optarg, 0, 100, &v) < 0) {
				sonde_cli_error("flame",
				                "--min-width takes a percentage from 0 to 100, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			fo.min_share = v > 0 ? v / 100 : 1e-12;
			break;
		case OPT_WIDTH:
			if (parse_double(optarg, 100, 100000, &v) < 0) {
				sonde_cli_error("flame", "--width takes 100 to 100000 pixels, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			fo.width_px = (unsigned)v;
			break;
		default:
			sonde_cli_error("flame", "unknown option '%s'; sonde flame --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sonde_cli_error("flame", "no INPUT given (use - for standard input)");
		return SONDE_EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		sonde_cli_error("flame", "one INPUT only (got %d); merge profiles with cat for folded input",
		                argc - optind);
		return SONDE_EXIT_USAGE;
	}
	const char *path = argv[optind];
	sonde_stacktab *t = sonde_stacktab_new();
	if (!t)
		return SONDE_EXIT_USAGE;
	int rc = sonde_cli_read_profile("flame", path, (int)from, &ro, t);
	size_t type = 0;
	if (rc == SONDE_EXIT_OK)
		rc = sonde_cli_profile_type("flame", t, type_name, &type);
	if (rc != SONDE_EXIT_OK) {
		sonde_stacktab_free(t);
		return rc;
	}
	fo.type = type;
	sonde_buf out = SONDE_BUF_INIT;
	int wrc;
	if (to == SONDE_PROFILE_UNKNOWN) {
		wrc = sonde_flame_svg(t, &fo, &out);
	} else {
		sonde_profile_write_opts wo = {.type = type, .name = strcmp(path, "-") ? path : "stdin"};
		wrc = sonde_profile_write(t, to, &wo, &out);
	}
	if (sonde_stacktab_types_count(t)) {
		const sonde_sample_type *st = sonde_stacktab_type(t, type);
		fprintf(stderr, "sonde flame: %s: %zu stacks, %zu frames, %lld %s (%s)\n", path,
		        sonde_stacktab_stacks_count(t), sonde_stacktab_frames_count(t),
		        (long long)sonde_stacktab_total(t, type), st->name, st->unit);
	}
	sonde_stacktab_free(t);
	if (wrc < 0) {
		sonde_cli_error("flame", "writing %s: %s",
		                to == SONDE_PROFILE_UNKNOWN ? "svg" : sonde_profile_format_name(to),
		                sonde_strerror(wrc));
		sonde_buf_release(&out);
		return SONDE_EXIT_USAGE;
	}
	rc = sonde_cli_write_output("flame", out_path, &out, to == SONDE_PROFILE_PPROF);
	sonde_buf_release(&out);
	return rc;
}
