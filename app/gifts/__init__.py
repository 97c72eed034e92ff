"""The gift catalog (versioned prices) and sending gifts."""
