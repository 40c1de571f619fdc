#!/usr/bin/python3
"""Generate high-precision golden values for the actk activation functions.

Usage (needs Debian's python3-mpmath: `apt-get install -y python3-mpmath`):

    /usr/bin/python3 tests/golden/gen_golden.py tests/golden/golden.csv

With no argument the CSV goes to stdout.  The file is written only after every
value has been computed and every self-check has passed.  Output is
deterministic (same bytes on every run).

Every value is derived from the mathematical definitions below with mpmath at
>= 60 significant digits.  Each evaluation is repeated at a higher precision
(and escalated until two consecutive precisions agree to 40 digits), and the
base precision grows with |log10 |x|| so that cancellations such as
x - tanh(x) at x = 1e-300 are resolved.  Closed-form derivatives are checked
against mpmath.diff, derivatives-of-the-output g(y) against f'(x), and the
tabulated limits at +-inf against evaluations at +-1e6; any disagreement aborts.

CSV row format (one row per line, no spaces):  op,dir,a,b,x,dy,expected
  dir = fwd      expected = f(x)              (dy written as 1)
  dir = bwd_in   expected = dy * f'(x)
  dir = bwd_out  x holds an output y (a double); expected = dy * g(y)
  a, b: parameters (defaults written explicitly), nan when the op has none.
"""

import math
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Optional

import mpmath
from mpmath import mp, mpf

mp.dps = 60

INF = math.inf
NAN = math.nan
SIG_DIGITS = 25          # digits written for expected values
AGREE_REL = mpf(10) ** -40  # two precisions must agree to this relative error
MAX_DPS = 20000
# Results whose magnitude lies beyond 2^+-CAP_MAG2 (~1e+-9934) are written as
# +-inf / signed zero instead of a decimal with a huge exponent.
CAP_MAG2 = 33000         # ~ 1e9934, in binary exponent units (mpmath.mag)


# --------------------------------------------------------------------------
# numeric helpers (all take/return mpf at the current working precision)
# --------------------------------------------------------------------------

def sig(z):
    """Logistic sigmoid 1/(1+e^-z); accurate in both tails."""
    return 1 / (1 + mpmath.exp(-z))


def phi(x):
    """Standard normal density."""
    return mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mpmath.pi)


PHI_ASYMPTOTIC_FROM = mpf(10) ** 6


def _Phi_lower_tail_asymptotic(x):
    """Phi(x) for x <= -1e6: phi(x)/|x| * sum_k (-1)^k (2k-1)!! / x^(2k).

    mpmath.erfc raises OverflowError for arguments near 1e300, so the far
    tail uses this (rapidly convergent there) asymptotic series instead."""
    assert x < 0
    x2 = x * x
    eps = mpf(2) ** (-mp.prec - 10)
    term, total, k = mpf(1), mpf(1), 1
    while True:
        term = -term * (2 * k - 1) / x2
        if abs(term) < eps:
            break
        total += term
        k += 1
    return phi(x) / (-x) * total


def Phi(x):
    """Standard normal CDF."""
    if abs(x) < PHI_ASYMPTOTIC_FROM:
        return mpmath.erfc(-x / mpmath.sqrt(2)) / 2
    lower = _Phi_lower_tail_asymptotic(-abs(x))
    return lower if x < 0 else 1 - lower


def softplus1(x):
    """ln(1+e^x) without cancellation."""
    return mpmath.log1p(mpmath.exp(x))


def selu_consts():
    # PyTorch's constants, as exact decimals.
    return (mpf('1.0507009873554804934193349852946'),
            mpf('1.6732632423543772848170429916717'))


def gelu_tanh_parts(x):
    k = mpmath.sqrt(2 / mpmath.pi)
    c = mpf('0.044715')
    u = k * (x + c * x ** 3)
    du = k * (1 + 3 * c * x * x)
    return u, du


# --------------------------------------------------------------------------
# op table
# --------------------------------------------------------------------------
# f(x, a, b), df(x, a, b), g(y, a, b) take mpf arguments (finite x / y; g may
# get +-inf for y) and return mpf.  `limits(a, b)` returns
# ((f(-inf), f(+inf)), (f'(-inf), f'(+inf))) using Python floats for
# +-0.0 / +-inf (the sign of a zero limit is the side it is approached from;
# +0 when the function is identically zero there) and mpf/float otherwise;
# None means the limits do not exist (rows at +-inf are skipped).

Z = 0.0     # +0 limit
NZ = -0.0   # -0 limit (approached from below)

