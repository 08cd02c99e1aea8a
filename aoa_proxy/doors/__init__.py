"""Front doors: one module per client dialect, each a thin handler.

A door reads and checks the client's request (intake.py) into a Call, picks the provider (the
router's job; today the active provider) and hands both to the relay (relay.py). Chat
Completions is the hub every provider speaks; a door for another dialect adds a bridge to it.
"""
