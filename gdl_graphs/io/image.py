"""Image readers: NPY always; PNG and JPEG through Pillow (the ``image`` extra, imported lazily).

Every reader returns a float32 tensor ``[C, H, W]`` (channels first, as ``torch.nn.Conv2d`` and
:func:`gdl_graphs.domains.grid.image_to_graph` expect). Integer images are scaled to ``[0, 1]``
(``uint8`` by 1/255, ``uint16`` by 1/65535) unless ``scale=False``.
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .errors import FormatError, PathLike, check_file, describe, ext_of, read_npy

IMAGE_EXTENSIONS = ('.npy', '.png', '.jpg', '.jpeg')
_PIL_FORMATS = {'.png': ('PNG',), '.jpg': ('JPEG', 'MPO'), '.jpeg': ('JPEG', 'MPO')}
_MAX_PIXELS = 1 << 28


def _to_chw(arr: np.ndarray, path: PathLike, channels_first: Optional[bool]) -> np.ndarray:
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim != 3:
        raise FormatError(path, f'an image array must have 2 or 3 dimensions ([H, W], [H, W, C] '
                                f'or [C, H, W]), got shape {list(arr.shape)}')
    if channels_first is None:
        first, last = arr.shape[0] <= 4, arr.shape[-1] <= 4
        if first == last:
            raise FormatError(path, f'cannot tell the channel axis of shape {list(arr.shape)}; '
                                    f'pass channels_first=True or False')
        channels_first = first
    return arr if channels_first else np.moveaxis(arr, -1, 0)


def _scaled(arr: np.ndarray, scale: bool) -> Tensor:
    if scale and arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    elif scale and arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def read_npy_image(path: PathLike, channels_first: Optional[bool] = None,
                   scale: bool = True) -> Tensor:
    """An image stored as an NPY array ``[H, W]``, ``[H, W, C]`` or ``[C, H, W]`` (C <= 4; the
    channel axis is guessed from the shape unless ``channels_first`` is given)."""
    arr = read_npy(path)
    arr = _to_chw(arr, path, channels_first)
    if min(arr.shape) == 0:
        raise FormatError(path, f'an empty image (shape {list(arr.shape)})')
    return _scaled(arr, scale)


def read_pil_image(path: PathLike, scale: bool = True) -> Tensor:
    """A PNG or JPEG file via Pillow (``pip install Pillow``)."""
    p = check_file(path)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f'reading {p.suffix} images needs Pillow: pip install Pillow '
                          f'(or store the images as .npy)') from None
    expected = _PIL_FORMATS.get(ext_of(p))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            with Image.open(p) as img:
                fmt = img.format
                if expected is not None and fmt not in expected:
                    raise FormatError(p, f'the content is {fmt}, not {expected[0]}; '
                                         f'is the extension right?')
                if img.width * img.height > _MAX_PIXELS:
                    raise FormatError(p, f'{img.width}x{img.height} pixels is too large')
                img.load()
                mode = img.mode
                if mode in ('1', 'P', 'PA', 'CMYK', 'YCbCr', 'LAB', 'HSV', 'La', 'RGBa'):
                    mode = 'RGBA' if 'A' in mode or 'transparency' in img.info else 'RGB'
                    if img.mode == '1':
                        mode = 'L'
                    img = img.convert(mode)
                arr = np.asarray(img)
    except FormatError:
        raise
    except Exception as exc:  # truncated, corrupt, not an image, bomb, ...
        raise FormatError(p, f'cannot read the image ({describe(exc)})') from None
    if arr.dtype == np.int32:  # mode 'I' (16/32-bit greyscale)
        arr = arr.astype(np.float32) / (65535.0 if scale and arr.max(initial=0) <= 65535 else 1.0)
    elif arr.dtype.kind not in 'biuf':
        raise FormatError(p, f'unsupported pixel type {arr.dtype}')
    arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return _scaled(arr, scale)


def read_image(path: PathLike, channels_first: Optional[bool] = None,
               scale: bool = True) -> Tensor:
    """Read an image file (``.npy``, ``.png``, ``.jpg``/``.jpeg``) -> float32 ``[C, H, W]``.

    Raises:
        FormatError: (a ``ValueError``) for a corrupt, truncated or mislabelled file.
    """
    ext = ext_of(path)
    if ext == '.npy':
        return read_npy_image(path, channels_first=channels_first, scale=scale)
    if ext in _PIL_FORMATS:
        return read_pil_image(path, scale=scale)
    raise FormatError(path, f'unknown image extension {ext!r}; use one of {IMAGE_EXTENSIONS}')


def write_png(image: Tensor, path: PathLike) -> None:
    """Write ``[C, H, W]`` (C in 1, 3, 4; values in [0, 1]) as an 8-bit PNG, atomically."""
    from PIL import Image

    from .errors import atomic_path
    arr = image.detach().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    if arr.ndim != 3 or arr.shape[0] not in (1, 3, 4):
        raise ValueError(f'write_png needs an image [C, H, W] with C in (1, 3, 4), '
                         f'got {list(image.shape)}')
    arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
    with atomic_path(path, '.png') as tmp:
        Image.fromarray(arr).save(tmp, format='PNG')
