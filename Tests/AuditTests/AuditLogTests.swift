import Audit
import Foundation
import Log
import Synchronization
import TestSupport
import Testing

@Suite struct AuditLogTests {
    let logger = Logger(label: "test", level: .error)

    func path() -> String { scratchDirectory("audit") + "/audit.log" }

    @Test func eventsReadBackInOrderWithTheirFields() throws {
        let path = path()
        let log = AuditLog(path: path, logger: logger)
        log.record(AuditEvent(.pairingMade, peer: "abc", name: "Anna's laptop", result: "ok"))
        log.record(AuditEvent(.attached, peer: "abc", device: "1-1 (0781:5581 serial=X)", path: "direct 10.0.0.2:7575"))
        let (events, skipped) = try AuditLog.read(path: path)
        #expect(skipped == 0)
        #expect(events.map(\.event) == [.pairingMade, .attached])
        #expect(events[0].name == "Anna's laptop" && events[1].path == "direct 10.0.0.2:7575")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("{\"event\":\"pairing-made\",\"name\":\"Anna's laptop\",\"peer\":\"abc\""), "\(text)")
    }

    @Test func aLineTornByAPowerCutIsSkippedAndWhatCameBeforeAndAfterIsIntact() throws {
        let path = path()
        AuditLog(path: path, logger: logger).record(AuditEvent(.serviceStarted))
        // The power went mid-write: half a line, no newline.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"event\":\"attached\",\"ti".utf8))
        handle.closeFile()
        // The next start ends the torn line before it writes.
        AuditLog(path: path, logger: logger).record(AuditEvent(.serviceStarted, result: "after the power cut"))
        let (events, skipped) = try AuditLog.read(path: path)
        #expect(skipped == 1)
        #expect(events.map(\.result) == [nil, "after the power cut"])
    }

    @Test func pastItsLimitTheLogRotatesAndKeepsAtMostTwoFiles() throws {
        let path = path()
        let log = AuditLog(path: path, maxBytes: 4096, logger: logger)
        for number in 0..<200 { log.record(AuditEvent(.attached, device: "device \(number)")) }
        let size = { (file: String) in (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0 }
        #expect(size(path) <= 4096 && size(path + ".1") <= 4096 && size(path + ".1") > 0)
        let (events, skipped) = try AuditLog.read(path: path)
        #expect(skipped == 0)
        #expect(events.last?.device == "device 199")
        // What is kept is the newest, without a gap.
        let numbers = events.compactMap { $0.device.flatMap { Int($0.dropFirst("device ".count)) } }
        #expect(numbers == Array(numbers.first!...199))
    }

    @Test func refusalsStrangersCauseAreRecordedTenAMinuteAndTheNextSaysHowManyWereNot() throws {
        let path = path()
        let now = Mutex(0.0)
        let log = AuditLog(path: path, logger: logger, clock: { now.withLock { $0 } })
        for _ in 0..<1000 { log.record(AuditEvent(.pairingRefused, result: "the pairing window is closed")) }
        log.record(AuditEvent(.pairingMade, peer: "abc"))
        now.withLock { $0 = 61 }
        log.record(AuditEvent(.pairingRefused, result: "wrong secret"))
        let events = try AuditLog.read(path: path).events
        #expect(events.filter { $0.event == .pairingRefused }.count == 11)
        #expect(events.contains { $0.event == .pairingMade })
        #expect(events.last?.result == "wrong secret (990 more like it not recorded before this)")
    }

    @Test func aLongFieldIsCutSoNoLineGrowsPastItsBound() throws {
        let path = path()
        AuditLog(path: path, logger: logger).record(
            AuditEvent(.pairingRefused, name: String(repeating: "n", count: 5000)))
        #expect(try AuditLog.read(path: path).events.first?.name?.utf8.count == 512)
    }

    @Test func sinceTakesAUTCTimePrefixOrAnAge() {
        #expect(AuditLog.earliestTime("2026-12-03") == "2026-12-03")
        #expect(AuditLog.earliestTime("2026-12-03T10:00") == "2026-12-03T10:00")
        #expect(AuditLog.earliestTime("30m", now: 1_800) == "1970-01-01T00:00:00.000Z")
        #expect(AuditLog.earliestTime("1d", now: 86_400 + 3_600) == "1970-01-01T01:00:00.000Z")
        for bad in ["yesterday", "2026/12/03", "12h ago", "-5m", "infm", "1e20d", "20", "2026-12-03T10:00:00:00"] {
            #expect(AuditLog.earliestTime(bad) == nil, "\(bad)")
        }
    }

    @Test func aMissingLogHasNoEvents() throws {
        let (events, skipped) = try AuditLog.read(path: "/nonexistent/usbp2p/audit.log")
        #expect(events.isEmpty && skipped == 0)
    }
}
