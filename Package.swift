// swift-tools-version:6.2
import PackageDescription

// Module graph (a module talks to its neighbours only):
//
//   geopredict (CLI) ──> GeoPredictService ──┬─> MPIPlug ──┬─> MPI ──> CMPI ──> libmpi (OpenMPI or MPICH)
//                                            │             └─> MPIPlugProtos
//                                            ├─> GeoPredict ──> MPI  (ALS and ranker solves: hand-written SIMD;
//                                            │                        benchmarks/kernels measured OpenBLAS against them)
//                                            └─> GeoPredictProtos
//   mpiplug (CLI)  ──> MPIPlugCommandLine (the options every server takes) ──> MPIPlug
//   protoc-gen-mpiplug: generates each service's route table from its .proto (run by proto/generate)
//
// Why each dependency earns its build time:
// - hummingbird: the HTTP/1.1 front door on rank 0 (SwiftNIO, service lifecycle, graceful shutdown);
//   HummingbirdTLS for --tls-cert/--tls-key; HummingbirdTesting for in-process router tests.
// - swift-nio-http2 + swift-nio-extras' NIOHTTPTypesHTTP2 (both already in hummingbird's graph): HTTP/2
//   on the same port as HTTP/1.1 (h2c by prior knowledge, h2 by ALPN). HummingbirdHTTP2's channels are
//   not used: its plaintext mode takes the whole port from HTTP/1.1 clients and neither of its channels
//   lets the stream cap or the reset-rate limit be set, so the front door configures NIOHTTP2 itself
//   and hands each stream to Hummingbird's own HTTP/1 request loop (one code path for both).
//   Cost: NIOHPACK, NIOHTTP2 and NIOHTTPTypesHTTP2 compile in 58 s wall, 28 s CPU (debug, 2 shared
//   cores, load 7), about 4 % of a clean debug build's CPU (11 min CPU, 31 min wall that day).
// - swift-protobuf: binary and proto3-JSON bodies; the plugin library parses .proto descriptors.
// - swift-argument-parser: the geopredict and mpiplug command lines.
// - swift-log, swift-metrics (come with hummingbird) + swift-prometheus: logs and GET /metrics.
// - compress-nio: the tests' gzip compressor (an independent writer for the front door's gzip reader,
//   which calls the system zlib itself through CZlib).

// The MPI library: OpenMPI by default; GEOPREDICT_MPI=mpich builds against MPICH (and so against the
// MPICH family: Intel MPI, Cray MPICH, MVAPICH, which share its ABI), found by pkg-config either way.
// Build each in a folder of its own (the hpc/ scripts use .build-mpich for MPICH).
let usesMPICH = Context.environment["GEOPREDICT_MPI"] == "mpich"

let package = Package(
    name: "GeoPredict",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MPI", targets: ["MPI"]),
        .library(name: "MPIPlug", targets: ["MPIPlug"]),
        .library(name: "MPIPlugCommandLine", targets: ["MPIPlugCommandLine"]),
        .library(name: "MPIPlugTesting", targets: ["MPIPlugTesting"]),
        .library(name: "GeoPredict", targets: ["GeoPredict"]),
        // MPIPlug's own messages (diagnostics, status); benchmarks/ builds a bare server on them.
        .library(name: "MPIPlugProtos", targets: ["MPIPlugProtos"]),
        .executable(name: "geopredict", targets: ["geopredict"]),
        .executable(name: "mpiplug", targets: ["mpiplug"]),
        .executable(name: "protoc-gen-mpiplug", targets: ["protoc-gen-mpiplug"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        // The versions hummingbird 2.28.1 resolves to; named here because MPIPlug imports them directly.
        .package(url: "https://github.com/apple/swift-nio-http2.git", exact: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", exact: "1.5.0"),
    ],
    targets: [
        // MARK: MPI
        .systemLibrary(
            name: "CMPI",
            pkgConfig: usesMPICH ? "mpich" : "ompi-c",
            providers: [.apt(usesMPICH ? ["libmpich-dev", "mpich"] : ["libopenmpi-dev", "openmpi-bin"])]
        ),
        // Handles.swift is the one place the two families' C types differ (MPICH: integer handles).
        .target(name: "MPI", dependencies: ["CMPI"], swiftSettings: usesMPICH ? [.define("MPICH")] : []),
        // The system zlib, read directly for gzip bodies: compress-nio's inflate cannot tell a stream
        // that ended (trailer checked) from one that was cut off, nor see bytes after the end.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // MARK: MPIPlug, the framework
        .target(
            name: "MPIPlugProtos",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "MPIPlug",
            dependencies: [
                "MPI",
                "CZlib",
                "MPIPlugProtos",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The shared event loops, for request deadlines (already linked by Hummingbird).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
            ]
        ),
        // In-process tests of a service through its real front door and round loop (one rank).
        .target(
            name: "MPIPlugTesting",
            dependencies: [
                "MPIPlug",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .executableTarget(
            name: "protoc-gen-mpiplug",
            dependencies: [.product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf")]
        ),
        .target(
            name: "MPIPlugCommandLine",
            dependencies: ["MPIPlug", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "mpiplug",
            dependencies: ["MPIPlug", "MPIPlugCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: GeoPredict, the domain
        .target(name: "GeoPredict", dependencies: ["MPI"]),
        .target(
            name: "GeoPredictProtos",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .target(
            name: "GeoPredictService",
            dependencies: [
                "GeoPredict", "GeoPredictProtos", "MPIPlug", "MPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            // The console's files, compiled into the binary as byte arrays (GeoPredictConsole).
            resources: [
                .embedInCode("Console/index.html"), .embedInCode("Console/console.js"), .embedInCode("Console/console.css"),
            ]
        ),
        .executableTarget(
            name: "geopredict",
            dependencies: [
                "GeoPredictService", "GeoPredict", "MPIPlug", "MPIPlugCommandLine", "MPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Tests run by `swift test` (one process, one rank)
        .testTarget(name: "MPITests", dependencies: ["MPI"]),
        .testTarget(
            name: "MPIPlugTests",
            dependencies: [
                "MPIPlug", "MPIPlugProtos", "MPIPlugTesting", "SPMDTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CompressNIO", package: "compress-nio"),
                // An HTTP/2 client for the front door's h2c tests.
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "GeoPredictTests", dependencies: ["GeoPredict", "MPI", "SPMDTesting"]),
        .testTarget(
            name: "GeoPredictServiceTests",
            dependencies: [
                "GeoPredictService", "GeoPredictProtos", "GeoPredict", "MPI", "MPIPlug", "MPIPlugProtos", "MPIPlugTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),

        // MARK: SPMD test programs, run by hpc/test under mpirun at 1-4 ranks
        .target(name: "SPMDTesting", dependencies: ["MPI"], path: "Tests/SPMD/SPMDTesting"),
        .executableTarget(name: "mpi-spmd-tests", dependencies: ["MPI", "SPMDTesting"], path: "Tests/SPMD/MPISPMDTests"),
        .executableTarget(name: "mpi-spmd-must-fail", dependencies: ["MPI"], path: "Tests/SPMD/MPISPMDMustFail"),
        .executableTarget(
            name: "geopredict-spmd-tests",
            dependencies: ["GeoPredict", "MPI", "SPMDTesting"],
            path: "Tests/SPMD/GeoPredictSPMDTests"
        ),

        // MARK: Example client (clients/README.md; the C and Python clients build outside SwiftPM)
        .executableTarget(
            name: "geopredict-client",
            dependencies: ["GeoPredictProtos", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "clients/swift"
        ),
    ],
    swiftLanguageModes: [.v6]
)
