"""Assets of the `mlrc_rainfall_prediction` task: its prompt."""
