"""Media converters: normalise any audio (and later image) input for the models."""
