import Foundation
import TestSupport
import Testing

/// `usbp2p-client bridge` as its user types it: what it refuses before asking the service,
/// and what it says when no service runs. (The bridge itself: BridgeTests and the guest
/// scenario bridge-for-any-usbip-client.)
@Suite struct BridgeCommandTests {
    /// A configuration whose service socket is in `home`, where no service listens.
    func noService(_ home: String) -> String {
        let path = home + "/client.toml"
        try? "state_directory = \"\(home)/laptop\"\nservice.socket = \"\(home)/control.sock\"\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aListenAddressThatIsNotANumericAddressAndPortIsRefusedAtOnce() throws {
        let home = scratchDirectory()
        for address in ["localhost:3240", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "[::1:3240"] {
            let result = try Executable.client.run(
                ["bridge", "--config", noService(home), "--listen", address], home: home)
            #expect(result.status == 64, "\(address): \(result.stderr)")
            #expect(result.stderr.contains("--listen:"), "\(address): \(result.stderr)")
        }
    }

    @Test func stopTakesNoListenAddress() throws {
        let home = scratchDirectory()
        let result = try Executable.client.run(
            ["bridge", "--config", noService(home), "--stop", "--listen", "127.0.0.1:3240"], home: home)
        #expect(result.status == 64)
        #expect(result.stderr.contains("--stop takes no --listen"), "\(result.stderr)")
    }

    @Test func withoutTheServiceItSaysHowToStartIt() throws {
        let home = scratchDirectory()
        let result = try Executable.client.run(["bridge", "--config", noService(home)], home: home)
        #expect(result.status == 1)
        #expect(result.stderr.contains("sudo systemctl enable --now usbp2p-client"), "\(result.stderr)")
    }
}
