"""Assay generate package."""
