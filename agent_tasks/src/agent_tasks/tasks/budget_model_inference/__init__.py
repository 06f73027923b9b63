"""The task `budget_model_inference`: fast UltraMNIST digit sums."""
