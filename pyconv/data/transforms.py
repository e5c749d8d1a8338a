"""Transforms on numpy image arrays, for one image or a whole batch at once.

Shapes: one image is (H, W) or (C, H, W); a batch is (N, C, H, W) (or (N, H, W) of raw uint8
images before `ToFloat`). Random transforms draw one value per image, from their own Generator
when given a `seed=` (`get_state()`/`set_state()` save and restore it), else from pyconv's
global generator (`pyconv.manual_seed`), so a run is reproducible either way. Put `ToFloat()`
first: it turns uint8 (..., H, W) into float32 in [0, 1] with a channel axis.

pyconv.vision.transforms has torchvision's per-image transforms; they share the geometry below.
"""
import numpy as np

from ..random import Generator, default_generator

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530


def _as_batch(x):
    """(N, C, H, W) view of x and a function mapping the result back to x's rank."""
    if x.ndim == 4:
        return x, lambda y: y
    if x.ndim == 3:
        return x[None], lambda y: y[0]
    if x.ndim == 2:
        return x[None, None], lambda y: y[0, 0]
    raise ValueError(f"expected an image (H, W), (C, H, W) or a batch (N, C, H, W), got shape {x.shape}")


def _own_generator(seed):
    return None if seed is None else Generator().manual_seed(seed)


class Transform:
    """Base class; random transforms keep `self.rng` (None: the global generator)."""
    rng = None

    def __call__(self, x):
        raise NotImplementedError

    def _rng(self):
        return default_generator() if self.rng is None else self.rng

    def get_state(self):
        return None if self.rng is None else self.rng.bit_generator.state

    def set_state(self, state):
        if state is not None:
            self.rng.bit_generator.state = state

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def get_state(self):
        return [t.get_state() for t in self.transforms]

    def set_state(self, state):
        for t, s in zip(self.transforms, state):
            t.set_state(s)

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToFloat(Transform):
    """uint8 (..., H, W) -> float32 (..., 1, H, W) scaled to [0, 1]; float input passes through
    (cast to `dtype`). `add_channel=False` keeps the shape."""

    def __init__(self, dtype=np.float32, add_channel=True):
        self.dtype = np.dtype(dtype)
        self.add_channel = add_channel

    def __call__(self, x):
        x = np.asarray(x)
        if x.dtype == np.uint8:
            y = x.astype(self.dtype) * self.dtype.type(1 / 255)
            return np.expand_dims(y, -3) if self.add_channel else y
        return x.astype(self.dtype, copy=False)


ToTensor = ToFloat  # the torchvision name


class Normalize(Transform):
    """(x - mean) / std per channel; mean and std are numbers or one value per channel."""

    def __init__(self, mean, std):
        self.mean = mean
        self.std = std

    def __call__(self, x):
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(-1, 1, 1)
        std = np.asarray(self.std, dtype=x.dtype).reshape(-1, 1, 1)
        if np.any(std == 0):
            raise ValueError("Normalize: std must be non-zero")
        return (x - mean) / std


class RandomCrop(Transform):
    """Pad every side with `padding` zeros (or `fill`), then crop a random `size` window,
    a different one per image. With size None (the input size) this shifts the image by up
    to `padding` pixels."""

    def __init__(self, size, padding=0, fill=0.0, seed=None):
        self.size = None if size is None else (size, size) if np.isscalar(size) else tuple(size)
        self.padding = int(padding)
        self.fill = fill
        self.rng = _own_generator(seed)

    def __call__(self, x):
        xb, back = _as_batch(np.asarray(x))
        n, c, h, w = xb.shape
        p = self.padding
        th, tw = (h, w) if self.size is None else self.size
        if p:
            xb = np.pad(xb, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        if th > xb.shape[2] or tw > xb.shape[3]:
            raise ValueError(f"RandomCrop: crop {self.size} larger than the padded image {xb.shape[2:]}")
        dy = self._rng().integers(0, xb.shape[2] - th + 1, size=n)
        dx = self._rng().integers(0, xb.shape[3] - tw + 1, size=n)
        return back(crop(xb, dy, dx, th, tw))


class RandomShift(RandomCrop):
    """Shift each image by up to `max_shift` pixels in each direction, filling with zeros."""

    def __init__(self, max_shift=2, fill=0.0, seed=None):
        super().__init__(size=None, padding=max_shift, fill=fill, seed=seed)


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5, seed=None):
        self.p = p
        self.rng = _own_generator(seed)

    def __call__(self, x):
        xb, back = _as_batch(np.asarray(x))
        flip = self._rng().random(xb.shape[0]) < self.p
        out = xb.copy()
        out[flip] = xb[flip][..., ::-1]
        return back(out)


