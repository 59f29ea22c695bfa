/*
 * cmd_logs.c - `sonde logs`: log files as templates. `sonde logs templates` mines the
 * templates of plain-text log files (src/analyze/logmine.h) and prints them with their
 * counts and an example, or, with --per-line, the template of every line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "json.h"
#include "logmine.h"
#include "sonde/status.h"

const char sonde_logs_usage[] =
        "usage: sonde logs templates FILE... [--header FORMAT|auto|none] [--per-line] [--json] [--top N]\n"
        "\n"
        "Mines the templates of plain-text log files: lines that differ only in their values\n"
        "(ids, numbers, addresses, paths, times) share a template such as\n"
        "  Received block <BLK> of size <NUM> from <IP>\n"
        "Templates are listed by count, with a stable id (a hash of the template text, the\n"
        "same in every run) and an example line. FILE may be - for standard input.\n"
        "\n"
        "options:\n"
        "  --header FORMAT  how a line's header splits from its message: auto (default)\n"
        "                   finds the timestamp, level and component itself; none mines\n"
        "                   whole lines; or a format such as\n"
        "                   '<Date> <Time> <Level> <Component>: <Content>' where <X> is a\n"
        "                   field, <Content> the message (last), spaces match any run of\n"
        "                   spaces and (...)? is optional: '<Component>([<PID>])?: <Content>'\n"
        "  --per-line       one JSON line per input line: file, line, template id, template\n"
        "  --json           the templates as JSON, with sample values of each placeholder\n"
        "  --top N          only the N most frequent templates\n"
        "\n"
        "placeholders: <NUM> <HEX> <IP> <UUID> <PATH> <URL> <EMAIL> <DUR> <SIZE> <TS> <BLK>\n"
        "<REQ> <ID> <BOOL> <NULL>, and <*> where the values of a position varied.\n"
        "\n"
        "examples:\n"
        "  sonde logs templates app.log\n"
        "  sonde logs templates --top 20 /var/log/syslog\n"
        "  sonde logs templates --header '<Date> <Time> <Level> <Component>: <Content>' hdfs.log\n"
        "  journalctl -o cat | sonde logs templates -\n"
        "  sonde logs templates --per-line app.log > lines.jsonl\n";

typedef struct line_ref {
	uint32_t file;
	uint32_t line;
	sonde_logmine_ref ref;
} line_ref;

typedef struct tpl_row {
	sonde_logmine_ref ref;
	uint64_t count;
	uint64_t id;
} tpl_row;

static int cmp_rows(const void *pa, const void *pb)
{
	const tpl_row *a = pa, *b = pb;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Bytes that text logs do not hold: control bytes (NUL is refused wherever it appears)
 * and bytes of malformed UTF-8. */
static size_t odd_bytes(const char *d, size_t n)
{
	size_t odd = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c < 0x80) {
			if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != '\v' &&
			    c != 0x1b)
				odd++;
			continue;
		}
		size_t k = c >= 0xf5 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (k == 0) {
			odd++;
			continue;
		}
		size_t j = 1;
		while (j <= k && i + j < n && ((unsigned char)d[i + j] & 0xc0) == 0x80)
			j++;
		if (j <= k)
			odd++;
		else
			i += k;
	}
	return odd;
}

static void put_id(sonde_buf *b, uint64_t id)
{
	sonde_buf_printf(b, "%016" PRIx64, id);
}

/* Prints s[0..n) cut to width columns (bytes; a cut ends in "..."). */
static void put_cut(sonde_buf *b, const char *s, size_t n, size_t width)
{
	for (size_t i = 0; i < n; i++) {
		if (i + 3 >= width && n > width) {
			sonde_buf_puts(b, "...");
			return;
		}
		char c = s[i];
		sonde_buf_putc(b, (unsigned char)c < 0x20 ? ' ' : c);
	}
}

static int emit(sonde_buf *out)
{
	if (out->oom) {
		sonde_cli_error("logs", "out of memory");
		return SONDE_EXIT_USAGE;
	}
	if (out->len && fwrite(out->data, 1, out->len, stdout) != out->len)
		return SONDE_EXIT_USAGE;
	sonde_buf_reset(out);
	return SONDE_EXIT_OK;
}

