"""Grid rows: LatticeConv (3x3, C -> C) fwd+bwd vs conv2d on channels-last tensors.

Regular lattice: the structure dispatch runs conv2d on the zero-copy channels-last view
(goal <= 1.1x). A lattice with 10% of the pixels masked out (goal <= 2.5x) runs the same conv
on the zero-filled lattice (a tagged mask keeping >= 1/4 of the pixels); the typed linear path
(``kernel='fused'``: per-offset transform + cached CSR product, what an untagged or sparser
masked lattice runs) is shown for reference on both graphs.
"""
import torch
from bench import Row

from gdl_graphs.domains import image_to_graph
from gdl_graphs.nn import LatticeConv


def rows(quick: bool, device: str):
    b, c, h, w = (4, 32, 32, 32) if quick else (16, 64, 64, 64)
    g = torch.Generator().manual_seed(0)
    img = torch.randn(b, c, h, w, generator=g)
    conv = torch.nn.Conv2d(c, c, 3, padding=1)
    ours = LatticeConv.from_conv(conv).to(device)
    typed = LatticeConv.from_conv(conv).to(device)
    typed.kernel = 'fused'  # the typed linear path, even on a tagged lattice
    conv = conv.to(device).to(memory_format=torch.channels_last)
    x_img = img.to(device).contiguous(memory_format=torch.channels_last).requires_grad_()

    full = image_to_graph(img).to(device)
    mask = torch.rand(b, h, w, generator=g) >= 0.1
    masked = image_to_graph(img, mask=mask).to(device)
    x_full = full.x.detach().clone().requires_grad_()
    x_masked = masked.x.detach().clone().requires_grad_()

    def baseline():
        conv(x_img).sum().backward()

    def run(layer, data, x):
        ei, et = data.edge_index, data.edge_type

        def step():
            layer(x, ei, et).sum().backward()
        return step

    name = f'LatticeConv fwd+bwd B={b} C={c}->{c} {h}x{w} 3x3'
    base = 'conv2d channels-last'
    # a DataLoader batch of single-image lattices: collated by PyG, the structure read back
    # from the lattice rows (checked once per batch, inside the first timed step's read)
    from torch_geometric.loader import DataLoader
    loaded = next(iter(DataLoader([image_to_graph(im) for im in img], batch_size=b)))
    loaded = loaded.to(device)
    x_loaded = loaded.x.detach().clone().requires_grad_()

    def from_loader():
        ours(x_loaded, loaded.edge_index, loaded.edge_type).sum().backward()

    rows = [Row(f'LatticeConv fwd+bwd on a DataLoader batch B={b} C={c}->{c} {h}x{w} 3x3',
                base, {base: baseline, 'LatticeConv DataLoader batch (dense)': from_loader},
                goals={'LatticeConv DataLoader batch (dense)': 1.1}, note=device)]
    return rows + [Row(name, base,
                {base: baseline,
                 'LatticeConv regular lattice (dense)': run(ours, full, x_full),
                 'LatticeConv 10% masked (dispatch)': run(ours, masked, x_masked),
                 'LatticeConv 10% masked, typed path': run(typed, masked, x_masked),
                 'LatticeConv regular, typed path': run(typed, full, x_full)},
                goals={'LatticeConv regular lattice (dense)': 1.1,
                       'LatticeConv 10% masked (dispatch)': 2.5},
                note=f'{device}')]
