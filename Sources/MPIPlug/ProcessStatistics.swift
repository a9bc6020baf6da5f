import Foundation

/// Memory figures of this process from `/proc/self/status` (Linux); zero elsewhere.
enum ProcessStatistics {
    /// Resident memory now and at its peak, in bytes.
    static func residentMemory() -> (current: UInt64, peak: UInt64) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        var current: UInt64 = 0
        var peak: UInt64 = 0
        for line in status.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") { current = kilobytes(line) * 1024 }
            if line.hasPrefix("VmHWM:") { peak = kilobytes(line) * 1024 }
        }
        return (current, peak)
    }

    private static func kilobytes(_ line: Substring) -> UInt64 {
        line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { UInt64($0) } ?? 0
    }
}
