"""Input channels through which our own channel adapters reach the Rasa core."""
