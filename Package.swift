// swift-tools-version:6.0
// The Pi's binary is built with Debian 13's Swift 6.0.3, so this manifest and every
// dependency must stay loadable by tools 6.0 (see docs/architecture.md, "Dependencies").
import PackageDescription

/// Swift 6 language mode everywhere; warnings about concurrency are errors in 6 mode anyway.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "usbp2p",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "usbp2pd", targets: ["usbp2pd"]),
        .executable(name: "usbp2p-client", targets: ["usbp2p-client"]),
        .executable(name: "usbp2p-relay", targets: ["usbp2p-relay"]),
        .library(name: "USBIP", targets: ["USBIP"]),
        .library(name: "Identity", targets: ["Identity"]),
        // For the session benchmark in Benchmarks/.
        .library(name: "Session", targets: ["Session"]),
        .library(name: "Secure", targets: ["Secure"]),
        .library(name: "Relay", targets: ["Relay"]),
        .library(name: "Sockets", targets: ["Sockets"]),
        .library(name: "OSThreads", targets: ["OSThreads"]),
        .library(name: "Log", targets: ["Log"]),
        // For the export path's allocation benchmark in Benchmarks/.
        .library(name: "Exporter", targets: ["Exporter"]),
        .library(name: "USBHost", targets: ["USBHost"]),
        .library(name: "ByteBuffers", targets: ["ByteBuffers"]),
        // For the parsers' fuzzer in Fuzz/.
        .library(name: "Config", targets: ["Config"]),
        .library(name: "AccessPolicy", targets: ["AccessPolicy"]),
        .library(name: "LocalDiscovery", targets: ["LocalDiscovery"]),
        .library(name: "Pairing", targets: ["Pairing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Deque: the session's frame queues are ring buffers.
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // C libraries from Debian, each wrapped once by the Swift module named beside it.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CLibUSB", pkgConfig: "libusb-1.0", providers: [.apt(["libusb-1.0-0-dev"])]),
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // QR codes for pairing labels (libqrencode; Debian ships no static archive of it).
        .systemLibrary(name: "CQREncode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        // Port mapping on the home router: NAT-PMP (libnatpmp ships no .pc file) and UPnP-IGD.
        .systemLibrary(name: "CNatPMP", providers: [.apt(["libnatpmp-dev"])]),
        .systemLibrary(name: "CMiniUPnPc", pkgConfig: "miniupnpc", providers: [.apt(["libminiupnpc-dev"])]),

        // Thread affinity and ids (glibc's _GNU_SOURCE functions).
        .target(name: "CPlatform"),
        // Plain POSIX threads for loops that own a thread (USB events, blocking sockets).
        .target(name: "OSThreads", dependencies: ["CPlatform", "FileSystem"], swiftSettings: strict),

        // Pure Swift: the USB/IP wire format. No I/O, no C.
        .target(name: "USBIP", dependencies: ["ByteBuffers"], swiftSettings: strict),
        // Byte storage kept from read to read (pure Swift, no I/O): the decoders' input.
        .target(name: "ByteBuffers", swiftSettings: strict),
        // libsodium behind Swift types: random bytes, Ed25519, BLAKE2b.
        .target(name: "Sodium", dependencies: ["CSodium"], swiftSettings: strict),
        // Ed25519 identities, EndpointId text form, key files.
        .target(name: "Identity", dependencies: ["Sodium", "FileSystem"], swiftSettings: strict),
        // Atomic, permission-checked file writes shared by everything that keeps state.
        .target(name: "FileSystem", swiftSettings: strict),
        // libusb behind Swift types: enumeration, device handles, async transfers, and the
        // event thread pinned to one CPU.
        .target(
            name: "USBHost", dependencies: ["ByteBuffers", "CLibUSB", "CPlatform", "FileSystem", "OSThreads", "Log"],
            swiftSettings: strict),
        // libgpiod v2 behind Swift types: the status LED's patterns and the button's gestures.
        .target(name: "GPIO", dependencies: ["CGPIOD", "OSThreads", "Log"], swiftSettings: strict),
        // Mutual TLS 1.3 on EndpointIds through OpenSSL, sans-IO, with a socket driver.
        .target(
            name: "Secure",
            dependencies: ["ByteBuffers", "COpenSSL", "CPlatform", "FileSystem", "Identity", "Sockets", "OSThreads"],
            swiftSettings: strict),
        // One multiplexed, resumable session per peer pair over any byte stream.
        .target(
            name: "Session",
            dependencies: [
                "ByteBuffers", "Sockets", "OSThreads", "Log", "FileSystem", "Sodium", "Identity",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict),
        // usbp2p-relay's service and an endpoint's side of it: signed registration, splicing.
        .target(
            name: "Relay",
            dependencies: ["Secure", "FileSystem", "Identity", "Session", "Sockets", "OSThreads", "Log", "Sodium"],
            swiftSettings: strict),
        // Direct paths: racing connections, TCP hole punching, moving live sessions off the relay.
        .target(
            name: "Reach", dependencies: ["Session", "Sockets", "FileSystem", "OSThreads", "Log"], swiftSettings: strict
        ),
        // A pairing code as a QR code: in the terminal and as an SVG label.
        .target(name: "QRCode", dependencies: ["CQREncode"], swiftSettings: strict),
        // Prometheus text metrics over HTTP on loopback.
        .target(name: "Metrics", dependencies: ["Sockets", "OSThreads", "Log"], swiftSettings: strict),
        // Which paired peers may use which devices (usbp2pd's [access] rules).
        // The appliance's status page: what it shows, as HTML and JSON.
        .target(name: "StatusPage", swiftSettings: strict),
        // The appliance's audit log: JSON lines on the state partition, bounded, torn lines skipped.
        .target(name: "Audit", dependencies: ["FileSystem", "Log", "OSThreads"], swiftSettings: strict),
        .target(name: "AccessPolicy", dependencies: ["Identity", "FileSystem"], swiftSettings: strict),
        // systemd's notify protocol (READY, STATUS, WATCHDOG) on $NOTIFY_SOCKET, without libsystemd.
        .target(name: "Systemd", dependencies: ["Sockets", "FileSystem"], swiftSettings: strict),
        // Pairing a laptop with a server: the pairing window, the channel-bound proof of the
        // secret, and the two messages of usbp2p-pair/1.
        .target(
            name: "Pairing", dependencies: ["Identity", "Sodium", "Secure", "Sockets", "OSThreads"],
            swiftSettings: strict),
        // What a running attach tells `usbp2p-client status` (a small file per process).
        .target(name: "AttachStatus", dependencies: ["FileSystem"], swiftSettings: strict),
        // Which of a server's devices a laptop attaches (named, every one now, or new ones too; keyboards only by name).
        .target(name: "DeviceChoice", dependencies: ["USBIP", "Identity", "FileSystem"], swiftSettings: strict),
        // Interactive views in a terminal (`usbp2p-client ui`): raw mode, signals as events, ANSI frames.
        .target(
            name: "TerminalUI", dependencies: ["ClientControl", "StatusPage", "Sockets", "FileSystem", "CPlatform"],
            swiftSettings: strict),
        // The laptop's USB/IP bridge: a USB/IP server on loopback for a paired server's devices,
        // whose imports go on through the session (any USB/IP client: the kernel's, usbip-win2).
        .target(
            name: "Bridge", dependencies: ["DeviceChoice", "USBIP", "Sockets", "OSThreads", "Log", "FileSystem"],
            swiftSettings: strict),
        // What usbp2p-client's CLI and its service say over the service's Unix socket.
        .target(name: "ClientControl", dependencies: ["Sockets", "FileSystem"], swiftSettings: strict),
        // Finding a server on the LAN: DNS-SD over multicast DNS, `_usbp2p._tcp` with the EndpointId.
        .target(
            name: "LocalDiscovery", dependencies: ["Sockets", "OSThreads", "Log", "FileSystem"], swiftSettings: strict),
        // A TCP port mapping on the home router (NAT-PMP, then UPnP-IGD), kept and renewed.
        .target(
            name: "PortMapping", dependencies: ["CNatPMP", "CMiniUPnPc", "Sockets", "OSThreads", "Log"],
            swiftSettings: strict),
        // Blocking TCP and Unix stream sockets (POSIX), for USB/IP on the LAN and vhci.
        .target(name: "Sockets", dependencies: ["ByteBuffers", "CPlatform", "FileSystem"], swiftSettings: strict),
        // The server side of USB/IP on libusb: device list, import, URBs, unlink.
        .target(
            name: "Exporter", dependencies: ["ByteBuffers", "USBIP", "USBHost", "Sockets", "OSThreads", "Log"],
            swiftSettings: strict),
        // The client side: vhci_hcd ports, attach and detach.
        .target(name: "VHCI", dependencies: ["USBIP", "Sockets", "FileSystem"], swiftSettings: strict),
        // Leveled logging to stderr.
        .target(name: "Log", swiftSettings: strict),
        // TOML configuration files of the three programs (own strict parser), with located errors.
        .target(name: "Config", dependencies: ["FileSystem", "Identity", "AccessPolicy"], swiftSettings: strict),
        // What the three executables share: version text, common options, identity verbs.
        .target(
            name: "CLISupport",
            dependencies: [
                "Config", "Identity", "Log", "Secure", "Sodium", "FileSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "usbp2pd",
            dependencies: [
                "CLISupport", "Config", "Exporter", "USBHost", "Sockets", "Log", "Identity", "Secure", "Session",
                "Relay", "Reach", "PortMapping", "LocalDiscovery", "Pairing", "GPIO", "Systemd", "Metrics",
                "AccessPolicy", "QRCode", "FileSystem", "OSThreads", "Audit", "StatusPage", "TerminalUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "usbp2p-client",
            dependencies: [
                "CLISupport", "Config", "VHCI", "USBIP", "Sockets", "Log", "Identity", "Secure", "Session", "Relay",
                "Reach", "LocalDiscovery", "AttachStatus", "DeviceChoice", "ClientControl", "OSThreads", "Pairing",
                "FileSystem", "Systemd", "Audit", "Bridge", "TerminalUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "usbp2p-relay",
            dependencies: [
                "CLISupport", "Config", "Relay", "Sockets", "OSThreads",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // Helpers shared by the test targets (seeded randomness, scratch directories).
        .target(
            name: "TestSupport", dependencies: ["OSThreads", "Sockets"], path: "Sources/TestSupport",
            swiftSettings: strict),
        // The attacker of the abuse scenario and the relay soak (a test tool, never shipped).
        .executableTarget(
            name: "usbp2p-abuse",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "Identity", "Log", "OSThreads",
                "Relay", "Secure", "Session", "Sockets",
            ],
            path: "Tests/Abuse", swiftSettings: strict),
        .testTarget(name: "USBIPTests", dependencies: ["USBIP", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ByteBuffersTests", dependencies: ["ByteBuffers"], swiftSettings: strict),
        .testTarget(
            name: "IdentityTests", dependencies: ["Identity", "Sodium", "FileSystem", "TestSupport"],
            swiftSettings: strict),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SodiumTests", dependencies: ["Sodium"], swiftSettings: strict),
        // Runs the built executables as a user would (build them first: swift build --build-tests).
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Sockets"], swiftSettings: strict),
        .testTarget(
            name: "SocketsTests", dependencies: ["ByteBuffers", "Sockets", "FileSystem", "OSThreads"],
            swiftSettings: strict),
        .testTarget(name: "VHCITests", dependencies: ["VHCI", "USBIP"], swiftSettings: strict),
        .testTarget(name: "USBHostTests", dependencies: ["USBHost", "FileSystem"], swiftSettings: strict),
        .testTarget(
            name: "ExporterTests",
            dependencies: [
                "ByteBuffers", "Exporter", "USBHost", "USBIP", "Sockets", "Log", "TestSupport", "FileSystem",
            ],
            swiftSettings: strict),
        .testTarget(name: "SecureTests", dependencies: ["Secure", "Identity", "CPlatform"], swiftSettings: strict),
        .testTarget(
            name: "SessionTests", dependencies: ["Session", "Sockets", "OSThreads", "Log", "TestSupport", "Identity"],
            swiftSettings: strict),
        .testTarget(
            name: "RelayTests",
            dependencies: ["Relay", "Identity", "Secure", "Sockets", "OSThreads", "Log", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "ReachTests", dependencies: ["Reach", "Session", "Sockets", "OSThreads", "Log", "TestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LocalDiscoveryTests",
            dependencies: ["LocalDiscovery", "Sockets", "Log", "TestSupport", "FileSystem"],
            swiftSettings: strict),
        .testTarget(
            name: "PairingTests", dependencies: ["Pairing", "Identity", "Secure", "Sockets", "OSThreads"],
            swiftSettings: strict),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd", "Sockets"], swiftSettings: strict),
        .testTarget(name: "StatusPageTests", dependencies: ["StatusPage"], swiftSettings: strict),
        .testTarget(name: "AuditTests", dependencies: ["Audit", "Log", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "AccessPolicyTests", dependencies: ["AccessPolicy", "Identity", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Sockets", "Log"], swiftSettings: strict),
        .testTarget(name: "QRCodeTests", dependencies: ["QRCode"], swiftSettings: strict),
        .testTarget(name: "GPIOTests", dependencies: ["GPIO"], swiftSettings: strict),
        .testTarget(name: "AttachStatusTests", dependencies: ["AttachStatus"], swiftSettings: strict),
        .testTarget(
            name: "ClientControlTests", dependencies: ["ClientControl", "Sockets", "OSThreads"], swiftSettings: strict),
        .testTarget(
            name: "DeviceChoiceTests", dependencies: ["DeviceChoice", "USBIP", "Identity", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "TerminalUITests", dependencies: ["TerminalUI", "ClientControl", "StatusPage"], swiftSettings: strict),
        .testTarget(
            name: "BridgeTests",
            dependencies: ["Bridge", "DeviceChoice", "USBIP", "Sockets", "Log", "OSThreads", "FileSystem"],
            swiftSettings: strict),
        .testTarget(name: "LogTests", dependencies: ["Log"], swiftSettings: strict),
        .testTarget(name: "OSThreadsTests", dependencies: ["OSThreads"], swiftSettings: strict),
        .testTarget(name: "FileSystemTests", dependencies: ["FileSystem", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
