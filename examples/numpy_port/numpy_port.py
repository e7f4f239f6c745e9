#!/usr/bin/env python3
"""A YOLOv10-n port in plain numpy, and the two dumps a port writes to be judged layer by layer.

Written without torch and without yolo10port (numpy and safetensors only), from `yolo10port spec`'s description of
the network ultralytics builds, to show what a port in any language does:

1. the **chained dump**: the port run end to end on the reference's own `input` tensor, every module's output
   under its module path (`model.0.conv`, `model.0.bn`, `model.0.act`, `model.0`, …, `model.23`, `detections`);
2. the **isolated dump**: every module run alone on the input the reference recorded for it (`<key>@input` in a
   reference made with `dump --with-inputs` or `golden --with-inputs`), its output written under its own key.

`yolo10port diff REF CHAINED --isolated ISOLATED --drill` then shows where the error shows up (chained) and which
module is wrong (isolated: the first module whose own output breaches, the culprit).

The arithmetic is float64, written as float32: the reference's noise floor is how far float32 moves each layer from
float64, so a float64 port sits right on it.

Usage: python numpy_port.py WEIGHTS.safetensors REFERENCE.safetensors CHAINED.safetensors ISOLATED.safetensors
           [--bug attn-no-scale|sppf-cv1-no-act]      (or NUMPY_PORT_BUG=…: plant a bug, to see it found)
WEIGHTS: `yolo10port export yolov10n.pt` (ultralytics' key names). REFERENCE: `yolo10port dump yolov10n.pt
--depth all --with-inputs` (any input, any imgsz).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

DUMP_FORMAT = "yolo10port-dump/1"
PRODUCER = "numpy_port example 1.0"
BUGS = ("attn-no-scale", "sppf-cv1-no-act")
MAX_DET = 300
BN_EPS = 1e-3  # `spec`: every BatchNorm2d has eps 0.001 (not torch's default 1e-5)


class Recorder:
    """Collects each module's output under its key, in execution order; a second call of a module gets `#1`…"""

    def __init__(self) -> None:
        self.enabled = False
        self.outputs: dict[str, np.ndarray] = {}
        self.calls: dict[str, int] = {}

    def record(self, path: str, output: np.ndarray) -> None:
        if not self.enabled:
            return
        calls = self.calls.get(path, 0)
        self.calls[path] = calls + 1
        self.outputs[path if calls == 0 else f"{path}#{calls}"] = output


RECORDER = Recorder()
MODULES: dict[str, Module] = {}  # path → module: what the isolated run looks up


class Module:
    """A module at an ultralytics path: calling it records its output, as a forward hook does in PyTorch."""

    def __init__(self, path: str):
        self.path = path
        MODULES[path] = self

    def __call__(self, x):
        out = self.forward(x)
        RECORDER.record(self.path, out)
        return out

    def forward(self, x):
        raise NotImplementedError


class Weights:
    def __init__(self, path: str):
        self.file = safe_open(path, "np")

    def __call__(self, key: str) -> np.ndarray:
        return self.file.get_tensor(key).astype(np.float64)

    def has(self, key: str) -> bool:
        return key in self.file.keys()


# --- the leaf modules --------------------------------------------------------------------------------------------


class Conv2d(Module):
    def __init__(self, w: Weights, path: str, stride: int = 1):
        super().__init__(path)
        self.weight = w(f"{path}.weight")
        self.bias = w(f"{path}.bias") if w.has(f"{path}.bias") else None
        self.stride, self.padding = stride, self.weight.shape[-1] // 2  # ultralytics' autopad: k // 2

    def forward(self, x):
        out_c, in_per_group, kh, kw = self.weight.shape
        groups = x.shape[1] // in_per_group
        p, s = self.padding, self.stride
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]
        b, _, h, w_ = windows.shape[:4]
        windows = windows.reshape(b, groups, in_per_group, h, w_, kh, kw)
        kernel = self.weight.reshape(groups, out_c // groups, in_per_group, kh, kw)
        out = np.einsum("bgchwij,gocij->bgohw", windows, kernel, optimize=True).reshape(b, out_c, h, w_)
        return out if self.bias is None else out + self.bias[None, :, None, None]


class BatchNorm2d(Module):
    def __init__(self, w: Weights, path: str):
        super().__init__(path)
        self.scale = w(f"{path}.weight") / np.sqrt(w(f"{path}.running_var") + BN_EPS)
        self.shift = w(f"{path}.bias") - w(f"{path}.running_mean") * self.scale

    def forward(self, x):
        return x * self.scale[None, :, None, None] + self.shift[None, :, None, None]


class SiLU(Module):
    def forward(self, x):
        return x / (1.0 + np.exp(-x))


class Identity(Module):
    def forward(self, x):
        return x


class MaxPool2d(Module):
    def forward(self, x):  # kernel 5, stride 1, padding 2 with -inf (not zeros: SiLU outputs can be negative)
        padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-np.inf)
        return np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(2, 3)).max(axis=(-2, -1))


