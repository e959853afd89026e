"""Training data: the synthetic cross-modal pair engine (:mod:`.synthetic`)."""
