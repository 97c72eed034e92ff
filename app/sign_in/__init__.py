"""Defences of signing in, shared by users (``logIn``, ``signUp``) and staff (the admin).

Public names: ``SignInThrottle`` (limits per client IP and per handle, a growing wait
after failures) and ``create_throttle`` (in memory, or Redis when the app has one).
"""

from app.sign_in.throttle import Attempt, SignInThrottle, create_throttle

__all__ = ["Attempt", "SignInThrottle", "create_throttle"]
