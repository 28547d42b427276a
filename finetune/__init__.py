"""Assay finetune package."""
