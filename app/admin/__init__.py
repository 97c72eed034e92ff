"""The server-rendered admin at /admin: Litestar controllers and Jinja templates."""
