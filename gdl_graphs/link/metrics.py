r"""Link prediction metrics in torch: ROC AUC and average precision (as scikit-learn's, ties
included), and OGB's Hits@K and MRR (as ``ogb.linkproppred.Evaluator``), so a run needs neither
scikit-learn nor ogb to be scored.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _check(score: Tensor, label: Tensor) -> tuple:
    score, label = score.detach().reshape(-1).double(), label.detach().reshape(-1)
    if score.numel() != label.numel():
        raise ValueError(f'score has {score.numel()} entries, label {label.numel()}')
    pos = label > 0
    if not bool(pos.any()) or bool(pos.all()):
        raise ValueError('ROC AUC and average precision need both positive and negative pairs')
    return score, pos


def roc_auc(score: Tensor, label: Tensor) -> float:
    r"""Area under the ROC curve: the probability that a random positive scores above a random
    negative, ties counting one half (the Mann-Whitney statistic; scikit-learn's
    ``roc_auc_score``)."""
    score, pos = _check(score, label)
    _, inverse, counts = torch.unique(score, return_inverse=True, return_counts=True)
    # mid-ranks of tied groups (1-based)
    end = torch.cumsum(counts, 0).double()
    mid = end - (counts.double() - 1) / 2
    rank = mid[inverse]
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((rank[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(score: Tensor, label: Tensor) -> float:
    r""":math:`\mathrm{AP} = \sum_n (R_n - R_{n-1}) P_n` over the distinct thresholds, from the
    highest score down (scikit-learn's ``average_precision_score``)."""
    score, pos = _check(score, label)
    order = torch.argsort(score, descending=True, stable=True)
    s, p = score[order], pos[order].double()
    tp = torch.cumsum(p, 0)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # the last row of every tied group is a threshold
    tp = tp[last]
    seen = (torch.nonzero(last).view(-1) + 1).double()
    precision = tp / seen
    recall = tp / tp[-1]
    prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def hits_at_k(pos_score: Tensor, neg_score: Tensor, k: int) -> float:
    r"""OGB's Hits@K: the share of positive pairs scoring strictly above the K-th best
    negative (1.0 when there are fewer than K negatives)."""
    pos_score, neg_score = pos_score.detach().reshape(-1), neg_score.detach().reshape(-1)
    if neg_score.numel() < k:
        return 1.0
    kth = torch.topk(neg_score, k)[0][-1]
    return float((pos_score > kth).double().mean())


def mrr(pos_score: Tensor, neg_score: Tensor) -> float:
    r"""OGB's mean reciprocal rank: ``pos_score [B]`` against its own negatives
    ``neg_score [B, K]``; rank = 1 + (negatives scoring at least as high: optimistic ties
    counted as OGB does, ``>=`` pessimistic and ``>`` optimistic averaged)."""
    pos = pos_score.detach().reshape(-1, 1)
    neg = neg_score.detach()
    if neg.dim() != 2 or neg.size(0) != pos.size(0):
        raise ValueError(f'neg_score must be [B, K] for B = {pos.size(0)} positives, got '
                         f'{list(neg.shape)}')
    optimistic = (neg > pos).sum(1) + 1
    pessimistic = (neg >= pos).sum(1) + 1
    rank = 0.5 * (optimistic + pessimistic).double()
    return float((1.0 / rank).mean())
