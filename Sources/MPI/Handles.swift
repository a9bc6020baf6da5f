internal import CMPI

// The one place where the two MPI families differ in Swift's view of their C headers. OpenMPI's
// handles are pointers to global structs, so where a C function writes a handle (`MPI_Comm *`,
// `MPI_Request *`) Swift imports a pointer to an optional; MPICH's (and Intel MPI's, Cray MPICH's,
// MVAPICH's) are integers. Package.swift defines MPICH when it builds against `mpich`
// (GEOPREDICT_MPI=mpich); everything else in this module uses these names and compiles unchanged
// against either, and nothing above this module sees an MPI handle.

#if MPICH
/// A communicator handle as MPI functions write it.
typealias WrittenCommunicator = MPI_Comm
/// A request handle as MPI functions write it.
typealias WrittenRequest = MPI_Request

/// The communicator an MPI function wrote, or nil if it wrote the null communicator.
func writtenCommunicator(_ handle: WrittenCommunicator) -> MPI_Comm? {
    handle == cmpi_comm_null() ? nil : handle
}
#else
/// A communicator handle as MPI functions write it.
typealias WrittenCommunicator = MPI_Comm?
/// A request handle as MPI functions write it.
typealias WrittenRequest = MPI_Request?

/// The communicator an MPI function wrote, or nil if it wrote none or the null communicator.
func writtenCommunicator(_ handle: WrittenCommunicator) -> MPI_Comm? {
    guard let handle, handle != cmpi_comm_null() else { return nil }
    return handle
}
#endif
