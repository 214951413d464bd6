"""The company's own systems a case reaches beside the reference CRM: what each kind of system
must do for a case (a port per kind), the adapters, and how they are configured."""
