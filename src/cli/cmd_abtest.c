/*
 * cmd_abtest.c - `sonde abtest`: analyse an A/B test from per-unit outcomes or aggregate
 * counts. Design checks (sample ratio mismatch, sample size for a minimum detectable
 * effect, zero variance), the pooled two-proportion z-test and Welch's t-test of each
 * variant against the control, intervals for the difference and the relative lift,
 * Cohen's h, power, segments with Simpson's paradox, Holm's correction across the tests,
 * and a plain-language reading. The statistics are stats.h's; input reading is
 * stats_abtest.h's.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "sonde/status.h"
#include "stats.h"
#include "stats_abtest.h"

const char sonde_abtest_usage[] =
        "usage: sonde abtest [options] FILE\n"
        "       sonde abtest [options] --counts NAME:CONVERSIONS/USERS NAME:CONVERSIONS/USERS...\n"
        "\n"
        "Analyses an A/B test. FILE ('-' for standard input) holds per-unit outcomes (CSV with\n"
        "a header, or JSON Lines: variant, converted (0/1) and/or value, optional segment) or\n"
        "aggregate counts (CSV: variant,users,conversions[,segment]). Each variant is compared\n"
        "with the control (the first variant, or --control):\n"
        "  - design checks: sample ratio mismatch (chi-square against --split, flagged at\n"
        "    p < 0.001), the sample size needed for --mde, zero variance;\n"
        "  - conversion: pooled two-proportion z-test (as statsmodels' proportions_ztest), the\n"
        "    difference with its Wald interval, the relative lift with a delta-method interval,\n"
        "    Cohen's h, and the power to detect --mde at the sizes observed;\n"
        "  - value: Welch's t-test of the means, the difference and lift with intervals;\n"
        "  - segments: the conversion difference per segment, and Simpson's paradox when the\n"
        "    pooled direction is opposite to every segment's;\n"
        "  - Holm's correction when several tests are made; then a plain-language reading.\n"
        "Methods and references: docs/statistics.md.\n"
        "\n"
        "options:\n"
        "  --counts SPEC...    aggregate counts instead of a file, e.g. A:120/2400 B:150/2380\n"
        "  --control NAME      the control variant (default: the first one in the input)\n"
        "  --mde D             minimum detectable effect on the conversion rate: absolute (0.01\n"
        "                      = one percentage point) or relative to the control's rate (5%)\n"
        "  --alpha A           significance level (default 0.05); intervals are at 1 - A\n"
        "  --power P           target power for the sample size (default 0.8)\n"
        "  --split W/W...      expected shares of users per variant, in input order (default\n"
        "                      equal), e.g. 50/50 or 90/10\n"
        "  --json              print the results as JSON\n"
        "\n"
        "exit status: 0 analysed (whatever the result), 2 bad usage or input (FILE:LINE named)\n"
        "\n"
        "examples:\n"
        "  sonde abtest --counts A:200/10000 B:245/10050 --mde 0.5%\n"
        "  sonde abtest --mde 0.01 --split 50/50 experiment.csv\n"
        "  sonde abtest --json units.jsonl | jq '.comparisons[0].conversion.p'\n";

/* One treatment against the control. */
typedef struct comp {
	size_t v;
	bool conv;           /* conversion tested */
	double pa, pb;       /* rates */
	sonde_test_result z; /* z sign: control minus treatment (statsmodels' order) */
	double diff, diff_lo, diff_hi, lift, lift_lo, lift_hi, h, power;
	double conv_p_adj;
	bool conv_sig;
	bool val;                   /* value tested */
	sonde_stats_moments ma, mb; /* of the values */
	sonde_test_result t;
	double mdiff, mdiff_lo, mdiff_hi, mlift, mlift_lo, mlift_hi;
	double val_p_adj;
	bool val_sig;
	bool simpson;
	size_t seg_compared; /* segments holding both variants */
} comp;

typedef struct abtest {
	const char *source;
	sonde_abtest_data d;
	size_t control;
	double alpha, power, mde;
	bool mde_relative, has_mde;
	double *split; /* weights per variant, or NULL: equal */
	size_t split_count;
	sonde_test_result srm;
	bool srm_flagged;
	double need_n; /* users per control for the MDE (NaN when not asked or undefined) */
	double mde_abs;
	comp *comps;
	size_t comps_count;
	size_t tests; /* p-values in Holm's family */
} abtest;

static double conf_of(const abtest *a)
{
	return 1 - a->alpha;
}

static bool parse_prob(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v > 0 && v < 1))
		return false;
	*out = v;
	return true;
}

