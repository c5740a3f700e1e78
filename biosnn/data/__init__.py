"""Encoders and data sets: static inputs to spike trains, and loaders that never download.

* :mod:`biosnn.data.encoders`: :data:`ENCODERS` ("poisson", "latency", "direct", "frames").
* :mod:`biosnn.data.datasets`: :data:`DATASETS` ("digits" bundled and the default; "mnist", "fashion_mnist",
  "cifar10", "cifar100" through torchvision; "nmnist", "dvs_cifar10" through tonic's readers),
  :func:`load_dataset`, :func:`make_loaders`.
"""

from __future__ import annotations

from biosnn.data.datasets import (
    DATASETS,
    DatasetInfo,
    dataset_info,
    default_root,
    load_dataset,
    make_loaders,
)
from biosnn.data.encoders import ENCODERS, direct, encode, frames, latency, poisson

__all__ = [
    "ENCODERS",
    "encode",
    "poisson",
    "latency",
    "direct",
    "frames",
    "DATASETS",
    "DatasetInfo",
    "dataset_info",
    "default_root",
    "load_dataset",
    "make_loaders",
]
