"""The task `mini_pile`: pre-train a language model on MiniPile."""
