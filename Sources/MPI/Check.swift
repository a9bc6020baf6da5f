internal import CMPI

/// The single path every MPI return code takes: success returns, anything else throws
/// ``MPIError/callFailed(function:code:errorClass:message:)`` with MPI's own text for the code.
@inline(__always)
func checkCall(_ code: Int32, _ function: StaticString) throws(MPIError) {
    if code == MPI_SUCCESS { return }
    throw callFailed(code, function)
}

@inline(never)
private func callFailed(_ code: Int32, _ function: StaticString) -> MPIError {
    var errorClass: Int32 = 0
    if MPI_Error_class(code, &errorClass) != MPI_SUCCESS { errorClass = code }
    var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    let message: String
    if MPI_Error_string(code, &text, &length) == MPI_SUCCESS {
        message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    } else {
        message = "unknown MPI error"
    }
    return .callFailed(function: "\(function)", code: code, errorClass: errorClass, message: message)
}

/// Throws ``MPIError/invalidArgument(function:message:)`` unless `condition` holds.
@inline(__always)
func require(
    _ condition: Bool, _ function: StaticString, _ message: @autoclosure () -> String
) throws(MPIError) {
    if !condition { throw .invalidArgument(function: "\(function)", message: message()) }
}

/// Converts an element count to MPI's `int`, refusing counts that do not fit.
@inline(__always)
func mpiCount(_ count: Int, _ function: StaticString, _ what: @autoclosure () -> String = "count") throws(MPIError) -> Int32 {
    guard count >= 0, count <= Int(Int32.max) else {
        throw .invalidArgument(
            function: "\(function)",
            message: "\(what()) \(count) is outside 0...\(Int32.max), the range of MPI's int counts"
        )
    }
    return Int32(count)
}
