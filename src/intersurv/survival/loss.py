"""Negative Cox partial log-likelihood for torch tensors.

For log-risks h_i, distinct event times u_1 < ... < u_K, the set D_k of the
d_k patients with an event at u_k, and the risk set R_k = {j : t_j >= u_k}:

Breslow ties::

    log L = sum_k [ sum_{i in D_k} h_i - d_k log sum_{j in R_k} exp(h_j) ]

Efron ties::

    log L = sum_k [ sum_{i in D_k} h_i
                    - sum_{r=0}^{d_k-1} log( sum_{j in R_k} exp(h_j) - (r/d_k) sum_{i in D_k} exp(h_i) ) ]

The loss is ``-log L / sum_k d_k`` (mean over events). Every sum of
exponentials is computed as a log-sum-exp, so the loss stays finite for any
finite log-risks in float32 and float64.
"""

from __future__ import annotations

from typing import Literal

import torch

from ..errors import IntersurvError

Ties = Literal["efron", "breslow"]


def cox_nll(log_risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor,
            ties: Ties = "efron") -> torch.Tensor:
    """Negative Cox partial log-likelihood, averaged over the events (0-dim tensor).

    Args:
        log_risk: (N,) or (N, 1) float log-risks h(x); higher means shorter survival.
        time: (N,) follow-up times (any unit; only their order matters).
        event: (N,) event indicators (bool or 0/1); 0 means censored.
        ties: ``"efron"`` (default) or ``"breslow"`` handling of tied event times.

    The input may be in any order (it is sorted internally). A batch without
    events has no partial likelihood: the loss is then ``0 * sum(log_risk)``,
    a zero that keeps the autograd graph (its gradient is zero).
    """
    if ties not in ("efron", "breslow"):
        raise IntersurvError(f"cox_nll: ties must be 'efron' or 'breslow', got {ties!r}")
    h = log_risk.reshape(-1) if log_risk.dim() == 2 and log_risk.shape[1] == 1 else log_risk
    if h.dim() != 1:
        raise IntersurvError(f"cox_nll: log_risk must have shape (N,) or (N, 1), got {tuple(log_risk.shape)}")
    n = h.shape[0]
    if time.reshape(-1).shape[0] != n or event.reshape(-1).shape[0] != n:
        raise IntersurvError(f"cox_nll: log_risk, time and event lengths differ "
                             f"({n}, {time.numel()}, {event.numel()})")
    time = time.reshape(-1).to(h.device)
    is_event = event.reshape(-1).to(h.device) != 0
    n_events = int(is_event.sum())
    if n_events == 0:
        return (h * 0.0).sum()

    order = torch.argsort(time, stable=True)
    t_sorted, h_sorted, e_sorted = time[order], h[order], is_event[order]
    uniq, group = torch.unique_consecutive(t_sorted, return_inverse=True)
    k = uniq.shape[0]
    # log of the risk-set sum at each distinct time: logsumexp(h_sorted[first index of the time:])
    log_tail = torch.logcumsumexp(h_sorted.flip(0), dim=0).flip(0)
    first = torch.searchsorted(t_sorted.contiguous(), uniq.contiguous(), right=False)
    log_risk_set = log_tail[first]

    ev_group = group[e_sorted]
    ev_h = h_sorted[e_sorted]
    d = torch.zeros(k, dtype=torch.long, device=h.device).index_add_(0, ev_group, torch.ones_like(ev_group))
    sum_h = torch.zeros(k, dtype=h.dtype, device=h.device).index_add_(0, ev_group, ev_h)
    has = d > 0
    if ties == "breslow":
        loglik = sum_h[has] - d[has].to(h.dtype) * log_risk_set[has]
        return -loglik.sum() / n_events

    # Efron: log(R - (r/d) D) = log R + log1p(-(r/d) exp(log D - log R)), with 0 <= (r/d) D < R.
    gmax = torch.full((k,), float("-inf"), dtype=h.dtype, device=h.device)
    gmax = gmax.scatter_reduce(0, ev_group, ev_h.detach(), reduce="amax")
    gmax = torch.where(has, gmax, torch.zeros_like(gmax))
    tied_sum = torch.zeros(k, dtype=h.dtype, device=h.device).index_add_(0, ev_group, torch.exp(ev_h - gmax[ev_group]))
    log_tied = torch.log(torch.where(has, tied_sum, torch.ones_like(tied_sum))) + gmax
    ratio = torch.exp(log_tied - log_risk_set)[has]
    d_has = d[has]
    r = torch.arange(int(d_has.max()), device=h.device, dtype=h.dtype)
    frac = r.unsqueeze(0) / d_has.to(h.dtype).unsqueeze(1)
    valid = r.unsqueeze(0) < d_has.unsqueeze(1)
    terms = torch.log1p(-torch.where(valid, frac, torch.zeros_like(frac)) * ratio.unsqueeze(1))
    log_denominator = d_has.to(h.dtype) * log_risk_set[has] + torch.where(valid, terms, torch.zeros_like(terms)).sum(1)
    loglik = sum_h[has] - log_denominator
    return -loglik.sum() / n_events
