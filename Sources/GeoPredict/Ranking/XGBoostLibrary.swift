#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why XGBoost could not be used.
public enum XGBoostError: Error, Equatable, CustomStringConvertible {
    /// The shared library is not installed (or not where the loader looks).
    case libraryMissing(String)
    /// The library lacks a C API function this code calls (an XGBoost older than 1.0).
    case missingFunction(String)
    /// A C API call failed; the message is XGBoost's own (`XGBGetLastError`).
    case call(function: String, message: String)
    /// The model XGBoost saved could not be read as trees.
    case unreadableModel(String)

    public var description: String {
        switch self {
        case .libraryMissing(let detail):
            return "the boosted ranker needs XGBoost's shared library, which was not found (\(detail)); "
                + "install it (Debian/Ubuntu: apt-get install libxgboost-dev; RHEL-family: xgboost-devel; Spack: xgboost) "
                + "or point GEOPREDICT_XGBOOST_LIBRARY at libxgboost.so"
        case .missingFunction(let name): return "libxgboost has no \(name) (XGBoost 1.0 or later is needed)"
        case .call(let function, let message): return "XGBoost \(function) failed: \(message)"
        case .unreadableModel(let detail): return "cannot read XGBoost's model: \(detail)"
        }
    }
}

/// XGBoost's C API, loaded at run time with `dlopen` so that GeoPredict builds and runs without it:
/// only training the boosted ranker needs the library (its trees are evaluated natively, see
/// ``BoostedTrees``). The functions are resolved by name into C function pointers; nothing else of
/// the library is used. Loaded once per process (``shared``).
///
/// A C shim target is not needed: the dozen signatures below are plain C types, and a header of our
/// own would have to copy them from `xgboost/c_api.h` anyway (which is absent where the library is).
public final class XGBoostLibrary: @unchecked Sendable {
    // The C types of xgboost/c_api.h: bst_ulong is uint64_t; handles are void pointers.
    typealias Handle = UnsafeMutableRawPointer
    typealias CreateFromMat = @convention(c) (
        UnsafePointer<Float>?, UInt64, UInt64, Float, UnsafeMutablePointer<Handle?>?) -> Int32
    typealias SetFloatInfo = @convention(c) (Handle?, UnsafePointer<CChar>?, UnsafePointer<Float>?, UInt64) -> Int32
    typealias SetUIntInfo = @convention(c) (Handle?, UnsafePointer<CChar>?, UnsafePointer<UInt32>?, UInt64) -> Int32
    typealias Free = @convention(c) (Handle?) -> Int32
    typealias BoosterCreate = @convention(c) (UnsafePointer<Handle?>?, UInt64, UnsafeMutablePointer<Handle?>?) -> Int32
    typealias SetParam = @convention(c) (Handle?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32
    typealias UpdateOneIter = @convention(c) (Handle?, Int32, Handle?) -> Int32
    typealias Predict = @convention(c) (
        Handle?, Handle?, Int32, UInt32, Int32, UnsafeMutablePointer<UInt64>?,
        UnsafeMutablePointer<UnsafePointer<Float>?>?) -> Int32
    typealias SaveToBuffer = @convention(c) (
        Handle?, UnsafePointer<CChar>?, UnsafeMutablePointer<UInt64>?, UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32
    typealias LoadFromBuffer = @convention(c) (Handle?, UnsafeRawPointer?, UInt64) -> Int32
    typealias LastError = @convention(c) () -> UnsafePointer<CChar>?

    let createFromMat: CreateFromMat
    let setFloatInfo: SetFloatInfo
    let setUIntInfo: SetUIntInfo
    let freeMatrix: Free
    let boosterCreate: BoosterCreate
    let boosterFree: Free
    let setParam: SetParam
    let updateOneIter: UpdateOneIter
    let predict: Predict
    let saveToBuffer: SaveToBuffer
    let loadFromBuffer: LoadFromBuffer
    let lastError: LastError

    /// The library of this process, or why it could not be loaded.
    public static let shared: Result<XGBoostLibrary, XGBoostError> = Result { () throws(XGBoostError) in
        try XGBoostLibrary()
    }

    /// Whether XGBoost can be used here.
    public static var isAvailable: Bool { (try? shared.get()) != nil }

    /// The names tried, in order: `GEOPREDICT_XGBOOST_LIBRARY` if set, the development link, the
    /// runtime package's soname (Debian's libxgboost0 ships only that one).
    static var candidateNames: [String] {
        var names: [String] = []
        if let override = getenv("GEOPREDICT_XGBOOST_LIBRARY"), override.pointee != 0 { names.append(String(cString: override)) }
        #if canImport(Darwin)
        names += ["libxgboost.dylib"]
        #else
        names += ["libxgboost.so", "libxgboost.so.0"]
        #endif
        return names
    }

    private init() throws(XGBoostError) {
        var handle: UnsafeMutableRawPointer?
        var failures: [String] = []
        for name in Self.candidateNames {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if handle != nil { break }
            failures.append(dlerror().map { String(cString: $0) } ?? name)
        }
        guard let handle else { throw .libraryMissing(failures.joined(separator: "; ")) }
        func resolve<F>(_ name: String, as _: F.Type) throws(XGBoostError) -> F {
            guard let symbol = dlsym(handle, name) else { throw .missingFunction(name) }
            return unsafeBitCast(symbol, to: F.self)
        }
        createFromMat = try resolve("XGDMatrixCreateFromMat", as: CreateFromMat.self)
        setFloatInfo = try resolve("XGDMatrixSetFloatInfo", as: SetFloatInfo.self)
        setUIntInfo = try resolve("XGDMatrixSetUIntInfo", as: SetUIntInfo.self)
        freeMatrix = try resolve("XGDMatrixFree", as: Free.self)
        boosterCreate = try resolve("XGBoosterCreate", as: BoosterCreate.self)
        boosterFree = try resolve("XGBoosterFree", as: Free.self)
        setParam = try resolve("XGBoosterSetParam", as: SetParam.self)
        updateOneIter = try resolve("XGBoosterUpdateOneIter", as: UpdateOneIter.self)
        predict = try resolve("XGBoosterPredict", as: Predict.self)
        saveToBuffer = try resolve("XGBoosterSaveModelToBuffer", as: SaveToBuffer.self)
        loadFromBuffer = try resolve("XGBoosterLoadModelFromBuffer", as: LoadFromBuffer.self)
        lastError = try resolve("XGBGetLastError", as: LastError.self)
        // The library stays loaded for the life of the process: its function pointers are kept.
    }

    /// Throws XGBoost's last error when `status` is not 0.
    func check(_ status: Int32, _ function: String) throws(XGBoostError) {
        guard status != 0 else { return }
        throw .call(function: function, message: lastError().map { String(cString: $0) } ?? "no message")
    }
}
