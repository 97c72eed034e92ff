"""Coins: a virtual-currency service for live streaming."""
