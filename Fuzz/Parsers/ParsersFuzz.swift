// libFuzzer entry point for every parser that faces a peer or a user, built by
// scripts/fuzz (one binary; USBP2P_FUZZ_TARGET chooses the parser, each with a corpus of
// its own under Fuzz/corpus/). A parser may refuse any input with its typed error; it
// may not crash, hang or trap, and what it accepts must encode back to an equal value.

import AccessPolicy
import Config
import Identity
import LocalDiscovery
import Pairing
import Relay
import Session

#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's driver (compiler-rt, FuzzerDriver.cpp), for a program with a main of its own.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The program's entry: SwiftPM links an executable's main under this name (it renames
/// the module's own entry point so tests can link the module), and libFuzzer's own main
/// is then never pulled in; so this hands the arguments to libFuzzer's driver.
@_cdecl("parsers_fuzz_main")
public func parsersFuzzMain(
    _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in
        guard let data else { return 0 }
        return parsersFuzz(data, size)
    }
}

/// The parser under test, read once.
private let target: String = getenv("USBP2P_FUZZ_TARGET").map { String(cString: $0) } ?? ""

@_cdecl("LLVMFuzzerTestOneInput")
public func parsersFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case "session-frames": sessionFrames(input)
    case "control-messages": controlMessages(input)
    case "relay-messages": relayMessages(input)
    case "pairing-messages": pairingMessages(input)
    case "dns": dns(input)
    case "toml": toml(input)
    case "pairing-codes": pairingCodes(input)
    case "state-files": stateFiles(input)
    default: fatalError("USBP2P_FUZZ_TARGET names no parser: '\(target)'")
    }
    return 0
}

/// A stream of session frames, fed in pieces of a size from the first byte.
private func sessionFrames(_ input: [UInt8]) {
    guard let first = input.first else { return }
    let chunk = Int(first) + 1
    var decoder = SessionFrameDecoder(capacity: 0)  // its smallest: fuzzing allocates one per input
    var index = 1
    while index < input.count {
        let end = min(index + chunk, input.count)
        decoder.append(input[index..<end])
        index = end
        do {
            while let frame = try decoder.next() {
                var again = SessionFrameDecoder(capacity: 0)
                again.append(frame.encoded[...])
                guard (try? again.next()) == frame else { fatalError("\(frame.kind) frame does not round-trip") }
                if frame.kind == .hello { _ = try? SessionHello(frame) }
            }
        } catch {
            return
        }
    }
}

private func controlMessages(_ input: [UInt8]) {
    guard let message = try? ControlMessage(decoding: input) else { return }
    guard (try? ControlMessage(decoding: message.encoded)) == message else {
        fatalError("control message does not round-trip: \(message)")
    }
}

/// One relay frame: the first byte says which way and of which kind.
private func relayMessages(_ input: [UInt8]) {
    guard input.count >= 2 else { return }
    let kind = input[1]
    let payload = Array(input[2...])
    if input[0] & 1 == 0 {
        guard let message = try? RelayToEndpoint(kind: kind, payload: payload) else { return }
        let encoded = message.encoded
        guard (try? RelayToEndpoint(kind: encoded[0], payload: Array(encoded[3...]))) == message else {
            fatalError("relay message does not round-trip: \(message)")
        }
    } else {
        guard let message = try? EndpointToRelay(kind: kind, payload: payload) else { return }
        let encoded = message.encoded
        guard (try? EndpointToRelay(kind: encoded[0], payload: Array(encoded[3...]))) == message else {
            fatalError("endpoint message does not round-trip: \(message)")
        }
    }
}

private func pairingMessages(_ input: [UInt8]) {
    if let request = try? PairingRequest.decode(input) {
        guard (try? PairingRequest.decode(request.encoded)) == request else { fatalError("request round trip") }
    }
    if let reply = try? PairingReply.decode(input) {
        guard (try? PairingReply.decode(reply.encoded)) == reply else { fatalError("reply round trip") }
    }
}

private func dns(_ input: [UInt8]) {
    guard let message = try? DNSMessage(decoding: input) else { return }
    // Names are compared case-insensitively on the wire; decoding what was encoded must
    // at least succeed.
    guard (try? DNSMessage(decoding: message.encoded)) != nil else { fatalError("DNS message does not re-decode") }
}

/// Configuration files of all three programs and the card's settings, as a user may type
/// them; the settings' service part, written out, reads back to the same values.
private func toml(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    for schema in [ServerSchema.schema, ClientSchema.schema, RelaySchema.schema] {
        _ = try? ConfigFile(parsing: text, path: "fuzz.toml", schema: schema)
    }
    if let settings = try? BootSettings(parsing: text, path: "usbp2p.toml") {
        guard let again = try? BootSettings(parsing: settings.serviceText, path: "settings.toml"),
            BootSettings.serviceKeys.allSatisfy({ again.file.values[$0] == settings.file.values[$0] })
        else { fatalError("settings round trip") }
    }
}

/// Pairing codes (text and URI) and EndpointIds, as a user may paste them.
private func pairingCodes(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    if let code = try? PairingCode(parsing: text) {
        guard (try? PairingCode(parsing: code.uri)) == code else { fatalError("pairing code round trip (URI)") }
        let typed = try? PairingCode(parsing: code.description)  // the text form has no hints
        guard typed?.server == code.server, typed?.secret == code.secret else { fatalError("pairing code round trip") }
    }
    if let id = try? EndpointId(parsing: text) {
        guard (try? EndpointId(parsing: id.description)) == id else { fatalError("EndpointId round trip") }
    }
}

/// The client's and the server's state files: an allowlist (or peer list), the ways to
/// the servers and the sharing state; what parses writes back to the same.
private func stateFiles(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    if let list = try? Allowlist(parsing: text, path: "fuzz") {
        guard (try? Allowlist(parsing: list.text, path: "fuzz")) == list else { fatalError("allowlist round trip") }
    }
    if let ways = try? PeerWays(parsing: text, path: "fuzz") {
        guard (try? PeerWays(parsing: ways.text, path: "fuzz")) == ways else { fatalError("ways round trip") }
    }
    if let sharing = try? SharingState(parsing: text, path: "fuzz") {
        guard (try? SharingState(parsing: sharing.text, path: "fuzz")) == sharing else {
            fatalError("sharing round trip")
        }
    }
}
