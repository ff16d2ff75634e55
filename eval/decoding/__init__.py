"""Minimum-Bayes-risk (MBR) decoding at evaluation: N samples per row, one answer chosen by a decision rule.

    $ metricsft eval refcoco --decode mbr --samples 8 --seed 0 --model ... --backend vllm --out out/refcoco

`rules` holds the decision rules as pure functions, `task_rules` finds each task's rules (stated in its
module `metricsft.tasks.<task>`) and holds what they share, `run` generates/caches the samples and scores
the chosen answers, `compare` puts greedy and MBR side by side.
"""
