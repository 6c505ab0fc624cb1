// swift-tools-version:6.1
// libFuzzer targets for Herald's parsers of untrusted input. Built with the sanitizers by
// scripts/fuzz.sh (`swift build --sanitize=fuzzer --sanitize=address -Xswiftc -enable-testing`),
// never by the main build. Each target's seed corpus is under corpus/<target>/.
import Foundation
import PackageDescription

/// A path dependency is named after its folder, which is whatever the checkout is called.
let herald = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOEmbedded", package: "swift-nio"),
]

func target(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies + nio)
}

let package = Package(
    name: "herald-fuzz",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
    ],
    targets: [
        target("FuzzClientMessage", [.product(name: "EdgeNode", package: herald), .product(name: "HeraldProtocol", package: herald)]),
        target("FuzzEventRouting", [.product(name: "HeraldProtocol", package: herald)]),
        target("FuzzStreamOffset", [.product(name: "HeraldProtocol", package: herald)]),
        target("FuzzRESPReader", [.product(name: "PubSubBridge", package: herald)]),
        target("FuzzHTTPRequest", [
            .product(name: "EdgeNode", package: herald), .product(name: "HeraldBroker", package: herald),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        target("FuzzWebSocketFrames", [.product(name: "EdgeNode", package: herald), .product(name: "NIOWebSocket", package: "swift-nio")]),
    ]
)
