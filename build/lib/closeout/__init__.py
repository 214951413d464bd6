"""Closeout: close customers right, from trigger to certified deletion."""
