"""Sets rows: attention on complete graphs vs nn.MultiheadAttention on the padded dense batch,
and DeepSetsConv vs a bare torch.segment_reduce layer."""
import torch
from bench import Row

from gdl_graphs.domains.complete import complete_graph
from gdl_graphs.nn import AttentionConv, DeepSetsConv


def attention_row(quick: bool, device: str) -> Row:
    b, n, d, h = (16, 64, 64, 4) if quick else (64, 128, 128, 4)
    g = torch.Generator().manual_seed(0)
    dense = torch.randn(b, n, d, generator=g).to(device).requires_grad_()
    x = dense.detach().reshape(b * n, d).clone().requires_grad_()
    batch = torch.arange(b, device=device).repeat_interleave(n)
    edge_index = complete_graph(batch)  # tagged 'complete': the dense dispatch
    mha = torch.nn.MultiheadAttention(d, h, batch_first=True).to(device)
    conv = AttentionConv.from_torch(mha)

    def torch_mha():
        mha(dense, dense, dense, need_weights=False)[0].sum().backward()

    def ours():
        conv(x, edge_index).sum().backward()

    return Row(f'attention fwd+bwd {b} sets x {n}, d={d}, {h} heads',
               'nn.MultiheadAttention (padded)',
               {'nn.MultiheadAttention (padded)': torch_mha,
                'gdl AttentionConv (complete graph)': ours},
               goals={'gdl AttentionConv (complete graph)': 1.2})


def deepsets_row(quick: bool, device: str) -> Row:
    n, sets, f = (100_000, 1_000, 16) if quick else (1_000_000, 10_000, 16)
    g = torch.Generator().manual_seed(0)
    batch = torch.sort(torch.randint(0, sets, (n,), generator=g)).values.to(device)
    x = torch.randn(n, f, generator=g).to(device).requires_grad_()
    conv = DeepSetsConv(f, f, pool='sum').to(device)
    lin_self, lin_pool = conv.lin_self, conv.lin_pool
    lengths = torch.bincount(batch, minlength=sets)  # the bare layer gets them for free

    def ours():
        conv(x, batch).sum().backward()

    def bare():  # Zaheer's layer written directly on torch.segment_reduce
        pooled = torch.segment_reduce(x, 'sum', lengths=lengths, axis=0, unsafe=True)
        out = lin_self(x) + lin_pool(pooled).repeat_interleave(lengths, dim=0, output_size=n)
        out.sum().backward()

    return Row(f'DeepSetsConv sum fwd+bwd N={n} in {sets} sets, F={f}',
               'bare segment_reduce layer',
               {'bare segment_reduce layer': bare, 'gdl DeepSetsConv (segment)': ours},
               goals={'gdl DeepSetsConv (segment)': 1.1})


def rows(quick: bool, device: str):
    return [attention_row(quick, device), deepsets_row(quick, device)]
