"""Flask blueprints of the knowledge base (JSON API now; the staff console joins here)."""
