"""The CRM port and the bundled reference CRM."""
