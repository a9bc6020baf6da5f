import Foundation
import GeoPredict
@testable import GeoPredictService
import Testing

struct WriteAheadLogTests {
    private func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "wal-test-\(UUID().uuidString)"
        return path
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func recordsSurviveAReopenAcrossFiles() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try WriteAheadLog(directory: directory, prefix: "events")
        try first.append([[1, 2, 3], [], [4]])
        try first.append([[5]])
        let second = try WriteAheadLog(directory: directory, prefix: "events")
        try second.append([[6, 7]])
        let other = try WriteAheadLog(directory: directory, prefix: "other")
        try other.append([[9]])
        let read = try WriteAheadLog.readAll(directory: directory, prefix: "events")
        #expect(Set(read.records) == Set([[1, 2, 3], [], [4], [5], [6, 7]]))
        #expect(read.records.count == 5)
        #expect(read.tornFiles.isEmpty)
    }

    @Test func aTornOrCorruptTailEndsItsFileWithoutLosingEarlierRecords() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try WriteAheadLog(directory: directory, prefix: "events")
        try log.append([[10, 11], [12, 13, 14]])
        let intact = try Data(contentsOf: URL(fileURLWithPath: log.path))
        for cut in 1..<9 {
            // A record header and part of a payload, as a crash mid-write leaves it.
            var torn = intact
            torn.append(contentsOf: [3, 0, 0, 0, 1, 2, 3, 4, 5, 6].prefix(cut))
            let parsed = WriteAheadLog.parse([UInt8](torn))
            #expect(parsed.records == [[10, 11], [12, 13, 14]])
            #expect(!parsed.complete)
        }
        var corrupt = [UInt8](intact)
        corrupt[corrupt.count - 1] ^= 0xFF
        let parsed = WriteAheadLog.parse(corrupt)
        #expect(parsed.records == [[10, 11]])
        #expect(!parsed.complete)
    }

    @Test func aMissingDirectoryHasNoRecords() throws {
        let read = try WriteAheadLog.readAll(directory: temporaryDirectory(), prefix: "events")
        #expect(read.records.isEmpty)
    }
}
