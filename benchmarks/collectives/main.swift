import MPI
print("bench-collectives: not yet")
