/*
 * logparse_eval.c - the template miner against Loghub-2k: grouping accuracy (GA), parsing
 * accuracy (PA), F1 over groups (FGA) and over templates (FTA) for the eight systems in
 * ../shared/data/loghub2k, against the original and the corrected ground truths, with
 * the header formats of ../shared/data/README.md and again with --header auto; then
 * throughput on a corpus of 10 million lines replayed from those logs with fresh digits.
 *
 * usage: logparse_eval [DATA_DIR] [--lines N] [--no-speed] [--verbose]
 * The miner runs with its one default configuration; nothing here is per system except
 * the header format, and the ground truth is read only to score.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "buf.h"
#include "hash.h"
#include "logmine.h"

static const struct {
	const char *name;
	const char *header;
} systems[] = {
        {"HDFS", "<Date> <Time> <Pid> <Level> <Component>: <Content>"},
        {"Hadoop", "<Date> <Time> <Level> [<Process>] <Component>: <Content>"},
        {"Spark", "<Date> <Time> <Level> <Component>: <Content>"},
        {"BGL", "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"},
        {"Windows", "<Date> <Time>, <Level> <Component> <Content>"},
        {"Linux", "<Month> <Date> <Time> <Level> <Component>([<PID>])?: <Content>"},
        {"HealthApp", "<Time>|<Component>|<Pid>|<Content>"},
        {"OpenStack", "<Logrecord> <Date> <Time> <Pid> <Level> <Component> [<ADDR>] <Content>"},
};
#define NSYS (sizeof(systems) / sizeof(systems[0]))

static int verbose;

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap);
	for (;;) {
		if (cap - n < 65536) {
			cap *= 2;
			b = realloc(b, cap);
		}
		size_t r = fread(b + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	b[n] = '\0';
	*len = n;
	return b;
}

typedef struct line {
	const char *s;
	size_t n;
} line;

/* Splits buf into lines (LF or CRLF; a last line without a newline counts). */
static size_t split_lines(char *buf, size_t len, line **out)
{
	size_t cap = 1024, n = 0;
	line *v = malloc(cap * sizeof(line));
	size_t i = 0;
	while (i < len) {
		char *nl = memchr(buf + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - buf) : len;
		size_t le = e;
		if (le > i && buf[le - 1] == '\r')
			le--;
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(line));
		v[n].s = buf + i;
		v[n].n = le - i;
		n++;
		i = e + 1;
	}
	*out = v;
	return n;
}

/* One CSV record (RFC 4180) from *p: fields unquoted into malloc'd strings. */
static int csv_record(const char **p, const char *end, char **fields, int maxf)
{
	int nf = 0;
	const char *s = *p;
	if (s >= end)
		return 0;
	sonde_buf b = SONDE_BUF_INIT;
	for (;;) {
		sonde_buf_reset(&b);
		sonde_buf_append(&b, "", 0);
		if (s < end && *s == '"') {
			s++;
			while (s < end) {
				if (*s == '"') {
					if (s + 1 < end && s[1] == '"') {
						sonde_buf_putc(&b, '"');
						s += 2;
						continue;
					}
					s++;
					break;
				}
				sonde_buf_putc(&b, *s++);
			}
		}
		while (s < end && *s != ',' && *s != '\n' && *s != '\r')
			sonde_buf_putc(&b, *s++);
		if (nf < maxf)
			fields[nf++] = strdup(b.data ? b.data : "");
		if (s < end && *s == ',') {
			s++;
			continue;
		}
		while (s < end && (*s == '\r' || *s == '\n'))
			s++;
		break;
	}
	sonde_buf_release(&b);
	*p = s;
	return nf;
}

typedef struct truth {
	size_t n;
	char **tpl; /* EventTemplate per line */
	char **eid; /* EventId per line */
} truth;

