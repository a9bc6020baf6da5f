#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder format: a tree of per-user trajectory files (GeoLife's `Data/<user>/Trajectory/*.plt`).
///
/// The loader lists the files once per rank, deals each *user's* files to the rank that owns the
/// user (``ShardMap/owner(of:)``), and reads them in name order, so the re-shard that follows moves
/// nothing across ranks. Each line goes through ``parse(_:lineNumber:userID:)``; issues name the
/// file (``TrajectoryFile/name``) and the line within it.
///
/// **Integration point:** ``DatasetLoader/builtInFolderFormat(for:)`` names the reader of each
/// folder format (GeoLife: ``GeoLifeFolderFormat``); ``LoadOptions/folderFormat`` overrides it per
/// load. A format without a reader fails with ``LoadError/formatNotAvailable(_:)``.
public protocol TrajectoryFolderFormat: Sendable {
    /// Lines at the top of every file that are not data (GeoLife `.plt`: 6).
    var headerLineCount: Int { get }

    /// The data files under `root`, in any order.
    func files(under root: String) throws(LoadError) -> [TrajectoryFile]

    /// Parses one data line of a file that belongs to `userID`; raw GPS fixes have `venueID == ""`.
    func parse(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int64, userID: String) -> Result<CheckIn, ImportIssue>
}

/// One file of a folder source.
public struct TrajectoryFile: Sendable, Equatable {
    /// The path to open.
    public var path: String
    /// The path relative to the root, used in issues (`000/Trajectory/20081023025304.plt`).
    public var name: String
    /// The user the file belongs to (GeoLife: the user folder's name).
    public var userID: String

    public init(path: String, name: String, userID: String) {
        self.path = path
        self.name = name
        self.userID = userID
    }
}

/// Lists per-user trajectory trees.
public enum TrajectoryFolder {
    /// The files ending in `fileExtension` in `<root>/<user>/<subfolder>/` for every user folder, where
    /// `root` may also be the folder above a `Data` folder (GeoLife's layout). Hidden entries are
    /// skipped; the result is sorted by name.
    public static func files(under root: String, subfolder: String = "Trajectory", fileExtension: String = ".plt")
        throws(LoadError) -> [TrajectoryFile]
    {
        var base = root
        if try entries(of: root).contains("Data"), try entries(of: root + "/Data").allSatisfy({ isDirectory(root + "/Data/" + $0) }) {
            base = root + "/Data"
        }
        var files: [TrajectoryFile] = []
        for user in try entries(of: base) where isDirectory(base + "/" + user) {
            let folder = subfolder.isEmpty ? user : user + "/" + subfolder
            guard isDirectory(base + "/" + folder) else { continue }
            for name in try entries(of: base + "/" + folder) where name.hasSuffix(fileExtension) {
                files.append(TrajectoryFile(path: base + "/" + folder + "/" + name, name: folder + "/" + name, userID: user))
            }
        }
        return files.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The names in a directory, without `.`, `..` and hidden entries.
    static func entries(of path: String) throws(LoadError) -> [String] {
        guard let directory = opendir(path) else { throw .cannotOpen(path: path, errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }
}
