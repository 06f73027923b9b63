"""Assets of `budget_model_inference`: fast UltraMNIST digit sums."""
