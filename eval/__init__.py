"""metricsft.eval: parsers, metrics, benchmark tasks, generation backends and the resumable runner.

This side never imports LLaMA-Factory: it must run in its own environment (for example next to vLLM).
"""
