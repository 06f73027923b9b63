"""The task `mini_mini_pile`: pre-train a gpt2-xs-sized model on MiniPile."""
