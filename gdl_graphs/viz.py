"""Pictures of converted graphs (the ``viz`` extra: ``pip install matplotlib``, imported lazily).

Every function returns a :class:`matplotlib.figure.Figure` (built without ``pyplot``, so no
window and no global state); save it with ``fig.savefig('out.png')`` or :func:`save_figure`.

- :func:`plot_lattice`: a lattice graph drawn as its image, with the stencil (the offsets of the
  edge types into one pixel) beside it;
- :func:`plot_mesh`: a mesh's triangles coloured by a node feature;
- :func:`plot_pointcloud`: points coloured by a feature;
- :func:`plot_graph`: a general graph with a networkx layout (also used for complete graphs);
- :func:`plot_sequence` / :func:`plot_set`: a path graph's signal over time, a set's features;
- :func:`plot_data`: the right one of the above for a graph's structure;
- :func:`plot_dataset`: a grid of examples, titled with their labels.
"""
from __future__ import annotations

import pathlib
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ['plot_data', 'plot_lattice', 'plot_mesh', 'plot_pointcloud', 'plot_graph',
           'plot_sequence', 'plot_set', 'plot_dataset', 'plot_file', 'save_figure']

Feature = Optional[Union[str, int]]


def _mpl():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install matplotlib '
                          '(or pip install gdl-graphs[viz])') from None
    return matplotlib, Figure


def _new(ax, three_d: bool = False, size=(5, 4)):
    if ax is not None:
        return ax.figure, ax
    _, Figure = _mpl()
    fig = Figure(figsize=size, dpi=100)
    return fig, fig.add_subplot(projection='3d' if three_d else None)


def _cpu(data):
    """Plots draw from host memory: a graph on a GPU is copied to the CPU first."""
    return data.cpu() if hasattr(data, 'cpu') else data


def _feature(data, feature: Feature, fallback: Optional[Tensor]) -> Optional[Tensor]:
    """One value per node: ``x[:, feature]`` for an int, a node attribute for a name."""
    n = int(data.num_nodes or 0)
    if isinstance(feature, str) and feature.lstrip('-').isdigit():
        feature = int(feature)
    if isinstance(feature, str):
        v = data.get(feature)
        if not isinstance(v, Tensor) or v.size(0) != n:
            keys = [k for k in data.keys() if isinstance(data[k], Tensor) and data[k].dim()
                    and data[k].size(0) == n]
            raise ValueError(f'feature {feature!r} is not a node attribute; use one of '
                             f'{sorted(keys)} or a column index of x')
        v = v.reshape(n, -1).float()
        return v[:, 0] if v.size(1) == 1 else v.norm(dim=1)
    x = data.get('x')
    if isinstance(feature, int):
        if not isinstance(x, Tensor) or x.dim() != 2 or not -x.size(1) <= feature < x.size(1):
            cols = x.size(1) if isinstance(x, Tensor) and x.dim() == 2 else 0
            raise ValueError(f'feature {feature} is not a column of x ({cols} columns)')
        return x[:, feature].float()
    if isinstance(x, Tensor) and x.dim() == 2 and x.size(0) == n and x.size(1) >= 1:
        return x[:, 0].float()
    return fallback


