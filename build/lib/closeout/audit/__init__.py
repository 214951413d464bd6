"""The audit trail: append-only, hash-chained, erasable of personal content without a break."""
