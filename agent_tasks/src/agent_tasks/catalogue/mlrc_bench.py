"""Tasks of the `mlrc_bench` benchmark."""
