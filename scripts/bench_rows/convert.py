"""Convert your own data: a folder of small PNG images (8x8 greyscale, 10 class subfolders)
-> an InMemoryDataset folder with ``gdl_graphs.convert`` (the ``gdl-graphs convert`` command's
function), against a plain loop of ``PIL.Image.open`` + ``image_to_graph`` that keeps the
graphs in a list (no labels, no dataset, nothing written).

Goal: 10,000 images in under a minute on 2 cores; the absolute seconds are printed by
the harness. The ratio goals say the dataset folder costs at most 1.5x the bare loop."""
import atexit
import pathlib
import shutil
import tempfile

import numpy as np
import torch
from bench import Row


def _folder(n: int, size: int = 8) -> pathlib.Path:
    from PIL import Image
    root = pathlib.Path(tempfile.mkdtemp(prefix='gdl_bench_convert_'))
    atexit.register(shutil.rmtree, root, True)
    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / 'images' / f'class{i % 10}'
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(d / f'{i}.png')
    return root


def rows(quick: bool, device: str):
    try:
        from PIL import Image
    except ImportError:  # the image extra is not installed: no row
        return []

    from gdl_graphs.convert import convert, list_files
    from gdl_graphs.domains.grid import image_to_graph
    n = 1_000 if quick else 10_000
    root = _folder(n)
    src = root / 'images'
    files = list_files(src, 'grid')

    def loop():  # the baseline a user writes by hand
        out = []
        for f in files:
            with Image.open(f) as img:
                arr = np.asarray(img, dtype=np.float32) / 255.0
            out.append(image_to_graph(torch.from_numpy(arr)[None]))
        return out

    def ours(workers):
        def run():
            return convert(src, 'grid', root / f'out{workers}', workers=workers,
                           progress=False, overwrite=True)
        return run

    return [Row(f'convert a folder of {n} PNG images 8x8 -> dataset folder (labels)',
                'loop: PIL + image_to_graph, a list',
                {'loop: PIL + image_to_graph, a list': loop,
                 'gdl_graphs.convert workers=0': ours(0),
                 'gdl_graphs.convert workers=2': ours(2)},
                goals={'gdl_graphs.convert workers=0': 1.5,
                       'gdl_graphs.convert workers=2': 1.5},
                note='goal: 10k images < 60 s on 2 cores; see the seconds column')]
