"""torchvision.datasets for pyconv: MNIST and FashionMNIST with torchvision's signature.

    train = MNIST("data", train=True, download=True, transform=ToTensor())
    image, label = train[0]          # Tensor (1, 28, 28) in [0, 1], int

The files are found in torchvision's layout `root/MNIST/raw/` (`root/FashionMNIST/raw/`), in
pyconv's `root/mnist/`, in `root` itself, then under PYCONV_DATA and in pyconv's download cache
(see pyconv/data/mnist.py); with download=True they are fetched into `root/MNIST/raw/` only
when none of those has them. Each sample is (transform(image), target): the image handed to the
transform is a uint8 numpy array (28, 28), where torchvision hands a PIL image, and
pyconv.vision.transforms take it as such. `data` (uint8 (N, 28, 28)) and `targets` (int64 (N,))
are Tensors, and may be replaced (to keep some classes, say).
"""
import operator
import os

import numpy as np

from ..data import mnist as _mnist
from ..tensor import Tensor


def _array(values):
    return values.numpy() if isinstance(values, Tensor) else np.asarray(values)


class MNIST(_mnist.MNIST):
    """The MNIST digits, as torchvision.datasets.MNIST."""
    batched = False  # one sample per __getitem__, transforms per image, as torchvision
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root = os.path.expanduser(str(root))
        self.train = train
        self.transform, self.target_transform = transform, target_transform
        self.raw_folder = self._find(self.root, download)  # where the files were found
        self.data, self.targets = self._read(self.raw_folder, train, verify=True)

    @classmethod
    def _candidates(cls, root):
        bases = [root, os.environ.get("PYCONV_DATA")]
        return [d for base in bases if base for d in cls._layouts(base)] + [_mnist.cache_dir(cls.folder)]

    @classmethod
    def _download_dir(cls, root):
        return os.path.join(os.path.expanduser(str(root)), cls.torchvision_folder, "raw")

    @property
    def data(self):
        return Tensor(self._images)

    @data.setter
    def data(self, values):
        self._images = _array(values)

    @property
    def targets(self):
        return Tensor(self._labels)

    @targets.setter
    def targets(self, values):
        self._labels = _array(values).astype(np.int64, copy=False)

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        index = operator.index(index)
        image, target = self._images[index].copy(), int(self._labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self):
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}", f"    Split: {'Train' if self.train else 'Test'}"]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}".replace("\n", "\n    "))
        return "\n".join(lines)


class FashionMNIST(MNIST, _mnist.FashionMNIST):
    """Zalando's Fashion-MNIST, as torchvision.datasets.FashionMNIST."""
    classes = list(_mnist.FashionMNIST.classes)
