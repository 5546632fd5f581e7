import Log
import Synchronization
import Testing

@Suite struct LoggerTests {
    @Test func aLoggerWithASinkHandsItEveryLineAtItsLevelOrAboveAndNothingBelow() {
        let lines = Mutex<[String]>([])
        let logger = Logger(label: "unit", level: .notice) { line in lines.withLock { $0.append(line) } }
        logger.info("not this")
        logger.notice("moved")
        logger.warning("a bell \u{7} in a peer's text")
        let seen = lines.withLock { $0 }
        #expect(seen.count == 2)
        #expect(seen.first?.hasSuffix(" notice unit: moved\n") == true)
        #expect(seen.last?.contains("\u{7}") == false)
    }
}
