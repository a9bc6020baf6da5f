import Foundation

/// What rank 0 writes: every measurement of one run, in the format the mpi4py counterpart also writes.
struct RunReport: Encodable {
    let implementation: String
    let ranks: Int
    let threadLevel: String
    let repetitions: Int
    /// Whether buffers of 4 MiB or more were advised to use huge pages, as numpy does (`Buffers.swift`).
    let hugePageAdvice: Bool
    let measurements: [Measurement]

    /// Writes the report as JSON to `path`, or to standard output when `path` is `nil`.
    func write(to path: String?) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        guard let path else {
            FileHandle.standardOutput.write(data)
            return
        }
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw BenchmarkError.output("\(path): \(error.localizedDescription)")
        }
    }
}