static int parse_split(abtest *a, const char *s)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == '/' || *p == ':' || *p == ',';
	a->split = calloc(cap, sizeof(*a->split));
	if (!a->split)
		return -ENOMEM;
	const char *p = s;
	for (;;) {
		char *end;
		double w = strtod(p, &end);
		if (end == p || !(w > 0) || isinf(w))
			return -EINVAL;
		a->split[a->split_count++] = w;
		if (!*end)
			return 0;
		if (*end != '/' && *end != ':' && *end != ',')
			return -EINVAL;
		p = end + 1;
	}
}

/* NAME:CONVERSIONS/USERS */
static int parse_counts(abtest *a, const char *spec)
{
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec)
		return -EINVAL;
	char *end;
	const char *c = colon + 1;
	if (*c < '0' || *c > '9')
		return -EINVAL;
	unsigned long long conv = strtoull(c, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	const char *u = end + 1;
	unsigned long long users = strtoull(u, &end, 10);
	if (*end || conv > users)
		return -EINVAL;
	return sonde_abtest_add_counts(&a->d, spec, (size_t)(colon - spec), NULL, 0, conv, users);
}

/* ---- Analysis ----------------------------------------------------------------------------- */

static void design_checks(abtest *a)
{
	const sonde_abtest_data *d = &a->d;
	size_t k = d->variants_count;
	double obs[SONDE_ABTEST_MAX_VARIANTS], w[SONDE_ABTEST_MAX_VARIANTS];
	for (size_t i = 0; i < k; i++) {
		obs[i] = (double)d->variants[i].users;
		w[i] = a->split ? a->split[i] : 1;
	}
	a->srm_flagged = sonde_stats_chisquare(obs, w, k, &a->srm) == 0 && a->srm.p < SONDE_SRM_ALPHA;

	a->need_n = a->mde_abs = NAN;
	const sonde_abtest_variant *c = &d->variants[a->control];
	if (a->has_mde && d->has_conversion && c->users > 0) {
		double pc = (double)c->conversions / (double)c->users;
		a->mde_abs = a->mde_relative ? pc * a->mde : a->mde;
		double h = sonde_stats_cohen_h(pc, pc + a->mde_abs);
		/* The expected size of every treatment relative to the control. */
		double ratio = 1;
		if (a->split)
			for (size_t i = 0; i < k; i++)
				if (i != a->control)
					ratio = a->split[i] / a->split[a->control];
		double n;
		if (!isnan(h) && sonde_stats_solve_nobs1(h, a->alpha, a->power, ratio, &n) == 0)
			a->need_n = n;
	}
}

static void compare(abtest *a, comp *cp)
{
	const sonde_abtest_data *d = &a->d;
	const sonde_abtest_variant *A = &d->variants[a->control], *B = &d->variants[cp->v];
	double conf = conf_of(a);
	if (d->has_conversion && A->users && B->users) {
		cp->conv = true;
		cp->pa = (double)A->conversions / (double)A->users;
		cp->pb = (double)B->conversions / (double)B->users;
		sonde_stats_prop_ztest(A->conversions, A->users, B->conversions, B->users, &cp->z);
		sonde_stats_prop_diff_ci(A->conversions, A->users, B->conversions, B->users, conf,
		                         &cp->diff_lo, &cp->diff_hi);
		cp->diff = cp->pb - cp->pa;
		sonde_stats_lift_ci(cp->pa, cp->pa * (1 - cp->pa) / (double)A->users, cp->pb,
		                    cp->pb * (1 - cp->pb) / (double)B->users, conf, &cp->lift, &cp->lift_lo,
		                    &cp->lift_hi);
		cp->h = sonde_stats_cohen_h(cp->pa, cp->pb);
		cp->power = NAN;
		if (!isnan(a->mde_abs))
			cp->power = sonde_stats_power(sonde_stats_cohen_h(cp->pa, cp->pa + a->mde_abs),
			                              (double)A->users, a->alpha,
			                              (double)B->users / (double)A->users);
		cp->conv_p_adj = cp->z.p;
	}
	if (d->has_value && A->values_count && B->values_count) {
		cp->val = true;
		cp->ma = sonde_stats_moments_of(A->values, A->values_count);
		cp->mb = sonde_stats_moments_of(B->values, B->values_count);
		sonde_stats_welch_ttest(&cp->ma, &cp->mb, &cp->t);
		sonde_stats_mean_diff_ci(&cp->ma, &cp->mb, conf, &cp->mdiff_lo, &cp->mdiff_hi);
		cp->mdiff = cp->mb.mean - cp->ma.mean;
		sonde_stats_lift_ci(cp->ma.mean, cp->ma.var / cp->ma.n, cp->mb.mean, cp->mb.var / cp->mb.n,
		                    conf, &cp->mlift, &cp->mlift_lo, &cp->mlift_hi);
		cp->val_p_adj = cp->t.p;
	}
	/* Simpson's paradox: the pooled difference has one sign and every segment holding
	 * both variants the other. */
	if (cp->conv && d->segments_count >= 2 && cp->diff != 0) {
		bool all_opposite = true;
		for (size_t s = 0; s < d->segments_count; s++) {
			const sonde_abtest_cell *ca = &d->cells[s * SONDE_ABTEST_MAX_VARIANTS + a->control];
			const sonde_abtest_cell *cb = &d->cells[s * SONDE_ABTEST_MAX_VARIANTS + cp->v];
			if (!ca->users || !cb->users)
				continue;
			cp->seg_compared++;
			double sd = (double)cb->conversions / (double)cb->users -
			            (double)ca->conversions / (double)ca->users;
			if (!(sd * cp->diff < 0))
				all_opposite = false;
		}
		cp->simpson = all_opposite && cp->seg_compared >= 2;
	}
}

