// swift-tools-version:6.1
import PackageDescription

// `swarm`, Herald's load generator, and the bare "floor" server it is compared against. A
// package of its own so the load tool's dependencies (HdrHistogram, argument parsing) stay out of
// the server build. It does not depend on the root package: the few wire facts it needs (the event
// envelope, the `connected` frame, the token claims) are written out here, so a half-edited root
// package never breaks the load tool and the tool measures the server as a black box.
let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
    .product(name: "NIOWebSocket", package: "swift-nio"),
]

let package = Package(
    name: "herald-loadtest",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swarm", targets: ["swarm"]),
        .executable(name: "floor-server", targets: ["floor-server"]),
        .library(name: "SwarmKit", targets: ["SwarmKit"]),
        .library(name: "FloorServer", targets: ["FloorServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.2.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.1.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        .target(
            name: "SwarmKit",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ] + nio
        ),
        .target(
            name: "FloorServer",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ] + nio
        ),
        .executableTarget(
            name: "swarm",
            dependencies: [
                "SwarmKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "floor-server",
            dependencies: [
                "FloorServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SwarmKitTests",
            dependencies: [
                "SwarmKit", "FloorServer",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ] + nio
        ),
    ]
)
