#!/usr/bin/env bash
# stats_ref_test.sh - sonde's statistics (src/analyze/stats.h) agree with scipy 1.10 and
# statsmodels 0.13 to a relative 1e-9: a seeded generator writes a few hundred cases
# (random samples and counts, plus the edge cases: zero counts, equal samples, tiny
# samples, ties, zero variance), tests/analyze/stats_ref.c answers them, and Debian's
# /usr/bin/python3 answers them again with the reference libraries and compares. NaN must
# meet NaN. Prints the number of cases and the largest relative error per function.
# Skips (77) when /usr/bin/python3 lacks scipy; fails when it has scipy without statsmodels.
set -uo pipefail
build=${SONDE_BUILD:?SONDE_BUILD not set}
ref=$build/tests/stats_ref
[ -x "$ref" ] || ref=$(find "$build" -name stats_ref -type f -perm -u+x | head -1)
if [ -z "$ref" ] || [ ! -x "$ref" ]; then
	echo "stats_ref_test: no stats_ref helper under $build" >&2
	exit 1
fi
py=/usr/bin/python3
if ! "$py" -c 'import scipy.stats' 2>/dev/null; then
	echo "stats_ref_test: SKIP: $py lacks scipy (Debian python3-scipy)" >&2
	exit 77
fi
if ! "$py" -c 'import statsmodels.api' 2>/dev/null; then
	echo "stats_ref_test: $py has scipy but not statsmodels (Debian python3-statsmodels)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/ref.py" <<'EOF'
import math, random, sys, warnings
import numpy as np
from scipy import optimize, stats
from statsmodels.stats.proportion import proportions_ztest, confint_proportions_2indep, proportion_effectsize
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

warnings.simplefilter("ignore")
np.seterr(all="ignore")
rng = random.Random(20261122)
TOL = 1e-9
FLOOR = 1e-14  # absolute agreement accepted for values that are zero in exact arithmetic

def r(v):
    return repr(float(v))

def sample(n, kind):
    if kind == "normal":
        return [rng.gauss(10, 3) for _ in range(n)]
    if kind == "lognormal":
        return [math.exp(rng.gauss(3, 1)) for _ in range(n)]
    if kind == "ties":
        return [float(rng.randint(0, 5)) for _ in range(n)]
    if kind == "const":
        return [7.0] * n
    raise ValueError(kind)

def relerr(a, b):
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    if abs(a - b) <= FLOOR:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))

cases = []  # (line, expected list, name)

def add(line, expect, name=None):
    cases.append((line, expect, name or line.split()[0]))

# Descriptive statistics.
for n in [1, 2, 3, 5, 10, 37, 100, 200]:
    for kind in ["normal", "lognormal", "ties"]:
        x = sample(n, kind)
        a = np.array(x)
        exp = [a.mean(), a.var(ddof=1) if n > 1 else math.nan] + \
              [np.quantile(a, q) for q in (0.25, 0.5, 0.75, 0.95, 0.99)]
        add("desc %d %s" % (n, " ".join(map(r, x))), exp)

# Mann-Whitney U, as scipy chooses ('auto') and forced.
def mwu_case(x, y, method):
    res = stats.mannwhitneyu(x, y, use_continuity=True, alternative="two-sided", method=method)
    add("mwu %s %d %d %s %s" % (method, len(x), len(y), " ".join(map(r, x)), " ".join(map(r, y))),
        [res.statistic, res.pvalue], "mwu-" + method)

sizes = [(1, 1), (1, 5), (2, 3), (3, 3), (4, 7), (5, 5), (8, 8), (8, 30), (3, 120), (9, 9),
         (12, 15), (30, 40), (100, 80), (300, 250)]
for n1, n2 in sizes:
    for kind in ["normal", "lognormal", "ties"]:
        x = sample(n1, kind)
        y = [v + (1.5 if kind != "ties" else 1) * rng.random() for v in sample(n2, kind)]
        mwu_case(x, y, "auto")
        if n1 * n2 < 5000:
            mwu_case(x, y, "asymptotic")
        if kind != "ties" and min(n1, n2) <= 12:
            mwu_case(x, y, "exact")
# Forced exact with counts beyond 2^120 arrangements: the long double path.
for n1, n2 in [(25, 300), (30, 200)]:
    x = sample(n1, "normal")
    mwu_case(x, [v + 0.3 * rng.random() for v in sample(n2, "normal")], "exact")
for n in [1, 2, 5, 20]:  # equal samples and all-tied samples
    x = sample(n, "normal")
    mwu_case(x, list(x), "auto")
    mwu_case(sample(n, "const"), sample(n + 1, "const"), "auto")

