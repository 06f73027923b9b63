"""The MLRC-Bench task `mlrc_rainfall_prediction`: its spec and prompt."""
