"""Web chat channel: the page (Jinja template + static script and style) and its JSON relay to the core."""
