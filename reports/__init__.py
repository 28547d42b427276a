"""Assay reports package."""
