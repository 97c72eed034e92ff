"""Building blocks every domain shares: errors, money, clock, ids, transactions."""
