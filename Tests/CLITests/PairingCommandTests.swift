import Foundation
import TestSupport
import Testing

/// Pairing as a person does it, with the real programs on loopback: the server's code
/// (text, URI, QR code), its window opened from the command line, the client's pair,
/// peers, list and forget, and what each says when something is wrong.
@Suite(.serialized) struct PairingCommandTests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func code(_ config: String, home: String) throws -> (text: String, uri: String) {
        let result = try Executable.server.run(["pairing-code", "--config", config, "--text-only"], home: home)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let text = try #require(lines.first { $0.hasPrefix("pairing code: ") }).dropFirst("pairing code: ".count)
        let uri = try #require(lines.first { $0.hasPrefix("as a URI:") }).split(separator: " ").last!
        return (String(text), String(uri))
    }

    @Test(arguments: [false, true]) func theTerminalQRCodeDecodesToThePairingURI(withRelayHints: Bool) throws {
        let home = scratchDirectory()
        let config = serverConfig(home, port: 1)
        if withRelayHints {  // the URI then leaves QR's alphanumeric mode
            let text = try String(contentsOfFile: config, encoding: .utf8)
            write(text + "relay.address = \"198.18.0.1:443\"\n", to: config)
        }
        let result = try Executable.server.run(["pairing-code", "--config", config], home: home)
        #expect(result.status == 0)
        let uri = try code(config, home: home).uri
        #expect(uri.contains("?relay=") == withRelayHints)
        // The QR code as a picture (light modules white, two rows per character), read back.
        let rows = result.stdout.components(separatedBy: "\n\n")[0].split(separator: "\n").flatMap { line in
            [line.map { "█▀".contains($0) }, line.map { "█▄".contains($0) }]
        }
        let scale = 6
        var pgm = Data("P5 \(rows[0].count * scale) \(rows.count * scale) 255\n".utf8)
        for row in rows {
            let line = row.flatMap { [UInt8](repeating: $0 ? 255 : 0, count: scale) }
            for _ in 0..<scale { pgm.append(contentsOf: line) }
        }
        let image = home + "/qr.pgm"
        try pgm.write(to: URL(fileURLWithPath: image))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/zbarimg") else {
            Issue.record("zbarimg is missing: scripts/install-deps installs zbar-tools")
            return
        }
        let zbar = Process()
        zbar.executableURL = URL(fileURLWithPath: "/usr/bin/zbarimg")
        zbar.arguments = ["-q", "--raw", image]
        let out = Pipe()
        zbar.standardOutput = out
        zbar.standardError = FileHandle.nullDevice
        try zbar.run()
        let decoded = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        zbar.waitUntilExit()
        #expect(decoded.trimmingCharacters(in: .whitespacesAndNewlines) == uri.uppercased())
    }

    @Test func theSVGLabelCarriesTheCodeAndTheServerName() throws {
        let home = scratchDirectory()
        let config = serverConfig(home, port: 1)
        let result = try Executable.server.run(
            ["pairing-code", "--config", config, "--text-only", "--svg", home + "/label.svg"], home: home)
        #expect(result.status == 0)
        let svg = try String(contentsOfFile: home + "/label.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<path fill=\"#000\""))
        #expect(svg.contains(try code(config, home: home).text))
        #expect(svg.contains("usbp2p Bench Pi"))
    }

    @Test func mistypedAndMalformedCodesAreRefusedBeforeAnyConnection() throws {
        let home = scratchDirectory()
        let (text, _) = try code(serverConfig(home, port: 1), home: home)
        let typo = (text.first == "a" ? "b" : "a") + text.dropFirst()
        let client = clientConfig(home)
        for (bad, message) in [
            (typo, "checksum does not match"), ("hello", "not a pairing code"),
            ("usbp2p://x", "starts with usbp2p://pair/"),
        ] {
            let result = try Executable.client.run(["pair", "--config", client, bad], home: home)
            #expect(result.status == 64, "\(bad)")
            #expect(result.stderr.contains(message), "\(bad): \(result.stderr)")
        }
    }

    @Test func aServerThatCannotBeReachedFailsWithJSONThatParses() throws {
        let home = scratchDirectory()
        let (text, _) = try code(serverConfig(home, port: 1), home: home)
        let result = try Executable.client.run(
            ["pair", "--config", clientConfig(home), "--address", "127.0.0.1:1", "--json", text], home: home)
        #expect(result.status == 1)
        let object = try json(result.stdout)
        #expect(object["paired"] as? Bool == false)
        #expect((object["error"] as? String)?.contains("cannot pair") == true)
    }

    @Test func withoutARunningServiceTheWindowCommandSaysWhy() throws {
        let home = scratchDirectory()
        let result = try Executable.server.run(
            ["pair", "--open", "--config", serverConfig(home, port: 1)], home: home)
        #expect(result.status == 1)
        #expect(result.stderr.contains("is 'usbp2pd serve' running"))
        let both = try Executable.server.run(["pair", "--open", "--close"], home: home)
        #expect(both.status == 64)
    }

    @Test func withNothingPairedTheClientSaysHowToPair() throws {
        let home = scratchDirectory()
        let client = clientConfig(home)
        let peers = try Executable.client.run(["peers", "--config", client, "--json"], home: home)
        #expect(peers.status == 0)
        #expect((try json(peers.stdout)["peers"] as? [Any])?.isEmpty == true)
        for command in [["list"], ["attach"], ["forget", "somebody"]] {
            let result = try Executable.client.run(command + ["--config", client], home: home)
            #expect(result.status != 0, "\(command)")
            #expect(result.stderr.contains("pair"), "\(command): \(result.stderr)")
        }
    }

    @Test func aStrangerWhoTricklesItsPairingRequestAfterTLSIsCutOffAtTheHandshakeDeadline() throws {
        // One byte a second keeps within the 10 s a read may wait; the request would take
        // 33 s to arrive. The whole exchange may take 10 s: each connection is closed
        // well before the attack's 24 s are over (with only a per-read timeout, none is).
        let home = scratchDirectory()
        let port = try unusedLoopbackPort()
        let config = serverConfig(home, port: port)
        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(server.waitForStandardError(containing: "ready: serving as"), "\(server.output.current.standardError)")
        let id = try Executable.server.run(["identity", "show", "--config", config], home: home).stdout
            .split(separator: "\n").first.map(String.init)
        let attack = try Executable(name: "usbp2p-abuse").run(
            [
                "trickle", "--target", "127.0.0.1:\(port)", "--connections", "4", "--interval", "1", "--seconds", "24",
                "--pairing-server", try #require(id), "--overdue-after", "12",
            ], home: home)
        #expect(attack.status == 0, "\(attack.stderr)")
        let result = try #require(attack.stdout.split(separator: "\n").first { $0.hasPrefix("result: ") })
        let words = result.split(separator: " ")
        func figure(_ name: String) -> Int? {
            words.firstIndex(of: Substring(name)).flatMap { Int(words[$0 + 1]) }
        }
        #expect(figure("opened").map { $0 >= 4 } == true, "\(result)")
        #expect(figure("closed-by-server").map { $0 >= 4 } == true, "\(result)")
        #expect(figure("overdue") == 0, "\(result)")
        #expect(server.output.current.standardError.contains("not done within 10 s"))
    }

    @Test func pairingWithARunningServerStoresEachSideAndListsDevices() throws {
        let home = scratchDirectory()
        let port = try unusedLoopbackPort()
        let config = serverConfig(home, port: port)
        let client = clientConfig(home)
        let (text, uri) = try code(config, home: home)
        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(
            server.waitForStandardError(containing: "ready: serving as"),
            "usbp2pd did not start: \(server.output.current.standardError)")
        let status = try Executable.server.run(["pair", "--config", config], home: home)
        #expect(status.stdout.contains("pairing=closed"), "\(status.stdout)\(status.stderr)")
        let address = "127.0.0.1:\(port)"
        let closed = try Executable.client.run(["pair", "--config", client, "--address", address, text], home: home)
        #expect(closed.status == 1)
        #expect(closed.stderr.contains("pairing is not open"))

        let opened = try Executable.server.run(["pair", "--open", "--seconds", "60", "--config", config], home: home)
        #expect(opened.stdout.contains("pairing is open for 60 s"))
        let paired = try Executable.client.run(
            ["pair", "--config", client, "--address", address, "--json", uri], home: home)
        #expect(paired.status == 0, "\(paired.stderr)")
        let reply = try json(paired.stdout)
        #expect(reply["paired"] as? Bool == true)
        #expect((reply["server"] as? [String: Any])?["name"] as? String == "Bench Pi")

        let allowlist = try Executable.server.run(["allow", "--list", "--config", config], home: home)
        #expect(allowlist.stdout.contains("bench laptop"))
        let peers = try json(try Executable.client.run(["peers", "--config", client, "--json"], home: home).stdout)
        #expect(((peers["peers"] as? [[String: Any]])?.first?["name"] as? String) == "Bench Pi")

        // By the name the server gave, and by the start of its EndpointId.
        let list = try Executable.client.run(["list", "--config", client, "--json", "bench pi@\(address)"], home: home)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(try json(list.stdout)["devices"] is [Any])
        let id = try #require((reply["server"] as? [String: Any])?["id"] as? String)
        let byId = try Executable.client.run(["list", "--config", client, "\(id.prefix(8))@\(address)"], home: home)
        #expect(byId.status == 0, "\(byId.stderr)")

        let forget = try Executable.client.run(["forget", "--config", client, "Bench Pi"], home: home)
        #expect(forget.stdout.hasPrefix("forgot Bench Pi"))
        let after = try json(try Executable.client.run(["peers", "--config", client, "--json"], home: home).stdout)
        #expect((after["peers"] as? [Any])?.isEmpty == true)
    }

    @Test func aLabelWithRelayHintsPairsThroughTheRelayAndListsWithNoClientSettings() throws {
        let home = scratchDirectory()
        let relayPort = try unusedLoopbackPort()
        write(
            "state_directory = \"\(home)/relay\"\nlisten = \"127.0.0.1:\(relayPort)\"\nlog_level = \"notice\"\n",
            to: home + "/relay.toml")
        let relayId =
            try Executable.relay.run(["identity", "--config", home + "/relay.toml"], home: home).stdout
            .split(separator: "\n").first.map(String.init) ?? ""
        let relay = try Executable.relay.launch(["serve", "--config", home + "/relay.toml"], home: home)
        defer { relay.stop() }
        #expect(relay.waitForStandardError(containing: "relay listening"), "\(relay.output.current.standardError)")
        // The server is reachable only through the relay.
        let config = home + "/usbp2pd.toml"
        write(
            """
            name = "Bench Pi"
            state_directory = "\(home)/pi"
            session.listen = ""
            relay.address = "127.0.0.1:\(relayPort)"
            relay.id = "\(relayId)"
            lan.mdns = false
            reach.port_mapping = false
            gpio.chip = ""
            control.socket = "\(home)/control.sock"
            metrics.listen = ""

            """, to: config)
        let uri = try code(config, home: home).uri
        #expect(uri.contains("?relay=127.0.0.1:\(relayPort)&relay-id=\(relayId)&h="), "\(uri)")
        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        defer { server.stop() }
        #expect(
            server.waitForStandardError(containing: "registered at relay"), "\(server.output.current.standardError)")
        _ = try Executable.server.run(["pair", "--open", "--seconds", "60", "--config", config], home: home)

        // The laptop's configuration names nothing but where its state goes.
        let client = home + "/client.toml"
        write("state_directory = \"\(home)/laptop\"\nlan.mdns = false\n", to: client)
        let paired = try Executable.client.run(["pair", "--config", client, "--json", uri], home: home)
        #expect(paired.status == 0, "\(paired.stdout)\(paired.stderr)")
        #expect(try json(paired.stdout)["path"] as? String == "relay 127.0.0.1:\(relayPort)")
        let ways = try String(contentsOfFile: home + "/laptop/ways", encoding: .utf8)
        #expect(ways.contains("relay=127.0.0.1:\(relayPort)  relay-id=\(relayId)"), "\(ways)")
        let list = try Executable.client.run(["list", "--config", client, "--json"], home: home)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(try json(list.stdout)["devices"] is [Any])
        // Forgetting the server forgets how to reach it.
        _ = try Executable.client.run(["forget", "--config", client, "Bench Pi"], home: home)
        #expect(try !String(contentsOfFile: home + "/laptop/ways", encoding: .utf8).contains("relay="))
    }
}
