import Synchronization
import Testing

@testable import Sockets

/// Which connections were told to end.
private final class Cancelled: Sendable {
    let names = Mutex<[String]>([])
    func callback(_ name: String) -> @Sendable () -> Void { { self.names.withLock { $0.append(name) } } }
}

@Suite struct ConnectionAdmissionTests {
    @Test func oneSourceGetsItsShareAndNoMore() throws {
        let admission = ConnectionAdmission(capacity: 10, perSource: 2)
        let cancelled = Cancelled()
        _ = try admission.admit(source: "a", cancel: cancelled.callback("a1"))
        _ = try admission.admit(source: "a", cancel: cancelled.callback("a2"))
        #expect(throws: ConnectionAdmission.Refusal.sourceFull(source: "a", limit: 2)) {
            try admission.admit(source: "a", cancel: cancelled.callback("a3"))
        }
        #expect(admission.count == 2)
    }

    @Test func whenFullANewcomerReplacesTheBusiestSourcesOldest() throws {
        let admission = ConnectionAdmission(capacity: 4, perSource: 3)
        let cancelled = Cancelled()
        for i in 1...3 { _ = try admission.admit(source: "attacker", cancel: cancelled.callback("attacker\(i)")) }
        _ = try admission.admit(source: "b", cancel: cancelled.callback("b1"))
        // Full: a fresh address gets in, the attacker's oldest goes.
        let honest = try admission.admit(source: "laptop", cancel: cancelled.callback("laptop1"))
        #expect(cancelled.names.withLock { $0 } == ["attacker1"])
        #expect(admission.count == 4)
        // Again, while the attacker holds more than one.
        _ = try admission.admit(source: "c", cancel: cancelled.callback("c1"))
        #expect(cancelled.names.withLock { $0 } == ["attacker1", "attacker2"])
        // One each now: nobody is busier than a newcomer by more than one.
        #expect(throws: ConnectionAdmission.Refusal.full(limit: 4)) {
            try admission.admit(source: "d", cancel: cancelled.callback("d1"))
        }
        admission.release(honest)
        #expect(admission.count == 3)
        _ = try admission.admit(source: "d", cancel: cancelled.callback("d1"))
    }

    @Test func releasingAnEvictedConnectionChangesNothing() throws {
        let admission = ConnectionAdmission(capacity: 2, perSource: 2)
        let cancelled = Cancelled()
        let first = try admission.admit(source: "a", cancel: cancelled.callback("a1"))
        _ = try admission.admit(source: "a", cancel: cancelled.callback("a2"))
        _ = try admission.admit(source: "b", cancel: cancelled.callback("b1"))  // evicts a1
        admission.release(first)
        admission.release(first)
        #expect(admission.count == 2)
    }

    @Test func manyAttackerAddressesNeverKeepAFreshOneOut() throws {
        // 64 slots held by 20 addresses (the abuse scenario's trickle): a laptop still gets in.
        let admission = ConnectionAdmission(capacity: 64, perSource: 8)
        let cancelled = Cancelled()
        var admitted = 0
        for i in 0..<200 {
            if (try? admission.admit(source: "10.1.0.\(10 + i % 20)", cancel: cancelled.callback("x"))) != nil {
                admitted += 1
            }
        }
        #expect(admission.count == 64)
        #expect(throws: Never.self) { _ = try admission.admit(source: "10.1.0.99", cancel: {}) }
    }
}
