/*
 * nab_eval.c - runs the anomaly detector (anomaly.h) over every series of the Numenta
 * Anomaly Benchmark in ../shared/data/nab and scores it with NAB's rules (nab_score.h):
 * one threshold swept over the corpus per profile, scores normalised between the null
 * and the perfect detector, overall and per category. A windowed Gaussian (NAB's own
 * baseline: mean and standard deviation of the last 6400 points, updated every 100) is
 * scored the same way as a check of the scorer.
 *
 * usage: nab_eval [NAB_DIR]   (default $SONDE_DATA/nab, else ../shared/data/nab)
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomaly.h"
#include "buf.h"
#include "csv_metrics.h"
#include "json.h"
#include "logline.h"
#include "nab_score.h"
#include "telemetry.h"

#define MAX_SERIES  128
#define MAX_WINDOWS 16

typedef struct series {
	char name[256]; /* category/file.csv */
	char category[64];
	uint64_t *t;
	double *v;
	size_t n;
	sonde_nab_window w[MAX_WINDOWS];
	size_t nw;
} series;

static series all[MAX_SERIES];
static size_t nseries;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = 0;
		*len = (size_t)n;
	}
	return buf;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of dir's entries not starting with a dot; caller frees. */
static size_t list_dir(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	size_t n = 0, cap = 64;
	char **v = malloc(cap * sizeof *v);
	struct dirent *e;
	while (d && v && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap *= 2;
			char **nv = realloc(v, cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		v[n++] = strdup(e->d_name);
	}
	if (d)
		closedir(d);
	if (v)
		qsort(v, n, sizeof *v, cmp_str);
	*out = v;
	return n;
}

static int load_series(const char *path, series *s)
{
	size_t len;
	char *buf = slurp(path, &len);
	if (!buf)
		return -errno;
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	int rc = sonde_csv_metrics_read(b, buf, len, 0, &err);
	free(buf);
	if (rc < 0 || b->metrics_count != 1) {
		fprintf(stderr, "nab_eval: %s: line %zu: %s\n", path, (size_t)err.line, err.msg);
		sonde_batch_free(b);
		return rc < 0 ? rc : -EINVAL;
	}
	const sonde_metric_data *m = &b->metrics[0];
	s->n = m->points_count;
	s->t = malloc(s->n * sizeof *s->t);
	s->v = malloc(s->n * sizeof *s->v);
	for (size_t i = 0; i < s->n; i++) {
		s->t[i] = m->points[i].time_ns;
		s->v[i] = m->points[i].u.number.kind == SONDE_NUM_INT ? (double)m->points[i].u.number.v.i
		                                                      : m->points[i].u.number.v.d;
	}
	sonde_batch_free(b);
	return 0;
}

static series *find_series(const char *name, size_t n)
{
	for (size_t i = 0; i < nseries; i++)
		if (strlen(all[i].name) == n && !memcmp(all[i].name, name, n))
			return &all[i];
	return NULL;
}

/* labels/combined_windows.json: {"category/file.csv": [["start", "end"], ...], ...} */
static int load_labels(const char *path)
{
	size_t len;
	char *buf = slurp(path, &len);
	if (!buf)
		return -errno;
	sonde_json_reader r;
	sonde_json_reader_init(&r, buf, len);
	int rc = sonde_json_enter_object(&r);
	const char *k;
	size_t kn;
	while (rc >= 0 && (rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
		series *s = find_series(k, kn);
		if ((rc = sonde_json_enter_array(&r)) < 0)
			break;
		while ((rc = sonde_json_next_elem(&r)) > 0) {
			uint64_t ends[2] = {0, 0};
			if ((rc = sonde_json_enter_array(&r)) < 0)
				break;
			for (int i = 0; (rc = sonde_json_next_elem(&r)) > 0; i++) {
				const char *str;
				size_t sn;
				if ((rc = sonde_json_read_str(&r, &str, &sn)) < 0)
					break;
				if (i < 2 && !sonde_logtime_parse(str, sn, 0, &ends[i]))
					rc = sonde_json_fail(&r, "a timestamp");
				if (rc < 0)
					break;
			}
			if (rc < 0)
				break;
			if (s && s->nw < MAX_WINDOWS)
				s->w[s->nw++] = (sonde_nab_window){ends[0], ends[1]};
		}
	}
	if (rc >= 0)
		rc = sonde_json_finish(&r);
	if (rc < 0)
		fprintf(stderr, "nab_eval: %s: offset %zu: %s\n", path, r.err_offset, r.err_msg);
	sonde_json_reader_release(&r);
	free(buf);
	return rc < 0 ? -EINVAL : 0;
}

/* NAB's windowed Gaussian: 1 - the Gaussian tail probability of |x - mean| / sd over a
 * window of 6400 points that advances by 100. */
static void windowed_gaussian(const series *s, double *out)
{
	enum { WINDOW = 6400, STEP = 100 };
	double *win = malloc(WINDOW * sizeof *win), step[STEP];
	size_t wn = 0, sn = 0;
	double mean = 0, sd = 0;
	for (size_t i = 0; i < s->n; i++) {
		double x = s->v[i];
		out[i] = 0;
		if (wn > 0) {
			double z = sd > 0 ? fabs(x - mean) / sd : (x == mean ? 0 : INFINITY);
			out[i] = 1.0 - 0.5 * erfc(z / sqrt(2.0));
		}
		bool update = false;
		if (wn < WINDOW) {
			win[wn++] = x;
			update = true;
		} else {
			step[sn++] = x;
			if (sn == STEP) {
				memmove(win, win + STEP, (WINDOW - STEP) * sizeof *win);
				memcpy(win + WINDOW - STEP, step, sizeof step);
				sn = 0;
				update = true;
			}
		}
		if (update) {
			double sum = 0, sq = 0;
			for (size_t j = 0; j < wn; j++)
				sum += win[j];
			mean = sum / (double)wn;
			for (size_t j = 0; j < wn; j++)
				sq += (win[j] - mean) * (win[j] - mean);
			sd = sqrt(sq / (double)wn);
		}
	}
	free(win);
}

typedef struct profile {
	const char *name;
	sonde_nab_costs costs;
} profile;

static const profile profiles[] = {
        {"standard", {1.0, 0.11, 1.0}},
        {"reward_low_FP", {1.0, 0.22, 1.0}},
        {"reward_low_FN", {1.0, 0.11, 2.0}},
};

static void report(const char *detector, double **scores)
{
	for (size_t p = 0; p < sizeof profiles / sizeof profiles[0]; p++) {
		sonde_nab_corpus c;
		sonde_nab_corpus_init(&c, profiles[p].costs);
		for (size_t i = 0; i < nseries; i++)
			sonde_nab_corpus_add(&c, all[i].t, scores[i], all[i].n, all[i].w, all[i].nw);
		sonde_nab_result r;
		if (sonde_nab_sweep(&c, &r) < 0) {
			fprintf(stderr, "nab_eval: out of memory\n");
			exit(1);
		}
		const char *prefix = strcmp(detector, "sonde") ? detector : "nab";
		printf("%s_%s: %.1f score\n", prefix, profiles[p].name, r.normalized);
		if (p == 0 || !strcmp(detector, "sonde"))
			printf("%s_%s_detail: threshold %.9f tp %zu fn %zu fp %zu raw %.2f\n", prefix,
			       profiles[p].name, r.threshold, r.tp, r.fn, r.fp, r.raw);
		/* Per category, at the corpus' threshold. */
		unsigned char mask[MAX_SERIES];
		for (size_t i = 0; i < nseries; i++) {
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				seen |= !strcmp(all[j].category, all[i].category);
			if (seen)
				continue;
			for (size_t j = 0; j < nseries; j++)
				mask[j] = !strcmp(all[j].category, all[i].category);
			sonde_nab_result cr;
			sonde_nab_score_at(&c, r.threshold, mask, &cr);
			if (cr.perfect_raw > cr.null_raw)
				printf("%s_%s_%s: %.1f score\n", prefix, profiles[p].name, all[i].category,
				       cr.normalized);
			else
				printf("%s_%s_%s: %zu fp\n", prefix, profiles[p].name, all[i].category,
				       cr.fp);
		}
		if (getenv("NAB_PER_SERIES") && p == 0) {
			for (size_t j = 0; j < nseries; j++) {
				memset(mask, 0, sizeof mask);
				mask[j] = 1;
				sonde_nab_result sr;
				sonde_nab_score_at(&c, r.threshold, mask, &sr);
				fprintf(stderr, "  %-60s tp %zu fn %zu fp %3zu raw %6.2f\n", all[j].name,
				        sr.tp, sr.fn, sr.fp, sr.raw);
			}
		}
		sonde_nab_corpus_release(&c);
	}
}

int main(int argc, char **argv)
{
	char dir[1024];
	if (argc > 1)
		snprintf(dir, sizeof dir, "%s", argv[1]);
	else if (getenv("SONDE_DATA"))
		snprintf(dir, sizeof dir, "%s/nab", getenv("SONDE_DATA"));
	else
		snprintf(dir, sizeof dir, "../shared/data/nab");
	char path[4096];
	snprintf(path, sizeof path, "%s/data", dir);
	char **cats;
	size_t ncats = list_dir(path, &cats);
	if (ncats == 0) {
		fprintf(stderr, "nab_eval: %s: no categories (is the NAB data there?)\n", path);
		return 2;
	}
	size_t points = 0;
	for (size_t c = 0; c < ncats; c++) {
		char cdir[2048 + 64];
		snprintf(cdir, sizeof cdir, "%s/data/%s", dir, cats[c]);
		char **files;
		size_t nf = list_dir(cdir, &files);
		for (size_t f = 0; f < nf; f++) {
			size_t fl = strlen(files[f]);
			if (fl > 4 && !strcmp(files[f] + fl - 4, ".csv") && nseries < MAX_SERIES) {
				series *s = &all[nseries];
				snprintf(s->name, sizeof s->name, "%s/%s", cats[c], files[f]);
				snprintf(s->category, sizeof s->category, "%s", cats[c]);
				snprintf(path, sizeof path, "%s/%s", cdir, files[f]);
				if (load_series(path, s) < 0)
					return 2;
				points += s->n;
				nseries++;
			}
			free(files[f]);
		}
		free(files);
		free(cats[c]);
	}
	free(cats);
	snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
	if (load_labels(path) < 0)
		return 2;

	double *sonde_scores[MAX_SERIES], *gauss_scores[MAX_SERIES];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < nseries; i++) {
		sonde_scores[i] = malloc(all[i].n * sizeof(double));
		if (sonde_anomaly_score_series(all[i].t, all[i].v, all[i].n, sonde_scores[i], NULL) < 0)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* NAB_TRACE=substring: the points of matching series that score over 0.5. */
	for (size_t i = 0; getenv("NAB_TRACE") && i < nseries; i++) {
		if (!strstr(all[i].name, getenv("NAB_TRACE")))
			continue;
		sonde_anomaly_point *dp = malloc(all[i].n * sizeof *dp);
		double *sc = malloc(all[i].n * sizeof *sc);
		sonde_anomaly_score_series(all[i].t, all[i].v, all[i].n, sc, dp);
		for (size_t j = 0; j < all[i].n; j++)
			if (sc[j] > 0.5)
				fprintf(stderr, "%zu %s v %g exp %g z %.2f score %.3f %s season %d\n", j,
				        all[i].name, all[i].v[j], dp[j].expected, dp[j].z, sc[j],
				        sonde_anomaly_kind_name(dp[j].kind), dp[j].season);
		free(dp);
		free(sc);
	}
	if (getenv("NAB_DEBUG"))
		for (size_t i = 0; i < nseries; i++) {
			const series *s = &all[i];
			size_t prob = sonde_nab_probation(s->n);
			double out = 0;
			fprintf(stderr, "%-58s", s->name);
			size_t w = 0;
			double win = -1;
			for (size_t j = prob; j < s->n; j++) {
				bool in = w < s->nw && s->t[j] >= s->w[w].start && s->t[j] <= s->w[w].end;
				if (in)
					win = fmax(win, sonde_scores[i][j]);
				else
					out = fmax(out, sonde_scores[i][j]);
				if (w < s->nw && s->t[j] >= s->w[w].end) {
					fprintf(stderr, " W%.3f", win);
					win = -1;
					w++;
				}
			}
			fprintf(stderr, " out %.3f\n", out);
		}
	double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	for (size_t i = 0; i < nseries; i++) {
		gauss_scores[i] = malloc(all[i].n * sizeof(double));
		windowed_gaussian(&all[i], gauss_scores[i]);
	}
	printf("nab_series: %zu series\n", nseries);
	printf("nab_points: %zu points\n", points);
	printf("nab_detector_rate: %.2f Mpoints/s\n", secs > 0 ? (double)points / secs / 1e6 : 0);
	report("sonde", sonde_scores);
	report("baseline_gaussian", gauss_scores);
	for (size_t i = 0; i < nseries; i++) {
		free(sonde_scores[i]);
		free(gauss_scores[i]);
		free(all[i].t);
		free(all[i].v);
	}
	return 0;
}
