"""The HTTP window onto Closeout: reads the read model, talks to workflows."""
