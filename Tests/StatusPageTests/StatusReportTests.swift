import Foundation
import StatusPage
import Testing

@Suite struct StatusReportTests {
    let report = StatusReport(
        name: "Living <room>", version: "0.1.0", endpointId: "wchcja6n…", led: "attached", online: true,
        pairingOpenSeconds: nil, settingsError: nil,
        devices: [
            .init(
                busid: "1-1", ids: "0781:5581", name: "SanDisk <script>", sharing: "shared", attachedBy: "Anna's laptop"
            )
        ],
        laptops: [
            .init(
                name: "Anna's laptop", id: "wchcja6n", owner: true, path: "direct 192.168.1.20:51234", connected: true,
                roundTripMilliseconds: 4)
        ],
        events: [.init(time: "2026-12-03T10:00:00.000Z", event: "attached", text: "1-1 by Anna's laptop")],
        time: "2026-12-03T10:00:05.000Z")

    @Test func thePageShowsTheDeviceItsStateAndTheSessionWithEverythingEscaped() {
        let html = report.html
        #expect(html.contains("<td>SanDisk &lt;script&gt;</td>"))
        #expect(html.contains("<title>Living &lt;room&gt; · usbp2p</title>"))
        #expect(html.contains("<td>shared</td><td>Anna&#39;s laptop</td>"))
        #expect(html.contains("direct 192.168.1.20:51234") && html.contains("4 ms"))
        #expect(!html.contains("<script>") && html.contains("http-equiv=\"refresh\""))
    }

    @Test func aRefusedSettingsFileIsShownAndTheJSONReadsBack() throws {
        var refused = report
        refused.settingsError = "/boot/firmware/usbp2p.toml:2: sharing.new_devices: expected \"shared\""
        #expect(refused.html.contains("class=\"error\"") && refused.html.contains("usbp2p.toml:2: sharing.new_devices"))
        let decoded = try JSONDecoder().decode(StatusReport.self, from: Data(refused.json.utf8))
        #expect(decoded == refused)
    }

    @Test func anEmptyApplianceSaysWhatToDo() {
        var empty = report
        empty.devices = []
        empty.laptops = []
        empty.events = []
        #expect(empty.html.contains("No USB device is plugged in") && empty.html.contains("press the button"))
    }
}
