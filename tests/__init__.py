"""Test package (a package so ``from tests.assets.build_assets import asset_path`` works from the repo root)."""