SAT_TAILS = [8.7, 9.1, 19.0, 19.1, 44.3, 44.4, 52.3, 52.4, 354.8, 354.9,
             372.9, 373.0]
EXP_CORE = [17.3, 17.4, 36.7, 37.5, 87.3, 87.33654475055311, 88.73,
            103.28, 103.97207708399179, 103.98, 708.3964185322641, 709.79,
            744.44, 745.1332191019412, 745.2]
EXP_TAILS = (EXP_CORE
             + [88.72283935546875, math.nextafter(88.72283935546875, INF),
                math.nextafter(88.72283935546875, -INF),
                709.782712893384, math.nextafter(709.782712893384, INF),
                math.nextafter(709.782712893384, -INF)])
GAUSS_TAILS = [13.0, 13.2, 14.2, 14.5, 37.5, 37.7, 38.5, 38.7,   # gelu
               9.9, 10.0, 10.4, 10.6, 21.4, 21.6, 22.0, 22.2]    # gelu_tanh
QUICK_GELU_TAILS = sorted({round(t / 1.702, 3) for t in EXP_CORE})
SINE_EXTRA = [1.5707963267948966, 3.141592653589793, 6.283185307179586,
              1e5, 1e15, 1e22]
TANHSHRINK_SMALL = [1e-4, 1e-2, 0.3, 0.7, 1.3]


def sym(values):
    return [s * v for v in values for s in (1.0, -1.0)]


@dataclass
class Op:
    name: str
    f: Callable
    df: Callable
    g: Optional[Callable]
    limits: Optional[Callable]
    params: list = field(default_factory=lambda: [(None, None)])  # first = default
    kinks: Callable = lambda a, b: []
    extra: list = field(default_factory=list)   # extra x (default params only)
    # f and f' are never exactly zero at a finite nonzero x (used to catch
    # cancellation-to-zero bugs).
    never_zero: bool = False


def step(cond):
    return mpf(1) if cond else mpf(0)


