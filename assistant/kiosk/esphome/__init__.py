"""Home Assistant voice satellite over the ESPHome native API (``kiosk --home-assistant``)."""
