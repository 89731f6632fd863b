"""Avatars: the four providers (live, scraper, generator, initials), the outgoing-request
policy they share, image validation and the in-memory cache of answers."""
