"""The consumer side: `bridge sink`."""
