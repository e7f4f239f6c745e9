"""`yolo10port fixture`: a test checkpoint for any scale, built offline from ultralytics' bundled yaml.

Random weights alone give useless BatchNorm statistics (activations explode, scores saturate), so the
statistics are calibrated on representative inputs: all-ones, uniform noise and the two photos ultralytics
ships. The checkpoint is then saved the way ultralytics saves released ones (strip_optimizer: fp16 model).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
from pathlib import Path

import torch
from torch import nn

from yolo10port.atomic import atomic_path, scratch_path, write_error
from yolo10port.dumps.inputs import image_tensor
from yolo10port.reference.network import build_network, fuse_network

CALIBRATION_IMGSZ = 640


def bundled_images() -> list[Path]:
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg"]


def calibration_batch(seed: int, imgsz: int = CALIBRATION_IMGSZ) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (1, 3, imgsz, imgsz)
    images = [torch.ones(shape), torch.rand(shape, generator=generator)]
    images += [image_tensor(path, imgsz, batch=1, auto=False)[0] for path in bundled_images()]
    return torch.cat(images)


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, batch: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics to the exact statistics of its input on `batch`."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one batch → its exact statistics
    model.train()
    model(batch)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.eval()


CLASS_LOGIT_MEAN, CLASS_LOGIT_STD = -4.0, 1.5  # scores spread over ~1e-4 … 0.5: no saturation, no ties


@torch.no_grad()
def calibrate_class_logits(model: nn.Module, batch: torch.Tensor) -> None:
    """Rescale each level's final class conv (both heads) so its logits have a set mean and spread on `batch`.

    ultralytics initialises these biases to a tiny-prior constant (scores ≈ 2e-4 everywhere), which makes every
    score a near-tie and top-k a lottery; a spread of logits gives top-k a meaningful order.
    """
    head = model.model[-1]
    finals = [branch[-1] for branches in (head.cv3, head.one2one_cv3) if branches is not None for branch in branches]
    stats: dict[int, tuple[float, float]] = {}
    handles = [
        conv.register_forward_hook(lambda m, _i, out: stats.__setitem__(id(m), (out.mean().item(), out.std().item())))
        for conv in finals
    ]
    model.eval()
    model(batch)
    for handle in handles:
        handle.remove()
    for conv in finals:
        mean, std = stats[id(conv)]
        gain = CLASS_LOGIT_STD / max(std, 1e-6)
        conv.weight.mul_(gain)
        conv.bias.copy_((conv.bias - mean) * gain + CLASS_LOGIT_MEAN)


@torch.no_grad()
def redraw_one_to_many_head(model: nn.Module, seed: int) -> None:
    """ultralytics builds the one-to-one head as a deep copy of the one-to-many head, so an untrained model has two
    identical heads and nothing could tell which one ran. Redrawing the one-to-many convs makes them differ, as
    they do after training. (PyTorch's default conv init, drawn from a generator of our own: the global one may
    have been advanced by whatever else ran in this process.)"""
    generator = torch.Generator().manual_seed(seed + 1)
    head = model.model[-1]
    for branch in (head.cv2, head.cv3):
        for conv in branch.modules():
            if isinstance(conv, nn.Conv2d):
                nn.init.kaiming_uniform_(conv.weight, a=math.sqrt(5), generator=generator)
                if conv.bias is not None:
                    bound = 1 / math.sqrt(conv.weight[0].numel())
                    nn.init.uniform_(conv.bias, -bound, bound, generator=generator)


@contextlib.contextmanager
def quiet_ultralytics():
    """ultralytics logs to stdout ("Optimizer stripped from …/.x.pt.trained.partial"): keep its chatter, and our
    temporary file names, out of our output."""
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def build_fixture(scale: str, out: str | Path, nc: int = 80, seed: int = 0, fused: bool = False) -> Path:
    from ultralytics.utils.torch_utils import strip_optimizer

    out = Path(out)
    torch.manual_seed(seed)
    model = build_network(scale, nc)
    redraw_one_to_many_head(model, seed)
    batch = calibration_batch(seed)
    calibrate_batchnorm(model, batch)
    calibrate_class_logits(model, batch)
    if fused:
        fuse_network(model)
    model.names = {i: f"class{i}" for i in range(nc)}
    train_args = {"model": f"yolov10{scale}.yaml", "data": "yolo10port-fixture", "seed": seed, "epochs": 0}
    trained = scratch_path(out, "trained")
    try:
        torch.save({"epoch": 0, "model": model, "ema": None, "train_args": train_args}, trained)
        with atomic_path(out) as released, quiet_ultralytics():
            strip_optimizer(trained, str(released))  # exactly ultralytics' release step: fp16, no optimizer
    except RuntimeError as error:
        raise _torch_write_error(out, error) from None
    finally:
        trained.unlink(missing_ok=True)
    return out


def _torch_write_error(out: Path, error: RuntimeError) -> Exception:
    """torch's zip writer reports a full disk or a file-size limit as a C++ RuntimeError ("unexpected pos N vs M",
    "file write failed"), not as an OSError: name the output in one line, as every other writer does."""
    message = str(error)
    if "unexpected pos" in message or "write failed" in message:
        return write_error(Path(out), OSError(errno.ENOSPC, "the disk is full or the file size is limited"))
    return error


def cached_fixture(scale: str, folder: str | Path) -> Path:
    """`folder/yolov10<scale>-fixture.pt` (seed 0, nc 80), built on first use and reused after."""
    path = Path(folder) / f"yolov10{scale}-fixture.pt"
    if not path.exists():
        build_fixture(scale, path)
    return path


def fixture_cache() -> Path:
    """Where fixtures the tool builds for itself live: the user's cache ($XDG_CACHE_HOME or ~/.cache), never the
    working directory; YOLO10PORT_CACHE overrides."""
    import os

    root = os.environ.get("YOLO10PORT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(root) / "yolo10port" / "fixtures"
