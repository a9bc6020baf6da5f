// An SPMD program that must fail: the last rank meets an error while the others wait in a barrier.
// MPI.run turns the unhandled error into MPI_Abort, so the whole job exits non-zero instead of hanging.
// hpc/test runs it under a timeout and passes only if it exits non-zero before the timeout.
import MPI

MPI.run { environment in
    let world = environment.world
    if world.rank == world.size - 1 {
        // A count that does not fit in MPI's int: refused in Swift, before any MPI call.
        _ = try world.broadcast([UInt8](), from: world.size + 7)
    }
    try world.barrier()
    print("rank \(world.rank): passed the barrier, which must not happen")
}
