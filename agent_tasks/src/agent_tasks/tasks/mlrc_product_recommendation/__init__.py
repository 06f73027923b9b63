"""The MLRC-Bench task `mlrc_product_recommendation`: its spec and prompt."""
