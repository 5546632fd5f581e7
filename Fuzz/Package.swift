// swift-tools-version:6.0
// The parsers' fuzzer: every parser that faces input from a peer or a user, driven by
// libFuzzer (scripts/fuzz builds it with -sanitize=fuzzer,address). A package of its own
// so that the main package never links libFuzzer's main.
import Foundation
import PackageDescription

// The main package is the folder above this one; SwiftPM names a path dependency after
// its folder, whatever a clone calls it.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let main = root.lastPathComponent

let package = Package(
    name: "usbp2p-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "parsers-fuzz",
            dependencies: [
                .product(name: "Session", package: main), .product(name: "Relay", package: main),
                .product(name: "Pairing", package: main), .product(name: "LocalDiscovery", package: main),
                .product(name: "Config", package: main), .product(name: "Identity", package: main),
                .product(name: "AccessPolicy", package: main),
            ],
            path: "Parsers",
            // libFuzzer brings main().
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    ]
)
