"""Auditing: sampling, judges, citation verification, statistics and the gate."""
