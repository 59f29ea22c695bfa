/*
 * profile_formats.c - the profile format table: names, content sniffing, and the read and
 * write dispatch that gives every reader the all-or-nothing contract (see
 * profile_formats.h).
 */
#define _GNU_SOURCE /* qsort_r, memmem */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "profile_formats.h"
#include "sonde/status.h"

typedef int (*read_fn)(sonde_stacktab *t, const char *buf, size_t len, const sonde_profile_read_opts *opts,
                       sonde_wire_error *err);

static const struct {
	const char *name;
	read_fn read;
	bool writable;
} formats[] = {
        [SONDE_PROFILE_UNKNOWN] = {"unknown", NULL, false},
        [SONDE_PROFILE_FOLDED] = {"folded", sonde_folded_read, true},
        [SONDE_PROFILE_PERF_SCRIPT] = {"perf-script", sonde_perf_script_read, false},
        [SONDE_PROFILE_PPROF] = {"pprof", sonde_pprof_read, true},
        [SONDE_PROFILE_SPEEDSCOPE] = {"speedscope", NULL, true},
};

enum { NFORMATS = sizeof(formats) / sizeof(formats[0]) };

const char *sonde_profile_format_name(sonde_profile_format f)
{
	return (unsigned)f < NFORMATS ? formats[f].name : "unknown";
}

sonde_profile_format sonde_profile_format_find(const char *name)
{
	for (unsigned i = 1; i < NFORMATS; i++)
		if (strcmp(formats[i].name, name) == 0)
			return (sonde_profile_format)i;
	return SONDE_PROFILE_UNKNOWN;
}

bool sonde_profile_format_readable(sonde_profile_format f)
{
	return (unsigned)f < NFORMATS && formats[f].read;
}

bool sonde_profile_format_writable(sonde_profile_format f)
{
	return (unsigned)f < NFORMATS && formats[f].writable;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A perf script frame line: blanks, hex digits, a blank, anything, "(...)" at the end. */
static bool perf_frame_line(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == 0)
		return false;
	size_t h = i;
	while (i < n && is_hex(p[i]))
		i++;
	if (i == h || i >= n || p[i] != ' ')
		return false;
	while (n > i && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	return n > i && p[n - 1] == ')' && memchr(p + i, '(', n - i);
}

/* A perf script sample without call chains: "... EVENT:  ADDRESS SYMBOL (MODULE)". */
static bool perf_oneline(const char *p, size_t n)
{
	while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
		n--;
	size_t j = n ? n - 1 : 0;
	while (j > 1 && !(p[j - 1] == ':' && (p[j] == ' ' || p[j] == '\t')))
		j--;
	if (j <= 1 || !memchr(p, ' ', j))
		return false;
	while (j < n && (p[j] == ' ' || p[j] == '\t'))
		j++;
	size_t h = j;
	while (j < n && is_hex(p[j]))
		j++;
	return j > h && j < n && p[j] == ' ' && n > j && p[n - 1] == ')' && memchr(p + j, '(', n - j);
}

/* A folded line: no leading blank, a ';' or not, and digits after the last blank. */
static bool folded_line(const char *p, size_t n)
{
	while (n && p[n - 1] == '\r')
		n--;
	size_t i = n;
	while (i && p[i - 1] >= '0' && p[i - 1] <= '9')
		i--;
	return i < n && i > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t') && p[0] != ' ' && p[0] != '\t';
}

sonde_profile_format sonde_profile_format_detect(const char *buf, size_t len)
{
	const unsigned char *u = (const unsigned char *)buf;
	if (len >= 2 && u[0] == 0x1f && u[1] == 0x8b)
		return SONDE_PROFILE_PPROF;
	/* A raw Profile starts with a sample_type (field 1, length-delimited) whose first
	 * field is ValueType.type (field 1, varint), or with a sample (field 2). */
	if (len >= 3 && (u[0] == 0x0a || u[0] == 0x12) && u[1] < 0x80 && (u[2] == 0x08 || u[2] == 0x0a))
		return SONDE_PROFILE_PPROF;
	if (len > 65536)
		len = 65536;
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i < len && buf[i] == '{')
		return memmem(buf, len, "speedscope", 10) ? SONDE_PROFILE_SPEEDSCOPE : SONDE_PROFILE_UNKNOWN;
	/* Text: the first line that says something decides; a perf script header line says
	 * nothing alone, its frame lines do. */
	size_t lines = 0;
	for (size_t p = 0; p < len && lines < 64; lines++) {
		const char *nl = memchr(buf + p, '\n', len - p);
		size_t n = (nl ? (size_t)(nl - buf) : len) - p;
		const char *line = buf + p;
		p += n + 1;
		if (n == 0 || line[0] == '#' || (n == 1 && line[0] == '\r'))
			continue;
		if (perf_frame_line(line, n) || perf_oneline(line, n))
			return SONDE_PROFILE_PERF_SCRIPT;
		if (line[0] != ' ' && line[0] != '\t' && folded_line(line, n)) {
			/* "comm 123 45.6: 1 cpu-clock:" never ends in digits; a folded line does. */
			return SONDE_PROFILE_FOLDED;
		}
		if (!nl)
			break;
	}
	return SONDE_PROFILE_UNKNOWN;
}

