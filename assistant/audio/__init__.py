"""Audio: voice activity detection, speech to text, text to speech, WAV files and devices."""
