"""Transforms on numpy image arrays, for one image or a whole batch at once.

Shapes: one image is (H, W) or (C, H, W); a batch is (N, C, H, W) (or (N, H, W) of raw uint8
images before `ToFloat`). Random transforms draw one value per image with their own seeded
Generator (`seed=`), so a run is reproducible; `get_state()`/`set_state()` save and restore
it. Put `ToFloat()` first: it turns uint8 (..., H, W) into float32 in [0, 1] with a channel axis.
"""
import numpy as np

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


class Transform:
    """Base class; random transforms keep `self.rng`."""
    rng = None

    def __call__(self, x):
        raise NotImplementedError

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
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        xb, back = _as_batch(np.asarray(x))
        n, c, h, w = xb.shape
        p = self.padding
        th, tw = (h, w) if self.size is None else self.size
        if p:
            xb = np.pad(xb, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        if th > xb.shape[2] or tw > xb.shape[3]:
            raise ValueError(f"RandomCrop: crop {self.size} larger than the padded image {xb.shape[2:]}")
        dy = self.rng.integers(0, xb.shape[2] - th + 1, size=n)
        dx = self.rng.integers(0, xb.shape[3] - tw + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(xb, (th, tw), axis=(2, 3))
        # advanced indices split by a slice: result is (N, C, th, tw)
        return back(np.ascontiguousarray(windows[np.arange(n), :, dy, dx]))


class RandomShift(RandomCrop):
    """Shift each image by up to `max_shift` pixels in each direction, filling with zeros."""

    def __init__(self, max_shift=2, fill=0.0, seed=None):
        super().__init__(size=None, padding=max_shift, fill=fill, seed=seed)


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5, seed=None):
        self.p = p
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        xb, back = _as_batch(np.asarray(x))
        flip = self.rng.random(xb.shape[0]) < self.p
        out = xb.copy()
        out[flip] = xb[flip][..., ::-1]
        return back(out)


class RandomRotation(Transform):
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees] about its centre,
    bilinear interpolation, zeros (or `fill`) outside. Pure numpy, vectorised over the batch."""

    def __init__(self, degrees=10.0, fill=0.0, seed=None):
        self.degrees = float(degrees)
        self.fill = fill
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        xb, back = _as_batch(np.asarray(x))
        n, c, h, w = xb.shape
        theta = np.deg2rad(self.rng.uniform(-self.degrees, self.degrees, size=n))
        cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        cy, cx = (h - 1) / 2, (w - 1) / 2
        yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
        # inverse map: the source of output pixel (y, x) is the point rotated back by theta
        sy = cos * yy - sin * xx + cy
        sx = sin * yy + cos * xx + cx
        y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
        fy, fx = (sy - y0).astype(xb.dtype), (sx - x0).astype(xb.dtype)
        flat = xb.reshape(n, c, h * w)
        out = np.zeros_like(xb)
        for oy, ox, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                               (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            yi, xi = y0 + oy, x0 + ox
            inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            index = np.where(inside, yi * w + xi, 0).reshape(n, 1, h * w)
            values = np.take_along_axis(flat, np.broadcast_to(index, (n, c, h * w)), axis=2)
            values = np.where(inside.reshape(n, 1, h * w), values, xb.dtype.type(self.fill))
            out += (weight.reshape(n, 1, h * w) * values).reshape(n, c, h, w)
        return back(out.astype(xb.dtype, copy=False))


class GaussianNoise(Transform):
    """Add N(0, std^2) noise to every pixel."""

    def __init__(self, std=0.1, seed=None):
        self.std = std
        self.rng = np.random.default_rng(seed)

    def __call__(self, x):
        x = np.asarray(x)
        return (x + self.rng.normal(0.0, self.std, size=x.shape)).astype(x.dtype, copy=False)
