"""Common corruptions (ImageNet-C / CIFAR-10-C) and the corruption error of a classifier.

Implements the robustness benchmark of Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations" (ICLR 2019): 15 corruptions x 5
severities, and the metrics as Amerehi & Healy (2025, Fig. 2) write them, unnormalised:

- ``E_{c,s}``: top-1 error (percent) on corruption ``c`` at severity ``s``;
- ``CE_c = mean_s E_{c,s}``; ``mCE = mean_c CE_c`` (no AlexNet normalisation).

The corruptions come from the maintained ``imagecorruptions`` package (PyPI
``imagecorruptions-imaug``). Its severity constants are ImageNet-C's, made for 224-pixel images,
which wipe out a 28-32 pixel image. Images whose shorter side is at most 32 pixels therefore get
the CIFAR-10-C constants (:data:`SEVERITY_PARAMS`); only the short functions that turn those
constants into a corruption are written here, on top of the package's helpers (disk kernel,
plasma fractal, zoom, motion blur, glass-blur shuffle, frost photos). Larger images go through the
package unchanged and are then, as every ImageNet-C file is by Hendrycks' ``make_imagenet_c.py``
(``Image.fromarray(np.uint8(img)).save(path, quality=85, optimize=True)``, a .JPEG path), saved as
JPEG at quality 85 and decoded back (:func:`jpeg_round_trip`). Small images are not: CIFAR-10-C's
``make_cifar_c.py`` stores its images as uint8 arrays, without JPEG, and so does this project for
Fashion-MNIST and CIFAR-sized images. Grey images are corrupted as three equal channels and brought back to one by
luminance. No padding is needed: every small-image function works at any size up to 32 (the
package's own functions, which refuse images under 32 pixels, only ever see larger ones). Two of
its helpers are private (``_motion_blur``, ``_shuffle_pixels_njit_glass_blur``): the package is
pinned for that reason.

Images here are uint8 arrays (N, C, H, W), C in {1, 3}; a corrupted test set is generated once per
(dataset, corruption, severity, seed) and cached as an ``.npz`` with its own SHA-256.
"""
from __future__ import annotations

import functools
import importlib.metadata
import importlib.resources
import io
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import cv2
import imagecorruptions
import imagecorruptions.corruptions as ic
import numpy as np
import skimage as sk
import torch
from PIL import Image
from scipy.ndimage import map_coordinates
from skimage.filters import gaussian
from tqdm.auto import tqdm

from labelaug_core.errors import ConfigError

log = logging.getLogger(__name__)


# The glass-blur shuffle is JIT-compiled by numba (seconds); cache the machine code on disk so each
# worker process and each session after the first loads it instead of compiling it again.
try:
    ic._shuffle_pixels_njit_glass_blur.enable_caching()
except RuntimeError:  # numba found no writable cache directory: compile in each process instead
    pass


CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",  # noise
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",  # blur
    "snow", "frost", "fog", "brightness",  # weather
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",  # digital
)


SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


SMALL_IMAGE_SIZE = 32  # shorter side (pixels) up to which SEVERITY_PARAMS[32] is used
IMAGENET_C_JPEG_QUALITY = 85  # make_imagenet_c.py's final save of every corrupted image (larger images only)


