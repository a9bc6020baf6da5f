import Foundation
@testable import GeoPredictService
import Testing

/// The one durable write (``DurableFile``) the model checkpoints and the log's fold files share: a
/// temporary file, fsync, rename, fsync of the folder.
struct DurableFileTests {
    private static func temporaryDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "durable-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    private static func names(in directory: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
    }

    private static func bytes(of path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    @Test func writesTheBytesUnderTheNameAndLeavesNoTemporaryFile() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let large = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try DurableFile.write(large, directory: directory, name: "a.bin")
        #expect(Self.bytes(of: "\(directory)/a.bin") == large)
        #expect(Self.names(in: directory) == ["a.bin"])

        // Writing again replaces the file whole.
        try DurableFile.write([1, 2, 3], directory: directory, name: "a.bin")
        #expect(Self.bytes(of: "\(directory)/a.bin") == [1, 2, 3])
        try DurableFile.write([], directory: directory, name: "empty")
        #expect(Self.bytes(of: "\(directory)/empty") == [])
        #expect(Self.names(in: directory) == ["a.bin", "empty"])
    }

    @Test func aCrashBeforeTheRenameLeavesTheOldFileAndOnlyATemporaryOne() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try DurableFile.write([7], directory: directory, name: "model-m1.gpmodel")
        try DurableFile.write([8, 9], directory: directory, name: "model-m1.gpmodel", stoppingAfter: .temporaryWritten)
        let temporary = DurableFile.temporaryName(for: "model-m1.gpmodel")
        #expect(temporary == ".model-m1-\(getpid()).tmp")
        #expect(Self.names(in: directory) == ["model-m1.gpmodel", temporary])
        #expect(Self.bytes(of: "\(directory)/model-m1.gpmodel") == [7])
        #expect(Self.bytes(of: "\(directory)/\(temporary)") == [8, 9])

        try DurableFile.write([8, 9], directory: directory, name: "model-m1.gpmodel", stoppingAfter: .renamed)
        #expect(Self.names(in: directory) == ["model-m1.gpmodel"])
        #expect(Self.bytes(of: "\(directory)/model-m1.gpmodel") == [8, 9])
    }

    @Test func failuresNameThePathAndLeaveNothingBehind() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missing = "\(directory)/missing"
        #expect(throws: DurableFile.Failure.cannotCreate(path: "\(missing)/\(DurableFile.temporaryName(for: "x.bin"))", errno: ENOENT)) {
            try DurableFile.write([1], directory: missing, name: "x.bin")
        }
        #expect(throws: DurableFile.Failure.syncFailed(path: missing, errno: ENOENT)) {
            try DurableFile.syncDirectory(missing)
        }
        // A folder under the final name: the rename fails, the temporary file is removed.
        try FileManager.default.createDirectory(atPath: "\(directory)/taken.bin/inside", withIntermediateDirectories: true)
        #expect(throws: DurableFile.Failure.self) { try DurableFile.write([1], directory: directory, name: "taken.bin") }
        #expect(Self.names(in: directory) == ["taken.bin"])
        #expect(DurableFile.Failure.renameFailed(path: "p", errno: EISDIR).description.hasPrefix("cannot rename to p: "))
    }
}
