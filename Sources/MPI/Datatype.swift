internal import CMPI

/// An MPI datatype handle, chosen by the element type of a buffer and never by the caller.
public struct Datatype: @unchecked Sendable {
    // MPI_Datatype is a pointer to a global struct that lives as long as the process.
    let handle: MPI_Datatype
}

/// A fixed-size value that MPI can send as a predefined datatype.
///
/// The binding derives the datatype from the element type (as rsmpi's `Equivalence` does), so a
/// `[Float]` buffer can only ever travel as floats.
public protocol MPIScalar: BitwiseCopyable, Sendable {
    /// The MPI datatype that describes one value of this type.
    static var mpiDatatype: Datatype { get }
}

/// A scalar that MPI can add, multiply and compare in reductions.
public protocol MPIArithmetic: MPIScalar, Comparable {}

extension UInt8: MPIScalar { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_uint8()) } }
extension Int8: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_int8()) } }
extension UInt8: MPIArithmetic {}
extension Int16: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_int16()) } }
extension UInt16: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_uint16()) } }
extension Int32: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_int32()) } }
extension UInt32: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_uint32()) } }
extension Int64: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_int64()) } }
extension UInt64: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_uint64()) } }
extension Float: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_float()) } }
extension Double: MPIArithmetic { public static var mpiDatatype: Datatype { Datatype(handle: cmpi_double()) } }

extension Int: MPIArithmetic {
    public static var mpiDatatype: Datatype {
        MemoryLayout<Int>.size == 8 ? Datatype(handle: cmpi_int64()) : Datatype(handle: cmpi_int32())
    }
}

/// A reduction applied element by element across ranks.
public enum ReductionOperation: Sendable, CustomStringConvertible {
    case sum
    case product
    case minimum
    case maximum

    var handle: MPI_Op {
        switch self {
        case .sum: return cmpi_op_sum()
        case .product: return cmpi_op_prod()
        case .minimum: return cmpi_op_min()
        case .maximum: return cmpi_op_max()
        }
    }

    public var description: String {
        switch self {
        case .sum: return "sum"
        case .product: return "product"
        case .minimum: return "minimum"
        case .maximum: return "maximum"
        }
    }
}
