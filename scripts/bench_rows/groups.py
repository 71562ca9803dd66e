"""Groups rows.

1. GroupConv p4 (16 -> 16 channels per group element, 3x3) on a lifted 64x64 lattice, batch 16,
   fwd+bwd, vs the dense reference: ``conv2d`` with the 4x larger filter bank (64 -> 64) on
   channels-last tensors (goal <= 1.5x). The tagged lifted lattice runs as that conv2d with
   the filter bank gathered from the p4 weights; the typed linear path (``kernel='fused'``:
   ``k^2 |G| = 36`` edge types, one CSR product) is shown for reference.
2. EGNNConv (64 -> 64, hidden 64) on 100k points with k = 16 neighbours, fwd+bwd, vs a
   plain-PyTorch EGNN layer written as the paper's reference code (gather, concatenate, MLPs,
   ``index_add``; https://github.com/vgsatorras/egnn) with the same weights (goal <= 1.0x).
"""
import torch
from bench import Row
from torch import nn

from gdl_graphs.domains import image_to_graph
from gdl_graphs.domains.group import lift_lattice
from gdl_graphs.nn import EGNNConv, GroupConv


# ------------------------------------------------------------ the paper's reference EGNN layer
def unsorted_segment_sum(data, segment_ids, num_segments):
    result = data.new_full((num_segments, data.size(1)), 0)
    return result.index_add_(0, segment_ids, data)


def unsorted_segment_mean(data, segment_ids, num_segments):
    result = data.new_full((num_segments, data.size(1)), 0).index_add_(0, segment_ids, data)
    count = data.new_full((num_segments, data.size(1)), 0).index_add_(
        0, segment_ids, torch.ones_like(data))
    return result / count.clamp(min=1)


class E_GCL(nn.Module):
    """``E_GCL`` of the reference code (egnn_clean.py), residual, mean coordinate update."""

    def __init__(self, input_nf, output_nf, hidden_nf, act_fn=nn.SiLU()):
        super().__init__()
        self.edge_mlp = nn.Sequential(nn.Linear(input_nf * 2 + 1, hidden_nf), act_fn,
                                      nn.Linear(hidden_nf, hidden_nf), act_fn)
        self.node_mlp = nn.Sequential(nn.Linear(hidden_nf + input_nf, hidden_nf), act_fn,
                                      nn.Linear(hidden_nf, output_nf))
        layer = nn.Linear(hidden_nf, 1, bias=False)
        torch.nn.init.xavier_uniform_(layer.weight, gain=0.001)
        self.coord_mlp = nn.Sequential(nn.Linear(hidden_nf, hidden_nf), act_fn, layer)

    def forward(self, h, edge_index, coord):
        row, col = edge_index
        coord_diff = coord[row] - coord[col]
        radial = torch.sum(coord_diff ** 2, 1).unsqueeze(1)
        edge_feat = self.edge_mlp(torch.cat([h[row], h[col], radial], dim=1))
        trans = coord_diff * self.coord_mlp(edge_feat)
        coord = coord + unsorted_segment_mean(trans, row, coord.size(0))
        agg = unsorted_segment_sum(edge_feat, row, h.size(0))
        return h + self.node_mlp(torch.cat([h, agg], dim=1)), coord


def rows(quick: bool, device: str):
    g = torch.Generator().manual_seed(0)
    # ------------------------------------------------------------------ GroupConv p4
    b, c, s, n = (4, 16, 32, 4) if quick else (16, 16, 64, 4)
    img = torch.randn(b, 1, s, s, generator=g)
    lifted = lift_lattice(image_to_graph(img), 'C4').to(device)
    ours = GroupConv(c, c, 3, 'C4').to(device)
    typed = GroupConv(c, c, 3, 'C4', kernel='fused').to(device)
    typed.load_state_dict(ours.state_dict())
    dense = nn.Conv2d(n * c, n * c, 3, padding=1).to(device).to(memory_format=torch.channels_last)
    with torch.no_grad():
        dense.weight.copy_(ours.filter_bank())
        dense.bias.copy_(ours.bias.repeat(n))
    x = torch.randn(b * s * s * n, c, generator=g).to(device).requires_grad_()
    x_img = x.detach().view(b, s, s, n * c).permute(0, 3, 1, 2).requires_grad_()  # channels-last
    ei, et = lifted.edge_index, lifted.edge_type
    grad_nodes = torch.randn(b * s * s * n, c, generator=g).to(device)
    grad_img = grad_nodes.view(b, s, s, n * c).permute(0, 3, 1, 2)

    def baseline():
        dense(x_img).backward(grad_img)

    def run(layer):
        def step():
            layer(x, ei, et).backward(grad_nodes)
        return step

    group_row = Row(f'GroupConv p4 {c}->{c}/element 3x3 fwd+bwd B={b} {s}x{s} '
                    f'(E={ei.size(1)})', 'conv2d 4x filter bank',
                    {'conv2d 4x filter bank': baseline,
                     'gdl GroupConv (lattice dispatch)': run(ours),
                     'gdl GroupConv (typed, fused CSR)': run(typed)},
                    goals={'gdl GroupConv (lattice dispatch)': 1.5})

    # ------------------------------------------------------------------ EGNNConv
    num, k, f = (10_000, 16, 64) if quick else (100_000, 16, 64)
    try:
        from gdl_graphs.geometry import knn_graph
        pos0 = torch.rand(num, 3, generator=g)
        edge_index = knn_graph(pos0, k)
        note = 'k-NN graph'
    except ImportError:  # pragma: no cover - before the Coarsening issue landed
        edge_index = torch.stack([torch.randint(0, num, (num * k,), generator=g),
                                  torch.arange(num).repeat_interleave(k)])
        note = 'random k-regular'
    edge_index = edge_index.to(device)
    ref = E_GCL(f, f, f).to(device)
    with torch.no_grad():
        ref.coord_mlp[2].weight.mul_(100.0)
    egnn = EGNNConv.from_reference(ref).to(device)
    h = torch.randn(num, f, generator=g).to(device).requires_grad_()
    pos = (torch.rand(num, 3, generator=g) if note == 'random k-regular' else pos0).to(device)
    pos = pos.requires_grad_()
    ref_index = edge_index.flip(0)  # the reference aggregates at edge_index[0]
    gh = torch.randn(num, f, generator=g).to(device)
    gp = torch.randn(num, 3, generator=g).to(device)

    def reference():
        out_h, out_p = ref(h, ref_index, pos)
        torch.autograd.backward((out_h, out_p), (gh, gp))

    def ours_egnn():
        out_h, out_p = egnn(h, pos, edge_index)
        torch.autograd.backward((out_h, out_p), (gh, gp))

    egnn_row = Row(f'EGNNConv {f}->{f} hidden {f} fwd+bwd N={num} k={k} ({note})',
                   'reference EGNN (gather+cat+MLP+index_add)',
                   {'reference EGNN (gather+cat+MLP+index_add)': reference,
                    'gdl EGNNConv': ours_egnn},
                   goals={'gdl EGNNConv': 1.0})
    return [group_row, egnn_row]
