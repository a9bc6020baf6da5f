print("mpiplug: not yet")