OPS = [
    Op('identity',
       f=lambda x, a, b: x,
       df=lambda x, a, b: mpf(1),
       g=lambda y, a, b: mpf(1),
       limits=lambda a, b: ((-INF, INF), (1.0, 1.0)),
       never_zero=True),
    Op('linear',
       f=lambda x, a, b: a * x,
       df=lambda x, a, b: a,
       g=lambda y, a, b: a,
       limits=lambda a, b: ((a * -INF, a * INF), (a, a)),
       params=[(1.0, None), (-3.0, None)],
       never_zero=True),
    Op('binary_step',
       f=lambda x, a, b: step(x >= 0),
       df=lambda x, a, b: mpf(0),
       g=lambda y, a, b: mpf(0),
       limits=lambda a, b: ((Z, 1.0), (Z, Z)),
       kinks=lambda a, b: [0.0]),
    Op('sigmoid',
       f=lambda x, a, b: sig(x),
       df=lambda x, a, b: sig(x) * sig(-x),
       g=lambda y, a, b: y * (1 - y),
       limits=lambda a, b: ((Z, 1.0), (Z, Z)),
       extra=sym(EXP_TAILS), never_zero=True),
    Op('tanh',
       f=lambda x, a, b: mpmath.tanh(x),
       df=lambda x, a, b: mpmath.sech(x) ** 2,
       g=lambda y, a, b: 1 - y * y,
       limits=lambda a, b: ((-1.0, 1.0), (Z, Z)),
       extra=sym(SAT_TAILS), never_zero=True),
    Op('relu',
       f=lambda x, a, b: x if x > 0 else mpf(0),
       df=lambda x, a, b: step(x > 0),
       g=lambda y, a, b: step(y > 0),
       limits=lambda a, b: ((Z, INF), (Z, 1.0)),
       kinks=lambda a, b: [0.0]),
    Op('relu6',
       f=lambda x, a, b: min(max(x, mpf(0)), mpf(6)),
       df=lambda x, a, b: step(0 < x < 6),
       g=lambda y, a, b: step(0 < y < 6),
       limits=lambda a, b: ((Z, 6.0), (Z, Z)),
       kinks=lambda a, b: [0.0, 6.0]),
    Op('leaky_relu',
       f=lambda x, a, b: x if x > 0 else a * x,
       df=lambda x, a, b: mpf(1) if x > 0 else a,
       g=lambda y, a, b: mpf(1) if y > 0 else a,
       limits=lambda a, b: ((a * -INF, INF), (a, 1.0)),
       params=[(0.01, None), (0.2, None)],
       kinks=lambda a, b: [0.0]),
    Op('prelu',
       f=lambda x, a, b: x if x > 0 else a * x,
       df=lambda x, a, b: mpf(1) if x > 0 else a,
       g=None,
       limits=lambda a, b: ((a * -INF, INF), (a, 1.0)),
       params=[(0.25, None), (0.1, None)],
       kinks=lambda a, b: [0.0]),
    Op('elu',
       f=lambda x, a, b: x if x > 0 else a * mpmath.expm1(x),
       df=lambda x, a, b: mpf(1) if x > 0 else a * mpmath.exp(x),
       g=lambda y, a, b: mpf(1) if y > 0 else y + a,
       limits=lambda a, b: ((-mpf(a), INF), (Z, 1.0)),
       params=[(1.0, None), (0.5, None)],
       kinks=lambda a, b: [0.0],
       extra=sym(EXP_TAILS), never_zero=True),
    Op('selu',
       f=lambda x, a, b: (lambda S, A: S * (x if x > 0 else A * mpmath.expm1(x)))(*selu_consts()),
       df=lambda x, a, b: (lambda S, A: S if x > 0 else S * A * mpmath.exp(x))(*selu_consts()),
       g=lambda y, a, b: (lambda S, A: S if y > 0 else y + S * A)(*selu_consts()),
       limits=lambda a, b: ((-selu_consts()[0] * selu_consts()[1], INF),
                            (Z, selu_consts()[0])),
       kinks=lambda a, b: [0.0],
       extra=sym(EXP_TAILS), never_zero=True),
    Op('celu',
       f=lambda x, a, b: x if x > 0 else a * mpmath.expm1(x / a),
       df=lambda x, a, b: mpf(1) if x > 0 else mpmath.exp(x / a),
       g=lambda y, a, b: mpf(1) if y > 0 else y / a + 1,
       limits=lambda a, b: ((-mpf(a), INF), (Z, 1.0)),
       params=[(1.0, None), (2.0, None)],
       kinks=lambda a, b: [0.0],
       extra=sym(EXP_TAILS), never_zero=True),
    Op('gelu',
       f=lambda x, a, b: x * Phi(x),
       df=lambda x, a, b: Phi(x) + x * phi(x),
       g=None,
       limits=lambda a, b: ((NZ, INF), (NZ, 1.0)),
       extra=sym(GAUSS_TAILS), never_zero=True),
    Op('gelu_tanh',
       # 0.5*x*(1+tanh(u)) == x*sig(2u): no cancellation in the left tail.
       f=lambda x, a, b: x * sig(2 * gelu_tanh_parts(x)[0]),
       df=lambda x, a, b: (lambda u, du: sig(2 * u) * (1 + 2 * x * du * sig(-2 * u)))(
           *gelu_tanh_parts(x)),
       g=None,
       limits=lambda a, b: ((NZ, INF), (NZ, 1.0)),
       extra=sym(GAUSS_TAILS), never_zero=True),
    Op('quick_gelu',
       f=lambda x, a, b: x * sig(mpf('1.702') * x),
       df=lambda x, a, b: (lambda c: sig(c * x) * (1 + c * x * sig(-c * x)))(mpf('1.702')),
       g=None,
       limits=lambda a, b: ((NZ, INF), (NZ, 1.0)),
       extra=sym(QUICK_GELU_TAILS), never_zero=True),
    Op('silu',
       f=lambda x, a, b: x * sig(x),
       df=lambda x, a, b: sig(x) * (1 + x * sig(-x)),
       g=None,
       limits=lambda a, b: ((NZ, INF), (NZ, 1.0)),
       extra=sym(EXP_TAILS), never_zero=True),
    Op('swish',
       f=lambda x, a, b: x * sig(a * x),
       df=lambda x, a, b: sig(a * x) * (1 + a * x * sig(-a * x)),
       g=None,
       limits=lambda a, b: ((NZ, INF), (NZ, 1.0)),   # valid for beta > 0
       params=[(1.0, None), (0.5, None)],
       extra=sym(EXP_TAILS), never_zero=True),
    Op('mish',
       f=lambda x, a, b: x * mpmath.tanh(softplus1(x)),
       df=lambda x, a, b: (lambda sp: mpmath.tanh(sp) + x * mpmath.sech(sp) ** 2 * sig(x))(
           softplus1(x)),
       g=None,
       limits=lambda a, b: ((NZ, INF), (NZ, 1.0)),
       extra=sym(EXP_TAILS), never_zero=True),
    Op('softplus',
       f=lambda x, a, b: x if a * x > b else softplus1(a * x) / a,
       df=lambda x, a, b: mpf(1) if a * x > b else sig(a * x),
       g=lambda y, a, b: mpf(1) if a * y > b else -mpmath.expm1(-a * y),
       limits=lambda a, b: ((Z, INF), (Z, 1.0)),
       params=[(1.0, 20.0), (2.0, 10.0)],
       kinks=lambda a, b: [b / a],
       extra=sym(EXP_TAILS), never_zero=True),
    Op('softsign',
       f=lambda x, a, b: x / (1 + abs(x)),
       df=lambda x, a, b: 1 / (1 + abs(x)) ** 2,
       g=lambda y, a, b: (1 - abs(y)) ** 2,
       limits=lambda a, b: ((-1.0, 1.0), (Z, Z)),
       never_zero=True),
    Op('exponential',
       f=lambda x, a, b: mpmath.exp(x),
       df=lambda x, a, b: mpmath.exp(x),
       g=lambda y, a, b: y,
       limits=lambda a, b: ((Z, INF), (Z, INF)),
       extra=sym(EXP_TAILS), never_zero=True),
    Op('log_sigmoid',
       f=lambda x, a, b: -softplus1(-x),
       df=lambda x, a, b: sig(-x),
       g=lambda y, a, b: -mpmath.expm1(y),
       limits=lambda a, b: ((-INF, NZ), (1.0, Z)),
       extra=sym(EXP_TAILS), never_zero=True),
    Op('hardtanh',
       f=lambda x, a, b: min(max(x, a), b),
       df=lambda x, a, b: step(a < x < b),
       g=lambda y, a, b: step(a < y < b),
       limits=lambda a, b: ((a, b), (Z, Z)),
       params=[(-1.0, 1.0), (-2.0, 3.0)],
       kinks=lambda a, b: [a, b]),
    Op('hardsigmoid',
       f=lambda x, a, b: min(max(x + 3, mpf(0)), mpf(6)) / 6,
       df=lambda x, a, b: mpf(1) / 6 if -3 < x < 3 else mpf(0),
       g=lambda y, a, b: mpf(1) / 6 if 0 < y < 1 else mpf(0),
       limits=lambda a, b: ((Z, 1.0), (Z, Z)),
       kinks=lambda a, b: [-3.0, 3.0]),
    Op('hardswish',
       f=lambda x, a, b: x * min(max(x + 3, mpf(0)), mpf(6)) / 6,
       # PyTorch convention: closed interval, f'(-3) = -0.5, f'(3) = 1.5
       df=lambda x, a, b: mpf(0) if x < -3 else (mpf(1) if x > 3 else x / 3 + mpf(1) / 2),
       g=None,
       limits=lambda a, b: ((Z, INF), (Z, 1.0)),
       kinks=lambda a, b: [-3.0, 3.0]),
    Op('softshrink',
       f=lambda x, a, b: x - a if x > a else (x + a if x < -a else mpf(0)),
       df=lambda x, a, b: step(abs(x) > a),
       g=lambda y, a, b: step(y != 0),
       limits=lambda a, b: ((-INF, INF), (1.0, 1.0)),
       params=[(0.5, None), (1.0, None)],
       kinks=lambda a, b: [-a, a]),
    Op('hardshrink',
       f=lambda x, a, b: x if abs(x) > a else mpf(0),
       df=lambda x, a, b: step(abs(x) > a),
       g=lambda y, a, b: step(y != 0),
       limits=lambda a, b: ((-INF, INF), (1.0, 1.0)),
       params=[(0.5, None), (1.0, None)],
       kinks=lambda a, b: [-a, a]),
    Op('tanhshrink',
       f=lambda x, a, b: x - mpmath.tanh(x),
       df=lambda x, a, b: mpmath.tanh(x) ** 2,
       g=None,
       limits=lambda a, b: ((-INF, INF), (1.0, 1.0)),
       extra=sym(SAT_TAILS + TANHSHRINK_SMALL), never_zero=True),
    Op('threshold',
       f=lambda x, a, b: x if x > a else b,
       df=lambda x, a, b: step(x > a),
       g=None,
       limits=lambda a, b: ((b, INF), (Z, 1.0)),
       params=[(0.0, 0.0), (1.0, -2.0)],
       kinks=lambda a, b: [a]),
    Op('squareplus',
       # parameter a is squareplus's "b"; the x < 0 branch is the
       # cancellation-free rewrite of (x + sqrt(x^2+a))/2.
       f=lambda x, a, b: ((x + mpmath.sqrt(x * x + a)) / 2 if x >= 0
                          else a / (2 * (mpmath.sqrt(x * x + a) - x))),
       df=lambda x, a, b: (lambda s: (1 + x / s) / 2 if x >= 0 else a / (2 * s * (s - x)))(
           mpmath.sqrt(x * x + a)),
       g=None,
       limits=lambda a, b: ((Z, INF), (Z, 1.0)),
       params=[(4.0, None), (1.0, None)],
       never_zero=True),
    Op('squared_relu',
       f=lambda x, a, b: x * x if x > 0 else mpf(0),
       df=lambda x, a, b: 2 * x if x > 0 else mpf(0),
       g=lambda y, a, b: 2 * mpmath.sqrt(y),
       limits=lambda a, b: ((Z, INF), (Z, INF)),
       kinks=lambda a, b: [0.0]),
    Op('sparse_plus',
       f=lambda x, a, b: mpf(0) if x <= -1 else (x if x >= 1 else (x + 1) ** 2 / 4),
       df=lambda x, a, b: mpf(0) if x <= -1 else (mpf(1) if x >= 1 else (x + 1) / 2),
       g=None,
       limits=lambda a, b: ((Z, INF), (Z, 1.0)),
       kinks=lambda a, b: [-1.0, 1.0]),
    Op('sine',
       f=lambda x, a, b: mpmath.sin(x),
       df=lambda x, a, b: mpmath.cos(x),
       g=None,
       limits=None,
       extra=sym(SINE_EXTRA), never_zero=True),
]

