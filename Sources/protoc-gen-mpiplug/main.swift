print("protoc-gen-mpiplug: not yet")
