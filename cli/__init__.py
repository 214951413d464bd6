"""The `closeout` command line: one module per group of commands, `cli/main.py` the root."""
