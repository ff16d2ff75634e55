"""Trainer integrations: LLaMA-Factory, Hugging Face Trainer and TRL."""
