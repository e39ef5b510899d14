"""Pure logic behind the actions: plain typed functions that know nothing of Rasa or trackers."""
