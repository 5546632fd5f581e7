import Foundation
import TestSupport
import Testing

/// `usbp2pd serve` as systemd and a terminal stop it.
@Suite(.serialized) struct ServeCommandTests {
    @Test func aServerStoppedWhileItStartsExitsInsteadOfMissingTheSignal() throws {
        // SIGTERM at once, again and again: whether it lands before the handlers are in
        // place (the default action ends the program) or after (the orderly stop), the
        // program ends. It used to be discarded in between, and the server ran on.
        for _ in 0..<8 {
            let home = scratchDirectory()
            let config = serverConfig(home, port: try unusedLoopbackPort())
            let server = try Executable.server.launch(["serve", "--config", config], home: home)
            #expect(server.stop(within: 30), "\(server.output.current.standardError)")
        }
    }

    @Test func aServerStoppedOnceReadyReleasesEverythingAndExitsZero() throws {
        let home = scratchDirectory()
        let config = serverConfig(home, port: try unusedLoopbackPort())
        let server = try Executable.server.launch(["serve", "--config", config], home: home)
        #expect(server.waitForStandardError(containing: "ready: serving as"), "\(server.output.current.standardError)")
        #expect(server.stop(within: 30))
        #expect(server.status == 0)
        #expect(server.output.current.standardError.contains("stopping (signal 15)"))
    }
}