static int templates(int argc, char **argv)
{
	enum { OPT_HEADER = 256, OPT_PER_LINE, OPT_JSON, OPT_TOP };
	static const struct option longopts[] = {
	        {"header", required_argument, NULL, OPT_HEADER},
	        {"per-line", no_argument, NULL, OPT_PER_LINE},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"top", required_argument, NULL, OPT_TOP},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *header = "auto";
	bool per_line = false, json = false;
	size_t top = 0;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(sonde_logs_usage, stdout);
			return SONDE_EXIT_OK;
		} else if (c == OPT_HEADER) {
			header = optarg;
		} else if (c == OPT_PER_LINE) {
			per_line = true;
		} else if (c == OPT_JSON) {
			json = true;
		} else if (c == OPT_TOP) {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (end == optarg || *end || *optarg == '-' || v == 0) {
				sonde_cli_error("logs", "--top '%s': expected a positive count", optarg);
				return SONDE_EXIT_USAGE;
			}
			top = (size_t)v;
		} else {
			sonde_cli_error("logs", "unknown option '%s'; see sonde logs --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sonde_cli_error("logs",
		                "templates: expected one or more log files (or - for standard input)");
		return SONDE_EXIT_USAGE;
	}
	sonde_loghdr *hdr = NULL;
	if (strcmp(header, "none") != 0) {
		char err[160];
		int e = sonde_loghdr_new(header, &hdr, err, sizeof(err));
		if (e < 0) {
			sonde_cli_error("logs", "--header '%s': %s", header,
			                e == -EINVAL ? err : sonde_strerror(e));
			return SONDE_EXIT_USAGE;
		}
	}
	sonde_logmine *m = NULL;
	if (sonde_logmine_new(NULL, &m) < 0) {
		sonde_loghdr_free(hdr);
		sonde_cli_error("logs", "out of memory");
		return SONDE_EXIT_USAGE;
	}
	int rc = SONDE_EXIT_OK;
	line_ref *lines = NULL;
	size_t nlines = 0, caplines = 0, total = 0;
	int nfiles = argc - optind;
	char *buf = NULL;
	size_t bufcap = 0;
	for (int fi = 0; fi < nfiles && rc == SONDE_EXIT_OK; fi++) {
		/* streamed line by line: memory stays bounded whatever the size of the file */
		const char *path = argv[optind + fi];
		const char *name = strcmp(path, "-") ? path : "standard input";
		FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
		if (!fp) {
			sonde_cli_error("logs", "%s: %s", name, sonde_strerror(-errno));
			rc = SONDE_EXIT_USAGE;
			break;
		}
		uint64_t off = 0;
		size_t seen = 0, odd = 0;
		uint32_t lineno = 0;
		ssize_t got;
		while ((got = getline(&buf, &bufcap, fp)) > 0) {
			size_t n = (size_t)got;
			const char *s = buf;
			const char *nul = memchr(s, 0, n);
			if (seen < 65536) {
				size_t k = n < 65536 - seen ? n : 65536 - seen;
				odd += odd_bytes(s, k);
				seen += k;
			}
			if (nul || (seen >= 65536 && odd * 10 > seen)) {
				sonde_cli_error("logs",
				                "%s: offset %" PRIu64
				                ": binary data; expected text log lines",
				                name, nul ? off + (uint64_t)(nul - s) : 0);
				rc = SONDE_EXIT_USAGE;
				break;
			}
			off += n;
			lineno++;
			if (n && s[n - 1] == '\n')
				n--;
			if (n && s[n - 1] == '\r')
				n--;
			if (n == 0)
				continue;
			sonde_loghdr_fields f;
			if (hdr) {
				sonde_loghdr_split(hdr, s, n, &f);
			} else {
				f.content_off = 0;
				f.content_len = n;
			}
			sonde_logmine_ref ref;
			if (sonde_logmine_add(m, s + f.content_off, f.content_len, &ref) < 0) {
				sonde_cli_error("logs", "out of memory");
				rc = SONDE_EXIT_USAGE;
				break;
			}
			total++;
			if (per_line) {
				if (nlines == caplines) {
					size_t cap = caplines ? caplines * 2 : 4096;
					line_ref *p = realloc(lines, cap * sizeof(line_ref));
					if (!p) {
						sonde_cli_error("logs", "out of memory");
						rc = SONDE_EXIT_USAGE;
						break;
					}
					lines = p;
					caplines = cap;
				}
				lines[nlines++] = (line_ref){(uint32_t)fi, lineno, ref};
			}
		}
		if (rc == SONDE_EXIT_OK && ferror(fp)) {
			sonde_cli_error("logs", "%s: %s", name, strerror(errno));
			rc = SONDE_EXIT_USAGE;
		}
		if (rc == SONDE_EXIT_OK && seen && seen < 65536 && odd * 10 > seen) {
			sonde_cli_error("logs", "%s: offset 0: binary data; expected text log lines", name);
			rc = SONDE_EXIT_USAGE;
		}
		if (fp != stdin)
			fclose(fp);
	}
	free(buf);
	if (rc == SONDE_EXIT_OK)
		sonde_logmine_refine(m);
	sonde_buf out = SONDE_BUF_INIT;
	if (rc == SONDE_EXIT_OK && per_line) {
		sonde_buf tpl = SONDE_BUF_INIT;
		for (size_t i = 0; i < nlines && rc == SONDE_EXIT_OK; i++) {
			sonde_logmine_template t;
			sonde_json_writer w;
			sonde_json_writer_init(&w, &out, 0);
			sonde_json_obj_begin(&w);
			if (nfiles > 1) {
				sonde_json_key_cstr(&w, "file");
				sonde_json_str(&w, argv[optind + (int)lines[i].file],
				               strlen(argv[optind + (int)lines[i].file]));
			}
			sonde_json_key_cstr(&w, "line");
			sonde_json_u64(&w, lines[i].line);
			if (sonde_logmine_get(m, lines[i].ref, &t) == 0) {
				sonde_buf_reset(&tpl);
				sonde_buf_printf(&tpl, "%016" PRIx64, t.id);
				sonde_json_key_cstr(&w, "template_id");
				sonde_json_str(&w, tpl.data, tpl.len);
				sonde_json_key_cstr(&w, "template");
				sonde_json_str(&w, t.text, t.text_len);
			} else {
				/* evicted before the end (more templates than the cap) */
				sonde_json_key_cstr(&w, "template_id");
				sonde_json_null(&w);
				sonde_json_key_cstr(&w, "template");
				sonde_json_null(&w);
			}
			sonde_json_obj_end(&w);
			sonde_buf_putc(&out, '\n');
			if (out.len > (1 << 16))
				rc = emit(&out);
		}
		sonde_buf_release(&tpl);
		if (rc == SONDE_EXIT_OK)
			rc = emit(&out);
	} else if (rc == SONDE_EXIT_OK) {
		size_t n = sonde_logmine_count(m), k = 0, cursor = 0;
		tpl_row *rows = malloc((n ? n : 1) * sizeof(tpl_row));
		sonde_logmine_ref ref;
		while (rows && sonde_logmine_next(m, &cursor, &ref)) {
			sonde_logmine_template t;
			if (sonde_logmine_get(m, ref, &t) == 0)
				rows[k++] = (tpl_row){ref, t.count, t.id};
		}
		if (!rows) {
			sonde_cli_error("logs", "out of memory");
			rc = SONDE_EXIT_USAGE;
		} else {
			qsort(rows, k, sizeof(tpl_row), cmp_rows);
			size_t shown = top && top < k ? top : k;
			if (json) {
				sonde_json_writer w;
				sonde_json_writer_init(&w, &out, 1);
				sonde_json_obj_begin(&w);
				sonde_json_key_cstr(&w, "lines");
				sonde_json_u64(&w, total);
				sonde_json_key_cstr(&w, "template_count");
				sonde_json_u64(&w, k);
				sonde_json_key_cstr(&w, "templates");
				sonde_json_arr_begin(&w);
				sonde_buf tmp = SONDE_BUF_INIT;
				for (size_t i = 0; i < shown; i++) {
					sonde_logmine_template t;
					sonde_logmine_get(m, rows[i].ref, &t);
					sonde_json_obj_begin(&w);
					sonde_buf_reset(&tmp);
					put_id(&tmp, t.id);
					sonde_json_key_cstr(&w, "id");
					sonde_json_str(&w, tmp.data, tmp.len);
					sonde_json_key_cstr(&w, "count");
					sonde_json_u64(&w, t.count);
					sonde_json_key_cstr(&w, "template");
					sonde_json_str(&w, t.text, t.text_len);
					sonde_buf_reset(&tmp);
					sonde_logmine_render(m, rows[i].ref, SONDE_LOGMINE_STAR, &tmp);
					sonde_json_key_cstr(&w, "template_star");
					sonde_json_str(&w, tmp.data ? tmp.data : "", tmp.len);
					sonde_json_key_cstr(&w, "example");
					sonde_json_str(&w, t.example, t.example_len);
					sonde_json_key_cstr(&w, "params");
					sonde_json_arr_begin(&w);
					for (size_t p = 0; p < t.nparams; p++) {
						sonde_logmine_param pr;
						if (sonde_logmine_param_get(m, rows[i].ref, p, &pr) < 0)
							continue;
						sonde_json_obj_begin(&w);
						sonde_json_key_cstr(&w, "token");
						sonde_json_u64(&w, pr.token);
						sonde_json_key_cstr(&w, "placeholder");
						sonde_json_str(&w, pr.name, strlen(pr.name));
						sonde_json_key_cstr(&w, "values");
						sonde_json_arr_begin(&w);
						for (size_t v = 0; v < pr.nvalues; v++)
							sonde_json_str(&w, pr.values[v], pr.value_lens[v]);
						sonde_json_arr_end(&w);
						sonde_json_obj_end(&w);
					}
					sonde_json_arr_end(&w);
					sonde_json_obj_end(&w);
				}
				sonde_buf_release(&tmp);
				sonde_json_arr_end(&w);
				sonde_json_obj_end(&w);
				sonde_buf_putc(&out, '\n');
			} else {
				sonde_buf_printf(&out, "%-16s  %10s  %-60s  %s\n", "ID", "COUNT", "TEMPLATE",
				                 "EXAMPLE");
				for (size_t i = 0; i < shown; i++) {
					sonde_logmine_template t;
					sonde_logmine_get(m, rows[i].ref, &t);
					put_id(&out, t.id);
					sonde_buf_printf(&out, "  %10" PRIu64 "  ", t.count);
					size_t before = out.len;
					put_cut(&out, t.text, t.text_len, 60);
					for (size_t pad = out.len - before; pad < 60; pad++)
						sonde_buf_putc(&out, ' ');
					sonde_buf_puts(&out, "  ");
					put_cut(&out, t.example, t.example_len, 80);
					sonde_buf_putc(&out, '\n');
				}
				sonde_buf_printf(&out, "%zu lines, %zu templates%s\n", total, k,
				                 shown < k ? " (use --top to see more)" : "");
			}
			rc = emit(&out);
		}
		free(rows);
	}
	sonde_buf_release(&out);
	free(lines);
	sonde_logmine_free(m);
	sonde_loghdr_free(hdr);
	return rc;
}

int sonde_cmd_logs(int argc, char **argv)
{
	if (argc < 2 || sonde_cli_is_help(argv[1])) {
		fputs(sonde_logs_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? SONDE_EXIT_USAGE : SONDE_EXIT_OK;
	}
	if (strcmp(argv[1], "templates") == 0)
		return templates(argc - 1, argv + 1);
	sonde_cli_error("logs", "unknown subcommand '%s'; expected templates (see sonde logs --help)",
	                argv[1]);
	return SONDE_EXIT_USAGE;
}