class RandomRotation(Transform):
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees] about its centre,
    bilinear interpolation, zeros (or `fill`) outside. Pure numpy, vectorised over the batch."""

    def __init__(self, degrees=10.0, fill=0.0, seed=None):
        self.degrees = float(degrees)
        self.fill = fill
        self.rng = _own_generator(seed)

    def __call__(self, x):
        xb, back = _as_batch(np.asarray(x))
        angles = self._rng().uniform(-self.degrees, self.degrees, size=xb.shape[0])
        return back(rotate(xb, angles, self.fill))


class GaussianNoise(Transform):
    """Add N(0, std^2) noise to every pixel."""

    def __init__(self, std=0.1, seed=None):
        self.std = std
        self.rng = _own_generator(seed)

    def __call__(self, x):
        x = np.asarray(x)
        return (x + self._rng().normal(0.0, self.std, size=x.shape)).astype(x.dtype, copy=False)


# -- geometry on batches (N, C, H, W), shared with pyconv.vision.transforms ---------------------
def crop(xb, top, left, height, width):
    """Image i cut to rows top[i]:top[i]+height, columns left[i]:left[i]+width."""
    windows = np.lib.stride_tricks.sliding_window_view(xb, (height, width), axis=(2, 3))
    # advanced indices split by a slice: the result is (N, C, height, width)
    return np.ascontiguousarray(windows[np.arange(len(xb)), :, top, left])


def rotate(xb, degrees, fill=0.0, interpolation="bilinear", center=None):
    """Image i rotated counter-clockwise by degrees[i] (torchvision's sense) about `center`
    ((x, y) in pixel indices; default the image's centre), `fill` outside; "bilinear" or
    "nearest" interpolation."""
    n, c, h, w = xb.shape
    theta = np.deg2rad(np.asarray(degrees, dtype=np.float64))
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    cx, cy = ((w - 1) / 2, (h - 1) / 2) if center is None else center
    yy, xx = (np.arange(h) - cy)[:, None], (np.arange(w) - cx)[None, :]  # broadcast to (N, H, W)
    # inverse map: the source of output pixel (y, x) is that pixel rotated back by theta
    # (y points down, so counter-clockwise on screen is clockwise in these coordinates)
    sy = sin * xx + cos * yy + cy
    sx = cos * xx - sin * yy + cx
    if interpolation == "nearest":
        return _gather(xb, np.rint(sy).astype(np.int64), np.rint(sx).astype(np.int64), fill)
    if interpolation != "bilinear":
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    if xb.dtype.kind == "f":
        return _bilinear(xb, sy, sx, fill)
    # integer images (raw uint8): interpolate in float32, round back
    out = np.rint(_bilinear(xb.astype(np.float32), sy, sx, fill))
    info = np.iinfo(xb.dtype)
    return np.clip(out, info.min, info.max).astype(xb.dtype)


def _bilinear(xb, sy, sx, fill):
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    fy, fx = (sy - y0).astype(xb.dtype), (sx - x0).astype(xb.dtype)
    out = np.zeros_like(xb)
    for oy, ox, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                           (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        out += weight[:, None] * _gather(xb, y0 + oy, x0 + ox, fill)
    return out


def _gather(xb, yi, xi, fill):
    """out[i, :, y, x] = xb[i, :, yi[i, y, x], xi[i, y, x]], or `fill` where that is outside."""
    n, c, h, w = xb.shape
    inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
    index = np.where(inside, yi * w + xi, 0) + (np.arange(n) * (h * w))[:, None, None]
    values = xb.transpose(1, 0, 2, 3).reshape(c, n * h * w)[:, index]  # (C, N, H, W)
    return np.where(inside[:, None], values.transpose(1, 0, 2, 3), xb.dtype.type(fill))
