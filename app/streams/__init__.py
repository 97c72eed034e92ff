"""Live streams: going live, ending, per-stream totals and leaderboards."""
