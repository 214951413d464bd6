"""Mail that comes back: customers' replies, auto-replies and delivery reports."""
