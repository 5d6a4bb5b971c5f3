"""Open university labs and their instruments: catalogue, opening hours, blackouts, availability."""
