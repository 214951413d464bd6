"""People who sign in to Closeout's web pages."""
