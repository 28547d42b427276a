"""Assay's shared kernel: data models, dataset and source loading, providers, store, config."""

__version__ = "0.1.0"