/* Holm over every defined p-value of the comparisons. */
static int holm(abtest *a)
{
	double p[2 * SONDE_ABTEST_MAX_VARIANTS], adj[2 * SONDE_ABTEST_MAX_VARIANTS];
	bool rej[2 * SONDE_ABTEST_MAX_VARIANTS];
	size_t k = 0;
	for (size_t i = 0; i < a->comps_count; i++) {
		comp *c = &a->comps[i];
		if (c->conv && !isnan(c->z.p))
			p[k++] = c->z.p;
		if (c->val && !isnan(c->t.p))
			p[k++] = c->t.p;
	}
	a->tests = k;
	for (size_t i = 0; i < k; i++) {
		adj[i] = p[i];
		rej[i] = p[i] <= a->alpha; /* as multipletests: p == alpha rejects */
	}
	if (k > 1 && sonde_stats_holm(p, k, a->alpha, adj, rej) < 0)
		return -ENOMEM;
	k = 0;
	for (size_t i = 0; i < a->comps_count; i++) {
		comp *c = &a->comps[i];
		if (c->conv && !isnan(c->z.p)) {
			c->conv_p_adj = adj[k];
			c->conv_sig = rej[k++];
		}
		if (c->val && !isnan(c->t.p)) {
			c->val_p_adj = adj[k];
			c->val_sig = rej[k++];
		}
	}
	return 0;
}

/* ---- Table output -------------------------------------------------------------------------- */

static const char *pct(char *buf, size_t n, double v, bool sign)
{
	if (isnan(v))
		snprintf(buf, n, "n/a");
	else if (isinf(v))
		snprintf(buf, n, "%s", v > 0 ? "+inf" : "-inf");
	else
		snprintf(buf, n, sign ? "%+.2f%%" : "%.2f%%", 100 * v);
	return buf;
}

static const char *pts(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "n/a");
	else if (v != 0 && fabs(100 * v) < 0.1)
		snprintf(buf, n, "%+.2g", 100 * v);
	else
		snprintf(buf, n, "%+.2f", 100 * v);
	return buf;
}

static const char *num(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "n/a");
	else
		snprintf(buf, n, "%.4g", v);
	return buf;
}

static const char *pval(char *buf, size_t n, double p)
{
	if (isnan(p))
		snprintf(buf, n, "n/a");
	else if (p < 1e-4)
		snprintf(buf, n, "%.1e", p);
	else
		snprintf(buf, n, "%.4f", p);
	return buf;
}

static void print_zero_variance(const abtest *a)
{
	const sonde_abtest_data *d = &a->d;
	bool any = false;
	for (size_t i = 0; i < d->variants_count; i++) {
		const sonde_abtest_variant *v = &d->variants[i];
		if (d->has_conversion && v->users && (v->conversions == 0 || v->conversions == v->users)) {
			printf("  zero variance  %s: %s of %llu users converted\n", v->name,
			       v->conversions ? "all" : "none", (unsigned long long)v->users);
			any = true;
		}
		if (d->has_value && v->values_count >= 2 &&
		    sonde_stats_variance(v->values, v->values_count) == 0) {
			printf("  zero variance  %s: every value is %g\n", v->name, v->values[0]);
			any = true;
		}
	}
	if (!any)
		printf("  zero variance  none\n");
}

