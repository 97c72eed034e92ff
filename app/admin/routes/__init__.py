"""Admin controllers, one module per area."""
