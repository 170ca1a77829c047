"""Vision models and camera capture (planned: see the Vision issue)."""