# --------------------------------------------------------------------------
# input sets
# --------------------------------------------------------------------------

BASE = [0.0, -0.0, INF, -INF, NAN] + sym([
    5e-324, 1e-300, 1e-8, 1e-3, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
    100.0, 1e10, 3.4028234663852886e38, 1e300, 1.7976931348623157e308])
DENSE = [-5.7, -4.3, -2.6, -1.2784645, -0.7517916, -0.37, 0.37, 0.9, 1.7, 2.9,
         3.3, 4.6, 5.3]
EXTRA_DY_X = [-1.5, -0.5, 0.1, 2.0, 5.0]
EXTRA_DY = [-2.5, 0.75]
NAN_DY_X = 1.0
BWD_OUT_EXTRA_DY_X = [-1.5, 0.5, 2.0]
CHECK_X = [-4.3, -2.2, -1.2784645, -0.7517916, -0.3, 0.2, 0.45, 1.3, 2.7,
           5.3, 7.5]


def xkey(x):
    return (math.isnan(x), 0.0 if math.isnan(x) else x, math.copysign(1.0, x))


def uniq_sorted(xs):
    seen, out = set(), []
    for x in sorted(xs, key=xkey):
        k = 'nan' if math.isnan(x) else (x, math.copysign(1.0, x))
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


