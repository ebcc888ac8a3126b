"""Platform tables every service schema gets (outbox, processed events), applied before the service's own."""