class Upsample(Module):
    def forward(self, x):  # nearest, scale 2
        return x.repeat(2, axis=2).repeat(2, axis=3)


class Concat(Module):
    def forward(self, xs):
        return np.concatenate(xs, axis=1)


# --- the blocks --------------------------------------------------------------------------------------------------


class Conv(Module):
    """Conv2d (no bias) → BatchNorm2d (eps 1e-3) → activation; each of the three is a module of its own."""

    def __init__(self, w: Weights, path: str, stride: int = 1, act: bool = True):
        super().__init__(path)
        self.conv = Conv2d(w, f"{path}.conv", stride)
        self.bn = BatchNorm2d(w, f"{path}.bn")
        self.act = (SiLU if act else Identity)(f"{path}.act")

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Sequential(Module):
    def __init__(self, path: str, items: list[Module]):
        super().__init__(path)
        self.items = items

    def forward(self, x):
        for item in self.items:
            x = item(x)
        return x


class Bottleneck(Module):
    def __init__(self, w: Weights, path: str, shortcut: bool):
        super().__init__(path)
        self.cv1, self.cv2 = Conv(w, f"{path}.cv1"), Conv(w, f"{path}.cv2")
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class RepVGGDW(Module):
    def __init__(self, w: Weights, path: str):
        super().__init__(path)
        self.conv = Conv(w, f"{path}.conv", act=False)  # 7×7 depthwise
        self.conv1 = Conv(w, f"{path}.conv1", act=False)  # 3×3 depthwise
        self.act = SiLU(f"{path}.act")

    def forward(self, x):
        return self.act(self.conv(x) + self.conv1(x))


class CIB(Module):
    def __init__(self, w: Weights, path: str, shortcut: bool):
        super().__init__(path)
        p = f"{path}.cv1"
        large = RepVGGDW(w, f"{p}.2") if w.has(f"{p}.2.conv1.conv.weight") else Conv(w, f"{p}.2")
        self.cv1 = Sequential(p, [Conv(w, f"{p}.0"), Conv(w, f"{p}.1"), large, Conv(w, f"{p}.3"), Conv(w, f"{p}.4")])
        self.add = shortcut

    def forward(self, x):
        return x + self.cv1(x) if self.add else self.cv1(x)


class C2f(Module):
    """cv1 → split in two halves → each block takes the last piece → concatenate all → cv2."""

    def __init__(self, w: Weights, path: str, shortcut: bool, block=Bottleneck):
        super().__init__(path)
        self.cv1, self.cv2 = Conv(w, f"{path}.cv1"), Conv(w, f"{path}.cv2")
        count = 0
        while w.has(f"{path}.m.{count}.cv1.0.conv.weight") or w.has(f"{path}.m.{count}.cv1.conv.weight"):
            count += 1
        self.m = [block(w, f"{path}.m.{j}", shortcut) for j in range(count)]  # a list: no key of its own

    def forward(self, x):
        y = self.cv1(x)
        half = y.shape[1] // 2
        pieces = [y[:, :half], y[:, half:]]
        for block in self.m:
            pieces.append(block(pieces[-1]))
        return self.cv2(np.concatenate(pieces, axis=1))


class SCDown(Module):
    def __init__(self, w: Weights, path: str):
        super().__init__(path)
        self.cv1 = Conv(w, f"{path}.cv1")
        self.cv2 = Conv(w, f"{path}.cv2", stride=2, act=False)  # depthwise, stride 2, no activation

    def forward(self, x):
        return self.cv2(self.cv1(x))


class SPPF(Module):
    def __init__(self, w: Weights, path: str, bug: str | None):
        super().__init__(path)
        # block.py writes cv1 with act=False, but v10's parse_model builds it with SiLU (`spec` shows it): the
        # planted bug `sppf-cv1-no-act` is the port that believed the source.
        self.cv1 = Conv(w, f"{path}.cv1", act=bug != "sppf-cv1-no-act")
        self.cv2 = Conv(w, f"{path}.cv2")
        self.m = MaxPool2d(f"{path}.m")  # one module called three times: model.9.m, model.9.m#1, model.9.m#2

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(np.concatenate(y, axis=1))


