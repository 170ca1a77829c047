"""Front doors: the ways a client reaches a conversation (/ws/voice, /v1/realtime, Wyoming)."""
