// swift-tools-version:6.1
// Benchmarks live in their own package: ordo-one/benchmark needs tools 6.1+, while the
// product's package stays at 6.0 for Debian 13's Swift (see ../Package.swift).
import PackageDescription

let package = Package(
    name: "usbp2p-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "usbp2p", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "USBIPCodec",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "USBIP", package: "usbp2p"),
            ],
            path: "USBIPCodec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        // Allocations per URB through the session (TLS on loopback) and the export core,
        // with a device that completes at once.
        .executableTarget(
            name: "ExportPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Exporter", package: "usbp2p"), .product(name: "Session", package: "usbp2p"),
                .product(name: "Secure", package: "usbp2p"), .product(name: "Sockets", package: "usbp2p"),
                .product(name: "Identity", package: "usbp2p"), .product(name: "OSThreads", package: "usbp2p"),
                .product(name: "Log", package: "usbp2p"), .product(name: "USBIP", package: "usbp2p"),
                .product(name: "USBHost", package: "usbp2p"), .product(name: "ByteBuffers", package: "usbp2p"),
            ],
            path: "ExportPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        // Throughput and round trips of a session: plain TCP, session without and with TLS,
        // direct and through the relay, in one run (Benchmarks/e2e/session-paths.sh).
        .executableTarget(
            name: "SessionPaths",
            dependencies: [
                .product(name: "Session", package: "usbp2p"), .product(name: "Secure", package: "usbp2p"),
                .product(name: "Relay", package: "usbp2p"), .product(name: "Sockets", package: "usbp2p"),
                .product(name: "Identity", package: "usbp2p"), .product(name: "OSThreads", package: "usbp2p"),
                .product(name: "Log", package: "usbp2p"),
            ],
            path: "SessionPaths"),
    ]
)
