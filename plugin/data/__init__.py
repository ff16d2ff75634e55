"""Converters from official raw benchmark layouts to LLaMA-Factory datasets."""