def kink_points(op, a, b):
    pts = []
    for k in op.kinks(a, b):
        pts += [k, math.nextafter(k, -INF), math.nextafter(k, INF)]
    return pts


def inputs_for(op, a, b, is_default):
    xs = BASE + DENSE + kink_points(op, a, b)
    if is_default:
        xs += op.extra
    if op.limits is None:
        xs = [x for x in xs if not math.isinf(x)]
    return uniq_sorted(xs)


# --------------------------------------------------------------------------
# evaluation with adaptive precision
# --------------------------------------------------------------------------

def base_dps(*xs):
    m = 0.0
    for x in xs:
        if x != 0 and math.isfinite(x):
            m = max(m, abs(math.log10(abs(x))))
    return 60 + int(3 * m)


def agree(u, v):
    if u == 0 or v == 0:
        return u == v
    return abs(u - v) <= AGREE_REL * abs(v)


def robust(fn, *xs):
    """Evaluate fn(*map(mpf, xs)) until two precisions agree to 40 digits."""
    p = base_dps(*xs)
    prev = None
    while p <= MAX_DPS:
        with mp.workdps(p):
            v = fn(*[mpf(x) for x in xs])
            v = +v if isinstance(v, mpf) else mpf(v)
        if prev is not None and agree(prev, v):
            return v
        prev, p = v, 2 * p
    raise RuntimeError('no convergence for %r at %r' % (fn, xs))


