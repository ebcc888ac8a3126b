"""SQL migrations of the publishing engine's schema (alerting_engine)."""