static void print_table(const abtest *a)
{
	const sonde_abtest_data *d = &a->d;
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];
	printf("A/B test: %zu variants, control %s (%s)\n\n", d->variants_count, d->variants[a->control].name,
	       a->source);
	printf("design checks\n");
	printf("  sample ratio   ");
	uint64_t total = 0;
	for (size_t i = 0; i < d->variants_count; i++)
		total += d->variants[i].users;
	for (size_t i = 0; i < d->variants_count; i++)
		printf("%s %llu (%.1f%%)  ", d->variants[i].name, (unsigned long long)d->variants[i].users,
		       total ? 100.0 * (double)d->variants[i].users / (double)total : 0.0);
	printf("chi2 %s p %s: %s\n", num(b1, sizeof b1, a->srm.stat), pval(b2, sizeof b2, a->srm.p),
	       a->srm_flagged ? "MISMATCH (p < 0.001)" : "ok");
	if (a->has_mde) {
		if (isnan(a->need_n))
			printf("  sample size    not computable for this MDE\n");
		else
			printf("  sample size    %.0f users in %s for an MDE of %s points (alpha %g, power "
			       "%g)\n",
			       ceil(a->need_n), d->variants[a->control].name, pts(b1, sizeof b1, a->mde_abs),
			       a->alpha, a->power);
	}
	print_zero_variance(a);
	int confpct = (int)lround(100 * conf_of(a));

	if (d->has_conversion) {
		printf("\nconversion\n");
		printf("  %-12s %10s %11s %8s  %-26s %-26s %8s %9s %7s %6s\n", "variant", "users",
		       "conversions", "rate", "diff pts (CI)", "lift (CI)", "z", "p", "h", "power");
		const sonde_abtest_variant *c = &d->variants[a->control];
		printf("  %-12s %10llu %11llu %8s\n", c->name, (unsigned long long)c->users,
		       (unsigned long long)c->conversions,
		       pct(b1, sizeof b1, c->users ? (double)c->conversions / (double)c->users : NAN, false));
		for (size_t i = 0; i < a->comps_count; i++) {
			const comp *cp = &a->comps[i];
			const sonde_abtest_variant *v = &d->variants[cp->v];
			char diff[128], lift[128];
			snprintf(diff, sizeof diff, "%s [%s, %s]", pts(b2, sizeof b2, cp->diff),
			         pts(b3, sizeof b3, cp->diff_lo), pts(b4, sizeof b4, cp->diff_hi));
			snprintf(lift, sizeof lift, "%s [%s, %s]", pct(b5, sizeof b5, cp->lift, true),
			         pct(b6, sizeof b6, cp->lift_lo, true),
			         pct(b7, sizeof b7, cp->lift_hi, true));
			printf("  %-12s %10llu %11llu %8s  %-26s %-26s", v->name,
			       (unsigned long long)v->users, (unsigned long long)v->conversions,
			       pct(b1, sizeof b1, cp->pb, false), diff, lift);
			printf(" %8s %9s", num(b1, sizeof b1, cp->z.stat), pval(b2, sizeof b2, cp->z.p));
			printf(" %7s %6s\n", num(b3, sizeof b3, cp->h), pct(b4, sizeof b4, cp->power, false));
		}
		printf("  (intervals at %d%%; diff and lift are variant minus %s)\n", confpct, c->name);
	}
	if (d->has_value) {
		printf("\nvalue (mean per unit)\n");
		printf("  %-12s %10s %12s %12s  %-30s %-26s %8s %8s %9s\n", "variant", "n", "mean", "sd",
		       "diff (CI)", "lift (CI)", "t", "df", "p");
		const sonde_abtest_variant *c = &d->variants[a->control];
		printf("  %-12s %10zu %12.6g %12.6g\n", c->name, c->values_count,
		       sonde_stats_mean(c->values, c->values_count),
		       sonde_stats_sd(c->values, c->values_count));
		for (size_t i = 0; i < a->comps_count; i++) {
			const comp *cp = &a->comps[i];
			if (!cp->val)
				continue;
			char diff[128], lift[128];
			snprintf(diff, sizeof diff, "%+.4g [%+.4g, %+.4g]", cp->mdiff, cp->mdiff_lo,
			         cp->mdiff_hi);
			snprintf(lift, sizeof lift, "%s [%s, %s]", pct(b5, sizeof b5, cp->mlift, true),
			         pct(b6, sizeof b6, cp->mlift_lo, true),
			         pct(b7, sizeof b7, cp->mlift_hi, true));
			printf("  %-12s %10.0f %12.6g %12.6g  %-30s %-26s %8s %8s %9s\n",
			       d->variants[cp->v].name, cp->mb.n, cp->mb.mean, sqrt(cp->mb.var), diff, lift,
			       num(b1, sizeof b1, cp->t.stat), num(b2, sizeof b2, cp->t.df),
			       pval(b3, sizeof b3, cp->t.p));
		}
	}
	if (d->segments_count && d->has_conversion) {
		printf("\nsegments (conversion rate)\n");
		printf("  %-16s", "segment");
		for (size_t v = 0; v < d->variants_count; v++)
			printf(" %14s", d->variants[v].name);
		printf("\n");
		for (size_t s = 0; s < d->segments_count; s++) {
			printf("  %-16s", d->segments[s]);
			for (size_t v = 0; v < d->variants_count; v++) {
				const sonde_abtest_cell *c = &d->cells[s * SONDE_ABTEST_MAX_VARIANTS + v];
				char cell[40];
				snprintf(cell, sizeof cell, "%s (%llu)",
				         pct(b1, sizeof b1,
				             c->users ? (double)c->conversions / (double)c->users : NAN,
				             false),
				         (unsigned long long)c->users);
				printf(" %14s", cell);
			}
			printf("\n");
		}
		for (size_t i = 0; i < a->comps_count; i++)
			if (a->comps[i].simpson)
				printf("  SIMPSON'S PARADOX: %s vs %s: the pooled difference (%s pts) is "
				       "opposite to "
				       "every segment's\n",
				       d->variants[a->comps[i].v].name, d->variants[a->control].name,
				       pts(b1, sizeof b1, a->comps[i].diff));
	}
	if (a->tests > 1) {
		printf("\nmultiple testing: Holm over %zu tests at alpha %g\n", a->tests, a->alpha);
		for (size_t i = 0; i < a->comps_count; i++) {
			const comp *cp = &a->comps[i];
			if (cp->conv && !isnan(cp->z.p))
				printf("  %-12s conversion  p %s -> adjusted %s  %s\n",
				       d->variants[cp->v].name, pval(b1, sizeof b1, cp->z.p),
				       pval(b2, sizeof b2, cp->conv_p_adj),
				       cp->conv_sig ? "significant" : "not significant");
			if (cp->val && !isnan(cp->t.p))
				printf("  %-12s value       p %s -> adjusted %s  %s\n",
				       d->variants[cp->v].name, pval(b1, sizeof b1, cp->t.p),
				       pval(b2, sizeof b2, cp->val_p_adj),
				       cp->val_sig ? "significant" : "not significant");
		}
	}
}

