"""Our dialogue policies (registered with Rasa's default recipe, named in bot/config*.yml)."""
