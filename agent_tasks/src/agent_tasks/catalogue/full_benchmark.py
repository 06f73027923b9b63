"""Tasks of the `full_benchmark` benchmark."""
