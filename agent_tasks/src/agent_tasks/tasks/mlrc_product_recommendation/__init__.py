"""Assets of the `mlrc_product_recommendation` task: its prompt."""
