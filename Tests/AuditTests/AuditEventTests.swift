import Audit
import Testing

@Suite struct AuditEventTests {
    @Test func anEventReadsBackFromItsLine() throws {
        let event = AuditEvent(
            .shared, time: "2026-12-03T10:07:21.296Z", peer: "5vzbq3x7", name: "ben's laptop",
            device: "1-1 (46f4:0001 serial=usbp2p-stick)", path: "relay 10.0.2.100:443", result: "ok")
        #expect(!event.line.contains("\n"))
        #expect(event.line.contains(#""device":"1-1 (46f4:0001 serial=usbp2p-stick)""#))
        #expect(AuditEvent(line: event.line) == event)
    }

    @Test func aLineThatIsNotAnEventIsNone() {
        for line in ["", "{", #"{"event":"shared"}"#, #"{"event":"no-such-event","time":"2026"}"#, "[1,2]"] {
            #expect(AuditEvent(line: line) == nil, "\(line)")
        }
    }

    @Test func theSummarySaysWhoDidWhatAndLeavesOutAnOkResult() {
        let event = AuditEvent(
            .attached, time: "2026-12-03T10:07:21.296Z", peer: "5vzbq3x7abcdef", name: "anna@laptop",
            device: "1-1", path: "direct 198.18.77.1:7575", result: "ok")
        #expect(
            event.summary
                == "2026-12-03 10:07:21.296Z  attached  1-1  anna@laptop (5vzbq3x7…)  via direct 198.18.77.1:7575")
        let refused = AuditEvent(.pairingRefused, time: "2026-12-03T10:08:00Z", peer: "xyz", result: "wrong secret")
        #expect(refused.summary == "2026-12-03 10:08:00Z  pairing-refused  xyz…  — wrong secret")
    }

    @Test func theSummaryCannotDriveTheTerminal() {
        let event = AuditEvent(
            .pairingMade, time: "2026-12-03T10:07:21Z", peer: "abc", name: "evil\u{1b}[2Jname\nnext",
            result: "\u{7}bell")
        #expect(!event.summary.contains("\u{1b}"))
        #expect(!event.summary.contains("\n"))
        #expect(!event.summary.contains("\u{7}"))
    }
}