# Hodges-Lehmann with Moses' interval (the definition, by brute force).
def hl_case(x, y, conf):
    d = np.sort(np.subtract.outer(np.array(y), np.array(x)).ravel())
    m, n = len(x), len(y)
    ranks = stats.rankdata(np.concatenate([x, y]))
    _, t = np.unique(ranks, return_counts=True)
    tie = float((t ** 3 - t).sum())
    N = m + n
    sigma = math.sqrt(m * n / 12 * ((N + 1) - tie / (N * (N - 1))))
    k = math.floor(m * n / 2 - stats.norm.isf((1 - conf) / 2) * sigma)
    lo, hi = (d[k - 1], d[m * n - k]) if k >= 1 else (-math.inf, math.inf)
    add("hl %s %d %d %s %s" % (r(conf), m, n, " ".join(map(r, x)), " ".join(map(r, y))),
        [np.median(d), lo, hi])

for n1, n2 in [(1, 1), (2, 2), (3, 4), (5, 5), (6, 9), (10, 10), (20, 17), (50, 60), (150, 120)]:
    for kind in ["normal", "lognormal", "ties"]:
        x = sample(n1, kind)
        y = [v + 2 * rng.random() for v in sample(n2, kind)]
        hl_case(x, y, rng.choice([0.9, 0.95, 0.99]))
hl_case(sample(10, "const"), sample(12, "const"), 0.95)
x = sample(25, "normal")
hl_case(x, list(x), 0.95)

# Two proportions: z-test, Wald interval, Cohen's h, lift.
def prop_cases(c1, n1, c2, n2):
    z, p = proportions_ztest([c1, c2], [n1, n2])
    add("pz %d %d %d %d" % (c1, n1, c2, n2), [z, p])
    conf = rng.choice([0.9, 0.95, 0.99])
    lo, hi = confint_proportions_2indep(c2, n2, c1, n1, method="wald", compare="diff", alpha=1 - conf)
    add("pci %d %d %d %d %s" % (c1, n1, c2, n2, r(conf)), [lo, hi])
    p1, p2 = c1 / n1, c2 / n2
    add("h %s %s" % (r(p1), r(p2)), [proportion_effectsize(p2, p1)])
    va, vb = p1 * (1 - p1) / n1, p2 * (1 - p2) / n2
    if p1 > 0 and p2 > 0:  # the delta method for the ratio p2 / p1
        rr = p2 / p1
        se = abs(rr) * math.sqrt(va / p1 ** 2 + vb / p2 ** 2)
        zc = stats.norm.isf((1 - conf) / 2)
        add("lift %s %s %s %s %s" % (r(p1), r(va), r(p2), r(vb), r(conf)),
            [rr - 1, rr - 1 - zc * se, rr - 1 + zc * se])

for _ in range(60):
    n1, n2 = rng.choice([5, 20, 100, 1000, 25000]), rng.choice([5, 20, 100, 1000, 25000])
    p = rng.choice([0.01, 0.1, 0.3, 0.5])
    prop_cases(rng.randint(0, n1) if n1 < 30 else int(n1 * p * rng.uniform(0.8, 1.2)), n1,
               rng.randint(0, n2) if n2 < 30 else int(n2 * p * rng.uniform(0.8, 1.2)), n2)
for c1, n1, c2, n2 in [(0, 10, 0, 10), (10, 10, 10, 10), (0, 10, 3, 10), (5, 10, 5, 10),
                       (1, 1, 0, 1), (0, 1000, 1, 1000), (500, 1000, 500, 1000), (1000, 1000, 999, 1000)]:
    prop_cases(c1, n1, c2, n2)

# Welch's t-test and interval.
sm_ci_err = [0.0]

def t_isf_exact(p, nu):
    # Newton steps on scipy's t.sf (cephes stdtr, accurate to ~1e-15) from its t.isf.
    q = stats.t.isf(p, nu)
    for _ in range(4):
        q += (stats.t.sf(q, nu) - p) / stats.t.pdf(q, nu)
    return q


def welch_case(x, y):
    res = stats.ttest_ind(x, y, equal_var=False)
    va, vb = np.var(x, ddof=1) / len(x), np.var(y, ddof=1) / len(y)
    df = (va + vb) ** 2 / (va ** 2 / (len(x) - 1) + vb ** 2 / (len(y) - 1))
    cm = CompareMeans(DescrStatsW(np.array(y)), DescrStatsW(np.array(x)))
    sm_lo, sm_hi = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    # scipy's t quantile (cephes stdtrit, which statsmodels calls) is off by up to ~1e-9
    # at small df, where GSL's is right to 1e-15 (checked with mpmath at 40 digits): the
    # interval is statsmodels' with the quantile refined to full precision.
    q = t_isf_exact(0.025, cm.dof_satt()) if np.isfinite(cm.dof_satt()) else math.nan
    d, se = np.mean(y) - np.mean(x), cm.std_meandiff_separatevar
    lo, hi = d - q * se, d + q * se
    sm_ci_err[0] = max(sm_ci_err[0], relerr(lo, sm_lo), relerr(hi, sm_hi))
    add("welch %d %d %s %s" % (len(x), len(y), " ".join(map(r, x)), " ".join(map(r, y))),
        [res.statistic, df, res.pvalue, lo, hi])

