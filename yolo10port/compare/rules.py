"""How a row is judged: against the reference's own noise floor (default), or a fixed atol/rtol.

**Floor rule** (`--tol floor`, the default): pass iff
    max|cand − ref|  ≤ K      · max(floor,      ε · max|ref|)   and
    mean|cand − ref| ≤ K_mean · max(mean floor, ε · max|ref|),
where `floor` and `mean floor` are how far float32 arithmetic alone moves the reference on this very input (the
largest and the mean |ref32 − ref64|, recorded in the reference dump, dumps/run.py). It follows the input: a random
or photographic input, whose deep layers carry 10–100× more rounding than all-ones, gets a wider limit; a layer
float32 computes almost exactly gets a narrow one. ε keeps a limit where float32 happens to be exact: float32's
relative resolution at the row's largest magnitude, granted to every element in both tests, because an honest
runtime resolves each element only as finely as the largest values it computes with (ONNX Runtime's sigmoid is
exact to ~1e-7 absolute, so a trained head scoring noise at 1e-3 moves by 2e-8 everywhere: ε · mean|ref| would
have asked for 4e-9). A row of probabilities (the decoded class scores) is computed with values up to 1 whatever
its own largest value (1 + e^−x, 0.5 + ½·tanh), so its magnitude for ε is at least 1 (`eps_scale`). The max-abs
test catches a large error anywhere; the mean-abs test catches a small error everywhere (a weight off by 0.1 %),
which rounding noise, large in a few elements and tiny on average, does not make.

**Fixed rule** (`--tol fixed`, or a reference without a floor: a foreign or old dump):
pass iff  max|cand − ref| ≤ atol + rtol · max|ref|.

K and ε were chosen from measurements (README, "Comparing and tolerances"), not guessed.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from yolo10port.errors import InputError

# Rows of probabilities (sigmoid outputs): computed with values up to 1 whatever their own largest value, since an
# honest sigmoid forms 1 + e^−x or 0.5 + ½·tanh(x/2): ONNX Runtime's is exact to ~1 float32 ulp of 1 (1.1e-7), which
# a trained head scoring everything at ~4e-3 (ε · max|ref| = 1.7e-8) would otherwise fail. So ε applies to their
# magnitude taken as at least 1: one principle, "ε at the largest magnitude the row is computed with", for all rows.
PROBABILITY_ROWS = ("model.23/scores",)


def eps_scale(key: str, ref_max_abs: float) -> float:
    """The magnitude ε applies to on row `key`: max|ref|, and at least 1 for a row of probabilities."""
    return max(ref_max_abs, 1.0) if key in PROBABILITY_ROWS else ref_max_abs


# Measured (README, "Comparing and tolerances"); see the module docstring for the rule.
K = 6.0
K_MEAN = 3.5
EPS = 4e-6
DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4
# Detections are matched, not compared elementwise (near-equal scores legitimately reorder top-k).
DEFAULT_MATCH_IOU = 0.99
DEFAULT_MATCH_SCORE = 1e-4
MODES = ("floor", "fixed")


@dataclass
class Limit:
    value: float  # the limit on max-abs
    rule: str  # "floor" or "fixed"
    atol: float  # the rule as atol + rtol · max|ref| (the floor rule is atol = K · max(floor, ε·max|ref|), rtol 0)
    rtol: float
    mean: float | None = None  # the floor rule's limit on mean-abs, where the reference recorded a mean floor


@dataclass
class Tolerances:
    mode: str = "floor"
    k: float = K
    k_mean: float = K_MEAN
    eps: float = EPS
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    # (key glob, settings) from a TOML file; the last matching one wins. Settings with atol/rtol judge the
    # matching keys by the fixed rule, settings with k/eps adjust the floor rule there.
    overrides: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    match_iou: float = DEFAULT_MATCH_IOU
    match_score: float = DEFAULT_MATCH_SCORE

    def settings_for(self, key: str) -> dict[str, float]:
        chosen: dict[str, float] = {}
        for pattern, settings in self.overrides:
            if key == pattern or fnmatch.fnmatchcase(key, pattern):
                chosen = settings
        return chosen

    def limit(
        self,
        key: str,
        ref_max_abs: float,
        floor: float | None,
        ref_scale: float = 0.0,  # the magnitude the mean test's ε applies to: max|ref| (see the module docstring)
        mean_floor: float | None = None,
    ) -> Limit:
        """The limits for one row (on max-abs, and under the floor rule on mean-abs), and which rule set them."""
        own = self.settings_for(key)
        fixed = self.mode == "fixed" or "atol" in own or "rtol" in own or floor is None or not math.isfinite(floor)
        if fixed:
            atol, rtol = own.get("atol", self.atol), own.get("rtol", self.rtol)
            return Limit(atol + rtol * ref_max_abs, "fixed", atol, rtol)
        k, eps = own.get("k", self.k), own.get("eps", self.eps)
        value = k * max(floor, eps * eps_scale(key, ref_max_abs))
        mean = None
        if mean_floor is not None and math.isfinite(mean_floor):
            mean = own.get("k_mean", self.k_mean) * max(mean_floor, eps * eps_scale(key, ref_scale))
        return Limit(value, "floor", value, 0.0, mean)

    def detection_tolerances(self, floors: dict[str, float]) -> tuple[float, float]:
        """(score tolerance, box tolerance in pixels) for matching detections. Under the floor rule they follow the
        head's own noise: K × the floor of `model.23/scores` and of `model.23/boxes` (on a large model fed noise,
        float32 alone moves scores by 1e-2), never below the fixed score tolerance."""
        scores, boxes = floors.get("model.23/scores"), floors.get("model.23/boxes")
        if self.mode != "floor" or scores is None:
            return self.match_score, 0.0
        return max(self.match_score, self.k * scores), self.k * (boxes or 0.0)

    def describe(self) -> dict:
        return {
            "mode": self.mode,
            "k": self.k,
            "k_mean": self.k_mean,
            "eps": self.eps,
            "atol": self.atol,
            "rtol": self.rtol,
            "match_iou": self.match_iou,
            "match_score": self.match_score,
        }


def _number(path: Path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"{where} must be a number, not {value!r:.40}")
    if not math.isfinite(value):  # NaN would make every comparison false, so two identical dumps would fail
        raise InputError(path, f"{where} is {value}, not a finite number")
    if value < 0:
        raise InputError(path, f"{where} is negative")
    return float(value)


def _table(path: Path, document: dict, name: str) -> dict:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise InputError(path, f"[{name}] must be a table, not {type(value).__name__}")
    return value


def load_tolerances(
    path: str | Path | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    mode: str | None = None,
    k: float | None = None,
    k_mean: float | None = None,
) -> Tolerances:
    """Defaults, then the TOML file (`[default]`, `[layers."<key or glob>"]`, `[detections]`), then the options.

    Giving --atol or --rtol without --tol means the fixed rule: those numbers are a fixed-rule request.
    """
    tol = Tolerances()
    if path is not None:
        from yolo10port.safe_io import read_text

        path = Path(path)
        if not path.exists() and not path.is_symlink():
            raise InputError(path, "no such tolerance file")
        text = read_text(path, "tolerance file")  # a regular file of at most 1 MiB: never /dev/zero or a FIFO
        try:
            document = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as error:
            raise InputError(path, f"not valid TOML ({error})") from None
        default = _table(path, document, "default")
        for name in ("atol", "rtol", "k", "k_mean", "eps"):
            if name in default:
                setattr(tol, name, _number(path, f"[default] {name}", default[name]))
        if "mode" in default:
            tol.mode = str(default["mode"])
            if tol.mode not in MODES:
                raise InputError(path, f"[default] mode {tol.mode!r:.40} is not one of {', '.join(MODES)}")
        detections = _table(path, document, "detections")
        tol.match_iou = _number(path, "[detections] iou", detections.get("iou", tol.match_iou))
        tol.match_score = _number(path, "[detections] score", detections.get("score", tol.match_score))
        for pattern, entry in _table(path, document, "layers").items():
            if not isinstance(entry, dict) or not entry.keys() & {"atol", "rtol", "k", "k_mean", "eps"}:
                raise InputError(
                    path, f"[layers.{pattern!r}] must be a table with atol/rtol (fixed) or k/k_mean/eps (floor)"
                )
            settings = {name: _number(path, f"[layers.{pattern!r}] {name}", v) for name, v in entry.items()}
            if settings.keys() & {"atol", "rtol"}:  # a fixed-rule override: the missing half from [default]
                settings.setdefault("atol", tol.atol)
                settings.setdefault("rtol", tol.rtol)
            tol.overrides.append((pattern, settings))
    if atol is not None:
        tol.atol = atol
    if rtol is not None:
        tol.rtol = rtol
    if mode is None and (atol is not None or rtol is not None):
        mode = "fixed"
    if mode is not None:
        tol.mode = "floor" if mode == "auto" else mode  # `auto`: the name --tol floor had before it was the default
    if k is not None:
        tol.k = k
    if k_mean is not None:
        tol.k_mean = k_mean
    if tol.mode not in MODES:
        raise InputError("--tol", f"{tol.mode!r} is not one of {', '.join(MODES)}")
    for value, name in ((tol.atol, "atol"), (tol.rtol, "rtol"), (tol.k, "k"), (tol.k_mean, "k-mean")):
        if not math.isfinite(value):
            raise InputError(f"--{name}", f"{value} is not a finite number")
        if value < 0:
            raise InputError(f"--{name}", f"{value} is negative")
    return tol
