"""Creator payouts: diamonds held, then paid out through a provider or released."""
