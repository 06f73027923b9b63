"""Where cells run: this host (:mod:`.local`) or a Ray cluster (:mod:`.ray`)."""
