"""The public catalogue: speakers, topics and the bureau's weblog."""
