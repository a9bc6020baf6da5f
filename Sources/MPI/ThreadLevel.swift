internal import CMPI

/// How many threads of a process may call MPI (`MPI_THREAD_*`), in increasing order of freedom.
public enum ThreadLevel: Comparable, Sendable, CustomStringConvertible {
    /// Only one thread exists.
    case single
    /// Many threads may exist, but only the one that initialised MPI calls it.
    case funneled
    /// Any thread may call MPI, one at a time.
    case serialized
    /// Any thread may call MPI at any time.
    case multiple

    var rawLevel: Int32 {
        switch self {
        case .single: return Int32(MPI_THREAD_SINGLE)
        case .funneled: return Int32(MPI_THREAD_FUNNELED)
        case .serialized: return Int32(MPI_THREAD_SERIALIZED)
        case .multiple: return Int32(MPI_THREAD_MULTIPLE)
        }
    }

    init(rawLevel: Int32) {
        switch rawLevel {
        case Int32(MPI_THREAD_SINGLE): self = .single
        case Int32(MPI_THREAD_FUNNELED): self = .funneled
        case Int32(MPI_THREAD_SERIALIZED): self = .serialized
        default: self = .multiple
        }
    }

    public var description: String {
        switch self {
        case .single: return "single"
        case .funneled: return "funneled"
        case .serialized: return "serialized"
        case .multiple: return "multiple"
        }
    }
}
