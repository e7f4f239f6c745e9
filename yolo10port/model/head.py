"""The one-to-one (NMS-free) detection head and YOLOv10's top-k post-processing.

Only the one-to-one branch is built: it is the one used at inference. Its weights live under ultralytics'
names `one2one_cv2` (box regression) and `one2one_cv3` (light classification); the one-to-many branch
(`cv2`, `cv3`) only guides training and is ignored when loading.
"""

from __future__ import annotations

import torch
from torch import nn

from yolo10port.model.blocks import Conv

REG_MAX = 16  # DFL bins per box side
STRIDES = (8, 16, 32)  # P3, P4, P5


class DFL(nn.Module):
    """Distribution focal loss decoding: a box side is the expectation of a softmax over REG_MAX bins.

    The expectation is a fixed 1×1 conv whose weights are 0, 1, …, REG_MAX-1 (stored in the checkpoint too).
    """

    def __init__(self, bins: int = REG_MAX):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(bins, dtype=torch.float).view(1, bins, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # (B, 4·bins, anchors)
        probs = x.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)  # (B, bins, 4, anchors)
        return self.conv(probs).view(b, 4, a)


def box_branch(c_in: int, c_hidden: int) -> nn.Sequential:
    return nn.Sequential(Conv(c_in, c_hidden, 3), Conv(c_hidden, c_hidden, 3), nn.Conv2d(c_hidden, 4 * REG_MAX, 1))


def light_class_branch(c_in: int, c_hidden: int, nc: int) -> nn.Sequential:
    """The paper's lightweight classification head: two depthwise-separable convs, then a 1×1 to nc."""
    return nn.Sequential(
        nn.Sequential(Conv(c_in, c_in, 3, g=c_in), Conv(c_in, c_hidden, 1)),
        nn.Sequential(Conv(c_hidden, c_hidden, 3, g=c_hidden), Conv(c_hidden, c_hidden, 1)),
        nn.Conv2d(c_hidden, nc, 1),
    )


def make_anchors(feats: list[torch.Tensor], offset: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points at cell centres (offset 0.5), in grid units, (2, A); and each anchor's stride, (1, A)."""
    points, strides = [], []
    for feat, stride in zip(feats, STRIDES):
        _, _, h, w = feat.shape
        ys = torch.arange(h, dtype=feat.dtype, device=feat.device) + offset
        xs = torch.arange(w, dtype=feat.dtype, device=feat.device) + offset
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x, grid_y), -1).view(-1, 2))
        strides.append(torch.full((h * w, 1), stride, dtype=feat.dtype, device=feat.device))
    return torch.cat(points).transpose(0, 1), torch.cat(strides).transpose(0, 1)


class V10Detect(nn.Module):
    """Returns the decoded prediction (B, 4 + nc, A): boxes xyxy in input pixels, then class scores (sigmoid)."""

    def __init__(self, nc: int, channels: tuple[int, int, int]):
        super().__init__()
        self.nc = nc
        c_box = max(16, channels[0] // 4, REG_MAX * 4)
        c_cls = max(channels[0], min(nc, 100))
        self.one2one_cv2 = nn.ModuleList(box_branch(c, c_box) for c in channels)
        self.one2one_cv3 = nn.ModuleList(light_class_branch(c, c_cls, nc) for c in channels)
        self.dfl = DFL()
        self.anchor_offset = 0.5  # cell centres; a port that uses corners (0) is off by half a stride

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        b = feats[0].shape[0]
        box_logits = torch.cat([branch(f).view(b, 4 * REG_MAX, -1) for branch, f in zip(self.one2one_cv2, feats)], -1)
        cls_logits = torch.cat([branch(f).view(b, self.nc, -1) for branch, f in zip(self.one2one_cv3, feats)], -1)
        anchors, strides = make_anchors(feats, self.anchor_offset)
        left_top, right_bottom = self.dfl(box_logits).chunk(2, 1)  # distances from the anchor, grid units
        anchors = anchors.unsqueeze(0)
        boxes = torch.cat((anchors - left_top, anchors + right_bottom), 1) * strides
        return torch.cat((boxes, cls_logits.sigmoid()), 1)


def postprocess(decoded: torch.Tensor, max_det: int = 300) -> torch.Tensor:
    """v10 post-processing without NMS: (B, 4+nc, A) → (B, k, 6) rows x1, y1, x2, y2, score, class.

    Two top-k steps: keep the k anchors whose best class score is highest, then the k highest (anchor, class)
    scores among them; k = min(max_det, A). An anchor may thus appear once per class.
    """
    preds = decoded.permute(0, 2, 1)
    nc = preds.shape[-1] - 4
    boxes, scores = preds.split([4, nc], dim=-1)
    k = min(max_det, preds.shape[1])
    anchor_index = scores.max(dim=-1)[0].topk(k, dim=1)[1]  # (B, k)
    scores = scores.gather(1, anchor_index[..., None].expand(-1, -1, nc))
    top_scores, flat_index = scores.flatten(1).topk(k, dim=1)
    classes = (flat_index % nc)[..., None].float()
    anchor_index = anchor_index.gather(1, flat_index // nc)
    boxes = boxes.gather(1, anchor_index[..., None].expand(-1, -1, 4))
    return torch.cat([boxes, top_scores[..., None], classes], dim=-1)