for n1, n2 in [(2, 2), (2, 5), (3, 3), (5, 8), (10, 10), (30, 12), (100, 100), (500, 400)]:
    for kind in ["normal", "lognormal", "ties"]:
        welch_case(sample(n1, kind), [v + rng.random() for v in sample(n2, kind)])
welch_case(sample(5, "const"), sample(6, "normal"))
x = sample(20, "normal")
welch_case(x, list(x))

# Power and sample size (NormalIndPower, two-sided).
pw = NormalIndPower()
sm_nobs_err = [0.0]
for _ in range(40):
    es = rng.choice([-1, 1]) * rng.choice([0.01, 0.05, 0.1, 0.2, 0.5, 0.8])
    alpha = rng.choice([0.01, 0.05, 0.1])
    ratio = rng.choice([0.5, 1.0, 1.0, 2.0, 3.0])
    nobs = rng.choice([10, 50, 200, 1000, 10000])
    add("power %s %s %s %s" % (r(es), r(nobs), r(alpha), r(ratio)),
        [pw.power(effect_size=es, nobs1=nobs, alpha=alpha, ratio=ratio)])
    power = rng.choice([0.5, 0.8, 0.9, 0.95])
    # statsmodels' solve_power stops its root search at about 1e-7 relative; the reference
    # is the root of statsmodels' own power function, found to full precision.
    sm = pw.solve_power(effect_size=es, nobs1=None, alpha=alpha, power=power, ratio=ratio)
    root = optimize.brentq(lambda n: pw.power(effect_size=es, nobs1=n, alpha=alpha, ratio=ratio) - power,
                           sm * 0.999, sm * 1.001, xtol=1e-300, rtol=8.9e-16, maxiter=500)
    sm_nobs_err[0] = max(sm_nobs_err[0], abs(root - sm) / root)
    add("nobs %s %s %s %s" % (r(es), r(alpha), r(power), r(ratio)), [root])

# Sample ratio mismatch (chi-square goodness of fit).
for _ in range(30):
    k = rng.choice([2, 2, 3, 4])
    w = [rng.choice([1, 1, 2, 3]) for _ in range(k)]
    total = rng.choice([10, 100, 10000, 1000000])
    o = [float(int(total * wi / sum(w) * rng.uniform(0.95, 1.05))) for wi in w]
    if sum(o) == 0:
        o[0] = 1.0
    fe = np.array(w, float) / sum(w) * sum(o)
    s, p = stats.chisquare(o, fe)
    add("chisq %d %s %s" % (k, " ".join(map(r, o)), " ".join(map(r, w))), [s, p])
for o in [[0.0, 10.0], [50.0, 50.0], [0.0, 0.0, 1.0]]:
    fe = np.ones(len(o)) / len(o) * sum(o)
    s, p = stats.chisquare(o, fe)
    add("chisq %d %s %s" % (len(o), " ".join(map(r, o)), " ".join(["1"] * len(o))), [s, p])

# Holm.
for _ in range(20):
    k = rng.randint(1, 8)
    ps = [rng.choice([rng.random(), rng.random() * 0.01, 0.05]) for _ in range(k)]
    alpha = rng.choice([0.05, 0.1])
    rej, adj, _, _ = multipletests(ps, alpha=alpha, method="holm")
    add("holm %d %s %s" % (k, r(alpha), " ".join(map(r, ps))), list(adj) + [float(v) for v in rej])

with open(sys.argv[1], "w") as f:
    for line, _, _ in cases:
        f.write(line + "\n")
import subprocess
out = subprocess.run([sys.argv[2]], input=open(sys.argv[1]).read(), capture_output=True, text=True)
if out.returncode != 0:
    print("stats_ref failed:", out.stderr)
    sys.exit(1)
got = out.stdout.splitlines()
if len(got) != len(cases):
    print("stats_ref answered %d lines for %d cases" % (len(got), len(cases)))
    sys.exit(1)

worst = {}
count = {}
failed = 0
for (line, expect, name), ans in zip(cases, got):
    f = ans.split()
    vals = [float(v) for v in f[1:1 + len(expect)]]
    count[name] = count.get(name, 0) + 1
    if "rc" in f or len(vals) != len(expect):
        print("FAIL: %s -> %s" % (line[:200], ans))
        failed += 1
        continue
    e = max(relerr(a, float(b)) for a, b in zip(vals, expect))
    worst[name] = max(worst.get(name, 0.0), e)
    if e > TOL:
        failed += 1
        print("FAIL: %s\n  sonde:    %s\n  expected: %s (rel err %.3g)" % (line[:300], vals, expect, e))
for name in sorted(count):
    print("%-16s %4d cases, max relative error %.3g" % (name, count[name], worst.get(name, math.nan)))
print("%d cases, %d failed" % (len(cases), failed))
print("for information: statsmodels' own tconfint_diff differs by up to %.3g (its t quantile), "
      "its solve_power by up to %.3g (its solver's tolerance)" % (sm_ci_err[0], sm_nobs_err[0]))
sys.exit(1 if failed else 0)
EOF

"$py" "$tmp/ref.py" "$tmp/cases.txt" "$ref"
