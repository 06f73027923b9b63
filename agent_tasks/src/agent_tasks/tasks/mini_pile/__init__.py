"""Assets of `mini_pile`: pre-train a language model on MiniPile."""
