"""torchvision.transforms for pyconv: per-image transforms, which a dataset applies to one
sample at a time (`Compose([RandomCrop(28, padding=4), ToTensor(), Normalize(...)])`).

Images come in two kinds. A numpy array is an image as PIL would hold it, (H, W) or (H, W, C),
usually uint8: what pyconv.vision.datasets hand to their transform, where torchvision hands a
PIL image. A Tensor is (..., C, H, W), usually float32: what ToTensor makes. The geometric
transforms take either kind and return the same kind; Normalize takes Tensors.

Random transforms draw from pyconv's global generator, as torchvision's draw from torch's, so
`pyconv.manual_seed` repeats them; DataLoader seeds each worker process differently.
(pyconv.data.transforms has pyconv's own transforms, which work on whole batches.)
"""
import enum
import numbers

import numpy as np

from ..data.transforms import rotate
from ..random import default_generator
from ..tensor import Tensor


class InterpolationMode(str, enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"


def _planes(img):
    """(img as an array of planes (C, H, W), a function turning planes back into img's kind)."""
    if isinstance(img, Tensor):
        data, device = img.numpy(), img.device
        if data.ndim < 2:
            raise ValueError(f"expected an image tensor (..., H, W), got shape {data.shape}")
        lead = data.shape[:-2]
        return (data.reshape((-1,) + data.shape[-2:]),
                lambda out: Tensor(np.ascontiguousarray(out).reshape(lead + out.shape[-2:]), device=device))
    a = np.asarray(img)
    if a.ndim == 2:
        return a[None], lambda out: np.ascontiguousarray(out[0])
    if a.ndim == 3:
        return a.transpose(2, 0, 1), lambda out: np.ascontiguousarray(out.transpose(1, 2, 0))
    raise ValueError(f"expected an image array (H, W) or (H, W, C), got shape {a.shape}")


def _pair(size, name):
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name} must be an int or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


def _pad_widths(padding):
    """torchvision's padding (an int; (left/right, top/bottom); (left, top, right, bottom)) as
    numpy's ((top, bottom), (left, right))."""
    if isinstance(padding, numbers.Integral):
        padding = [padding]
    padding = [int(p) for p in padding]
    if len(padding) == 1:
        left = top = right = bottom = padding[0]
    elif len(padding) == 2:
        (left, top), (right, bottom) = padding, padding
    elif len(padding) == 4:
        left, top, right, bottom = padding
    else:
        raise ValueError(f"padding must be an int or a sequence of 1, 2 or 4 ints, got {padding!r}")
    return (top, bottom), (left, right)


