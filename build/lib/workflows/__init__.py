"""Workflows: the deterministic close-customer process, no I/O."""
