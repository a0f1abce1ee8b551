"""tap-perfreports: vendor performance reports as Singer streams."""
