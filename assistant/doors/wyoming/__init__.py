"""Home Assistant's Wyoming protocol on TCP."""