class Attention(Module):
    def __init__(self, w: Weights, path: str, channels: int, bug: str | None):
        super().__init__(path)
        self.heads = channels // 64  # `spec`: num_heads 2, head_dim 64, key_dim 32 on n
        self.head_dim, self.key_dim = 64, 32
        self.scale = 1.0 if bug == "attn-no-scale" else self.key_dim**-0.5
        self.qkv = Conv(w, f"{path}.qkv", act=False)
        self.proj = Conv(w, f"{path}.proj", act=False)
        self.pe = Conv(w, f"{path}.pe", act=False)

    def forward(self, x):
        b, c, h, w_ = x.shape
        qkv = self.qkv(x).reshape(b, self.heads, 2 * self.key_dim + self.head_dim, h * w_)
        q, k, v = np.split(qkv, [self.key_dim, 2 * self.key_dim], axis=2)
        logits = (q * self.scale).transpose(0, 1, 3, 2) @ k  # (b, heads, N, N)
        logits -= logits.max(axis=-1, keepdims=True)
        attn = np.exp(logits)
        attn /= attn.sum(axis=-1, keepdims=True)
        out = (v @ attn.transpose(0, 1, 3, 2)).reshape(b, c, h, w_)
        return self.proj(out + self.pe(v.reshape(b, c, h, w_)))


class PSA(Module):
    def __init__(self, w: Weights, path: str, bug: str | None):
        super().__init__(path)
        self.cv1, self.cv2 = Conv(w, f"{path}.cv1"), Conv(w, f"{path}.cv2")
        self.c = w(f"{path}.cv1.conv.weight").shape[0] // 2
        self.attn = Attention(w, f"{path}.attn", self.c, bug)
        self.ffn = Sequential(f"{path}.ffn", [Conv(w, f"{path}.ffn.0"), Conv(w, f"{path}.ffn.1", act=False)])

    def forward(self, x):
        y = self.cv1(x)
        a, b = y[:, : self.c], y[:, self.c :]
        b = b + self.attn(b)
        b = b + self.ffn(b)
        return self.cv2(np.concatenate([a, b], axis=1))


# --- the head ----------------------------------------------------------------------------------------------------


class DFL(Module):
    def __init__(self, w: Weights, path: str):
        super().__init__(path)
        self.conv = Conv2d(w, f"{path}.conv")  # 1×1, weights 0…15: the expectation over the bins

    def forward(self, x):
        b, _, a = x.shape
        bins = x.reshape(b, 4, 16, a).transpose(0, 2, 1, 3)  # (b, 16, 4, a)
        bins = np.exp(bins - bins.max(axis=1, keepdims=True))
        bins /= bins.sum(axis=1, keepdims=True)
        return self.conv(bins).reshape(b, 4, a)  # model.23.dfl.conv is (b, 1, 4, a)


class Head(Module):
    """The one-to-one branch only: boxes by DFL from one2one_cv2, class scores from one2one_cv3 (sigmoid)."""

    strides = (8, 16, 32)

    def __init__(self, w: Weights, path: str):
        super().__init__(path)
        self.box, self.cls = [], []
        for i in range(3):
            p = f"{path}.one2one_cv2.{i}"
            self.box.append(Sequential(p, [Conv(w, f"{p}.0"), Conv(w, f"{p}.1"), Conv2d(w, f"{p}.2")]))
            p = f"{path}.one2one_cv3.{i}"
            steps = [Sequential(f"{p}.{j}", [Conv(w, f"{p}.{j}.0"), Conv(w, f"{p}.{j}.1")]) for j in range(2)]
            self.cls.append(Sequential(p, [*steps, Conv2d(w, f"{p}.2")]))
        self.dfl = DFL(w, f"{path}.dfl")

    def forward(self, xs):
        b = xs[0].shape[0]
        boxes, scores, centres, strides = [], [], [], []
        for i, x in enumerate(xs):
            boxes.append(self.box[i](x).reshape(b, 64, -1))
            scores.append(self.cls[i](x).reshape(b, -1, x.shape[2] * x.shape[3]))
        for x, stride in zip(xs, self.strides):
            h, w_ = x.shape[2:]
            ys, xs_ = np.meshgrid(np.arange(h) + 0.5, np.arange(w_) + 0.5, indexing="ij")  # row-major, offset 0.5
            centres.append(np.stack([xs_.ravel(), ys.ravel()]))
            strides.append(np.full(h * w_, stride, dtype=np.float64))
        distances = self.dfl(np.concatenate(boxes, axis=2))  # (b, 4, A): l, t, r, b
        centre, stride = np.concatenate(centres, axis=1)[None], np.concatenate(strides)
        xyxy = np.concatenate([centre - distances[:, :2], centre + distances[:, 2:]], axis=1) * stride
        return np.concatenate([xyxy, 1.0 / (1.0 + np.exp(-np.concatenate(scores, axis=2)))], axis=1)