def zero_sign(fn, x):
    """Sign for an exact zero result at x: at x = +-0 it is the sign of fn on
    that side of 0 (+0 if fn is identically zero there); else +0."""
    if x == 0:
        near = robust(fn, math.copysign(1e-30, x))
        if near < 0:
            return -0.0
    return 0.0


def pm(p):
    return None if p is None else mpf(p)


def eval_at(op, which, x, a, b):
    """f(x) (which=0) or f'(x) (which=1) as mpf (nonzero finite) or float."""
    if math.isnan(x):
        return NAN
    if math.isinf(x):
        return op.limits(a, b)[which][1 if x > 0 else 0]
    A, B = pm(a), pm(b)
    fn = op.f if which == 0 else op.df
    v = robust(lambda X: fn(X, A, B), x)
    if v == 0:
        if op.never_zero and x != 0:
            raise AssertionError('%s: exact zero %s at x=%r (cancellation?)'
                                 % (op.name, 'ff'[which] + "'" * which, x))
        return zero_sign(lambda X: fn(X, A, B), x)
    return v


def eval_g(op, y, a, b):
    A, B = pm(a), pm(b)
    if math.isinf(y):
        with mp.workdps(60):
            v = op.g(mpf(y), A, B)
    else:
        v = robust(lambda Y: op.g(Y, A, B), y)
    if mpmath.isnan(v):
        return None          # g undefined there: skip the row
    if v == 0:
        return 0.0
    return v


def times(dy, v):
    """dy * v with IEEE semantics for zeros, infinities and nan."""
    if isinstance(v, float):
        if v == 0 or not math.isfinite(v):
            return dy * v
        v = mpf(v)          # finite nonzero limit: multiply exactly below
    if math.isnan(dy):
        return NAN
    if math.isinf(dy):
        return math.copysign(INF, dy) * (1.0 if v > 0 else -1.0)
    if dy == 0:
        return math.copysign(0.0, dy) * (1.0 if v > 0 else -1.0)
    with mp.workdps(80):
        return mpf(dy) * v


def to_double(v):
    """Round to the nearest double (correctly, including subnormals)."""
    if isinstance(v, float):
        return v
    if mpmath.isnan(v):
        return NAN
    if mpmath.isinf(v):
        return math.copysign(INF, v)
    sign = -1.0 if v < 0 else 1.0
    m = mpmath.mag(v)
    if m > 1100:
        return sign * INF
    if m < -1200:
        return sign * 0.0
    man, exp = v.man_exp          # man is the unsigned mantissa
    try:
        d = sign * float(Fraction(abs(int(man))) * Fraction(2) ** exp)
    except OverflowError:
        d = sign * INF
    return d if d != 0 else sign * 0.0


# --------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------

def fmt_in(x):
    """Exact double input: shortest round-trip repr, inf/-inf/nan/-0.0."""
    if math.isnan(x):
        return 'nan'
    if math.isinf(x):
        return 'inf' if x > 0 else '-inf'
    return repr(float(x))


def fmt_param(p):
    return 'nan' if p is None else repr(float(p))


def fmt_out(v):
    if isinstance(v, float):
        if math.isnan(v):
            return 'nan'
        if math.isinf(v):
            return 'inf' if v > 0 else '-inf'
        if v == 0:
            return '-0.0' if math.copysign(1.0, v) < 0 else '0'
        v = mpf(v)
    if mpmath.isnan(v):
        return 'nan'
    if mpmath.isinf(v):
        return 'inf' if v > 0 else '-inf'
    if v == 0:
        return '0'
    m = mpmath.mag(v)
    if m > CAP_MAG2:
        return 'inf' if v > 0 else '-inf'
    if m < -CAP_MAG2:
        return '-0.0' if v < 0 else '0'
    return mpmath.nstr(v, SIG_DIGITS, min_fixed=-5, max_fixed=16)


# --------------------------------------------------------------------------
# self-checks (abort loudly on any disagreement)
# --------------------------------------------------------------------------

def fail(msg):
    sys.stderr.write('SELF-CHECK FAILED: %s\n' % msg)
    sys.exit(1)