# Severity constants by image size, one tuple entry per severity 1..5. Source: CIFAR-10-C,
# hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py (commit ca36008), same meaning as
# there. Images larger than 32 pixels use the ImageNet-C (224) constants inside imagecorruptions.
SEVERITY_PARAMS: dict[int, dict[str, tuple]] = {
    32: {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise std, [0, 1] scale
        "shot_noise": (500, 250, 100, 75, 50),  # Poisson photons per unit intensity
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),  # salt-and-pepper fraction
        # disk radius px, anti-alias sigma
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        # blur sigma, max shift px, shuffle passes
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),  # kernel radius px, sigma
        # the zoom factors whose images are averaged
        "zoom_blur": tuple(np.arange(1, stop, 0.01) for stop in (1.06, 1.11, 1.16, 1.21, 1.26)),
        "snow": (  # flake mean, std, zoom, threshold, blur radius, blur sigma, image weight
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
        "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),  # image weight, frost weight
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),  # fog strength, fractal decay
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to HSV value
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor on deviation from the mean
        "elastic_transform": tuple((32 * a, 32 * s, 32 * f) for a, s, f in (  # alpha px, sigma px, affine jitter px
            (0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # downscale factor
        "jpeg_compression": (80, 65, 58, 50, 40),  # JPEG quality
    },
}




_PACKAGE_VERSION = importlib.metadata.version("imagecorruptions-imaug")


def validate(corruption: str, severity: int) -> None:
    """Raise :class:`ConfigError` unless ``corruption`` is in CORRUPTIONS and ``severity`` in 1..5."""
    if corruption not in CORRUPTIONS:
        raise ConfigError(f"corruption must be one of {', '.join(CORRUPTIONS)}; got {corruption!r}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ConfigError(f"severity must be one of {', '.join(map(str, SEVERITIES))}; got {severity!r}")


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}")


def _gaussian_noise(x, c):
    return np.clip(x / 255 + np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def _shot_noise(x, c):
    return np.clip(np.random.poisson(x / 255 * c) / c, 0, 1) * 255


def _impulse_noise(x, c):
    return sk.util.random_noise(x / 255, mode="s&p", rng=np.random.randint(2**31), amount=c) * 255


def _defocus_blur(x, c):
    return np.clip(cv2.filter2D(x / 255, -1, ic.disk(radius=c[0], alias_blur=c[1])), 0, 1) * 255


def _glass_blur(x, c):
    x = np.uint8(gaussian(x / 255, sigma=c[0], channel_axis=-1) * 255)
    x = ic._shuffle_pixels_njit_glass_blur(x.shape[0], x.shape[1], x, c, np.random.randint(2**31))
    return np.clip(gaussian(x / 255, sigma=c[0], channel_axis=-1), 0, 1) * 255


def _motion_blur(x, c):
    return np.clip(ic._motion_blur(x, radius=c[0], sigma=c[1], angle=np.random.uniform(-45, 45)), 0, 255)


def _zoom_blur(x, c):
    x = (x / 255).astype(np.float32)
    out = sum(ic.clipped_zoom(x, z)[: x.shape[0], : x.shape[1]] for z in c)
    return np.clip((x + out) / (len(c) + 1), 0, 1) * 255


def _snow(x, c):
    x = (x / 255).astype(np.float32)
    h, w = x.shape[:2]
    flakes = np.random.normal(size=(h, w), loc=c[0], scale=c[1])
    flakes = ic.clipped_zoom(flakes[..., None], c[2])[:h, :w, 0]
    flakes = np.clip(np.where(flakes < c[3], 0, flakes), 0, 1)
    flakes = ic._motion_blur(flakes, radius=c[4], sigma=c[5], angle=np.random.uniform(-135, -45))
    flakes = (np.round(flakes * 255) / 255)[..., None]  # the original went through an 8-bit PNG
    x = c[6] * x + (1 - c[6]) * np.maximum(x, cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None] * 1.5 + 0.5)
    return np.clip(x + flakes + np.rot90(flakes, k=2), 0, 1) * 255


@functools.cache
def _frost_photos() -> tuple[np.ndarray, ...]:
    """The package's first five frost photos, RGB, shrunk by 0.2 as CIFAR-10-C does."""
    root = importlib.resources.files("imagecorruptions") / "frost"
    photos = []
    for name in ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"):
        with importlib.resources.as_file(root / name) as path:
            photos.append(cv2.resize(cv2.imread(str(path)), (0, 0), fx=0.2, fy=0.2)[..., ::-1])
    return tuple(photos)


def _frost(x, c):
    frost = _frost_photos()[np.random.randint(5)]
    h, w = x.shape[:2]
    top, left = np.random.randint(0, frost.shape[0] - h), np.random.randint(0, frost.shape[1] - w)
    return np.clip(c[0] * x + c[1] * frost[top : top + h, left : left + w], 0, 255)


def _fog(x, c):
    x = x / 255
    h, w = x.shape[:2]
    top = x.max()
    x = x + c[0] * ic.plasma_fractal(mapsize=ic.next_power_of_2(max(h, w)), wibbledecay=c[1])[:h, :w, None]
    return np.clip(x * top / (top + c[0]), 0, 1) * 255


def _brightness(x, c):
    hsv = sk.color.rgb2hsv(x / 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255


def _contrast(x, c):
    x = x / 255
    mean = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - mean) * c + mean, 0, 1) * 255


def _elastic_transform(x, c):
    alpha, sigma, jitter = c
    x = (x / 255).astype(np.float32)
    h, w = x.shape[:2]
    centre, half = np.float32((h, w)) // 2, min(h, w) // 3  # random affine of three points first
    src = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    dst = src + np.random.uniform(-jitter, jitter, size=src.shape).astype(np.float32)
    x = cv2.warpAffine(x, cv2.getAffineTransform(src, dst), (w, h), borderMode=cv2.BORDER_REFLECT_101)
    dx, dy = [gaussian(np.random.uniform(-1, 1, size=(h, w)), sigma, mode="reflect", truncate=3) * alpha for _ in "xy"]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    coords = (rows + dy, cols + dx)
    out = np.stack([map_coordinates(x[..., k], coords, order=1, mode="reflect") for k in range(3)], axis=-1)
    return np.clip(out, 0, 1) * 255


def _pixelate(x, c):
    h, w = x.shape[:2]
    return Image.fromarray(x).resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX)


def _jpeg_compression(x, c):
    buffer = io.BytesIO()
    Image.fromarray(x).save(buffer, "JPEG", quality=c)
    return Image.open(buffer).convert("RGB")


_SMALL_IMAGE = {name: globals()[f"_{name}"] for name in CORRUPTIONS}


