"""Content fingerprints (gdl_graphs.io.atomic): what they cost.

Row 1: the fingerprint of a 200 MB float64 array (read in 16 MB chunks, framed with dtype and
shape) against one ``hashlib.blake2b`` call on its bytes. Goal: at most 1.2x.
Row 2: the input fingerprint ``gdl-graphs convert`` keeps in a dataset's marker (every input
file's name and bytes) against the conversion itself, on the convert row's folder of PNG
images. Goal: at most 0.1x (a tenth of the conversion)."""
import atexit
import hashlib
import importlib
import pathlib
import shutil
import tempfile

import numpy as np
from bench import Row


def rows(quick: bool, device: str):
    from gdl_graphs.io import atomic
    x = np.random.default_rng(0).random(2_500_000 if quick else 25_000_000)
    out = [Row(f'fingerprint a {x.nbytes / 1e6:.0f} MB float64 array', 'hashlib.blake2b(bytes)',
               {'hashlib.blake2b(bytes)': lambda: hashlib.blake2b(memoryview(x).cast('B'),
                                                                  digest_size=16).hexdigest(),
                'io.atomic.fingerprint': lambda: atomic.fingerprint(x)},
               goals={'io.atomic.fingerprint': 1.2})]
    try:
        from PIL import Image
    except ImportError:  # the image extra is not installed: no second row
        return out
    conv = importlib.import_module('gdl_graphs.convert')
    n = 1_000 if quick else 10_000
    root = pathlib.Path(tempfile.mkdtemp(prefix='gdl_bench_fingerprint_'))
    atexit.register(shutil.rmtree, root, True)
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / 'images' / f'class{i % 10}'
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(d / f'{i}.png')
    src = root / 'images'
    files = conv.list_files(src, 'grid')
    out.append(Row(f'input fingerprint of {n} PNG images 8x8 vs converting them',
                   'gdl_graphs.convert workers=0',
                   {'gdl_graphs.convert workers=0': lambda: conv.convert(
                       src, 'grid', root / 'out', progress=False, overwrite=True),
                    'convert.source_fingerprint': lambda: conv.source_fingerprint(
                        src, files, 'grid', {})},
                   goals={'convert.source_fingerprint': 0.1}))
    return out
