import Testing

@testable import Log

@Suite struct LogLevelTests {
    @Test func levelsAreOrderedFromMostToLeastVerbose() {
        #expect(LogLevel.trace < .debug)
        #expect(LogLevel.info < .warning)
        #expect(LogLevel.error < .critical)
        #expect(!(LogLevel.error < .info))
    }

    @Test func everyLevelParsesFromItsName() {
        for level in LogLevel.allCases { #expect(LogLevel(rawValue: level.rawValue) == level) }
        #expect(LogLevel(rawValue: "loud") == nil)
    }

    @Test func journaldPrioritiesFollowSyslog() {
        #expect(LogLevel.error.syslogPriority == 3)
        #expect(LogLevel.info.syslogPriority == 6)
        #expect(LogLevel.debug.syslogPriority == 7)
    }
}
