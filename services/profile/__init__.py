"""The profile service: user profiles, avatars and live comment sessions."""
