"""Neighbour sampling across parts, the mini-batch loader over a rank's seeds, and layer-wise
full-neighbourhood inference with a halo exchange.

:class:`DistNeighborSampler` runs the single-process sampler's hop loop
(:func:`gdl_graphs.loader.neighbor.sample_hops`) on a :class:`~gdl_graphs.distributed.DistGraph`
as its graph store: per hop, two batched request rounds to the owners of the frontier's rows
(the in-degrees, then the source and edge id at the sampled offsets). The offsets are drawn on
the asking rank from the same generator, and the parts keep the single-process CSR order within
every row, so for the same seeds and the same generator state it returns exactly the
single-process subgraph (nodes, edges, edge ids, local numbering). New nodes are numbered with
a sorted list, not a dense ``[num_nodes]`` table, so a call costs memory in the sampled
subgraph only.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..loader.neighbor import SamplerOutput, check_fanout, sample_hops
from .graph import DistGraph


class DistNeighborSampler:
    r"""Multi-hop neighbour sampling over a partitioned graph (a collective: every rank calls
    :meth:`sample` together, each with its own seeds).

    Args:
        graph: this rank's :class:`~gdl_graphs.distributed.DistGraph`.
        replace: sample with replacement.

    ``sample(seeds, num_neighbors, generator)`` equals
    ``NeighborSampler(edge_index, N, replace).sample(seeds, num_neighbors, generator)`` on the
    whole graph: same ``node``, ``row``, ``col``, ``edge``, per-hop counts.
    """

    def __init__(self, graph: DistGraph, replace: bool = False):
        self.graph, self.replace = graph, bool(replace)
        self.num_nodes = graph.num_nodes

    def sample(self, seeds: Tensor, num_neighbors: Sequence[int],
               generator: Optional[torch.Generator] = None) -> SamplerOutput:
        if isinstance(seeds, Tensor) and seeds.dim() == 1 and not seeds.is_floating_point():
            seeds = seeds.cpu().long()
        return sample_hops(self.graph, seeds, num_neighbors, self.replace, generator,
                           dense_ids=False)


class DistNeighborLoader:
    r"""Mini-batches of sampled neighbourhoods of this rank's seed nodes, with features fetched
    from their owners: each batch is a :class:`~torch_geometric.data.Data` with ``x`` (all
    sampled nodes), ``y`` (the seeds' labels), ``edge_index`` (local), ``n_id``, ``e_id``,
    ``batch_size``, ``num_sampled_nodes`` / ``num_sampled_edges``; the seeds come first.

    Every rank must iterate the same number of batches (the collectives pair up): pass the
    same ``num_batches`` on all ranks (e.g. from the partition's ``meta.json``); this rank's
    seeds are spread over them as evenly as possible.

    Args:
        graph: the rank's :class:`DistGraph`.
        num_neighbors: fan-out per hop.
        input_nodes: this rank's seeds (global ids).
        num_batches: batches per epoch, the same on every rank.
        shuffle, replace: as :class:`~gdl_graphs.loader.NeighborLoader`.
        generator: the order and the per-batch sampling seeds (as the single-process loader).
    """

    def __init__(self, graph: DistGraph, num_neighbors: Sequence[int], input_nodes: Tensor,
                 num_batches: int, shuffle: bool = False, replace: bool = False,
                 generator: Optional[torch.Generator] = None):
        if int(num_batches) < 1:
            raise ValueError(f'num_batches must be >= 1, got {num_batches}')
        self.graph = graph
        self.sampler = DistNeighborSampler(graph, replace)
        self.num_neighbors = check_fanout(num_neighbors)
        self.input_nodes = input_nodes.view(-1).long().cpu()
        self.num_batches, self.shuffle, self.generator = int(num_batches), shuffle, generator

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[Data]:
        g = self.generator or torch.Generator().manual_seed(0)
        n = self.input_nodes.numel()
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        for idx in torch.tensor_split(order, self.num_batches):
            seed = int(torch.randint(0, 2 ** 62, (), generator=g))
            sg = torch.Generator().manual_seed(seed)
            out = self.sampler.sample(self.input_nodes.index_select(0, idx),
                                      self.num_neighbors, sg)
            yield self.subgraph(out, idx)

    def subgraph(self, out: SamplerOutput, input_id: Optional[Tensor] = None) -> Data:
        """Features of every sampled node and labels of the seeds, fetched (a collective)."""
        x = self.graph.features(out.node)
        y = self.graph.rows(self.graph.part.y, out.node[:out.batch_size], 'the label request')
        batch = Data(x=x, y=y, edge_index=out.edge_index, num_nodes=out.node.numel())
        batch.n_id, batch.e_id, batch.batch_size = out.node, out.edge, out.batch_size
        batch.input_id = input_id
        batch.num_sampled_nodes = out.num_sampled_nodes
        batch.num_sampled_edges = out.num_sampled_edges
        return batch


@torch.no_grad()
def dist_inference(model, graph: DistGraph, batch_size: int = 4096,
                   device: Optional[torch.device] = None) -> Tensor:
    """Layer-wise full-neighbourhood inference of a ``NodeGNN('sage')`` over this rank's nodes
    (``[n_local, C]`` log-probabilities; a collective). Before every layer each rank fetches
    the previous layer's rows of its halo (the remote sources of its in-edges) in one request,
    so the result equals :meth:`gdl_graphs.models.ogb.NodeGNN.inference` on the whole graph."""
    part = graph.part
    device = device or torch.device('cpu')
    halo, _ = graph.halo()
    owner, local = graph.locate(part.col)
    mine = owner == graph.rank
    src = torch.where(mine, local, part.num_nodes + torch.searchsorted(halo, part.col))
    n = part.num_nodes
    h = part.x
    convs = model.convs
    for i, conv in enumerate(convs):
        h_src = torch.cat([h, graph.rows(h, halo, 'the halo exchange')], 0).to(device)
        outs = []
        for a in range(0, n, batch_size):
            b = min(a + batch_size, n)
            e0, e1 = int(part.rowptr[a]), int(part.rowptr[b])
            dst = torch.repeat_interleave(torch.arange(b - a),
                                          part.rowptr[a + 1:b + 1] - part.rowptr[a:b])
            ei = torch.stack([src[e0:e1], dst]).to(device)
            x = conv((h_src, h_src[a:b]), ei, size=(h_src.size(0), b - a))
            if i < len(convs) - 1:
                x = model._between(i, x)
            outs.append(x.cpu())
        h = torch.cat(outs, 0) if outs else h.new_zeros((0, convs[i].out_channels))
    return h.log_softmax(dim=-1)
