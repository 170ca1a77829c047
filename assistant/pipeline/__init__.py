"""The voice pipeline: small async stages exchanging typed frames, from microphone to speaker."""
