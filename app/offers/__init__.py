"""Partner offers: coins redeemed for discount codes from a pool staff loaded."""
