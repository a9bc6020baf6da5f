// swift-tools-version:6.2
import Foundation
import PackageDescription

// The benchmark programs, in a package of their own so that neither users' builds nor CI's compile
// them (the root package's `swift build` used to build all six). They depend on the root package by
// path, through its library products, as swift-nio's benchmarks do.
//
// Build from the repository root, e.g.
//   swift build -c release --package-path benchmarks --scratch-path .build-bench --product bench-als
// (the run scripts in each folder do this).

// A path dependency's identity is its folder's name, which is whatever the checkout is called
// (main, geopredict, a CI clone), so it is read here rather than spelled.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
let rootPackage = root.lastPathComponent

let package = Package(
    name: "GeoPredictBenchmarks",
    dependencies: [
        .package(path: root.path),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1", traits: []),
    ],
    targets: [
        .executableTarget(
            name: "bench-collectives", dependencies: [.product(name: "MPI", package: rootPackage)],
            path: "collectives",
            exclude: ["python", "run"]  // the mpi4py side, the report and the runner script
        ),
        .executableTarget(name: "bench-als", dependencies: geoPredict, path: "als/swift"),
        .executableTarget(name: "bench-load", dependencies: geoPredict, path: "load", exclude: ["run"]),
        .executableTarget(
            name: "bench-bare-echo",
            dependencies: [
                .product(name: "MPIPlugProtos", package: rootPackage),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "frontdoor/bare"
        ),
        .executableTarget(name: "bench-predict", dependencies: geoPredict, path: "predict"),
        .executableTarget(name: "bench-staypoints", dependencies: geoPredict, path: "staypoints/swift"),
        // The hand-written ALS kernels against OpenBLAS and LAPACKE (benchmarks/README.md, "ALS kernels").
        .systemLibrary(name: "COpenBLAS", path: "kernels/COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .executableTarget(name: "bench-kernels", dependencies: geoPredict + ["COpenBLAS"], path: "kernels/swift"),
    ],
    swiftLanguageModes: [.v6]
)

/// What the domain benchmarks link: the domain library and the MPI bindings it runs on.
var geoPredict: [Target.Dependency] {
    [.product(name: "GeoPredict", package: rootPackage), .product(name: "MPI", package: rootPackage)]
}