static int load_truth(const char *path, truth *t)
{
	size_t len;
	char *buf = read_all(path, &len);
	if (!buf)
		return -errno;
	const char *p = buf, *end = buf + len;
	char *f[32];
	int nf = csv_record(&p, end, f, 32);
	int ci = -1, ti = -1;
	for (int i = 0; i < nf; i++) {
		if (strcmp(f[i], "EventId") == 0)
			ci = i;
		if (strcmp(f[i], "EventTemplate") == 0)
			ti = i;
		free(f[i]);
	}
	if (ci < 0 || ti < 0) {
		free(buf);
		return -EINVAL;
	}
	size_t cap = 2048;
	t->n = 0;
	t->tpl = malloc(cap * sizeof(char *));
	t->eid = malloc(cap * sizeof(char *));
	while ((nf = csv_record(&p, end, f, 32)) > 0) {
		if (nf <= ti || nf <= ci) {
			for (int i = 0; i < nf; i++)
				free(f[i]);
			continue;
		}
		if (t->n == cap) {
			cap *= 2;
			t->tpl = realloc(t->tpl, cap * sizeof(char *));
			t->eid = realloc(t->eid, cap * sizeof(char *));
		}
		t->tpl[t->n] = f[ti];
		t->eid[t->n] = f[ci];
		t->n++;
		for (int i = 0; i < nf; i++)
			if (i != ti && i != ci)
				free(f[i]);
	}
	free(buf);
	return 0;
}

static void truth_free(truth *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->tpl[i]);
		free(t->eid[i]);
	}
	free(t->tpl);
	free(t->eid);
}

/* Interns strings into small integers (linear probing over a hash). */
typedef struct strtab {
	uint64_t *h;
	int *id;
	size_t cap;
	int next;
} strtab;

static int strtab_id(strtab *t, uint64_t h)
{
	size_t i = h & (t->cap - 1);
	while (t->h[i]) {
		if (t->h[i] == h)
			return t->id[i];
		i = (i + 1) & (t->cap - 1);
	}
	t->h[i] = h;
	t->id[i] = t->next++;
	return t->id[i];
}

typedef struct scores {
	double ga, pa, fga, fta;
} scores;

/* Scores per-line parsed group ids and template texts against truth. */
static void score(size_t n, const int *pg, char *const *ptpl, const truth *t, scores *s)
{
	strtab gt = {calloc(8192, 8), calloc(8192, sizeof(int)), 8192, 0};
	int *tg = malloc(n * sizeof(int));
	for (size_t i = 0; i < n; i++)
		tg[i] = strtab_id(&gt, sonde_hash_bytes(t->eid[i], strlen(t->eid[i]), 1) | 1);
	int npg = 0;
	for (size_t i = 0; i < n; i++)
		if (pg[i] + 1 > npg)
			npg = pg[i] + 1;
	int ngt = gt.next;
	size_t *gsize = calloc((size_t)ngt, sizeof(size_t)), *psize = calloc((size_t)npg, sizeof(size_t));
	int *pfirst = malloc((size_t)npg * sizeof(int));
	char *ppure = malloc((size_t)npg), *ptplok = malloc((size_t)npg);
	for (int g = 0; g < npg; g++) {
		pfirst[g] = -1;
		ppure[g] = 1;
		ptplok[g] = 1;
	}
	size_t pa = 0;
	for (size_t i = 0; i < n; i++) {
		gsize[tg[i]]++;
		psize[pg[i]]++;
		if (pfirst[pg[i]] < 0)
			pfirst[pg[i]] = tg[i];
		else if (pfirst[pg[i]] != tg[i])
			ppure[pg[i]] = 0;
		int ok = strcmp(ptpl[i], t->tpl[i]) == 0;
		pa += ok;
		if (!ok)
			ptplok[pg[i]] = 0;
	}
	size_t ga = 0, correct = 0, tcorrect = 0, used = 0;
	for (int g = 0; g < npg; g++) {
		if (!psize[g])
			continue;
		used++;
		if (ppure[g] && psize[g] == gsize[pfirst[g]]) {
			ga += psize[g];
			correct++;
		}
		if (ppure[g] && ptplok[g])
			tcorrect++;
	}
	s->ga = (double)ga / (double)n;
	s->pa = (double)pa / (double)n;
	double p = (double)correct / (double)used, r = (double)correct / (double)ngt;
	s->fga = p + r > 0 ? 2 * p * r / (p + r) : 0;
	p = (double)tcorrect / (double)used;
	r = (double)tcorrect / (double)ngt;
	s->fta = p + r > 0 ? 2 * p * r / (p + r) : 0;
	free(gt.h);
	free(gt.id);
	free(tg);
	free(gsize);
	free(psize);
	free(pfirst);
	free(ppure);
	free(ptplok);
}

