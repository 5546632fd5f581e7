import ClientControl
import Testing

@testable import TerminalUI

@Suite struct ClientViewTests {
    let stick = ViewState.Device(
        busid: "1-1.2", vendor: 0x0781, product: 0x5581, name: "SanDisk Ultra", port: 3, wished: true)
    let keyboard = ViewState.Device(
        busid: "1-1.3", vendor: 0x046d, product: 0xc31c, name: "Logitech Keyboard", port: nil, wished: false)
    let webcam = ViewState.Device(busid: "2-1", vendor: 0x046d, product: 0x0825, name: nil, port: nil, wished: true)

    func state(sent: UInt64 = 0, received: UInt64 = 0, devices: [ViewState.Device]? = nil) -> ViewState {
        ViewState(
            servers: [
                ViewState.Server(
                    id: "fzq3abcdefgh", name: "Living room Pi", state: "connected, relay 198.18.0.1:443",
                    roundTripMilliseconds: 12.4, bytesSent: sent, bytesReceived: received,
                    devices: devices ?? [stick, keyboard]),
                ViewState.Server(
                    id: "k5pryezqabcd", name: "Office Pi", state: "waiting for the server (refused)",
                    roundTripMilliseconds: nil, bytesSent: 0, bytesReceived: 0, devices: [webcam]),
            ], bridges: ["bridge on 127.0.0.1:3240 for Living room Pi: 1 imports passed on, 0 refused"])
    }

    @Test func eachServerShowsItsPathRoundTripAndEachDeviceWhatBecameOfIt() {
        var view = ClientView()
        view.update(state(), at: 0)
        let text = view.lines(columns: 120).joined(separator: "\n")
        #expect(text.contains("Living room Pi (fzq3abcd…): connected, relay 198.18.0.1:443   RTT 12 ms"))
        #expect(text.contains("1-1.2     0781:5581  SanDisk Ultra"))
        #expect(text.contains("attached on port 3"))
        #expect(view.lines(columns: 120).contains { $0.contains("Logitech Keyboard") && $0.hasSuffix("offered") })
        #expect(text.contains("Office Pi (k5pryezq…): waiting for the server (refused)"))
        #expect(text.contains("2-1       046d:0825"))
        #expect(text.contains("attaching"))
        #expect(text.contains("bridge on 127.0.0.1:3240"))
    }

    @Test func throughputIsTheBytesSinceTheLastStateOverTheTimeBetween() {
        var view = ClientView()
        view.update(state(sent: 1000, received: 5000), at: 10)
        #expect(!view.lines(columns: 200).joined().contains("out "))  // one state: no rate yet
        view.update(state(sent: 2_501_000, received: 5000 + 340_000), at: 12)
        let text = view.lines(columns: 200).joined()
        #expect(text.contains("RTT 12 ms   out 1.3 MB/s  in 170 kB/s"))
        #expect(!text.contains("refused)   out"))  // a server not connected has no rate
        // A new session counts from zero: no negative rate, none shown.
        view.update(state(sent: 10, received: 10), at: 13)
        #expect(!view.lines(columns: 200).joined().contains("out "))
    }

    @Test func anAttachedDevicesThroughputIsItsChannelsBytesOverTheTime() {
        var view = ClientView()
        var first = state()
        first.servers[0].devices[0].bytesSent = 100
        first.servers[0].devices[0].bytesReceived = 1000
        view.update(first, at: 0)
        var second = first
        second.servers[0].devices[0].bytesSent = 50_100
        second.servers[0].devices[0].bytesReceived = 4_001_000
        view.update(second, at: 2)
        let line = view.lines(columns: 200).first { $0.contains("SanDisk Ultra") } ?? ""
        #expect(line.contains("attached on port 3   out 25 kB/s  in 2.0 MB/s"), "\(line)")
        let keyboard = view.lines(columns: 200).first { $0.contains("Logitech") } ?? ""
        #expect(!keyboard.contains("out "))  // not attached: no channel, no rate
    }

    @Test func theSelectionMovesWithinTheListAndStaysOnItsDeviceAcrossRefreshes() {
        var view = ClientView()
        view.update(state(), at: 0)
        #expect(view.selectedDevice?.busid == "1-1.2")
        view.move(-1)
        #expect(view.selectedDevice?.busid == "1-1.2")
        view.move(1)
        #expect(view.selectedDevice?.busid == "1-1.3")
        view.move(5)
        #expect(view.selected?.server == "k5pryezqabcd")
        #expect(view.selectedDevice?.busid == "2-1")
        // The list changes: the selected device stays selected where it moved to.
        view.update(state(devices: [keyboard]), at: 1)
        #expect(view.selectedDevice?.busid == "2-1")
        // The selected device goes: the first one is selected.
        var emptied = state()
        emptied.servers[1].devices = []
        view.update(emptied, at: 2)
        #expect(view.selectedDevice?.busid == "1-1.2")
        #expect(view.lines(columns: 100).contains { $0.contains("(no device offered to this laptop now)") })
    }

    @Test func theSelectedRowIsDrawnInverseAndOnlyIt() {
        var view = ClientView()
        view.update(state(), at: 0)
        let lines = view.lines(columns: 120)
        let inverse = lines.filter { $0.contains("\u{1b}[7m") }
        #expect(inverse.count == 1)
        #expect(inverse.first?.contains("1-1.2") == true)
    }

    @Test func aStateOfNoServersSaysSo() {
        var view = ClientView()
        view.update(ViewState(servers: [], bridges: []), at: 0)
        #expect(view.lines(columns: 80)[0].contains("usbp2p-client: 0 paired servers"))
        view.move(1)
        #expect(view.selected == nil)
    }

    @Test func theStateGoesToTheViewAsJSONAndBack() {
        let original = state(sent: 5, received: 7)
        #expect(ViewState(json: original.json) == original)
        #expect(ViewState(json: "not json") == nil)
        #expect(ViewState(json: "{\"servers\": 5}") == nil)
    }
}