/* ---- Interpretation ----------------------------------------------------------------------- */

/* Appends the plain-language reading, one sentence per line, to out. */
static void interpret(const abtest *a, sonde_buf *out)
{
	const sonde_abtest_data *d = &a->d;
	const char *cn = d->variants[a->control].name;
	int confpct = (int)lround(100 * conf_of(a));
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];
	if (a->srm_flagged)
		sonde_buf_printf(
		        out,
		        "Sample ratio mismatch: the users are not split as expected (chi-square p = %s < "
		        "0.001). Assignment or logging is likely broken; do not trust the results below "
		        "until that is explained.\n",
		        pval(b1, sizeof b1, a->srm.p));
	for (size_t i = 0; i < a->comps_count; i++) {
		const comp *cp = &a->comps[i];
		const char *vn = d->variants[cp->v].name;
		if (cp->conv) {
			if (isnan(cp->z.p))
				sonde_buf_printf(
				        out,
				        "Conversion of %s vs %s cannot be tested: %s converted in both.\n",
				        vn, cn, cp->pa == 0 ? "nobody" : "everybody");
			else if (cp->conv_sig)
				sonde_buf_printf(
				        out,
				        "%s converts at %s against %s's %s: %s points (%d%% CI %s to %s), a "
				        "relative lift of %s. This is statistically significant (p = "
				        "%s%s).\n",
				        vn, pct(b1, sizeof b1, cp->pb, false), cn,
				        pct(b2, sizeof b2, cp->pa, false), pts(b3, sizeof b3, cp->diff),
				        confpct, pts(b4, sizeof b4, cp->diff_lo),
				        pts(b5, sizeof b5, cp->diff_hi), pct(b6, sizeof b6, cp->lift, true),
				        pval(b7, sizeof b7, cp->conv_p_adj),
				        a->tests > 1 ? ", Holm-adjusted" : "");
			else
				sonde_buf_printf(out,
				                 "No significant difference in conversion between %s (%s) "
				                 "and %s (%s): "
				                 "the %d%% interval for the difference, %s to %s points, "
				                 "includes zero "
				                 "(p = %s%s).\n",
				                 vn, pct(b1, sizeof b1, cp->pb, false), cn,
				                 pct(b2, sizeof b2, cp->pa, false), confpct,
				                 pts(b3, sizeof b3, cp->diff_lo),
				                 pts(b4, sizeof b4, cp->diff_hi),
				                 pval(b5, sizeof b5, cp->conv_p_adj),
				                 a->tests > 1 ? ", Holm-adjusted" : "");
			if (!isnan(cp->power) && cp->power < a->power)
				sonde_buf_printf(
				        out,
				        "The test is underpowered: at these sizes it had a %.0f%% chance to "
				        "detect the MDE of %s points; %.0f users in %s would give %.0f%%.\n",
				        100 * cp->power, pts(b1, sizeof b1, a->mde_abs), ceil(a->need_n), cn,
				        100 * a->power);
			if (cp->simpson)
				sonde_buf_printf(out,
				                 "Simpson's paradox: pooled, %s looks %s than %s, but it is "
				                 "%s in every "
				                 "segment. The variants' segment mixes differ; believe the "
				                 "per-segment "
				                 "comparison, and check how users were assigned.\n",
				                 vn, cp->diff > 0 ? "better" : "worse", cn,
				                 cp->diff > 0 ? "worse" : "better");
		}
		if (cp->val) {
			if (isnan(cp->t.p))
				sonde_buf_printf(
				        out,
				        "The value of %s vs %s cannot be tested (too few units, or no "
				        "variance).\n",
				        vn, cn);
			else
				sonde_buf_printf(out,
				                 "Mean value: %s %.4g vs %s %.4g, a difference of %+.4g "
				                 "(%d%% CI %+.4g to "
				                 "%+.4g): %s (Welch p = %s%s).\n",
				                 vn, cp->mb.mean, cn, cp->ma.mean, cp->mdiff, confpct,
				                 cp->mdiff_lo, cp->mdiff_hi,
				                 cp->val_sig ? "significant" : "not significant",
				                 pval(b1, sizeof b1, cp->val_p_adj),
				                 a->tests > 1 ? ", Holm-adjusted" : "");
		}
	}
}

