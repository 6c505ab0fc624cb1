// swift-tools-version:6.1
import PackageDescription

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]

let package = Package(
    name: "herald",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "edge-node", targets: ["edge-node"]),
        .library(name: "EdgeNode", targets: ["EdgeNode"]),
        .library(name: "PubSubBridge", targets: ["PubSubBridge"]),
        .library(name: "HeraldBroker", targets: ["HeraldBroker"]),
        .library(name: "RedisBackend", targets: ["RedisBackend"]),
        .library(name: "HeraldProtocol", targets: ["HeraldProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.1.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "PubSubBridge",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ] + nio
        ),
        .target(
            name: "Presence",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ] + nio
        ),
        .target(
            name: "HeraldProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // The broker abstraction with Herald's history types, and the embedded single-node broker.
        .target(
            name: "HeraldBroker",
            dependencies: [
                "HeraldProtocol",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ] + nio
        ),
        // Herald's Redis schema on the Redis client: channels, function libraries, broker, presence store.
        .target(
            name: "RedisBackend",
            dependencies: [
                "PubSubBridge", "HeraldBroker", "HeraldProtocol", "Presence",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ] + nio
        ),
        // Upstream over HTTP: client messages POSTed to a backend with an HMAC signature.
        .target(
            name: "HTTPUpstream",
            dependencies: [
                "HeraldBroker", "HeraldProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ] + nio
        ),
        .target(
            name: "EdgeNode",
            dependencies: [
                "HeraldBroker", "Presence", "HeraldProtocol",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ] + nio
        ),
        .executableTarget(
            name: "edge-node",
            dependencies: [
                "EdgeNode", "HeraldBroker", "RedisBackend", "PubSubBridge", "Presence", "HTTPUpstream",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Test-only: the WebSocket echo server the Autobahn|Testsuite runs against (docs/reliability.md).
        .executableTarget(
            name: "autobahn-echo-server",
            dependencies: [
                "EdgeNode", "HeraldProtocol",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ] + nio,
            path: "Tests/AutobahnEchoServer"
        ),
        .target(
            name: "HeraldTestSupport",
            dependencies: [
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ] + nio,
            path: "Tests/HeraldTestSupport"
        ),
        .testTarget(
            name: "PubSubBridgeTests",
            dependencies: [
                "PubSubBridge", "RedisBackend", "HeraldBroker", "HeraldProtocol", "HeraldTestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ] + nio
        ),
        .testTarget(
            name: "EdgeNodeTests",
            dependencies: [
                "EdgeNode", "HeraldTestSupport", "PubSubBridge", "RedisBackend", "HeraldBroker", "HeraldProtocol", "Presence", "HTTPUpstream",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "HeraldTestSupport", "PubSubBridge",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