/* Mines one system's lines; fills per-line group ids and STAR templates. */
static void mine(const line *lines, size_t n, const char *header, int *pg, char **ptpl)
{
	sonde_loghdr *h;
	char err[128];
	if (sonde_loghdr_new(header, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "header '%s': %s\n", header, err);
		exit(1);
	}
	sonde_logmine *m;
	if (sonde_logmine_new(NULL, &m) < 0)
		exit(1);
	sonde_logmine_ref *refs = malloc(n * sizeof(*refs));
	for (size_t i = 0; i < n; i++) {
		sonde_loghdr_fields f;
		sonde_loghdr_split(h, lines[i].s, lines[i].n, &f);
		if (sonde_logmine_add(m, lines[i].s + f.content_off, f.content_len, &refs[i]) < 0)
			exit(1);
	}
	sonde_logmine_refine(m);
	strtab ids = {calloc(8192, 8), calloc(8192, sizeof(int)), 8192, 0};
	sonde_buf b = SONDE_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		sonde_logmine_ref r = sonde_logmine_resolve(m, refs[i]);
		pg[i] = strtab_id(&ids, r ? r : 1);
		sonde_buf_reset(&b);
		sonde_logmine_render(m, r, SONDE_LOGMINE_STAR, &b);
		ptpl[i] = strdup(b.data ? b.data : "");
	}
	sonde_buf_release(&b);
	free(ids.h);
	free(ids.id);
	free(refs);
	sonde_logmine_free(m);
	sonde_loghdr_free(h);
}

/* Ground-truth events whose lines are not exactly one parsed group: where each went. */
static void report_groups(const char *sys, size_t n, const int *pg, char *const *ptpl, const truth *t)
{
	char *done = calloc(n, 1);
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		/* lines of this event, and of the groups they are in */
		int split = 0, impure = 0;
		for (size_t j = i; j < n; j++) {
			if (strcmp(t->eid[j], t->eid[i]) != 0)
				continue;
			done[j] = 1;
			split |= pg[j] != pg[i];
		}
		for (size_t j = 0; j < n && !impure; j++)
			impure = pg[j] == pg[i] && strcmp(t->eid[j], t->eid[i]) != 0;
		if (!split && !impure)
			continue;
		fprintf(stderr, "%s event %s%s%s: %s\n", sys, t->eid[i], split ? " split" : "",
		        impure ? " merged" : "", t->tpl[i]);
		int seen[8], ns = 0;
		for (size_t j = i; j < n && ns < 8; j++) {
			if (strcmp(t->eid[j], t->eid[i]) != 0)
				continue;
			int dup = 0;
			for (int k = 0; k < ns; k++)
				dup |= seen[k] == pg[j];
			if (dup)
				continue;
			seen[ns++] = pg[j];
			fprintf(stderr, "    group %d: %s\n", pg[j], ptpl[j]);
		}
	}
	free(done);
}

static void report_mismatch(const char *sys, size_t n, const int *pg, char *const *ptpl, const truth *t)
{
	/* the first few lines whose template differs, once per parsed template */
	int shown = 0;
	for (size_t i = 0; i < n && shown < 40; i++) {
		if (strcmp(ptpl[i], t->tpl[i]) == 0)
			continue;
		int dup = 0;
		for (size_t j = 0; j < i && !dup; j++)
			dup = pg[j] == pg[i] && strcmp(ptpl[j], t->tpl[j]) != 0;
		if (dup)
			continue;
		fprintf(stderr, "%s line %zu\n  got  %s\n  want %s\n", sys, i + 1, ptpl[i], t->tpl[i]);
		shown++;
	}
}

