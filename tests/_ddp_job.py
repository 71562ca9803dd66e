"""A tiny DDP training job on gdl_graphs.experiments' run loop, for the tests of resume,
restarts and dead ranks. ``--die-at EPOCH:STEP:RANK[:MARKER]`` makes that rank die (SIGKILL,
or ``os._exit`` with ``--die-quietly``) at that step, once: a marker file records it."""
import os
import signal
import sys

import torch
import torch.nn.functional as F

from gdl_graphs.experiments import RunState, base_parser, cli, init_context, run_experiment


def parse(argv=None):
    p = base_parser('tiny DDP job', 'synthetic', epochs=4, runs=1, lr=0.05, batch_size=8)
    p.add_argument('--die-at', default=None)
    p.add_argument('--die-quietly', action='store_true')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    ctx = init_context('cpu', timeout_s=30)
    g = torch.Generator().manual_seed(123)
    x = torch.randn(64, 4, generator=g)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 3.0])).unsqueeze(1) + 0.1 * torch.randn(64, 1,
                                                                                 generator=g)
    mine = torch.arange(ctx.rank, 48, ctx.world_size)  # 48 training rows, 16 held out
    die = None
    if args.die_at:
        e, s, r, marker = (args.die_at.split(':') + [''])[:4]
        die = (int(e), int(s), int(r), marker)

    def setup_run(run):
        model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
                                    torch.nn.Dropout(0.1), torch.nn.Linear(16, 1))
        if ctx.is_distributed:
            model = torch.nn.parallel.DistributedDataParallel(model)
        gen = torch.Generator().manual_seed(args.seed + run + 1000 * ctx.rank)
        return RunState(model, torch.optim.Adam(model.parameters(), lr=args.lr), gen)

    def train_epoch(st, run, epoch):
        st.model.train()
        order = mine[torch.randperm(mine.numel(), generator=st.generator)]
        total = 0.0
        for step, idx in enumerate(order.split(args.batch_size)):
            loss = F.mse_loss(st.model(x[idx]), y[idx])
            st.optimizer.zero_grad()
            if die is not None and (epoch, step, ctx.rank) == die[:3] and \
                    not (die[3] and os.path.exists(die[3])):
                if die[3]:
                    open(die[3], 'w').close()
                if args.die_quietly:
                    os._exit(1)
                os.kill(os.getpid(), signal.SIGKILL)
            loss.backward()  # DDP's all-reduce
            st.optimizer.step()
            total += float(loss.detach())
        return total

    @torch.no_grad()
    def evaluate(st):
        st.model.eval()
        err = [float(F.mse_loss(st.model(x[a:b]), y[a:b])) for a, b in
               ((0, 48), (48, 56), (56, 64))]
        return dict(zip(('train', 'valid', 'test'), err))

    return run_experiment(args, script='ddp_job', model_name='mlp', config={'lr': args.lr},
                          ctx=ctx, metric='mse', higher_is_better=False, setup_run=setup_run,
                          train_epoch=train_epoch, evaluate=evaluate)


if __name__ == '__main__':
    sys.exit(cli(main))
