"""Deletion certificates: what was deleted, where, when, under which policy, verified how."""
