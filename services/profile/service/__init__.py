"""The rules of the profile service and their units of work: ``avatars`` (the cache
rules of profiles) and ``live`` (sessions, their comments, WebSocket subscribers)."""
