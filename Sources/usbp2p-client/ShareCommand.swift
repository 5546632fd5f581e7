import ArgumentParser
import CLISupport
import DeviceChoice
import Identity
import Log
import OSThreads
import Session
import USBIP

/// `usbp2p-client share` and `unshare`: the owner of a server decides which of its devices
/// the other paired laptops use.
struct ShareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Share a server's device with every laptop paired with it, or with those named by --for.",
        discussion: """
            Only the server's owner may (the first laptop paired with it, unless changed \
            on the server with 'usbp2pd owner'). The owner uses every device; the other \
            laptops see and attach only what is shared with them. DEVICE is a bus id, a \
            VVVV:PPPP or part of the device's name, as 'list' shows them; SERVER may be \
            left out when only one server is paired.
            """)

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions
    @Argument(help: ArgumentHelp("[SERVER] DEVICE", valueName: "server-and-device")) var words: [String]
    @Option(
        name: .customLong("for"), help: "Share only with this laptop's EndpointId ('usbp2p-client identity' there).")
    var laptops: [String] = []

    func validate() throws {
        try checkServerAndDevice(words)
        guard laptops.count <= ControlMessage.maxLaptops else {
            throw ValidationError("at most \(ControlMessage.maxLaptops) laptops at once")
        }
        for laptop in laptops {
            do throws(EndpointIdError) { _ = try EndpointId(parsing: laptop) } catch {
                throw ValidationError("--for '\(laptop)' is \(error)")
            }
        }
    }

    func run() throws {
        try ServiceConnection.forward("share", options: options)
        let ids = laptops.compactMap { try? EndpointId(parsing: $0) }
        try askOwnerChange(share: true, words: words, laptops: ids, options: options, relay: relayOptions.relay)
    }
}

struct UnshareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unshare",
        abstract: "Stop sharing a server's device: only its owner uses it; the other laptops lose it within a second.")

    @OptionGroup var options: CommonOptions
    @OptionGroup var relayOptions: RelayOptions
    @Argument(help: ArgumentHelp("[SERVER] DEVICE", valueName: "server-and-device")) var words: [String]

    func validate() throws { try checkServerAndDevice(words) }

    func run() throws {
        try ServiceConnection.forward("unshare", options: options)
        try askOwnerChange(share: false, words: words, laptops: [], options: options, relay: relayOptions.relay)
    }
}

private func checkServerAndDevice(_ words: [String]) throws {
    guard (1...2).contains(words.count) else { throw ValidationError("expected [SERVER] DEVICE") }
}

/// Connects to the server, finds the device among those it lists to this laptop, asks
/// for the change and prints the answer.
private func askOwnerChange(
    share: Bool, words: [String], laptops: [EndpointId], options: CommonOptions, relay: String?
) throws {
    let selector = DeviceSelector.parse(words[words.count - 1])
    let names = DeviceNames()
    let answer = Awaited<(ok: Bool, text: String)>()
    let (client, session) = try ServerConnection.commandSession(
        with: words.count == 2 ? words[0] : nil, options: options, relay: relay,
        events: SessionEvents(control: { message, _ in
            names.take(message)
            if case .sharingResult(let ok, let text) = message { answer.deliver((ok, text)) }
        }))
    defer { client.stop(reason: share ? "shared" : "unshared") }
    let devices: [ExportedDevice]
    do {
        let channel = try session.openChannel()
        defer { channel.close() }
        devices = try USBIPClient.deviceList(over: channel, timeoutSeconds: AttachCommand.replyTimeoutSeconds)
    } catch {
        throw CLIError("\(error)")
    }
    let matching = devices.filter { selector.matches($0, name: names.name(of: $0.busid)) }
    guard let device = matching.first else {
        throw CLIError(
            "the server lists no device \(selector) to this laptop (see 'usbp2p-client list'); "
                + "a device nobody shared with it is listed only to the server's owner")
    }
    guard matching.count == 1 else {
        throw CLIError(
            "\(matching.count) devices are \(selector) (\(matching.map(\.busid).joined(separator: ", "))): "
                + "name one by its bus id")
    }
    session.send(.sharing(share: share, busid: device.busid, laptops: laptops))
    guard let (ok, text) = answer.wait(seconds: Double(AttachCommand.replyTimeoutSeconds)) else {
        throw CLIError("the server did not answer within \(AttachCommand.replyTimeoutSeconds) s")
    }
    guard ok else { throw CLIError(displaySafe(text, maxLength: 1024)) }
    print(displaySafe(text, maxLength: 1024))
}
