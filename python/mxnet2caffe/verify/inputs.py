"""The tensors both models are fed: seeded random, or an image as users feed a face crop."""

from __future__ import annotations

import os
from typing import Dict, Mapping, Sequence

import numpy as np

from ..errors import ConversionError, InputFileError
from ..runtimes.imports import require


def random_inputs(shapes: Mapping[str, Sequence[int]], seed: int = 0) -> Dict[str, np.ndarray]:
    """A seeded standard-normal tensor per input: the same on every run."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(tuple(shape)).astype(np.float32) for name, shape in shapes.items()}


def image_input(path: str | os.PathLike[str], shape: Sequence[int]) -> np.ndarray:
    """An image file as an N,C,H,W float32 tensor of raw 0..255 values, RGB channel order
    (MXNet's convention) or gray for C=1, resized to H,W and repeated over N."""
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ConversionError(f"an image input needs an N,1,H,W or N,3,H,W input, the model has {tuple(shape)}")
    cv2 = require("cv2")
    if not os.path.isfile(path):
        raise InputFileError(path, "no such image file")
    flag = cv2.IMREAD_GRAYSCALE if shape[1] == 1 else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flag)
    if image is None:
        raise InputFileError(path, "not an image OpenCV can read")
    image = cv2.resize(image, (shape[3], shape[2]), interpolation=cv2.INTER_AREA)
    if shape[1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
    else:
        image = image[np.newaxis]
    return np.repeat(image[np.newaxis].astype(np.float32), shape[0], axis=0)
