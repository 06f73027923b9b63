"""The task `mini_budget_model_inference`: UltraMNIST sums."""
