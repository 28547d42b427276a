"""Judges: each turns (record, evidence passages) into a Verdict or an abstention."""
