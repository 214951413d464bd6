"""The case workflow's parts: its state, its steps and tasks, the rules of its requests, its
retention stage and its request handlers. `workflows/close_customer.py` puts them together."""
