"""Delivery: a worker per channel posts, paces, backs off and dead-letters."""
