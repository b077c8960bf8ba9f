"""The durable per-channel backlog in the state directory: records, cursor, recovery,
group commit."""
