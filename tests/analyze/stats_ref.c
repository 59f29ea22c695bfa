/*
 * stats_ref.c - runs sonde's statistics (stats.h) on cases read from standard input, one
 * per line, and prints each result line, for stats_ref_test.sh to compare with scipy and
 * statsmodels. A case is a function name and its numbers, separated by spaces:
 *
 *   desc N X...                    -> mean var q25 median q75 p95 p99
 *   mwu METHOD N1 N2 X... Y...     -> u1 p exact     (METHOD: auto, asymptotic, exact)
 *   hl CONF N1 N2 X... Y...        -> shift lo hi
 *   pz C1 N1 C2 N2                 -> z p
 *   pci C1 N1 C2 N2 CONF           -> lo hi
 *   h P1 P2                        -> h
 *   welch N1 N2 X... Y...          -> t df p lo hi   (interval at 0.95)
 *   lift EA VA EB VB CONF          -> lift lo hi
 *   power EFFECT NOBS1 ALPHA RATIO -> power
 *   nobs EFFECT ALPHA POWER RATIO  -> nobs1
 *   chisq K O... W...              -> stat p
 *   holm K ALPHA P...              -> adjusted... reject...
 *
 * Numbers are printed with 17 significant digits; a failed call prints "rc N".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static double num(char **save)
{
	char *t = strtok_r(NULL, " \t\n", save);
	if (!t) {
		fprintf(stderr, "stats_ref: missing number\n");
		exit(2);
	}
	return strtod(t, NULL);
}

static double *nums(char **save, size_t n)
{
	double *v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		exit(2);
	for (size_t i = 0; i < n; i++)
		v[i] = num(save);
	return v;
}

static void put(double v)
{
	printf(" %.17g", v);
}

static void run(char *line)
{
	char *save;
	char *fn = strtok_r(line, " \t\n", &save);
	if (!fn)
		return;
	int rc = 0;
	printf("%s", fn);
	if (!strcmp(fn, "desc")) {
		size_t n = (size_t)num(&save);
		double *x = nums(&save, n);
		sonde_stats_summary s;
		rc = sonde_stats_summarize(x, n, &s);
		if (rc == 0) {
			put(s.mean);
			put(s.sd * s.sd);
			put(s.q1);
			put(s.median);
			put(s.q3);
			put(s.p95);
			put(s.p99);
		}
		free(x);
	} else if (!strcmp(fn, "mwu")) {
		char *m = strtok_r(NULL, " \t\n", &save);
		sonde_mwu_method method = !strcmp(m, "exact")        ? SONDE_MWU_EXACT
		                          : !strcmp(m, "asymptotic") ? SONDE_MWU_ASYMPTOTIC
		                                                     : SONDE_MWU_AUTO;
		size_t n1 = (size_t)num(&save), n2 = (size_t)num(&save);
		double *x = nums(&save, n1), *y = nums(&save, n2);
		sonde_mwu_result r;
		rc = sonde_stats_mann_whitney(x, n1, y, n2, method, &r);
		if (rc == 0) {
			put(r.u1);
			put(r.p);
			printf(" %d", r.exact);
		}
		free(x);
		free(y);
	} else if (!strcmp(fn, "hl")) {
		double conf = num(&save);
		size_t n1 = (size_t)num(&save), n2 = (size_t)num(&save);
		double *x = nums(&save, n1), *y = nums(&save, n2);
		sonde_hl_result r;
		rc = sonde_stats_hodges_lehmann(x, n1, y, n2, conf, &r);
		if (rc == 0) {
			put(r.shift);
			put(r.lo);
			put(r.hi);
		}
		free(x);
		free(y);
	} else if (!strcmp(fn, "pz") || !strcmp(fn, "pci")) {
		uint64_t c1 = (uint64_t)num(&save), n1 = (uint64_t)num(&save);
		uint64_t c2 = (uint64_t)num(&save), n2 = (uint64_t)num(&save);
		if (fn[1] == 'z') {
			sonde_test_result r;
			rc = sonde_stats_prop_ztest(c1, n1, c2, n2, &r);
			put(r.stat);
			put(r.p);
		} else {
			double lo, hi;
			rc = sonde_stats_prop_diff_ci(c1, n1, c2, n2, num(&save), &lo, &hi);
			put(lo);
			put(hi);
		}
	} else if (!strcmp(fn, "h")) {
		double p1 = num(&save);
		put(sonde_stats_cohen_h(p1, num(&save)));
	} else if (!strcmp(fn, "welch")) {
		size_t n1 = (size_t)num(&save), n2 = (size_t)num(&save);
		double *x = nums(&save, n1), *y = nums(&save, n2);
		sonde_stats_moments a = sonde_stats_moments_of(x, n1), b = sonde_stats_moments_of(y, n2);
		sonde_test_result r;
		double lo, hi;
		rc = sonde_stats_welch_ttest(&a, &b, &r);
		if (rc == 0)
			rc = sonde_stats_mean_diff_ci(&a, &b, 0.95, &lo, &hi);
		if (rc == 0) {
			put(r.stat);
			put(r.df);
			put(r.p);
			put(lo);
			put(hi);
		}
		free(x);
		free(y);
	} else if (!strcmp(fn, "lift")) {
		double v[5], lift, lo, hi;
		for (int i = 0; i < 5; i++)
			v[i] = num(&save);
		rc = sonde_stats_lift_ci(v[0], v[1], v[2], v[3], v[4], &lift, &lo, &hi);
		put(lift);
		put(lo);
		put(hi);
	} else if (!strcmp(fn, "power")) {
		double v[4];
		for (int i = 0; i < 4; i++)
			v[i] = num(&save);
		put(sonde_stats_power(v[0], v[1], v[2], v[3]));
	} else if (!strcmp(fn, "nobs")) {
		double v[4], n1;
		for (int i = 0; i < 4; i++)
			v[i] = num(&save);
		rc = sonde_stats_solve_nobs1(v[0], v[1], v[2], v[3], &n1);
		put(n1);
	} else if (!strcmp(fn, "chisq")) {
		size_t k = (size_t)num(&save);
		double *o = nums(&save, k), *w = nums(&save, k);
		sonde_test_result r;
		rc = sonde_stats_chisquare(o, w, k, &r);
		put(r.stat);
		put(r.p);
		free(o);
		free(w);
	} else if (!strcmp(fn, "holm")) {
		size_t k = (size_t)num(&save);
		double alpha = num(&save);
		double *p = nums(&save, k), *adj = nums(&save, 0);
		adj = realloc(adj, (k ? k : 1) * sizeof(*adj));
		bool *rej = calloc(k ? k : 1, sizeof(*rej));
		if (!adj || !rej)
			exit(2);
		rc = sonde_stats_holm(p, k, alpha, adj, rej);
		for (size_t i = 0; rc == 0 && i < k; i++)
			put(adj[i]);
		for (size_t i = 0; rc == 0 && i < k; i++)
			printf(" %d", rej[i]);
		free(p);
		free(adj);
		free(rej);
	} else {
		fprintf(stderr, "stats_ref: unknown function '%s'\n", fn);
		exit(2);
	}
	if (rc != 0)
		printf(" rc %d", rc);
	putchar('\n');
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0)
		run(line);
	free(line);
	return fflush(stdout) == 0 ? 0 : 1;
}
