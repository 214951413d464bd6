"""Activities: every side effect of the close-customer process, performed through ports."""
