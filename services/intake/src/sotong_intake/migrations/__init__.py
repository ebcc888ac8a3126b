"""Intake's schema migrations (NNNN_what.sql), applied at start by sotong_common.database."""
