"""Tasks of the `smoke` benchmark."""
