"""Encryption of archives: per-customer data keys, wrapped by master keys behind a key port."""
