"""The stages of the voice pipeline, one module each."""
