"""Reference values for runner/stats.c, computed by scipy.

Writes tests/fixtures/stats.txt, one case per line: a kind, its inputs, a
'|', and what scipy answers (17 significant digits):
  tq P DF | t          scipy.stats.t.ppf(P, DF)
  tc T DF | p          scipy.stats.t.cdf(T, DF)
  sum X... | mean sd half
                       numpy mean, std(ddof=1), and
                       t.ppf(0.975, n-1) * sd / sqrt(n)
  welch NA A... NB B... | t df p
                       scipy.stats.ttest_ind(A, B, equal_var=False); df by
                       Welch-Satterthwaite (scipy does not return it)
  holm M P... | ADJ... Holm's step-down adjustment, written out here (scipy
                       has none; statsmodels' multipletests('holm') agrees)

Re-run from the repository root with Debian's python (python3-scipy):
    /usr/bin/python3 tests/make_stats_fixtures.py
The data are fixed by a seeded generator, so the file does not change.
"""
import numpy as np
from scipy import stats

rng = np.random.default_rng(14)
out = []
g = lambda v: "%.17g" % v

for p in (0.975, 0.95, 0.995, 0.5, 0.6, 0.025, 0.9999):
    for df in (1, 2, 3, 4, 9, 29, 1000, 2.5):
        out.append("tq %s %s | %s" % (g(p), g(df), g(stats.t.ppf(p, df))))
for t in (-40.0, -3.0, -0.5, 0.0, 0.25, 1.96, 6.0, 1e3):
    for df in (1, 3, 7.3, 60):
        out.append("tc %s %s | %s" % (g(t), g(df), g(stats.t.cdf(t, df))))

def summary(x):
    x = np.asarray(x, dtype=float)
    n = len(x)
    sd = x.std(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    return "sum %s | %s %s %s" % (" ".join(g(v) for v in x), g(x.mean()), g(sd), g(half))

samples = [[0.8827, 0.8801, 0.8856], [0.8264, 0.8290], [0.91, 0.91, 0.91, 0.91]]
samples += [list(0.85 + 0.01 * rng.standard_normal(n)) for n in (2, 3, 5, 8, 20)]
for x in samples:
    out.append(summary(x))

def welch(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    r = stats.ttest_ind(a, b, equal_var=False)
    sa, sb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (sa + sb) ** 2 / (sa * sa / (len(a) - 1) + sb * sb / (len(b) - 1))
    return "welch %d %s %d %s | %s %s %s" % (len(a), " ".join(g(v) for v in a), len(b), " ".join(g(v) for v in b),
                                              g(r.statistic), g(df), g(r.pvalue))

pairs = [([0.8827, 0.8801, 0.8856], [0.8716, 0.8702, 0.8730]),   # relu/max vs relu/avg
         ([0.8827, 0.8801, 0.8856], [0.8830, 0.8790, 0.8861]),   # indistinguishable
         ([0.5, 0.6], [0.55, 0.56, 0.57, 0.58])]
for na, nb, shift in ((3, 3, 0.0), (3, 3, 0.02), (5, 2, 0.005), (4, 9, -0.01), (10, 10, 0.001)):
    pairs.append((list(0.88 + 0.01 * rng.standard_normal(na)), list(0.88 + shift + 0.02 * rng.standard_normal(nb))))
for a, b in pairs:
    out.append(welch(a, b))

def holm(p):
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    run = 0.0
    for j, i in enumerate(order):
        run = max(run, min(1.0, (m - j) * p[i]))
        adj[i] = run
    return "holm %d %s | %s" % (m, " ".join(g(v) for v in p), " ".join(g(v) for v in adj))

for p in ([0.01, 0.04, 0.03, 0.2], [0.5], [0.001, 0.001, 0.9], [0.04, 0.03, 0.02, 0.01, 0.3, 0.6]):
    out.append(holm(p))

with open("tests/fixtures/stats.txt", "w") as f:
    f.write("\n".join(out) + "\n")
print("wrote tests/fixtures/stats.txt: %d cases" % len(out))
