"""Reference values for runner/tpe.c, computed by Optuna's own TPE code.

Writes tests/fixtures/tpe.txt, one case per line, fields split by '|':
  pe KIND LO HI NCHOICES | OBSERVATIONS | X LOGPDF X LOGPDF ...
      Optuna's _ParzenEstimator over the observations (in run order), with
      TPESampler's default parameters; its log_pdf at points X. KIND is
      float, log, int or choice (a choice's values are indices).
  split NBELOW | PRUNED_AT SCORE PRUNED_AT SCORE ... | BELOW...
      _split_observation_pairs on a maximized study: finished runs
      (PRUNED_AT 0) by score, then pruned ones by the epoch reached and the
      score there; the indices of the good runs, in run order.
  weights N | W...      default_weights(N)
  gamma N | G           default_gamma(N)

Optuna 3.1's truncated normal log density lacks its -ln(sigma) term (Optuna
issue #5109, fixed by PR #5110 in 3.5); this script puts it back, so the
densities are those of Optuna 3.5 on.

Where observations tie, Optuna orders them by numpy's default argsort,
whose order among equal values is arbitrary past 16 values (and matters
once the weights ramp, from 25 runs on); this script makes that sort stable
(run order), as runner/tpe.c does.

Re-run from the repository root with Debian's python3-optuna (3.1):
    /usr/bin/python3 tests/make_tpe_fixtures.py
The cases are fixed by a seeded generator, so the file does not change.
"""
import math

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.sampler import _split_observation_pairs, default_gamma, default_weights

import types

from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe import parzen_estimator

assert optuna.__version__.startswith("3.1"), optuna.__version__
_logpdf_3_1 = _truncnorm.logpdf
_truncnorm.logpdf = lambda x, a, b, loc=0, scale=1: _logpdf_3_1(x, a, b, loc, scale) - np.log(scale)
_np = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
_np.argsort = lambda a, **kw: np.argsort(a, kind="stable")
parzen_estimator.np = _np
params = optuna.samplers.TPESampler()._parzen_estimator_parameters
rng = np.random.default_rng(14)
g = lambda v: "%.17g" % v
out = []

def pe_case(kind, lo, hi, nch, obs, xs):
    if kind == "float":
        dist = FloatDistribution(lo, hi)
    elif kind == "log":
        dist = FloatDistribution(lo, hi, log=True)
    elif kind == "int":
        dist = IntDistribution(int(lo), int(hi))
    else:
        dist = CategoricalDistribution(list(range(nch)))
    obs = np.asarray(obs, dtype=float)
    pe = _ParzenEstimator({"x": obs}, {"x": dist}, params)
    xs = np.asarray(xs, dtype=float if kind != "choice" else int)
    if kind != "choice":
        xs = np.clip(xs, lo, hi)  # exp(log(hi)) may come out an ulp above hi
    lp = pe.log_pdf({"x": xs})
    out.append("pe %s %s %s %d | %s | %s" % (kind, g(lo), g(hi), nch, " ".join(g(v) for v in obs),
                                            " ".join("%s %s" % (g(x), g(l)) for x, l in zip(xs, lp))))

for n in (0, 1, 2, 3, 7, 30):
    obs = rng.uniform(-2, 3, n)
    pe_case("float", -2, 3, 0, obs, np.linspace(-2, 3, 9))
    obs = np.exp(rng.uniform(math.log(1e-4), math.log(1e-2), n))
    pe_case("log", 1e-4, 1e-2, 0, obs, np.exp(np.linspace(math.log(1e-4), math.log(1e-2), 7)))
    obs = rng.integers(1, 11, n)
    pe_case("int", 1, 10, 0, obs, np.arange(1, 11))
    obs = rng.integers(0, 3, n)
    pe_case("choice", 0, 0, 3, obs, np.arange(3))
# values at the edges, repeated ones, and a cluster
pe_case("float", 0, 1, 0, [0.0, 1.0, 0.5, 0.5], [0.0, 0.25, 0.5, 0.999, 1.0])
pe_case("float", 0, 1, 0, [0.30, 0.31, 0.32, 0.9], [0.0, 0.305, 0.6, 1.0])
pe_case("int", 64, 256, 0, [64, 256, 128], [64, 65, 128, 200, 256])

for n, nbelow in ((1, 1), (10, 1), (12, 2), (30, 3), (40, 4)):
    pruned = [int(v) for v in rng.choice([0, 0, 0, 2, 3], n)]
    scores = [float(v) for v in np.round(rng.uniform(0.7, 0.9, n), 2)]  # rounded: ties
    pairs = [((-math.inf if p == 0 else -p), [-s]) for p, s in zip(pruned, scores)]
    below, _ = _split_observation_pairs(pairs, nbelow, None)
    out.append("split %d | %s | %s" % (nbelow, " ".join("%d %s" % (p, g(s)) for p, s in zip(pruned, scores)),
                                       " ".join(str(int(i)) for i in below)))

for n in (0, 1, 10, 24, 25, 26, 27, 40, 100):
    out.append("weights %d | %s" % (n, " ".join(g(v) for v in default_weights(n))))
for n in (0, 1, 9, 10, 11, 100, 249, 250, 251, 1000):
    out.append("gamma %d | %d" % (n, default_gamma(n)))

with open("tests/fixtures/tpe.txt", "w") as f:
    f.write("\n".join(out) + "\n")
print("wrote tests/fixtures/tpe.txt: %d cases" % len(out))
