"""Deleted customers stay deleted: a ledger, kept apart from the database, that names them."""