def jpeg_round_trip(rgb: np.ndarray, quality: int = IMAGENET_C_JPEG_QUALITY) -> np.ndarray:
    """uint8 (H, W, 3) saved by PIL as JPEG at ``quality`` (``optimize=True``, as make_imagenet_c.py
    saves; PIL's default 4:2:0 chroma subsampling) and decoded back to uint8 (H, W, 3) pixels."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, optimize=True)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def _corrupt_image(image: np.ndarray, corruption: str, severity: int) -> np.ndarray:
    """One uint8 (C, H, W) image -> corrupted uint8 (C, H, W), using the global numpy RNG."""
    channels, h, w = image.shape
    rgb = np.ascontiguousarray(np.repeat(image, 3 // channels, axis=0).transpose(1, 2, 0))
    if min(h, w) <= SMALL_IMAGE_SIZE:
        out = _SMALL_IMAGE[corruption](rgb, SEVERITY_PARAMS[SMALL_IMAGE_SIZE][corruption][severity - 1])
    else:  # the package's seeded functions take their seed as an argument, the rest use np.random
        seeded = {"seed": np.random.randint(2**31)} if corruption in ("glass_blur", "impulse_noise") else {}
        out = imagecorruptions.corrupt(rgb, severity=severity, corruption_name=corruption, **seeded)
    out = np.uint8(np.asarray(out))  # truncation, as the ImageNet-C / CIFAR-10-C generators do
    if min(h, w) > SMALL_IMAGE_SIZE:  # ImageNet-C's files are JPEGs (quality 85); CIFAR-10-C's arrays are not
        out = jpeg_round_trip(out)
    if channels == 1:  # frost adds colour; everything else keeps R = G = B
        out = np.clip(np.round(ic.rgb2gray(out)), 0, 255).astype(np.uint8)[..., None]
    return out.transpose(2, 0, 1)


def _image_seed(seed: int, corruption: str, severity: int, index: int) -> int:
    """Per-image seed: the same for an image whatever the chunking or the number of workers."""
    return int(np.random.SeedSequence([seed, CORRUPTIONS.index(corruption), severity, index]).generate_state(1)[0])


def _corrupt_chunk(task: tuple[np.ndarray, int, str, int, int]) -> np.ndarray:
    images, start, corruption, severity, seed = task
    state = np.random.get_state()  # the caller's global RNG is left as it was
    try:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            np.random.seed(_image_seed(seed, corruption, severity, start + i))
            out[i] = _corrupt_image(image, corruption, severity)
        return out
    finally:
        np.random.set_state(state)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


_POOL: tuple[int, ProcessPoolExecutor] | None = None


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool kept for the session, so workers import and JIT-compile once."""
    global _POOL
    if _POOL is None or _POOL[0] != workers:
        if _POOL is not None:
            _POOL[1].shutdown()
        # forkserver: no fork of a process that already runs torch/OpenMP threads
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload([__name__])
        _POOL = (workers, ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker))
    return _POOL[1]


def close_pool() -> None:
    """Shut down the session's worker pool, if any; a later :func:`corrupt` starts a new one.

    Call it when no more corrupting is due (a notebook kernel that exits with idle workers has
    them interrupted and printing tracebacks)."""
    global _POOL
    if _POOL is not None:
        _POOL[1].shutdown()
        _POOL = None


def _available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _as_uint8(images) -> np.ndarray:
    """uint8 (N, C, H, W) from a uint8 or [0, 1] float array/tensor of that shape."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"images must have shape (N, C, H, W) with C 1 or 3; got {images.shape}")
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if np.issubdtype(images.dtype, np.floating) and images.size and 0 <= images.min() and images.max() <= 1:
        return np.round(images * 255).astype(np.uint8)
    raise ConfigError(f"images must be uint8 or floats in [0, 1]; got dtype {images.dtype}")


def corrupt(images, corruption: str, severity: int, seed: int = 0, *, workers: int | None = None,
            progress: bool = False) -> np.ndarray:
    """Corrupt a batch of images (Hendrycks & Dietterich 2019).

    ``images``: uint8 (N, C, H, W) (or floats in [0, 1]), C 1 or 3. Returns uint8 (N, C, H, W).
    Images with shorter side <= 32 use the CIFAR-10-C constants, larger ones ImageNet-C's followed by
    ImageNet-C's final JPEG save at quality 85 (:func:`jpeg_round_trip`; see the module docstring).
    The result depends only on (images, corruption, severity, seed), not on ``workers``
    (default: every core this process may use; 1 = in this process).
    """
    validate(corruption, severity)
    _check_seed(seed)
    images = _as_uint8(images)
    workers = workers or _available_cores()
    chunk = max(1, min(256, -(-len(images) // (4 * workers))))
    tasks = [(images[i : i + chunk], i, corruption, severity, int(seed)) for i in range(0, len(images), chunk)]
    out = np.empty_like(images)
    desc = f"{corruption} s{severity}"
    with tqdm(total=len(images), desc=desc, unit="img", disable=not progress, leave=False) as bar:
        results = map(_corrupt_chunk, tasks) if workers == 1 else _pool(workers).map(_corrupt_chunk, tasks)
        for (_, start, *_), result in zip(tasks, results):
            out[start : start + len(result)] = result
            bar.update(len(result))
    return out
