"""A naive float64 InfoNCE, one anchor at a time, written straight from the papers.

It is the oracle the fast implementation is checked against; it favours plainness over
speed, so keep inputs small.
"""

import math

import torch
import torch.nn.functional as F


def reference_info_nce(
    z1,
    z2,
    *,
    temperature=0.1,
    negatives=None,
    exclude=None,
    groups=None,
    hard_negative_beta=0.0,
    debias_tau_plus=0.0,
    negatives_exclude=None,
):
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    bank = None if negatives is None else F.normalize(negatives.double(), dim=1)
    tau = temperature
    n = z1.shape[0]
    losses = []
    for a in range(2 * n):
        i = a % n
        pos, neg = [], []
        for c in range(2 * n):
            if c == a:
                continue
            j = c % n
            is_pos = c == (a + n) % (2 * n) or (groups is not None and groups[i] == groups[j])
            if not is_pos and exclude is not None and exclude[i, j]:
                continue  # a deleted negative
            (pos if is_pos else neg).append(z[a] @ z[c] / tau)
        if bank is not None:
            for k in range(bank.shape[0]):
                if negatives_exclude is None or not negatives_exclude[i, k]:
                    neg.append(z[a] @ bank[k] / tau)
        pos = torch.stack(pos)
        neg = torch.stack(neg) if neg else torch.zeros(0, dtype=torch.float64)
        if hard_negative_beta == 0 and debias_tau_plus == 0:
            ng = neg.exp().sum()
        elif len(neg) == 0:
            ng = torch.zeros((), dtype=torch.float64)
        else:
            # Robinson et al. 2021 / Chuang et al. 2020, as in their reference code.
            count = len(neg)
            imp = (hard_negative_beta * neg).exp()
            reweighted = (imp * neg.exp()).sum() / imp.mean()
            ng = (-debias_tau_plus * count * pos.exp().mean() + reweighted) / (1 - debias_tau_plus)
            ng = torch.clamp(ng, min=count * math.exp(-1 / float(tau)))
        losses.append(-pos.mean() + torch.log(pos.exp().sum() + ng))
    return torch.stack(losses).mean()
