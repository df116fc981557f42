"""The Cox partial likelihood of B independent data sets of equal size, in one pass.

:func:`intersurv.survival.cox_nll` handles one data set; its sorting and tie
groups depend on the data, which rules out ``vmap``. Here the times and events
are fixed (full-batch training: the same patients every epoch), so the sort
order and tie groups of every data set are computed once and the loss of B
stacked log-risk vectors is a handful of batched gathers. Written per event
i (in tie group k, rank r_i = 0..d_k-1 among the group's events), the loss of
:func:`~intersurv.survival.cox_nll` is::

    Breslow:  -log L = sum_i [ log R_k - h_i ]
    Efron:    -log L = sum_i [ log R_k + log1p(-(r_i / d_k) D_k / R_k) - h_i ]

with R_k = sum_{j: t_j >= u_k} exp(h_j) and D_k = sum_{i in D_k} exp(h_i), both
as log-sum-exps, divided by the number of events of the data set.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import IntersurvError


class StackedCoxLoss:
    """Negative Cox partial log-likelihoods (mean over events) of B data sets with N patients each.

    Args:
        time: (B, N) follow-up times.
        event: (B, N) event indicators; every data set needs at least one event.
        ties: ``"efron"`` or ``"breslow"``.

    Calling it on (B, N) log-risks returns the (B,) losses; row b equals
    ``cox_nll(log_risk[b], time[b], event[b], ties)`` up to the order of summation.
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, ties: str = "efron") -> None:
        if ties not in ("efron", "breslow"):
            raise IntersurvError(f"ties must be 'efron' or 'breslow', got {ties!r}")
        time = np.asarray(time, dtype=np.float64)
        event = np.asarray(event) != 0
        if time.ndim != 2 or time.shape != event.shape:
            raise IntersurvError(f"time and event must be (B, N) arrays of one shape, got {time.shape} and "
                                 f"{event.shape}")
        n_events = event.sum(axis=1)
        if (n_events == 0).any():
            raise IntersurvError(f"data set {int(np.argmin(n_events))} of the stack has no events")
        b, n = time.shape
        self.ties = ties
        self.time, self.event = time, event
        order = np.argsort(time, axis=1, kind="stable")
        t_sorted = np.take_along_axis(time, order, axis=1)
        e_sorted = np.take_along_axis(event, order, axis=1)
        new = np.ones((b, n), dtype=bool)
        new[:, 1:] = t_sorted[:, 1:] != t_sorted[:, :-1]
        # position of the first patient with the same time (start of the risk set)
        first = np.maximum.accumulate(np.where(new, np.arange(n), 0), axis=1)
        rows, cols = np.nonzero(e_sorted)  # events, row-major: by data set, then by time
        self.order = torch.from_numpy(order)
        self.first = torch.from_numpy(first)
        self.ev_row = torch.from_numpy(rows)
        self.ev_flat = torch.from_numpy(rows * n + cols)  # into the flattened (B, N) sorted arrays
        self.n_events = torch.from_numpy(n_events.astype(np.float64))
        # tie group of each event (flat, distinct across data sets), its size d and the event's rank r
        group = np.cumsum(new, axis=1) - 1
        ev_group = rows * n + group[rows, cols]
        _, inverse, counts = np.unique(ev_group, return_inverse=True, return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(len(ev_group)) - starts[inverse]
        self.ev_group = torch.from_numpy(inverse)
        self.n_groups = len(counts)
        self.frac = torch.from_numpy(rank / counts[inverse])

    def rows(self, keep: np.ndarray) -> "StackedCoxLoss":
        """The loss of the data sets ``keep`` (indices or a boolean mask)."""
        return StackedCoxLoss(self.time[keep], self.event[keep], self.ties)

    def __call__(self, log_risk: torch.Tensor) -> torch.Tensor:
        b, n = self.time.shape
        if tuple(log_risk.shape) != (b, n):
            raise IntersurvError(f"log_risk must have shape {(b, n)}, got {tuple(log_risk.shape)}")
        h = log_risk.gather(1, self.order.to(log_risk.device))
        log_tail = torch.logcumsumexp(h.flip(1), dim=1).flip(1)
        log_r = log_tail.gather(1, self.first.to(log_risk.device)).reshape(-1)
        ev_flat = self.ev_flat.to(log_risk.device)
        ev_h, ev_log_r = h.reshape(-1)[ev_flat], log_r[ev_flat]
        per_event = ev_log_r - ev_h
        if self.ties == "efron":
            group = self.ev_group.to(log_risk.device)
            gmax = torch.full((self.n_groups,), float("-inf"), dtype=h.dtype, device=h.device)
            gmax = gmax.scatter_reduce(0, group, ev_h.detach(), reduce="amax")
            tied = torch.zeros(self.n_groups, dtype=h.dtype, device=h.device)
            tied = tied.index_add(0, group, torch.exp(ev_h - gmax[group]))
            log_d = torch.log(tied)[group] + gmax[group]
            frac = self.frac.to(device=h.device, dtype=h.dtype)
            per_event = per_event + torch.log1p(-frac * torch.exp(log_d - ev_log_r))
        total = torch.zeros(b, dtype=h.dtype, device=h.device).index_add(0, self.ev_row.to(h.device), per_event)
        return total / self.n_events.to(device=h.device, dtype=h.dtype)