int sonde_profile_read(sonde_stacktab *t, sonde_profile_format f, const char *buf, size_t len,
                       const sonde_profile_read_opts *opts, sonde_wire_error *err)
{
	if (!sonde_profile_format_readable(f))
		return SONDE_EFORMAT;
	read_fn read = formats[f].read;
	/* The readers add to the table as they go; a failure must leave it as it was, so a
	 * table that already holds something gets the input through a scratch table. */
	if (sonde_stacktab_types_count(t) == 0 && sonde_stacktab_stacks_count(t) == 0 &&
	    sonde_stacktab_frames_count(t) == 0) {
		int rc = read(t, buf, len, opts, err);
		if (rc < 0)
			sonde_stacktab_clear(t);
		return rc;
	}
	sonde_stacktab *scratch = sonde_stacktab_new();
	if (!scratch)
		return -ENOMEM;
	int rc = read(scratch, buf, len, opts, err);
	if (rc == 0) {
		/* Check the types fit before merging, so that a merge cannot stop halfway
		 * for want of room; only memory can still fail it. */
		size_t missing = 0;
		for (size_t k = 0; k < sonde_stacktab_types_count(scratch); k++) {
			const char *name = sonde_stacktab_type(scratch, k)->name;
			bool found = false;
			for (size_t j = 0; j < sonde_stacktab_types_count(t); j++)
				found |= strcmp(sonde_stacktab_type(t, j)->name, name) == 0;
			missing += !found;
		}
		if (sonde_stacktab_types_count(t) + missing > 16)
			rc = SONDE_ELIMIT;
		else
			rc = sonde_stacktab_merge(t, scratch);
	}
	sonde_stacktab_free(scratch);
	return rc;
}

int sonde_profile_write(const sonde_stacktab *t, sonde_profile_format f, const sonde_profile_write_opts *opts,
                        sonde_buf *out)
{
	static const sonde_profile_write_opts none;
	if (!opts)
		opts = &none;
	switch (f) {
	case SONDE_PROFILE_FOLDED:
		if (opts->type >= sonde_stacktab_types_count(t) && sonde_stacktab_types_count(t))
			return -EINVAL;
		return sonde_folded_write(t, opts->type, out);
	case SONDE_PROFILE_PPROF: return sonde_pprof_write(t, opts, out);
	case SONDE_PROFILE_SPEEDSCOPE:
		if (opts->type >= sonde_stacktab_types_count(t) && sonde_stacktab_types_count(t))
			return -EINVAL;
		return sonde_speedscope_write(t, opts, out);
	default: return SONDE_EFORMAT;
	}
}

void sonde_profile_frame_name(const sonde_frame *f, sonde_buf *out)
{
	if (f->function && f->function[0]) {
		sonde_buf_puts(out, f->function);
		return;
	}
	const char *m = f->module ? f->module : "";
	if (m[0]) {
		const char *slash = strrchr(m, '/');
		sonde_buf_printf(out, "%s+0x%" PRIx64, slash && slash[1] ? slash + 1 : m, f->address);
	} else if (f->address) {
		sonde_buf_printf(out, "0x%" PRIx64, f->address);
	}
}
