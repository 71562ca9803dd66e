"""Partitioned training on one machine: a planted-partition graph built with
``build_node_dataset``, trained by ``scripts/ogbn_products.py`` in one process and under
``torchrun`` with 1, 2 and 4 ranks (``--partitions``); prints a markdown table of test accuracy,
epoch time, per-rank peak memory, feature rows and bytes moved.

    python scripts/bench_dist.py --nodes 40000 --out /tmp/bench_dist

Every run uses the same global batch (``--batch-size`` / ranks per rank), so each epoch takes
the same number of optimizer steps as the single process.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import subprocess
import sys

HERE = osp.dirname(osp.abspath(__file__))


def run(cmd, env):
    print('$', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--nodes', type=int, default=40000)
    p.add_argument('--out', default='runs/bench_dist')
    p.add_argument('--ranks', default='1,2,4')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--batch-size', type=int, default=512)
    p.add_argument('--cache-size', type=int, default=0)
    args = p.parse_args()
    from gdl_graphs.datasets import build_node_dataset
    from gdl_graphs.distributed import planted_partition
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    root = osp.join(args.out, 'data')
    if not osp.isdir(osp.join(root, 'ogbn_products')):
        ei, x, y = planted_partition(args.nodes, blocks=8, degree=10, p_in=0.7,
                                     num_features=100, noise=2.0, seed=0)
        build_node_dataset(root, 'ogbn-products', ei, x, y)
    train = ['--root', root, '--device', 'cpu', '--epochs', str(args.epochs), '--runs', '1',
             '--quiet', '--num-layers', '2', '--num-neighbors', '10,5',
             '--hidden-channels', '128', '--lr', '0.003', '--overwrite']
    rows = []
    out = osp.join(args.out, 'single')
    run([sys.executable, osp.join(HERE, 'ogbn_products.py'), '--out-dir', out,
         '--batch-size', str(args.batch_size)] + train, env)
    rows.append(('1 process', json.load(open(osp.join(out, 'ogbn_products_ogbn-products_sage'
                                                          '.json')))))
    for k in [int(t) for t in args.ranks.split(',')]:
        parts = osp.join(args.out, f'parts{k}')
        if not osp.isdir(parts):
            run([sys.executable, osp.join(HERE, 'partition.py'), '--root', root,
                 '--num-parts', str(k), '--out', parts, '--quiet'], env)
        out = osp.join(args.out, f'ranks{k}')
        run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
             f'--nproc_per_node={k}', osp.join(HERE, 'ogbn_products.py'), '--partitions',
             parts, '--out-dir', out, '--batch-size', str(args.batch_size // k),
             '--cache-size', str(args.cache_size)] + train, env)
        rows.append((f'{k} rank(s)', json.load(open(osp.join(
            out, 'ogbn_products_ogbn-products_sage.json')))))
    print('| run | test acc | epoch s (median) | peak RSS / rank MiB | feature rows / rank '
          '| MB sent / rank / epoch |')
    print('|---|---|---|---|---|---|')
    for name, res in rows:
        r = res['runs'][0]
        times = sorted(r['epoch_times'])
        ranks = res.get('ranks') or [{'feature_rows': res['num_nodes'],
                                      'peak_memory_bytes': r['peak_memory_bytes'],
                                      'bytes_sent': 0}]
        mem = '/'.join(f"{q['peak_memory_bytes'] / 2 ** 20:.0f}" for q in ranks)
        feat = '/'.join(str(q['feature_rows']) for q in ranks)
        # bytes are counted over training and every evaluation: per epoch = / epochs
        sent = '/'.join(f"{q['bytes_sent'] / len(times) / 1e6:.1f}" for q in ranks)
        print(f"| {name} | {res['test_mean']:.4f} | {times[len(times) // 2]:.2f} | {mem} | "
              f"{feat} | {sent} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