/* CPU time of this thread: the machine is shared, and "lines per second on one core"
 * is what the miner costs, not how busy the neighbours are. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static inline uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

int main(int argc, char **argv)
{
	const char *dir = "../shared/data/loghub2k";
	size_t speed_lines = 10000000;
	int speed = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc)
			speed_lines = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--no-speed") == 0)
			speed = 0;
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
		else
			dir = argv[i];
	}
	char *raw[NSYS];
	line *lines[NSYS];
	size_t nlines[NSYS];
	scores sum[2][2] = {{{0}}}; /* [auto][corrected] */
	size_t loaded = 0;
	for (size_t s = 0; s < NSYS; s++) {
		char path[1024];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s/%s_2k.log", dir, systems[s].name, systems[s].name);
		raw[s] = read_all(path, &len);
		if (!raw[s]) {
			fprintf(stderr, "logparse_eval: %s: %s (skipped)\n", path, strerror(errno));
			nlines[s] = 0;
			lines[s] = NULL;
			continue;
		}
		nlines[s] = split_lines(raw[s], len, &lines[s]);
		loaded++;
		truth tr[2];
		for (int c = 0; c < 2; c++) {
			snprintf(path, sizeof(path), "%s/%s/%s_2k.log_structured%s.csv", dir, systems[s].name,
			         systems[s].name, c ? "_corrected" : "");
			if (load_truth(path, &tr[c]) < 0 || tr[c].n != nlines[s]) {
				fprintf(stderr, "logparse_eval: %s: cannot read or wrong line count\n", path);
				return 1;
			}
		}
		size_t n = nlines[s];
		int *pg = malloc(n * sizeof(int));
		char **ptpl = malloc(n * sizeof(char *));
		for (int a = 0; a < 2; a++) {
			mine(lines[s], n, a ? "auto" : systems[s].header, pg, ptpl);
			for (int c = 0; c < 2; c++) {
				scores sc;
				score(n, pg, ptpl, &tr[c], &sc);
				const char *tag = c ? "corrected" : "original";
				const char *hd = a ? "auto" : "given";
				printf("logparse_%s_%s_%s_GA: %.3f ratio\n", systems[s].name, hd, tag, sc.ga);
				printf("logparse_%s_%s_%s_PA: %.3f ratio\n", systems[s].name, hd, tag, sc.pa);
				printf("logparse_%s_%s_%s_FGA: %.3f ratio\n", systems[s].name, hd, tag,
				       sc.fga);
				printf("logparse_%s_%s_%s_FTA: %.3f ratio\n", systems[s].name, hd, tag,
				       sc.fta);
				sum[a][c].ga += sc.ga;
				sum[a][c].pa += sc.pa;
				sum[a][c].fga += sc.fga;
				sum[a][c].fta += sc.fta;
				if (verbose && c == 1 && a == 0) {
					report_mismatch(systems[s].name, n, pg, ptpl, &tr[c]);
					report_groups(systems[s].name, n, pg, ptpl, &tr[c]);
				}
			}
			for (size_t i = 0; i < n; i++)
				free(ptpl[i]);
		}
		free(pg);
		free(ptpl);
		truth_free(&tr[0]);
		truth_free(&tr[1]);
	}
	if (!loaded) {
		fprintf(stderr, "logparse_eval: no data under %s\n", dir);
		return 77;
	}
	for (int a = 0; a < 2; a++)
		for (int c = 0; c < 2; c++) {
			const char *tag = c ? "corrected" : "original";
			const char *hd = a ? "auto" : "given";
			double k = (double)loaded;
			printf("logparse_avg_%s_%s_GA: %.3f ratio\n", hd, tag, sum[a][c].ga / k);
			printf("logparse_avg_%s_%s_PA: %.3f ratio\n", hd, tag, sum[a][c].pa / k);
			printf("logparse_avg_%s_%s_FGA: %.3f ratio\n", hd, tag, sum[a][c].fga / k);
			printf("logparse_avg_%s_%s_FTA: %.3f ratio\n", hd, tag, sum[a][c].fta / k);
		}
	if (!speed)
		return 0;

	/* Throughput: replay the logs with fresh digits, in chunks generated outside the clock. */
	sonde_loghdr *given[NSYS];
	for (size_t s = 0; s < NSYS; s++) {
		char err[128];
		if (sonde_loghdr_new(systems[s].header, &given[s], err, sizeof(err)) < 0)
			return 1;
	}
	for (int a = 0; a < 2; a++) {
		sonde_loghdr *hdr[NSYS];
		char err[128];
		for (size_t s = 0; s < NSYS; s++)
			if (sonde_loghdr_new(a ? "auto" : systems[s].header, &hdr[s], err, sizeof(err)) < 0)
				return 1;
		sonde_logmine *m;
		if (sonde_logmine_new(NULL, &m) < 0)
			return 1;
		const size_t chunk = 200000;
		char *cbuf = malloc(chunk * 512);
		line *cl = malloc(chunk * sizeof(line));
		unsigned char *csys = malloc(chunk);
		size_t done = 0, cursor = 0, bytes = 0;
		double t_mine = 0, t_wall = 0;
		while (done < speed_lines) {
			size_t k = 0, o = 0;
			while (k < chunk && done + k < speed_lines) {
				size_t s = cursor % NSYS, idx = (cursor / NSYS) % 2000;
				cursor++;
				if (!nlines[s] || idx >= nlines[s])
					continue;
				const line *src = &lines[s][idx];
				size_t n = src->n > 511 ? 511 : src->n;
				/* fresh values in the message only: the header keeps valid times */
				sonde_loghdr_fields hf;
				sonde_loghdr_split(given[s], src->s, src->n, &hf);
				for (size_t i = 0; i < n; i++) {
					char ch = src->s[i];
					if (i >= hf.content_off && ch >= '0' && ch <= '9')
						ch = (char)('0' + (int)(rng() % 10));
					cbuf[o + i] = ch;
				}
				cl[k].s = cbuf + o;
				cl[k].n = n;
				csys[k] = (unsigned char)s;
				o += n;
				k++;
				bytes += n;
			}
			double t0 = now_s(), w0 = wall_s();
			for (size_t i = 0; i < k; i++) {
				size_t s = csys[i];
				sonde_loghdr_fields f;
				sonde_loghdr_split(hdr[s], cl[i].s, cl[i].n, &f);
				sonde_logmine_ref r;
				if (sonde_logmine_add(m, cl[i].s + f.content_off, f.content_len, &r) < 0)
					return 1;
			}
			t_mine += now_s() - t0;
			t_wall += wall_s() - w0;
			done += k;
		}
		double t0 = now_s();
		sonde_logmine_refine(m);
		double t_refine = now_s() - t0;
		const char *hd = a ? "auto" : "given";
		printf("logmine_%s_lines: %zu lines\n", hd, done);
		printf("logmine_%s_throughput: %.0f lines/s\n", hd, (double)done / t_mine);
		printf("logmine_%s_bandwidth: %.1f MB/s\n", hd, (double)bytes / t_mine / 1e6);
		/* wall clock on a shared machine: lower when other work takes the core */
		printf("logmine_%s_throughput_wall: %.0f lines/s\n", hd, (double)done / t_wall);
		printf("logmine_%s_templates: %zu templates\n", hd, sonde_logmine_count(m));
		printf("logmine_%s_refine_time: %.3f ms\n", hd, t_refine * 1e3);
		free(cbuf);
		free(cl);
		free(csys);
		sonde_logmine_free(m);
		for (size_t s = 0; s < NSYS; s++)
			sonde_loghdr_free(hdr[s]);
	}
	for (size_t s = 0; s < NSYS; s++)
		sonde_loghdr_free(given[s]);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("logmine_peak_rss: %ld KiB\n", ru.ru_maxrss);
	for (size_t s = 0; s < NSYS; s++) {
		free(raw[s]);
		free(lines[s]);
	}
	return 0;
}
