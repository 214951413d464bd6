"""Where archives and the suppression ledger are kept: the filesystem or object storage."""
