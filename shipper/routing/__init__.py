"""Routing: lines -> events, severities, skimming, and the channels' rules."""
