"""Finding the customers to close: rules over the CRM, exclusions, runs."""
