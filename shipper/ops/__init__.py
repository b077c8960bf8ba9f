"""Operations: metrics, the health server, logs and the redaction of secrets."""
