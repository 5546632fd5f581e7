import StatusPage
import Testing

@testable import TerminalUI

@Suite struct ApplianceViewTests {
    func report(pairingOpenSeconds: Int? = nil) -> StatusReport {
        StatusReport(
            name: "Test Pi", version: "0.1.0", endpointId: "uap7xss5kedmwsbde2li", led: "attached", online: true,
            pairingOpenSeconds: pairingOpenSeconds, settingsError: nil,
            devices: [
                StatusReport.Device(
                    busid: "2-1", ids: "46f4:0001", name: "QEMU QEMU USB HARDDRIVE", sharing: "shared",
                    attachedBy: "anna@laptop"),
                StatusReport.Device(
                    busid: "3-1", ids: "0525:a4a0", name: "usbp2p SourceSink test device", sharing: "unshared",
                    attachedBy: nil),
            ],
            laptops: [
                StatusReport.Laptop(
                    name: "anna@laptop", id: "pkszdfwv", owner: true, path: "direct 198.18.77.1:60094", connected: true,
                    roundTripMilliseconds: 3),
                StatusReport.Laptop(
                    name: "second laptop", id: "k5pryezq", owner: false, path: nil, connected: false,
                    roundTripMilliseconds: nil),
            ], events: [], time: "2026-12-06T20:00:00Z")
    }

    let qr = ["█████", "█ ▀ █", "█████"]

    @Test func theLEDTheDevicesAndTheLaptopsAreShown() {
        var view = ApplianceView(code: "5rtg-jhon", qrLines: qr)
        view.report = report()
        let text = view.lines(columns: 140).joined(separator: "\n")
        #expect(text.contains("usbp2pd: Test Pi (uap7xss5…)  0.1.0"))
        #expect(text.contains("LED: attached   network: online"))
        #expect(text.contains("2-1       46f4:0001  QEMU QEMU USB HARDDRIVE          shared · attached by anna@laptop"))
        #expect(text.contains("3-1       0525:a4a0  usbp2p SourceSink test device    unshared"))
        #expect(text.contains("anna@laptop (pkszdfwv…) owner   connected, direct 198.18.77.1:60094   RTT 3 ms"))
        #expect(text.contains("second laptop (k5pryezq…)   not connected"))
    }

    @Test func theQRCodeAndTheCodeShowOnlyWhileTheWindowIsOpen() {
        var view = ApplianceView(code: "5rtg-jhon", qrLines: qr)
        view.report = report()
        let closed = view.lines(columns: 140)
        #expect(closed.contains { $0.hasPrefix("Pairing: closed") })
        #expect(!closed.contains("█ ▀ █"))
        #expect(!closed.joined().contains("5rtg-jhon"))
        view.report = report(pairingOpenSeconds: 112)
        let open = view.lines(columns: 140)
        #expect(
            open.contains { $0.contains("Pairing: open for 112 s more") && $0.contains("usbp2p-client pair 5rtg-jhon") }
        )
        #expect(open.contains("█ ▀ █"))
    }

    @Test func withoutAReportTheViewSaysWhy() {
        var view = ApplianceView(code: "c", qrLines: [])
        view.problem = "the service does not answer: connect: No such file or directory"
        let lines = view.lines(columns: 100)
        #expect(lines.contains("the service does not answer: connect: No such file or directory"))
        #expect(!lines.contains { $0.hasPrefix("LED") })
    }
}
