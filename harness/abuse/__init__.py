"""Bad input: the catalogue of malformed requests and frames, and how they are sent."""
