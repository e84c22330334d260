"""Authentication and access: users (argon2 + JWT) and applications (hashed API keys)."""
