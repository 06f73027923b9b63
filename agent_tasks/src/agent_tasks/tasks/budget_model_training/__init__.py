"""The task `budget_model_training`: ImageNet-100 under a budget."""
