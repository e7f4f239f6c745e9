"""Shared test fixtures: calibrated checkpoints built once per session by the real fixture builder."""

from __future__ import annotations

import os

# OpenMP threads (torch's, ONNX Runtime's) busy-wait between parallel regions by default; on a small shared CI
# machine that spinning steals the cores the next step needs. Set before torch loads; children inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("YOLO_OFFLINE", "1")

import resource
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from yolo10port.reference.fixture import build_fixture

ROOT = Path(__file__).resolve().parents[1]

# Which scales `make test` (CI) runs where a test is about the six architectures: the two small ones (7×7 CIBs) and
# m, the smallest of the large ones (3×3 CIBs, C2fCIB at layer 19). b, l and x only add depth, width and CIBs at
# layers 13 and 6, and their fixtures alone take minutes on 2 cores: they run under `extended` (make test-all), and
# `make calibrate` checks all six.
CI_SCALES = "nsm"


def scale_params(scales: str = "nsmblx", ci: str = CI_SCALES) -> list:
    """pytest parameters for `scales`, those outside `ci` marked extended."""
    return [scale if scale in ci else pytest.param(scale, marks=pytest.mark.extended) for scale in scales]


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fixtures")


@pytest.fixture(scope="session")
def make_fixture(fixture_dir):
    """make_fixture("s", nc=80, fused=False) → path of a cached calibrated checkpoint."""

    def make(scale: str, nc: int = 80, fused: bool = False, seed: int = 0) -> Path:
        path = fixture_dir / f"yolov10{scale}-nc{nc}-seed{seed}{'-fused' if fused else ''}.pt"
        if not path.exists():
            build_fixture(scale, path, nc=nc, seed=seed, fused=fused)
        return path

    return make


def run_cli(
    *args: str | Path, cwd: Path | None = None, limit_file_size: int | None = None
) -> subprocess.CompletedProcess:
    """The real command line in a subprocess, as a user runs it; `limit_file_size` (bytes) simulates a full disk."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, "-m", "yolo10port.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        preexec_fn=limit if limit_file_size else None,
    )


def assert_input_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, exactly one line on stderr containing the fragments, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def rewrite_pickle(src, dst, transform):
    """Copy a torch zip checkpoint, passing its data.pkl through `transform` (bytes → bytes)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, transform(data) if item.filename.endswith("data.pkl") else data)