def top_k(decoded: np.ndarray, max_det: int = MAX_DET) -> np.ndarray:
    """`spec`'s rule: the k anchors with the highest best-class score, then the k highest (anchor, class) scores
    among them, sorted by score; no threshold; class as a float."""
    rows = []
    for image in decoded.transpose(0, 2, 1):  # (A, 4 + nc)
        boxes, scores = image[:, :4], image[:, 4:]
        k = min(max_det, len(image))
        anchors = np.argsort(-scores.max(axis=1), kind="stable")[:k]
        flat = scores[anchors].ravel()
        best = np.argsort(-flat, kind="stable")[:k]
        anchor, cls = anchors[best // scores.shape[1]], best % scores.shape[1]
        rows.append(np.concatenate([boxes[anchor], flat[best, None], cls[:, None].astype(np.float64)], axis=1))
    return np.stack(rows)


# --- the network -------------------------------------------------------------------------------------------------


class YOLOv10n:
    """model.0 … model.23 as `spec` lists them for n: layer types, strides and where each Concat reads from."""

    def __init__(self, w: Weights, bug: str | None = None):
        self.layers = [
            Conv(w, "model.0", stride=2),
            Conv(w, "model.1", stride=2),
            C2f(w, "model.2", shortcut=True),
            Conv(w, "model.3", stride=2),
            C2f(w, "model.4", shortcut=True),
            SCDown(w, "model.5"),
            C2f(w, "model.6", shortcut=True),
            SCDown(w, "model.7"),
            C2f(w, "model.8", shortcut=True),
            SPPF(w, "model.9", bug),
            PSA(w, "model.10", bug),
            Upsample("model.11"),
            Concat("model.12"),
            C2f(w, "model.13", shortcut=False),
            Upsample("model.14"),
            Concat("model.15"),
            C2f(w, "model.16", shortcut=False),
            Conv(w, "model.17", stride=2),
            Concat("model.18"),
            C2f(w, "model.19", shortcut=False),
            SCDown(w, "model.20"),
            Concat("model.21"),
            C2f(w, "model.22", shortcut=True, block=CIB),
            Head(w, "model.23"),
        ]
        self.sources = {12: [11, 6], 15: [14, 4], 18: [17, 13], 21: [20, 10], 23: [16, 19, 22]}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        outputs, x = [], image
        for i, layer in enumerate(self.layers):
            x = layer([outputs[j] for j in self.sources[i]] if i in self.sources else x)
            outputs.append(x)
        return x


# --- the two dumps -----------------------------------------------------------------------------------------------


def reference_inputs(reference, key: str):
    """The reference's recorded input of `key` (`model.9.m#2` → `model.9.m@input#2`; lists as `…/<i>`)."""
    path, mark, call = key.partition("#")
    base = f"{path}@input{mark}{call}"
    names = reference.keys()
    if base in names:
        return reference.get_tensor(base).astype(np.float64)
    parts = []
    while f"{base}/{len(parts)}" in names:
        parts.append(reference.get_tensor(f"{base}/{len(parts)}").astype(np.float64))
    return parts or None


def save(path: str, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    meta = {"format": DUMP_FORMAT, "producer": PRODUCER, "dtype": "float64", **metadata}
    save_file(arrays, path, metadata={**meta, "order": json.dumps(list(arrays))})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights")
    parser.add_argument("reference")
    parser.add_argument("chained")
    parser.add_argument("isolated")
    parser.add_argument("--bug", choices=BUGS, default=os.environ.get("NUMPY_PORT_BUG") or None)
    args = parser.parse_args(argv)

    network = YOLOv10n(Weights(args.weights), args.bug)
    with safe_open(args.reference, "np") as reference:
        meta = reference.metadata()
        order = json.loads(meta["order"])
        if not any("@input" in key for key in order):
            print(f"{args.reference}: no recorded inputs; make it with `dump --with-inputs`", file=sys.stderr)
            return 2
        image = reference.get_tensor("input")
        same_run = {"input": meta["input"], **({"nc": meta["nc"]} if "nc" in meta else {})}

        RECORDER.enabled = True  # 1. chained: end to end on the reference's own input
        decoded = network(image.astype(np.float64))
        RECORDER.enabled = False
        chained = {"input": image, **RECORDER.outputs, "detections": top_k(decoded)}
        save(args.chained, chained, same_run)

        isolated = {}  # 2. isolated: each module alone on its recorded input
        for key in order:
            if key in ("input", "detections") or "@input" in key:
                continue
            module, inputs = MODULES.get(key.partition("#")[0]), reference_inputs(reference, key)
            if module is not None and inputs is not None:
                isolated[key] = module.forward(inputs)
        save(args.isolated, isolated, {**same_run, "isolated": "true"})
    print(
        f"chained dump → {args.chained} ({len(chained)} keys); isolated dump → {args.isolated} ({len(isolated)} keys)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
