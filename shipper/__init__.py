"""shipper: tail JSON-lines audit logs and post matching events to Slack, Teams and webhooks."""

__version__ = "0.1.0"
