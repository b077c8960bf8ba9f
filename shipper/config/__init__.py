"""The config: TOML -> frozen dataclasses, ${VAR}, every error named by its key, reload plans."""
