"""The web pages staff use: sign-in, inbox, tasks, cases."""
