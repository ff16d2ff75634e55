"""The seam: LLaMA-Factory's SFT trainer with `compute_loss_func` set to a `MetricLoss`.

LLaMA-Factory 0.9.5 has no loss plugin point, but `run_sft` looks its trainer class up by name
(`llamafactory.train.sft.workflow.CustomSeq2SeqTrainer`) each time it runs, and its own
DFT/EAFT/ASFT losses are installed exactly like ours: by setting `self.compute_loss_func` after
`super().__init__`. `installed_metric_loss` binds our subclass in place of that name (and our
log callback in place of `llamafactory.train.tuner.LogCallback`) for the duration of a run, plus a
check of LLaMA-Factory's parsed arguments (`guards.check_parsed_args`) right after its parser runs.

    >>> with installed_metric_loss(MetricLossSettings("ntil", {"lam": 0.3})):   # doctest: +SKIP
    ...     run_exp(config)
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
from typing import Any, Iterator

import torch
from llamafactory.extras.logging import get_logger
from llamafactory.train.sft.trainer import CustomSeq2SeqTrainer

from metricsft.integrations.llamafactory.component_logging import ComponentWindow, MetricLogCallback
from metricsft.integrations.llamafactory.guards import check_parsed_args
from metricsft.integrations.llamafactory.notices import metric_token_watch
from metricsft.integrations.llamafactory.settings import MetricLossSettings
from metricsft.head_bypass import resolve_fused_head

CONFIG_FILENAME = "metricsft_config.json"
logger = get_logger(__name__)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def text_position_ids(position_ids: torch.Tensor | None) -> torch.Tensor | None:
    """[B, T] text positions (0 at the start of every packed sequence), or None.

    Multimodal-RoPE models (Qwen2-VL) get [3 or 4, B, T] position ids from LLaMA-Factory's
    collator; its first row holds positions that restart at 0 for each packed sequence, like the
    [B, T] ids of text models. MetricLoss checks the shape against the labels.

    >>> text_position_ids(torch.zeros(4, 2, 5, dtype=torch.long)).shape
    torch.Size([2, 5])
    """
    if position_ids is not None and position_ids.dim() == 3:
        return position_ids[0]
    return position_ids


class MetricSeq2SeqTrainer(CustomSeq2SeqTrainer):
    """`CustomSeq2SeqTrainer` whose training loss is a metricsft `MetricLoss`.

    Everything else (optimizer, scheduler, generation, saving predictions) is LLaMA-Factory's.
    """

    def __init__(self, *args: Any, metric_settings: MetricLossSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_parsed_args(kwargs.get("model_args"), self.finetuning_args)
        from metricsft import MetricLoss

        self.metric_settings = metric_settings
        self.metric_loss = MetricLoss(self.processing_class, metric_settings.loss, dict(metric_settings.args))
        self.compute_loss_func = self._metric_compute_loss
        # The fused head (on by default where the model supports it): the training forward returns
        # hidden states and the loss runs lm_head at supervised positions only.
        self._fused_head, self._fused_head_note = resolve_fused_head(self.model, self.metric_loss.fused_head)
        if self._fused_head is None and self.metric_loss.fused_head == "auto":
            logger.warning_rank0(f"metricsft: fused head not used, {self._fused_head_note}")
        self._metric_window = ComponentWindow(metric_token_watch(metric_settings.loss, self.train_dataset, self.metric_loss.vocab))
        self._metric_position_ids: torch.Tensor | None = None
        self._write_metricsft_config()

    # --- loss -------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, *args, **kwargs):
        # HF's compute_loss hands compute_loss_func only (outputs, labels, num_items_in_batch);
        # keep this batch's position ids at hand so packed sequences are split correctly.
        self._metric_position_ids = inputs.get("position_ids")
        # Evaluation asks for the outputs (return_outputs=True) and must see real logits.
        return_outputs = kwargs.get("return_outputs", args[0] if args else False)
        bypass = self._fused_head is not None and model.training and not return_outputs
        try:
            with self._fused_head.bypassed() if bypass else contextlib.nullcontext():
                return super().compute_loss(model, inputs, *args, **kwargs)
        finally:
            self._metric_position_ids = None

    def _metric_compute_loss(self, outputs, labels, num_items_in_batch=None):
        position_ids = text_position_ids(self._metric_position_ids)
        loss = self.metric_loss(
            outputs, labels, num_items_in_batch=num_items_in_batch, position_ids=position_ids, head=self._fused_head
        )
        if self.model.training:
            # HF multiplies the returned loss by the process count when token counts are summed
            # across devices (Trainer.compute_loss); give the components the same scale as `loss`.
            processes = self.accelerator.num_processes
            summed_tokens = self.args.average_tokens_across_devices and num_items_in_batch is not None
            self._metric_window.add(
                self.metric_loss.last_components,
                step=self.state.global_step,
                loss_scale=float(processes) if summed_tokens else 1.0,
                processes=processes,
            )
        return loss

    # --- logging ----------------------------------------------------------------------------
    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:  # a training log (evaluation logs carry eval_loss)
            logs.update(self._pop_component_means())
        super().log(logs, *args, **kwargs)

    def _pop_component_means(self) -> dict[str, float]:
        names = self._metric_window.names()
        if self.accelerator.num_processes == 1:
            return self._metric_window.pop_means(self.state.global_step, names)
        from accelerate.utils import gather_object

        # Every rank logs together (HF gathers `loss` here too), so these collectives are safe.
        names = sorted(set().union(*gather_object([names])))
        device = self.args.device

        def mean_over_processes(t: torch.Tensor) -> torch.Tensor:
            return self.accelerator.gather(t.to(device)).reshape(-1, t.numel()).mean(0)

        return self._metric_window.pop_means(self.state.global_step, names, mean_over_processes)

    def _write_metricsft_config(self) -> None:
        if not self.is_world_process_zero():
            return
        record = {
            "metric_loss": self.metric_settings.loss,
            "metric_loss_args": self.metric_settings.args,
            "resolved": self.metric_loss.describe(),
            "fused_head": self._fused_head_note,
            "versions": {
                name: _version(name)
                for name in ("metricsft", "llamafactory", "transformers", "torch", "peft", "trl", "deepspeed")
            },
        }
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, CONFIG_FILENAME), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2, ensure_ascii=False)
            f.write("\n")


def _checked_parse_train_args(original):
    """LLaMA-Factory's dataclass parsing, followed at once by the metric-loss refusals.

    Wrapping the parse step (not `get_train_args`) puts our refusals before LLaMA-Factory's own
    dependency checks, so e.g. `enable_liger_kernel` is refused for what it does to the loss, not
    reported as a missing package.
    """

    @functools.wraps(original)
    def parse_train_args(*args: Any, **kwargs: Any):
        parsed = original(*args, **kwargs)
        model_args, _data_args, _training_args, finetuning_args, _generating_args = parsed
        check_parsed_args(model_args, finetuning_args)
        return parsed

    return parse_train_args


@contextlib.contextmanager
def installed_metric_loss(settings: MetricLossSettings) -> Iterator[None]:
    """Make LLaMA-Factory's SFT run use `settings` while the block runs; restore its names afterwards."""
    import llamafactory.hparams.parser as hparams_parser
    import llamafactory.train.sft.workflow as sft_workflow
    import llamafactory.train.tuner as tuner

    bindings = [
        (sft_workflow, "CustomSeq2SeqTrainer", functools.partial(MetricSeq2SeqTrainer, metric_settings=settings)),
        (tuner, "LogCallback", MetricLogCallback),
        (hparams_parser, "_parse_train_args", _checked_parse_train_args(hparams_parser._parse_train_args)),
    ]
    missing = [f"{module.__name__}.{name}" for module, name, _ in bindings if not hasattr(module, name)]
    if missing:
        raise RuntimeError(
            f"this LLaMA-Factory has no {', '.join(missing)}: the metricsft seam does not fit it; "
            "see metricsft.integrations.llamafactory.guards for the supported versions."
        )
    saved = [(module, name, getattr(module, name)) for module, name, _ in bindings]
    try:
        for module, name, value in bindings:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
