"""The web edge beside GraphQL and the admin: HTTP controllers for payment providers."""