def plot_lattice(data, feature: Feature = None, ax=None):
    """A lattice graph (from ``image_to_graph``) as its image, with its stencil.

    One or three channels (or ``feature``) are shown as grey / colour. In a figure of its own
    (``ax=None``) a panel beside the image draws the stencil: the offsets ``delta_t`` of the
    edge types into the centre pixel, numbered by type."""
    data = _cpu(data)
    from .domains.grid import graph_to_image
    x = data.x.float()
    if feature is not None:
        x = _feature(data, feature, None).view(-1, 1)
    img = graph_to_image(x, data)
    if img.dim() == 4:
        img = img[0]
    if img.dim() == 2:  # 1-D signal [C, L] -> one row
        img = img.unsqueeze(1)
    if img.dim() != 3:
        raise ValueError(f'plot_lattice draws 1-D and 2-D lattices; this one has shape '
                         f'{list(img.shape)}')
    stencil_ax, own = None, ax is None
    if ax is None:  # a figure of its own: the image and, beside it, the stencil
        _, Figure = _mpl()
        fig = Figure(figsize=(7, 4), dpi=100)
        grid = fig.add_gridspec(1, 2, width_ratios=[4, 1.4], wspace=0.35)
        ax, stencil_ax = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    fig = ax.figure
    c = img.size(0)
    if c in (3, 4):
        arr = img[:3].permute(1, 2, 0)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:  # not an image in [0, 1]: stretch it
            arr = (arr - lo) / (hi - lo) if hi > lo else arr * 0
        ax.imshow(arr.numpy(), interpolation='nearest')
    else:
        im = ax.imshow(img[0].numpy(), cmap='gray', interpolation='nearest')
        if own:
            fig.colorbar(im, ax=ax, fraction=0.046)
    kernel = data.get('lattice_kernel')
    dil = data.get('lattice_dilation')
    title = f'lattice {list(img.shape[1:])}, {c} channel(s)'
    if isinstance(kernel, Tensor):
        k = [int(t) for t in kernel.view(-1, kernel.size(-1))[0]]
        r = [int(t) for t in dil.view(-1, dil.size(-1))[0]] if isinstance(dil, Tensor) \
            else [1] * len(k)
        title += f', stencil {"x".join(map(str, k))}'
        if stencil_ax is not None:
            _draw_stencil(stencil_ax, k, r)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _draw_stencil(inset, kernel: Sequence[int], dilation: Sequence[int]) -> None:
    """The offsets of the edge types into the centre pixel (red), numbered by type."""
    if len(kernel) == 1:
        kernel, dilation = [1] + list(kernel), [1] + list(dilation)
    if len(kernel) != 2:
        inset.set_axis_off()
        return
    (k1, k2), (r1, r2) = kernel, dilation
    t = 0
    for a1 in range(k1):
        for a2 in range(k2):
            dy, dx = (a1 - (k1 - 1) // 2) * r1, (a2 - (k2 - 1) // 2) * r2
            centre = dx == 0 and dy == 0
            inset.scatter([dx], [dy], s=25, c='tab:red' if centre else 'tab:blue', zorder=2)
            if not centre:
                inset.annotate('', xy=(0, 0), xytext=(dx, dy),
                               arrowprops=dict(arrowstyle='->', lw=0.6, color='0.4'))
            inset.text(dx + 0.18 * r2, dy - 0.18 * r1, str(t), fontsize=7, ha='left',
                       va='bottom')
            t += 1
    inset.set_xlim(-(k2 // 2) * r2 - 1, (k2 // 2) * r2 + 1)
    inset.set_ylim((k1 // 2) * r1 + 1, -(k1 // 2) * r1 - 1)
    inset.set_aspect('equal')
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title('stencil: edge type t,\nsource j = i + offset', fontsize=8)


def plot_mesh(data, feature: Feature = None, ax=None):
    """A mesh's triangles (``face [3, F]``) coloured by a node feature (default: ``x[:, 0]``,
    else the height ``pos[:, 2]``), averaged over each face's corners."""
    data = _cpu(data)
    from matplotlib import cm
    from matplotlib.colors import Normalize
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    pos = data.pos.float()
    face = data.face.long()
    value = _feature(data, feature, pos[:, 2] if pos.size(1) > 2 else pos[:, 0])
    own = ax is None  # a figure of its own gets a colour bar
    fig, ax = _new(ax, three_d=True)
    tri = pos[face.t()]                                    # [F, 3, 3]
    fval = value[face].mean(0)
    norm = Normalize(float(fval.min()), float(fval.max()) + 1e-12)
    coll = Poly3DCollection(tri.numpy(), facecolors=cm.viridis(norm(fval.numpy())),
                            edgecolors=(0, 0, 0, 0.15), linewidths=0.2)
    ax.add_collection3d(coll)
    _equal_3d(ax, pos)
    if own:
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap='viridis'), ax=ax, fraction=0.03)
    ax.set_title(f'mesh: {pos.size(0)} vertices, {face.size(1)} faces', fontsize=9)
    return fig


def _equal_3d(ax, pos: Tensor) -> None:
    p = torch.cat([pos, torch.zeros(pos.size(0), max(0, 3 - pos.size(1)))], 1)[:, :3]
    lo, hi = p.min(0).values, p.max(0).values
    mid, half = (lo + hi) / 2, float((hi - lo).max()) / 2 or 1.0
    ax.set_xlim(float(mid[0]) - half, float(mid[0]) + half)
    ax.set_ylim(float(mid[1]) - half, float(mid[1]) + half)
    ax.set_zlim(float(mid[2]) - half, float(mid[2]) + half)


def plot_pointcloud(data, feature: Feature = None, ax=None, max_points: int = 20000):
    """Points (``pos [N, 2 or 3]``) coloured by a feature (default ``x[:, 0]``, else height)."""
    data = _cpu(data)
    pos = data.pos.float()
    value = _feature(data, feature, pos[:, -1])
    if pos.size(0) > max_points:  # a deterministic subsample keeps big clouds quick
        keep = torch.linspace(0, pos.size(0) - 1, max_points).long()
        pos, value = pos[keep], value[keep]
    three = pos.size(1) >= 3
    own = ax is None  # a figure of its own gets a colour bar
    fig, ax = _new(ax, three_d=three)
    if three:
        sc = ax.scatter(pos[:, 0], pos[:, 1], pos[:, 2], c=value.numpy(), s=4, cmap='viridis')
        _equal_3d(ax, pos)
    else:
        sc = ax.scatter(pos[:, 0], pos[:, 1], c=value.numpy(), s=4, cmap='viridis')
        ax.set_aspect('equal')
    if own:
        fig.colorbar(sc, ax=ax, fraction=0.03)
    ax.set_title(f'point cloud: {int(data.num_nodes)} points', fontsize=9)
    return fig


def plot_graph(data, feature: Feature = None, layout: str = 'spring', ax=None,
               max_nodes: int = 3000, seed: int = 0):
    """A graph drawn with a networkx layout (``'spring'``, ``'kamada_kawai'``, ``'circular'``,
    ``'spectral'``, or ``'pos'`` to use ``data.pos``); nodes coloured by a feature (default
    ``x[:, 0]``, else the degree)."""
    data = _cpu(data)
    import networkx as nx
    from matplotlib.collections import LineCollection

    from .core import plain
    n = int(data.num_nodes or 0)
    if n > max_nodes:
        raise ValueError(f'the graph has {n} nodes; plot_graph draws at most {max_nodes} '
                         f'(pass max_nodes=...)')
    ei = plain(data.edge_index) if data.get('edge_index') is not None \
        else torch.zeros(2, 0, dtype=torch.long)
    deg = torch.bincount(ei[1], minlength=n).float() if ei.numel() else torch.zeros(n)
    value = _feature(data, feature, deg)
    if layout == 'pos' and data.get('pos') is not None:
        xy = data.pos[:, :2].float()
    else:
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(ei.t().tolist())
        layouts = {'spring': lambda: nx.spring_layout(g, seed=seed),
                   'kamada_kawai': lambda: nx.kamada_kawai_layout(g),
                   'circular': lambda: nx.circular_layout(g),
                   'spectral': lambda: nx.spectral_layout(g)}
        if layout not in layouts:
            raise ValueError(f'unknown layout {layout!r}: use one of {sorted(layouts)} or '
                             f"'pos'")
        place = layouts[layout]() if n else {}
        xy = torch.from_numpy(np.asarray([place[i] for i in range(n)], dtype=np.float32)
                              .reshape(n, 2))
    own = ax is None  # a figure of its own gets a colour bar
    fig, ax = _new(ax)
    if ei.numel():
        segs = torch.stack([xy[ei[0]], xy[ei[1]]], 1).numpy()
        ax.add_collection(LineCollection(segs, colors='0.6', linewidths=0.5, zorder=1))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=value.numpy(), s=max(4, 300 / max(n, 1) ** 0.5),
                    cmap='viridis', zorder=2)
    if n and own:
        fig.colorbar(sc, ax=ax, fraction=0.046)
    ax.set_aspect('equal')
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f'graph: {n} nodes, {ei.size(1)} edges', fontsize=9)
    return fig


def plot_sequence(data, ax=None):
    """A path graph (``sequence_to_graph``): every channel of ``x`` over time."""
    data = _cpu(data)
    fig, ax = _new(ax)
    x = data.x.float().view(int(data.num_nodes), -1)
    t = data.get('time')
    t = t.float() if isinstance(t, Tensor) and t.numel() == x.size(0) else torch.arange(x.size(0))
    for c in range(min(x.size(1), 8)):
        ax.plot(t.numpy(), x[:, c].numpy(), lw=1, marker='.', ms=3, label=f'x[:, {c}]')
    if x.size(1) <= 8:
        ax.legend(fontsize=6)
    ax.set_xlabel('time step (path graph t-1 -> t)', fontsize=8)
    ax.set_title(f'sequence: {x.size(0)} steps, {x.size(1)} channel(s)', fontsize=9)
    return fig


def plot_set(data, feature: Feature = None, ax=None):
    """An edgeless graph (a set): its points if it has ``pos``, else its features as rows."""
    data = _cpu(data)
    if data.get('pos') is not None:
        fig = plot_pointcloud(data, feature, ax=ax)
        (ax if ax is not None else fig.axes[0]).set_title(
            f'set: {int(data.num_nodes)} elements (edgeless)', fontsize=9)
        return fig
    own = ax is None  # a figure of its own gets a colour bar
    fig, ax = _new(ax)
    x = data.x.float().view(int(data.num_nodes), -1)
    im = ax.imshow(x.numpy(), aspect='auto', cmap='viridis', interpolation='nearest')
    if own:
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xlabel('feature', fontsize=8)
    ax.set_ylabel('element', fontsize=8)
    ax.set_title(f'set: {x.size(0)} elements x {x.size(1)} features (edgeless)', fontsize=9)
    return fig


def _three_d(structure: str, data) -> bool:
    if structure.startswith('mesh'):
        return True
    return structure in ('point cloud', 'edgeless') and data.get('pos') is not None \
        and data.pos.size(1) >= 3


def plot_data(data, feature: Feature = None, ax=None):
    """The picture for a graph's structure (lattice, mesh, point cloud, sequence, set, graph)."""
    data = _cpu(data)
    from .info import structure_name
    s = structure_name(data)
    if s == 'lattice':
        return plot_lattice(data, feature, ax=ax)
    if s.startswith('mesh'):
        return plot_mesh(data, feature, ax=ax)
    if s == 'path':
        return plot_sequence(data, ax=ax)
    if s == 'edgeless':
        return plot_set(data, feature, ax=ax)
    if s == 'point cloud' and data.pos.size(1) >= 2:
        return plot_pointcloud(data, feature, ax=ax)
    return plot_graph(data, feature, ax=ax)


def plot_dataset(dataset, examples: int = 16, feature: Feature = None, seed: int = 0):
    """A grid of up to ``examples`` graphs of a dataset (evenly spaced), titled with their
    index and label (class name when the dataset has ``classes``)."""
    from .info import structure_name
    _, Figure = _mpl()
    n = len(dataset)
    if n == 0:
        raise ValueError('the dataset is empty: nothing to plot')
    if examples < 1:
        raise ValueError(f'examples must be >= 1, got {examples}')
    idx = sorted(set(torch.linspace(0, n - 1, min(examples, n)).round().long().tolist()))
    cols = min(4, len(idx))
    rows = (len(idx) + cols - 1) // cols
    fig = Figure(figsize=(3.2 * cols, 3.0 * rows), dpi=100)
    classes = list(getattr(dataset, 'classes', []) or [])
    for k, i in enumerate(idx):
        d = dataset[i]
        s = structure_name(d)
        ax = fig.add_subplot(rows, cols, k + 1, projection='3d' if _three_d(s, d) else None)
        plot_data(d, feature, ax=ax)
        label = ''
        y = d.get('y')
        if isinstance(y, Tensor) and y.numel() == 1:
            v = y.item()
            label = classes[int(v)] if classes and not y.is_floating_point() \
                and 0 <= int(v) < len(classes) else f'{v:g}'
        ax.set_title(f'#{i}' + (f': {label}' if label else ''), fontsize=8)
    fig.suptitle(f'{n} graphs ({structure_name(dataset[idx[0]])})', fontsize=10)
    fig.tight_layout()
    return fig


PLOT_FORMAT = 'gdl_graphs-plot-v1'  # the marker's format of a picture written here


def save_figure(fig, path: Union[str, pathlib.Path], source: Optional[str] = None
                ) -> pathlib.Path:
    """Save ``fig`` as PNG atomically (a temporary file renamed into place), with our marker
    (:mod:`gdl_graphs.io.atomic`; ``source``: the fingerprint of what was drawn). Like
    ``savefig`` it replaces an existing file; ``gdl-graphs plot`` checks its output first."""
    import json

    from .io.atomic import MARKER, atomic_path, fingerprint
    path = pathlib.Path(path)
    marker = {'format': PLOT_FORMAT, 'fingerprint': source or fingerprint('figure')}
    with atomic_path(path, '.png') as tmp:
        fig.savefig(tmp, format='png', bbox_inches='tight',
                    metadata={MARKER: json.dumps(marker, sort_keys=True)})
    return path


def plot_file(path, output, feature: Feature = None, index: Optional[int] = None,
              examples: int = 16, overwrite: bool = False) -> pathlib.Path:
    """``gdl-graphs plot``: load a ``.pt`` graph or a dataset folder (safely) and draw it.
    ``output`` is checked first: never an input; an existing file is replaced only with
    ``overwrite`` and only when it is a picture this command wrote."""
    from torch_geometric.data.data import BaseData

    from .io.atomic import check_output, fingerprint_files, write_errors
    from .io.data import load
    output = check_output(output, PLOT_FORMAT, overwrite=overwrite, folder=False,
                          inputs=[path], what='a picture written by gdl-graphs plot')
    _mpl()
    obj: Any = load(path)
    if isinstance(obj, BaseData):
        if index not in (None, 0):
            raise ValueError(f'--index {index}: {path} holds one graph')
        fig = plot_data(obj, feature)
    elif index is not None:
        if not -len(obj) <= index < len(obj):
            raise ValueError(f'--index {index} is out of range for {len(obj)} graphs')
        fig = plot_data(obj[index], feature)
    else:
        fig = plot_dataset(obj, examples, feature)
    p = pathlib.Path(path)
    drawn = p / 'processed' / 'data.pt' if p.is_dir() else p
    with write_errors(output):
        return save_figure(fig, output, fingerprint_files([drawn]) if drawn.is_file() else None)
