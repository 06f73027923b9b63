"""Tasks of the `mini_benchmark` benchmark."""
