"""Cached, offline-built test assets (real tokenizers, a small real model, tiny random VLMs).

Use ``tests.assets.build_assets.asset_path(name)``; see that module for the list of names.
"""
