"""The run: wiring of source, routing, spool and delivery; lifecycle, signals, reloads, systemd."""
