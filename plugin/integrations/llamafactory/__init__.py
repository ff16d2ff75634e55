"""LLaMA-Factory integration: `metricsft train`, the SFT trainer seam, refusals and logging.

Importing this package does not import LLaMA-Factory; the submodules that need it do.

    >>> from metricsft.integrations.llamafactory.cli import train_main    # doctest: +SKIP
    >>> train_main(["my_sft.yaml", "metric_loss=ntil"])                    # doctest: +SKIP
"""
