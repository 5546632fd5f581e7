import Synchronization

/// Admission before work, for a listener that strangers can reach: at most `capacity`
/// connections in their handshake at once and `perSource` from one address, and when
/// every slot is taken a newcomer from a less busy address takes the place of the oldest
/// connection of the busiest one (its `cancel` runs, shutting it down). So one host,
/// or one attacker with a few dozen addresses, can fill the slots but never keep a fresh
/// address out: the spirit of OpenSSH's MaxStartups, made fair per source.
public final class ConnectionAdmission: Sendable {
    public let capacity: Int
    public let perSource: Int

    private struct Entry {
        let id: UInt64
        let cancel: @Sendable () -> Void
    }

    private struct State {
        var next: UInt64 = 0
        var total = 0
        /// Each source's connections, oldest first.
        var bySource: [String: [Entry]] = [:]
    }

    private let state = Mutex(State())

    public init(capacity: Int, perSource: Int) {
        self.capacity = capacity
        self.perSource = perSource
    }

    /// One admitted connection; `release` it when its handshake is over (evicted or not).
    public struct Ticket: Sendable {
        let id: UInt64
        let source: String
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case sourceFull(source: String, limit: Int)
        case full(limit: Int)

        public var description: String {
            switch self {
            case .sourceFull(let source, let limit): "\(limit) handshakes from \(source) already in progress"
            case .full(let limit): "\(limit) handshakes already in progress, none from a busier source to replace"
            }
        }
    }

    /// Admits a connection from `source`, evicting the busiest source's oldest one when
    /// full; `cancel` ends this connection should it be evicted in turn.
    public func admit(source: String, cancel: @escaping @Sendable () -> Void) throws(Refusal) -> Ticket {
        let (result, evicted): (Result<Ticket, Refusal>, (@Sendable () -> Void)?) = state.withLock { state in
            let mine = state.bySource[source]?.count ?? 0
            guard mine < perSource else { return (.failure(.sourceFull(source: source, limit: perSource)), nil) }
            var evicted: (@Sendable () -> Void)?
            if state.total >= capacity {
                guard let (busiest, entries) = state.bySource.max(by: { $0.value.count < $1.value.count }),
                    entries.count > mine + 1
                else { return (.failure(.full(limit: capacity)), nil) }
                evicted = entries[0].cancel
                state.bySource[busiest]!.removeFirst()
                if state.bySource[busiest]!.isEmpty { state.bySource[busiest] = nil }
                state.total -= 1
            }
            state.next += 1
            state.bySource[source, default: []].append(Entry(id: state.next, cancel: cancel))
            state.total += 1
            return (.success(Ticket(id: state.next, source: source)), evicted)
        }
        evicted?()
        return try result.get()
    }

    /// The connection's handshake is over; nothing if it was evicted meanwhile.
    public func release(_ ticket: Ticket) {
        state.withLock { state in
            guard let index = state.bySource[ticket.source]?.firstIndex(where: { $0.id == ticket.id }) else { return }
            state.bySource[ticket.source]!.remove(at: index)
            if state.bySource[ticket.source]!.isEmpty { state.bySource[ticket.source] = nil }
            state.total -= 1
        }
    }

    /// Connections admitted and not yet released nor evicted.
    public var count: Int { state.withLock { $0.total } }
}
