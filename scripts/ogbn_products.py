"""OGB node property prediction with mini-batches of sampled neighbourhoods: ogbn-products (or
a built ogbn-* folder) with GraphSAGE, as PyG's ``examples/ogbn_products_sage.py``, on
gdl_graphs and its own neighbour sampler (no pyg-lib, no torch-sparse).

    python scripts/ogbn_products.py --model sage --runs 10

Defaults: 3 layers, 256 hidden, dropout 0.5, fan-out 15,10,5, batch 1024, Adam lr 0.003,
20 epochs; evaluation runs layer by layer over full neighbourhoods (batches of 4096 nodes).
"""
from __future__ import annotations

import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _ogb_common import (RunState, UserError, base_parser, check_args, cli,  # noqa: E402
                         run_experiment, setup_device)
from ogbn_arxiv import load_node_data  # noqa: E402

SCRIPT = 'ogbn_products'


def train(model, loader, optimizer, device, progress: bool = True, desc: str = '') -> float:
    """One epoch over the sampled mini-batches; the loss covers each batch's seed nodes."""
    from tqdm import tqdm
    model.train()
    total, count = 0.0, 0
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        bs = batch.batch_size
        out = model(batch.x.to(device), batch.edge_index.to(device))[:bs]
        loss = F.nll_loss(out, batch.y[:bs].view(-1).to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * bs
        count += bs
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model, x, y, loader, split_idx, evaluator, device) -> Dict[str, float]:
    """Accuracy on every split from layer-wise full-neighbourhood inference."""
    model.eval()
    pred = model.inference(x, loader, device).argmax(dim=-1, keepdim=True).cpu()
    yy = y.view(-1, 1).cpu()
    return {k: float(evaluator.eval({'y_true': yy[split_idx[k]],
                                     'y_pred': pred[split_idx[k]]})[evaluator.eval_metric])
            for k in ('train', 'valid', 'test')}


def fanout(text: str) -> List[int]:
    try:
        out = [int(t) for t in text.split(',')]
    except ValueError:
        raise UserError(f'--num-neighbors {text!r}: give one integer per hop, e.g. 15,10,5 '
                        f'(-1 = all)') from None
    if any(k < -1 or k == 0 for k in out):
        raise UserError(f'--num-neighbors {text!r}: every fan-out is >= 1 or -1 (all)')
    return out


def parse(argv: Optional[List[str]]):
    p = base_parser(__doc__.split('\n\n')[0], 'ogbn-products', epochs=20, runs=10, lr=0.003,
                    batch_size=1024)
    p.add_argument('--model', default='sage', choices=['sage'])
    p.add_argument('--num-layers', type=int, default=3)
    p.add_argument('--hidden-channels', type=int, default=256)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--num-neighbors', default='15,10,5', help='fan-out per hop')
    p.add_argument('--eval-batch-size', type=int, default=4096)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    check_args(args)
    sizes = fanout(args.num_neighbors)
    if len(sizes) != args.num_layers:
        raise UserError(f'--num-neighbors has {len(sizes)} hops but --num-layers is '
                        f'{args.num_layers}: give one fan-out per layer')
    dist = setup_device(args, allow_distributed=False)
    from torch_geometric.data import Data

    from gdl_graphs.loader import NeighborLoader
    from gdl_graphs.models.ogb import NodeGNN
    dataset, data, evaluator = load_node_data(args, dist)
    dev = dist.device
    # sample where the graph lives: on the GPU when training there without loader workers
    where = dev if dev.type == 'cuda' and args.num_workers == 0 else torch.device('cpu')
    graph = Data(x=data.x, y=data.y.view(-1), edge_index=data.edge_index,
                 num_nodes=data.num_nodes).to(where)
    split = dataset.split_idx
    config = {'dataset': args.dataset, 'model': args.model, 'num_layers': args.num_layers,
              'hidden_channels': args.hidden_channels, 'dropout': args.dropout,
              'lr': args.lr, 'batch_size': args.batch_size, 'num_neighbors': sizes,
              'seed': args.seed}
    eval_loader = NeighborLoader(graph, [-1], batch_size=args.eval_batch_size, shuffle=False,
                                 num_workers=args.num_workers)

    def setup_run(run: int) -> RunState:
        model = NodeGNN(data.num_features, args.hidden_channels, dataset.num_classes,
                        args.num_layers, args.dropout, 'sage', batch_norm=False).to(dev)
        gen = torch.Generator().manual_seed(args.seed + run)
        loader = NeighborLoader(graph, sizes, input_nodes=split['train'],
                                batch_size=args.batch_size, shuffle=True, generator=gen,
                                num_workers=args.num_workers)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=args.lr), gen,
                        {'loader': loader})

    def train_epoch(st: RunState, run: int, epoch: int) -> float:
        return train(st.model, st.extra['loader'], st.optimizer, dev,
                     progress=not args.quiet, desc=f'run {run} epoch {epoch}')

    return run_experiment(args, SCRIPT, args.model, config, dist, evaluator.eval_metric, True,
                          setup_run, train_epoch,
                          lambda st: evaluate(st.model, graph.x, graph.y, eval_loader, split,
                                              evaluator, dev),
                          info={'num_nodes': int(data.num_nodes)})


if __name__ == '__main__':
    sys.exit(cli(main))