def self_check():
    # 1. closed-form f' against mpmath.diff; g(f(x)) against f'(x).
    for op in OPS:
        for a, b in op.params:
            A, B = pm(a), pm(b)
            kinks = op.kinks(a, b)
            for x in CHECK_X:
                if any(abs(x - k) < 1e-2 for k in kinks):
                    continue
                X = mpf(x)
                d_closed = op.df(X, A, B)
                d_num = mpmath.diff(lambda t: op.f(t, A, B), X)
                if abs(d_closed - d_num) > mpf(10) ** -30 * abs(d_closed) + mpf(10) ** -50:
                    fail('%s(%r,%r) f\'(%r): closed %s vs diff %s'
                         % (op.name, a, b, x, d_closed, d_num))
                if op.g is not None:
                    gy = op.g(op.f(X, A, B), A, B)
                    if abs(gy - d_closed) > mpf(10) ** -30 * abs(d_closed) + mpf(10) ** -50:
                        fail('%s(%r,%r) g(f(%r)) = %s vs f\' = %s'
                             % (op.name, a, b, x, gy, d_closed))
    # 2. tabulated limits at +-inf against values at +-1e6.
    for op in OPS:
        if op.limits is None:
            continue
        for a, b in op.params:
            A, B = pm(a), pm(b)
            for which, fn in ((0, op.f), (1, op.df)):
                for side, X in ((0, -1e6), (1, 1e6)):
                    lim = op.limits(a, b)[which][side]
                    v = fn(mpf(X), A, B)
                    where = '%s(%r,%r) %s at %r' % (op.name, a, b, ('f', "f'")[which], X)
                    if isinstance(lim, float) and math.isinf(lim):
                        ok = (v > 100) if lim > 0 else (v < -100)
                    elif isinstance(lim, float) and lim == 0:
                        ok = abs(v) < 1e-3 and ((v < 0) if math.copysign(1.0, lim) < 0 else (v >= 0))
                    else:
                        ok = abs(v - lim) < mpf(10) ** -3 * abs(lim)
                    if not ok:
                        fail('%s: limit %r vs value %s' % (where, lim, v))
    # 3. far-tail Phi (asymptotic series) against erfc where both work.
    for x in (-1.5e6, -3e6, -1e7):
        a1 = _Phi_lower_tail_asymptotic(mpf(x))
        a2 = mpmath.erfc(-mpf(x) / mpmath.sqrt(2)) / 2
        if abs(a1 - a2) > mpf(10) ** -45 * abs(a2):
            fail('Phi asymptotic vs erfc at %r: %s vs %s' % (x, a1, a2))
    # 4. sin/cos at huge arguments: mpmath against explicit reduction mod 2*pi
    #    carried out at 400+ digits.
    for x in (1e10, 1e22, 1e300, 1.7976931348623157e308):
        with mp.workdps(1200):
            X = mpf(x)
            r = X - 2 * mpmath.pi * mpmath.nint(X / (2 * mpmath.pi))
            ref_s, ref_c = mpmath.sin(r), mpmath.cos(r)
        for fn, ref in ((mpmath.sin, ref_s), (mpmath.cos, ref_c)):
            got = robust(lambda t: fn(t), x)
            if abs(got - ref) > mpf(10) ** -40 * abs(ref):
                fail('%s(%r): %s vs reduced %s' % (fn.__name__, x, got, ref))
        with mp.workdps(60):   # mpmath's own reduction at plain 60 digits
            if abs(mpmath.sin(mpf(x)) - ref_s) > mpf(10) ** -40:
                fail('sin(%r) at 60 digits differs from reduced value' % x)
    # 5. spot values from the spec.
    def row_value(name, which, x, a=None, b=None):
        op = next(o for o in OPS if o.name == name)
        if a is None and b is None:
            a, b = op.params[0]
        return eval_at(op, which, x, a, b)
    # (op, 0 = f / 1 = f', x, expected, relative tolerance)
    spots = [
        ('gelu', 0, -10.0, '-7.62e-23', 1e-2),
        ('sigmoid', 0, -100.0, '3.72e-44', 1e-2),
        ('softplus', 0, 100.0, '100', 0),
        ('softplus', 0, 20.000000000000004, 20.000000000000004, 0),
        ('hardswish', 1, 3.0, '1.5', 0),
        ('hardswish', 1, -3.0, '-0.5', 0),
        ('tanhshrink', 0, 1e-8, '3.333333333333333e-25', 1e-14),
        ('tanhshrink', 0, 1e-300, '3.333333333333333e-901', 1e-14),
        ('sine', 0, 1e22, '-0.8522008497671888', 1e-15),
    ]
    for name, which, x, want, tol in spots:
        got = row_value(name, which, x)
        if abs(mpf(got) - mpf(want)) > tol * abs(mpf(want)):
            fail('spot %s%s(%r) = %s, expected %s' % (name, "'" * which, x, fmt_out(got), want))


# --------------------------------------------------------------------------
# row generation
# --------------------------------------------------------------------------

