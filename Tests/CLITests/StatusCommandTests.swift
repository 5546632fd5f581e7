import Foundation
import TestSupport
import Testing

/// `usbp2p-client status` as scripts and people read it.
@Suite struct StatusCommandTests {
    /// A runtime directory holding the status file of a running attach (this test's own
    /// process stands in for it: alive, with the pid in the file) and one of an attach
    /// that has ended.
    func runtimeWithAttach() -> String {
        let home = scratchDirectory()
        try? FileManager.default.createDirectory(atPath: home + "/run/usbp2p", withIntermediateDirectories: true)
        let pid = ProcessInfo.processInfo.processIdentifier
        write(
            """
            usbp2p-status 1
            pid\t\(pid)
            server\tgue4jmr2bjchvcc7twql6cjarju7vb6jpzbouawzunp2xoy37dhhj4bn
            path\tdirect 198.18.1.2:7575 (hole-punched)
            connected\t1
            rtt_ms\t38
            sent\t1204
            received\t88120
            device\t1-1\t0

            """, to: home + "/run/usbp2p/attach-\(pid).status")
        write(
            "usbp2p-status 1\npid\t999999\nserver\tx\npath\trelay\nconnected\t1\nsent\t0\nreceived\t0\n",
            to: home + "/run/usbp2p/attach-999999.status")
        return home
    }

    @Test func statusShowsThePathRTTAndDevicesOfEachRunningAttach() throws {
        let home = runtimeWithAttach()
        let result = try Executable.client.run(["status"], home: home, environment: ["XDG_RUNTIME_DIR": home + "/run"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("path: direct 198.18.1.2:7575 (hole-punched), RTT 38 ms"))
        #expect(result.stdout.contains("device 1-1 on vhci port 0"))
        #expect(!result.stdout.contains("999999"))
    }

    @Test func statusJSONParsesAndHoldsTheSameFields() throws {
        let home = runtimeWithAttach()
        let result = try Executable.client.run(
            ["status", "--json"], home: home, environment: ["XDG_RUNTIME_DIR": home + "/run"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let attachments = try #require(object?["attachments"] as? [[String: Any]])
        let mine = try #require(attachments.first { ($0["path"] as? String)?.contains("hole-punched") == true })
        #expect(mine["rtt_ms"] as? Int == 38)
        #expect((mine["devices"] as? [[String: Any]])?.first?["busid"] as? String == "1-1")
    }

    @Test func aBrokenStatusFileIsReportedAndTheRestStillShown() throws {
        let home = runtimeWithAttach()
        write("usbp2p-status 1\npid\tnot-a-number\n", to: home + "/run/usbp2p/attach-1.status")
        let result = try Executable.client.run(["status"], home: home, environment: ["XDG_RUNTIME_DIR": home + "/run"])
        #expect(result.status == 0)
        #expect(result.stderr.contains("unreadable status file"))
        #expect(result.stdout.contains("hole-punched"))
    }

    @Test(arguments: ["pair", "peers", "forget", "attach", "list", "status", "detach", "ports"])
    func everyClientCommandExplainsItselfInItsHelp(command: String) throws {
        let result = try Executable.client.run([command, "--help"], home: scratchDirectory())
        #expect(result.status == 0)
        #expect(result.stdout.contains("OVERVIEW: "))
        #expect(result.stdout.contains("USAGE: usbp2p-client \(command)"))
    }
}