/* ---- JSON output ---------------------------------------------------------------------------- */

static void jf(sonde_json_writer *w, const char *k, double v)
{
	sonde_json_key_cstr(w, k);
	sonde_json_f64(w, v);
}

static void print_json(const abtest *a, const sonde_buf *reading)
{
	const sonde_abtest_data *d = &a->d;
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &out, 2);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "control");
	sonde_json_str(&w, d->variants[a->control].name, strlen(d->variants[a->control].name));
	jf(&w, "alpha", a->alpha);
	sonde_json_key_cstr(&w, "variants");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < d->variants_count; i++) {
		const sonde_abtest_variant *v = &d->variants[i];
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "name");
		sonde_json_str(&w, v->name, strlen(v->name));
		sonde_json_key_cstr(&w, "users");
		sonde_json_u64(&w, v->users);
		if (d->has_conversion) {
			sonde_json_key_cstr(&w, "conversions");
			sonde_json_u64(&w, v->conversions);
			jf(&w, "rate", v->users ? (double)v->conversions / (double)v->users : NAN);
		}
		if (d->has_value) {
			sonde_json_key_cstr(&w, "values");
			sonde_json_u64(&w, v->values_count);
			jf(&w, "mean", sonde_stats_mean(v->values, v->values_count));
			jf(&w, "sd", sonde_stats_sd(v->values, v->values_count));
		}
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_key_cstr(&w, "srm");
	sonde_json_obj_begin(&w);
	jf(&w, "chi2", a->srm.stat);
	jf(&w, "df", a->srm.df);
	jf(&w, "p", a->srm.p);
	sonde_json_key_cstr(&w, "mismatch");
	sonde_json_bool(&w, a->srm_flagged);
	sonde_json_obj_end(&w);
	if (a->has_mde) {
		sonde_json_key_cstr(&w, "sample_size");
		sonde_json_obj_begin(&w);
		jf(&w, "mde", a->mde_abs);
		jf(&w, "power", a->power);
		jf(&w, "control_users_needed", a->need_n);
		sonde_json_obj_end(&w);
	}
	sonde_json_key_cstr(&w, "comparisons");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < a->comps_count; i++) {
		const comp *cp = &a->comps[i];
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "variant");
		sonde_json_str(&w, d->variants[cp->v].name, strlen(d->variants[cp->v].name));
		if (cp->conv) {
			sonde_json_key_cstr(&w, "conversion");
			sonde_json_obj_begin(&w);
			jf(&w, "control_rate", cp->pa);
			jf(&w, "rate", cp->pb);
			jf(&w, "z", cp->z.stat);
			jf(&w, "p", cp->z.p);
			jf(&w, "p_adjusted", cp->conv_p_adj);
			sonde_json_key_cstr(&w, "significant");
			sonde_json_bool(&w, cp->conv_sig);
			jf(&w, "diff", cp->diff);
			jf(&w, "diff_lo", cp->diff_lo);
			jf(&w, "diff_hi", cp->diff_hi);
			jf(&w, "lift", cp->lift);
			jf(&w, "lift_lo", cp->lift_lo);
			jf(&w, "lift_hi", cp->lift_hi);
			jf(&w, "cohen_h", cp->h);
			jf(&w, "power", cp->power);
			sonde_json_key_cstr(&w, "simpson_paradox");
			sonde_json_bool(&w, cp->simpson);
			sonde_json_obj_end(&w);
		}
		if (cp->val) {
			sonde_json_key_cstr(&w, "value");
			sonde_json_obj_begin(&w);
			jf(&w, "control_mean", cp->ma.mean);
			jf(&w, "mean", cp->mb.mean);
			jf(&w, "t", cp->t.stat);
			jf(&w, "df", cp->t.df);
			jf(&w, "p", cp->t.p);
			jf(&w, "p_adjusted", cp->val_p_adj);
			sonde_json_key_cstr(&w, "significant");
			sonde_json_bool(&w, cp->val_sig);
			jf(&w, "diff", cp->mdiff);
			jf(&w, "diff_lo", cp->mdiff_lo);
			jf(&w, "diff_hi", cp->mdiff_hi);
			jf(&w, "lift", cp->mlift);
			jf(&w, "lift_lo", cp->mlift_lo);
			jf(&w, "lift_hi", cp->mlift_hi);
			sonde_json_obj_end(&w);
		}
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	if (d->segments_count) {
		sonde_json_key_cstr(&w, "segments");
		sonde_json_arr_begin(&w);
		for (size_t s = 0; s < d->segments_count; s++) {
			sonde_json_obj_begin(&w);
			sonde_json_key_cstr(&w, "segment");
			sonde_json_str(&w, d->segments[s], strlen(d->segments[s]));
			sonde_json_key_cstr(&w, "variants");
			sonde_json_obj_begin(&w);
			for (size_t v = 0; v < d->variants_count; v++) {
				const sonde_abtest_cell *c = &d->cells[s * SONDE_ABTEST_MAX_VARIANTS + v];
				sonde_json_key_cstr(&w, d->variants[v].name);
				sonde_json_obj_begin(&w);
				sonde_json_key_cstr(&w, "users");
				sonde_json_u64(&w, c->users);
				sonde_json_key_cstr(&w, "conversions");
				sonde_json_u64(&w, c->conversions);
				sonde_json_obj_end(&w);
			}
			sonde_json_obj_end(&w);
			sonde_json_obj_end(&w);
		}
		sonde_json_arr_end(&w);
	}
	sonde_json_key_cstr(&w, "tests");
	sonde_json_u64(&w, a->tests);
	sonde_json_key_cstr(&w, "interpretation");
	sonde_json_str(&w, reading->data ? reading->data : "", reading->len);
	sonde_json_obj_end(&w);
	if (out.data)
		fwrite(out.data, 1, out.len, stdout);
	putchar('\n');
	sonde_buf_release(&out);
}