def _pad(planes, padding, fill=0, padding_mode="constant"):
    (top, bottom), (left, right) = _pad_widths(padding)
    if padding_mode == "constant":  # by hand: np.pad costs more than the copy on a small image
        c, h, w = planes.shape
        out = np.full((c, top + h + bottom, left + w + right), fill, dtype=planes.dtype)
        out[:, top:top + h, left:left + w] = planes
        return out
    if padding_mode not in ("edge", "reflect", "symmetric"):
        raise ValueError(f"padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
    return np.pad(planes, ((0, 0), (top, bottom), (left, right)), mode=padding_mode)


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class Lambda:
    """Apply a function of your own."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda needs a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return "Lambda()"


class ToTensor:
    """Image array (H, W) or (H, W, C) -> Tensor (C, H, W); uint8 is scaled to float32 in [0, 1],
    other dtypes keep their values (torchvision's rule for arrays)."""

    def __call__(self, pic):
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: expected an image array (H, W) or (H, W, C), got a Tensor "
                            "(it is converted already)")
        a = np.asarray(pic)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3:
            raise ValueError(f"ToTensor: expected an image array (H, W) or (H, W, C), got shape {a.shape}")
        chw = np.ascontiguousarray(a.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            chw = chw.astype(np.float32) / np.float32(255)
        return Tensor(chw)

    def __repr__(self):
        return "ToTensor()"


class PILToTensor:
    """Image array (H, W) or (H, W, C) -> Tensor (C, H, W) of the same dtype, unscaled."""

    def __call__(self, pic):
        a = np.asarray(pic)
        a = a[:, :, None] if a.ndim == 2 else a
        return Tensor(np.ascontiguousarray(a.transpose(2, 0, 1)))

    def __repr__(self):
        return "PILToTensor()"


class Normalize:
    """(x - mean) / std per channel of a float Tensor (..., C, H, W)."""

    def __init__(self, mean, std, inplace=False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor):
        x = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a float tensor, got dtype {x.dtype} (put ToTensor() before it)")
        if x.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor (..., C, H, W), got shape {tuple(x.shape)}")
        xp = tensor.xp if isinstance(tensor, Tensor) else np
        mean = xp.asarray(self.mean, dtype=x.dtype).reshape(-1, 1, 1)
        std = xp.asarray(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        if bool((std == 0).any()):
            raise ValueError(f"Normalize: std evaluated to zero ({self.std!r}), leading to division by zero")
        out = (x - mean) / std
        return Tensor(out) if isinstance(tensor, Tensor) else out

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class Pad:
    """Pad the borders: padding an int, (left/right, top/bottom) or (left, top, right, bottom)."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        _pad_widths(padding)
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        planes, back = _planes(img)
        return back(_pad(planes, self.padding, self.fill, self.padding_mode))

    def __repr__(self):
        return f"Pad(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class CenterCrop:
    """Cut the central size x size (or (h, w)) window, padding with zeros if the image is smaller."""

    def __init__(self, size):
        self.size = _pair(size, "size")

    def __call__(self, img):
        planes, back = _planes(img)
        (th, tw), (h, w) = self.size, planes.shape[-2:]
        if th > h or tw > w:  # as torchvision: pad to the crop size first
            dh, dw = max(th - h, 0), max(tw - w, 0)
            planes = _pad(planes, [dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2])
            h, w = planes.shape[-2:]
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return back(planes[:, top:top + th, left:left + tw])

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """Pad by `padding` (optional), then cut a size x size (or (h, w)) window at a random place."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _pair(size, "size")
        if padding is not None:
            _pad_widths(padding)
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def __call__(self, img):
        planes, back = _planes(img)
        if self.padding is not None:
            planes = _pad(planes, self.padding, self.fill, self.padding_mode)
        (th, tw), (h, w) = self.size, planes.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dh, dw = max(th - h, 0), max(tw - w, 0)
            planes = _pad(planes, [dw, dh], self.fill, self.padding_mode)
            h, w = planes.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {(th, tw)} is larger than the (padded) image {(h, w)}")
        if (h, w) == (th, tw):
            return back(planes)
        top = int(default_generator().integers(0, h - th + 1))
        left = int(default_generator().integers(0, w - tw + 1))
        return back(planes[:, top:top + th, left:left + tw])

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if default_generator().random() >= self.p:
            return img
        planes, back = _planes(img)
        return back(planes[..., ::-1])

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip:
    """Mirror top-bottom with probability p."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if default_generator().random() >= self.p:
            return img
        planes, back = _planes(img)
        return back(planes[..., ::-1, :])

    def __repr__(self):
        return f"RandomVerticalFlip(p={self.p})"


class RandomRotation:
    """Rotate counter-clockwise by an angle drawn uniformly from [-degrees, degrees] (or from
    (min, max)) about `center` ((x, y), default the image's centre), `fill` outside. The output
    keeps the input's size (expand=True, which grows it, is not available)."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError(f"RandomRotation: degrees must be non-negative, got {degrees}")
            degrees = (-degrees, degrees)
        if len(degrees) != 2:
            raise ValueError(f"RandomRotation: degrees must be a number or (min, max), got {degrees!r}")
        if expand:
            raise ValueError("RandomRotation: expand=True is not available in pyconv; the output "
                             "keeps the input's size")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation = InterpolationMode(interpolation)
        self.center, self.fill = center, fill

    def __call__(self, img):
        angle = float(default_generator().uniform(*self.degrees))
        planes, back = _planes(img)
        # torchvision's (x, y) centre is in pixel edges: pixel i spans [i, i + 1)
        center = None if self.center is None else (self.center[0] - 0.5, self.center[1] - 0.5)
        out = rotate(planes[None], [angle], self.fill, self.interpolation.value, center)
        return back(out[0])

    def __repr__(self):
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation.value})"
