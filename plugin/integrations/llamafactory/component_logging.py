"""Loss components (ce, emd, rel, mag, kl, ...) in LLaMA-Factory's logs, next to `loss`.

Hugging Face's Trainer logs `loss` as the sum of micro-batch losses over the logging window,
averaged over processes and divided by the optimizer steps in the window. `ComponentWindow`
applies the same arithmetic to every component, so each logged component is on the same scale
as `loss` (e.g. `loss == ce + lam * ntil` for NTIL). Components stay detached tensors on the
device until log time: one `.item()` per logging step, not per micro-batch.

`MetricLogCallback` extends LLaMA-Factory's `LogCallback`, whose `trainer_log.jsonl` line holds
a fixed set of keys, so that the components reach that file too; `report_to` integrations
(TensorBoard, W&B) already receive every key the trainer logs.

    >>> window = ComponentWindow()
    >>> window.add({"ce": torch.tensor(2.0)}, step=0)
    >>> window.add({"ce": torch.tensor(1.0)}, step=0)   # 2nd micro-batch of the same step
    >>> window.pop_means(step=1)
    {'metricsft/ce': 3.0}
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Mapping

import torch
from llamafactory.train.callbacks import LogCallback

from metricsft.integrations.llamafactory.notices import MetricTokenWatch, warn

LOG_PREFIX = "metricsft/"


# Components that count things (per micro-batch) rather than share the loss's normalisation: they
# are summed over processes instead of averaged. Names from metricsft.losses.functional.
COUNT_COMPONENTS = frozenset({"metric_tokens", "numbers"})


class ComponentWindow:
    """Running sums of the loss components since the last training log."""

    def __init__(self, watch: MetricTokenWatch | None = None) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._first_step: int | None = None
        # Warns (once) when the logged windows have shown no metric token for many steps.
        self.watch = watch

    def add(self, components: Mapping[str, torch.Tensor], step: int, loss_scale: float = 1.0, processes: int = 1) -> None:
        """Add one micro-batch's components; `step` is the optimizer step it contributes to (0-based).

        `loss_scale` is the factor HF's Trainer applied to this micro-batch's loss (the process count
        when token counts are summed across devices). Counts are pre-multiplied by `processes` so that
        the cross-process *mean* taken at log time yields their *sum*.
        """
        if self._first_step is None:
            self._first_step = step
        for name, value in components.items():
            scale = processes if name in COUNT_COMPONENTS else loss_scale
            value = value.detach().float() * scale
            self._sums[name] = self._sums[name] + value if name in self._sums else value

    def names(self) -> list[str]:
        return sorted(self._sums)

    def pop_means(
        self,
        step: int,
        names: list[str] | None = None,
        mean_over_processes: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """Per-optimizer-step averages over the window, as `{"metricsft/<name>": float}`; then reset.

        `step` is the trainer's global step after the window's last update. `names` fixes the order
        (the union over processes: a batch without numbers has no per-term components).
        `mean_over_processes` averages a 1-D tensor across data-parallel ranks (a collective).
        """
        names = self.names() if names is None else names
        if not names:
            return {}
        first = self._first_step if self._first_step is not None else step
        device = next(iter(self._sums.values())).device if self._sums else None
        zero = torch.zeros((), device=device)
        stacked = torch.stack([self._sums.get(n, zero).reshape(()).to(zero.device) for n in names])
        if mean_over_processes is not None:
            stacked = mean_over_processes(stacked)
        steps = max(step - first, 1)
        values = (stacked / steps).tolist()  # the single host sync per logging step
        self._sums.clear()
        self._first_step = None
        if self.watch is not None and "metric_tokens" in names:
            # The count summed over the window (the mean per step times the steps it covers).
            message = self.watch.observe(step, values[names.index("metric_tokens")] * steps)
            if message is not None:
                warn(message)
        return {LOG_PREFIX + n: v for n, v in zip(names, values)}


def component_logs(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The metricsft entries of one `state.log_history` record."""
    return {k: v for k, v in entry.items() if k.startswith(LOG_PREFIX)}


class MetricLogCallback(LogCallback):
    """LLaMA-Factory's LogCallback, with the metricsft components added to each trainer_log.jsonl line.

    The parent builds its line in `on_log` and writes it later on a one-thread pool; the
    components of each `on_log` are queued in the same order and joined to the line at write time.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: deque[dict[str, Any]] = deque()

    def on_log(self, args, state, control, **kwargs):  # noqa: D102 (same contract as the parent)
        # Mirror the parent's conditions for submitting a write, so queue and writes stay paired.
        if args.should_save and self.thread_pool is not None and state.log_history:
            self._pending.append(component_logs(state.log_history[-1]))
        return super().on_log(args, state, control, **kwargs)

    def _write_log(self, output_dir: str, logs: dict[str, Any]) -> None:
        extra = self._pending.popleft() if self._pending else {}
        super()._write_log(output_dir, {**logs, **extra})
