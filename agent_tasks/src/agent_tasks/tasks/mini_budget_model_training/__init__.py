"""The task `mini_budget_model_training`: ImageNet-100, 3 h."""
