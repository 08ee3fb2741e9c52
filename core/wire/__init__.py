"""Our own wire-protocol data path (records travel here, not through the official client).

``protocol`` holds the layouts and numbers both sides share (the emulator uses them too).
"""
