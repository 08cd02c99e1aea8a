"""Front doors: one module per client dialect, each a thin handler.

A door reads and checks the client's request (intake.py), routes its model (routing.py), and
hands the Call to the relay (relay.py), or to dispatch.py's attempt loop when a key pool or a
failover chain may need more than one try. Chat Completions is the hub every provider speaks;
a door for another dialect adds a bridge to it.
"""