/* ---- The command ---------------------------------------------------------------------------- */

int sonde_cmd_abtest(int argc, char **argv)
{
	enum { OPT_COUNTS = 256, OPT_CONTROL, OPT_MDE, OPT_ALPHA, OPT_POWER, OPT_SPLIT, OPT_JSON };
	static const struct option longopts[] = {
	        {"counts", required_argument, NULL, OPT_COUNTS},
	        {"control", required_argument, NULL, OPT_CONTROL},
	        {"mde", required_argument, NULL, OPT_MDE},
	        {"alpha", required_argument, NULL, OPT_ALPHA},
	        {"power", required_argument, NULL, OPT_POWER},
	        {"split", required_argument, NULL, OPT_SPLIT},
	        {"json", no_argument, NULL, OPT_JSON},
	        {NULL, 0, NULL, 0},
	};
	abtest a = {.alpha = 0.05, .power = 0.8, .source = "counts"};
	sonde_abtest_data_init(&a.d);
	const char *control = NULL;
	bool json = false, counts = false;
	int rc = SONDE_EXIT_USAGE, c;
	char *data = NULL;
	sonde_buf reading = SONDE_BUF_INIT;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_COUNTS) {
			counts = true;
			int e = parse_counts(&a, optarg);
			if (e < 0) {
				sonde_cli_error(
				        "abtest",
				        "--counts '%s': expected NAME:CONVERSIONS/USERS with conversions "
				        "<= users",
				        optarg);
				goto out;
			}
		} else if (c == OPT_CONTROL) {
			control = optarg;
		} else if (c == OPT_MDE) {
			char *end;
			double v = strtod(optarg, &end);
			a.mde_relative = *end == '%';
			if (a.mde_relative) {
				v /= 100;
				end++;
			}
			if (end == optarg || *end || !(v > 0) || (!a.mde_relative && v >= 1)) {
				sonde_cli_error("abtest",
				                "--mde '%s': expected a difference in rate (0.01) or a "
				                "relative one (5%%)",
				                optarg);
				goto out;
			}
			a.mde = v;
			a.has_mde = true;
		} else if (c == OPT_ALPHA || c == OPT_POWER) {
			if (!parse_prob(optarg, c == OPT_ALPHA ? &a.alpha : &a.power)) {
				sonde_cli_error("abtest", "--%s '%s': expected a number between 0 and 1",
				                c == OPT_ALPHA ? "alpha" : "power", optarg);
				goto out;
			}
		} else if (c == OPT_SPLIT) {
			free(a.split);
			a.split = NULL;
			a.split_count = 0;
			if (parse_split(&a, optarg) < 0) {
				sonde_cli_error("abtest",
				                "--split '%s': expected positive shares such as 50/50",
				                optarg);
				goto out;
			}
		} else if (c == OPT_JSON) {
			json = true;
		} else {
			sonde_cli_error("abtest",
			                "unknown option or missing value '%s'; see sonde abtest --help",
			                argv[optind - 1]);
			goto out;
		}
	}
	if (counts) {
		for (int i = optind; i < argc; i++)
			if (parse_counts(&a, argv[i]) < 0) {
				sonde_cli_error(
				        "abtest",
				        "'%s': expected NAME:CONVERSIONS/USERS with conversions <= users",
				        argv[i]);
				goto out;
			}
	} else {
		if (optind != argc - 1) {
			sonde_cli_error("abtest", "expected one FILE (or --counts); see sonde abtest --help");
			goto out;
		}
		a.source = argv[optind];
		size_t len;
		int e = sonde_cli_read_file(a.source, &data, &len);
		if (e < 0) {
			sonde_cli_error("abtest", "%s: %s", a.source, strerror(-e));
			goto out;
		}
		sonde_wire_error err;
		e = sonde_abtest_read(&a.d, data, len, &err);
		if (e == -ENOMEM) {
			sonde_cli_error("abtest", "%s: out of memory", a.source);
			rc = 1;
			goto out;
		}
		if (e < 0) {
			sonde_cli_error("abtest", "%s:%zu: offset %zu%s%s: %s", a.source, err.line,
			                err.offset, err.field[0] ? ": field " : "", err.field, err.msg);
			goto out;
		}
	}
	if (a.d.variants_count < 2) {
		sonde_cli_error("abtest", "%s: expected at least two variants, found %zu", a.source,
		                a.d.variants_count);
		goto out;
	}
	if (a.split && a.split_count != a.d.variants_count) {
		sonde_cli_error("abtest", "--split: %zu shares for %zu variants", a.split_count,
		                a.d.variants_count);
		goto out;
	}
	if (control) {
		ssize_t ci = sonde_abtest_find_variant(&a.d, control);
		if (ci < 0) {
			sonde_cli_error("abtest", "--control '%s': no such variant in %s", control, a.source);
			goto out;
		}
		a.control = (size_t)ci;
	}
	design_checks(&a);
	a.comps = calloc(a.d.variants_count, sizeof(*a.comps));
	if (!a.comps) {
		rc = 1;
		goto out;
	}
	for (size_t v = 0; v < a.d.variants_count; v++) {
		if (v == a.control)
			continue;
		comp *cp = &a.comps[a.comps_count++];
		cp->v = v;
		compare(&a, cp);
	}
	if (holm(&a) < 0) {
		rc = 1;
		goto out;
	}
	interpret(&a, &reading);
	if (json) {
		print_json(&a, &reading);
	} else {
		print_table(&a);
		printf("\ninterpretation\n");
		const char *p = reading.data ? reading.data : "";
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			printf("  %.*s\n", (int)n, p);
			p += n + (nl != NULL);
		}
	}
	rc = SONDE_EXIT_OK;
out:
	sonde_buf_release(&reading);
	free(a.comps);
	free(a.split);
	free(data);
	sonde_abtest_data_release(&a.d);
	return rc;
}
