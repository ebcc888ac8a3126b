"""Sotong gateway: the one front door for the city's app, web pages and chat bots (gRPC, Connect, gRPC-Web)."""
