"""SQL migrations of the publishing engine's schema (publishing)."""