HEADER = """\
# actk golden values: generated by tests/golden/gen_golden.py -- do not edit.
# Regenerate (needs Debian's python3-mpmath, apt-get install -y python3-mpmath):
#   /usr/bin/python3 tests/golden/gen_golden.py tests/golden/golden.csv
# Format: op,dir,a,b,x,dy,expected   (no spaces; one row per line)
#   fwd:     expected = f(x); dy is written as 1
#   bwd_in:  expected = dy * f'(x)
#   bwd_out: x holds an output y (a double); expected = dy * g(y), g = f' written
#            as a function of the output, evaluated at that double
#   a,b: op parameters (defaults written explicitly), nan if the op has none.
#   x, dy are exact doubles (shortest round-trip repr). expected is the exact
#   result rounded to 25 significant digits (it may lie outside the double
#   range); results beyond 1e+-9934 are written as +-inf or a signed zero.
#   At x = +-0 an exactly-zero result carries the sign of the function on that
#   side of 0 (+0 if it is identically zero there); other exact zeros are 0.
#   Values at x = +-inf are the limits; a zero limit is -0.0 if approached
#   from below. bwd rows multiply with IEEE rules (-2.5 * +0 = -0.0).
#   Parameters are the doubles written in the a,b fields; op-internal
#   constants (selu, gelu_tanh 0.044715 and sqrt(2/pi), quick_gelu 1.702)
#   are exact decimals / exact reals.
"""


def make_rows():
    rows = []
    seen = set()

    def add(op, d, a, b, x_s, dy_s, value):
        key = (op.name, d, a, b, x_s, dy_s)
        if key in seen:
            return
        seen.add(key)
        rows.append((op.name, d, fmt_param(a), fmt_param(b), x_s, dy_s, fmt_out(value)))

    for op in OPS:
        for pi_, (a, b) in enumerate(op.params):
            xs = inputs_for(op, a, b, pi_ == 0)
            # forward
            fvals = {}
            for x in xs:
                v = eval_at(op, 0, x, a, b)
                fvals[fmt_in(x)] = v
                add(op, 'fwd', a, b, fmt_in(x), '1', v)
            # backward wrt input
            bwd = [(x, 1.0) for x in xs]
            special = [x for x in EXTRA_DY_X + op.kinks(a, b)]
            if op.limits is not None:
                special += [-INF, INF]
            bwd += [(x, dy) for dy in EXTRA_DY for x in uniq_sorted(special)
                    if not (math.isinf(x) and dy != -2.5)]
            bwd += [(NAN_DY_X, NAN)]
            for x, dy in bwd:
                add(op, 'bwd_in', a, b, fmt_in(x), fmt_in(dy),
                    times(dy, eval_at(op, 1, x, a, b)))
            # backward wrt output
            if op.g is None:
                continue
            bo = [(x, 1.0) for x in xs]
            bo += [(x, -2.5) for x in BWD_OUT_EXTRA_DY_X] + [(NAN_DY_X, NAN)]
            for x, dy in bo:
                y = to_double(fvals[fmt_in(x)] if fmt_in(x) in fvals
                              else eval_at(op, 0, x, a, b))
                if math.isnan(y) or math.isnan(dy):
                    add(op, 'bwd_out', a, b, fmt_in(y), fmt_in(dy), NAN)
                    continue
                gv = eval_g(op, y, a, b)
                if gv is None:
                    continue
                add(op, 'bwd_out', a, b, fmt_in(y), fmt_in(dy), times(dy, gv))
    return rows


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else None
    self_check()
    rows = make_rows()
    text = HEADER + ''.join(','.join(r) + '\n' for r in rows)
    if out_path:
        tmp = out_path + '.tmp'
        with open(tmp, 'w') as fh:
            fh.write(text)
        import os
        os.replace(tmp, out_path)
    else:
        sys.stdout.write(text)
    # summary
    counts = {}
    for r in rows:
        counts.setdefault(r[0], {}).setdefault(r[1], 0)
        counts[r[0]][r[1]] += 1
    sys.stderr.write('%-14s %6s %6s %7s\n' % ('op', 'fwd', 'bwd_in', 'bwd_out'))
    for name, c in counts.items():
        sys.stderr.write('%-14s %6d %6d %7d\n' % (name, c.get('fwd', 0),
                                                 c.get('bwd_in', 0), c.get('bwd_out', 0)))
    sys.stderr.write('total rows: %d\n' % len(rows))


if __name__ == '__main__':
    main()
