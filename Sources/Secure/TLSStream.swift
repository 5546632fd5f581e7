import OSThreads
import Sockets

/// TLS over a byte stream (a socket, or a relay's spliced connection), as a `ByteStream`: one thread may read while another
/// writes. OpenSSL's state is guarded by one lock that is never held across a blocking
/// socket call; writes to the socket are serialised by a second lock so records leave
/// in the order they were made. Once our own record layer has taken over from OpenSSL
/// (`TLSConnection.recordsAreOurs`, after the handshake), reads take no lock at all.
public final class TLSStream: ByteStream, @unchecked Sendable {
    public let connection: TLSConnection
    /// What carries the records.
    public let socket: any ByteStream
    /// `socket` when it is a socket itself: only then can a write go without blocking
    /// (over another stream, a relay's TLS, it may wait). Found once, not per small frame.
    private let directSocket: Socket?
    private let state = Monitor()
    private let sending = Monitor()
    /// Ciphertext taken from OpenSSL, not yet sent (guarded by `state`).
    private var unsent: [UInt8] = []
    /// The records of one write, in a buffer kept from write to write (guarded by
    /// `sending`): no allocation and no clearing per write.
    private var records: [UInt8] = []
    /// Records a write without blocking made and the socket had no room for (guarded by
    /// `sending`): they leave first, with the next `writeAll`.
    private var held: [UInt8] = []
    /// Kernel TLS, when the context asks for it and the kernel has it (see `KernelRecords`).
    private let kernel: KernelRecords?

    public var peer: String { socket.peer }

    /// Runs the handshake on `socket` (blocking; bounded by the socket's receive timeout).
    public init(socket: any ByteStream, context: TLSContext) throws {
        self.socket = socket
        directSocket = socket as? Socket
        connection = try TLSConnection(context: context)
        while true {
            let done: Bool
            do { done = try connection.handshake() } catch {
                // Tell the peer why (the alert), so it can say so to its user.
                try? socket.writeAll(connection.takeOutbound())
                throw error
            }
            let out = connection.takeOutbound()
            if !out.isEmpty { try socket.writeAll(out) }
            if done { break }
            guard try connection.receive(from: socket) > 0 else { throw TLSError.closedDuringHandshake }
        }
        kernel =
            if context.recordLayer == .kernel, connection.recordsAreOurs, let directSocket {
                KernelRecords.start(on: directSocket, recordsPerKey: context.recordsPerKey)
            } else {
                nil
            }
    }

    /// Whether the kernel took this stream's records on (then it seals and opens them, each
    /// direction from its first record boundary on; see `KernelRecords`).
    public var recordsGoToKernel: Bool { kernel != nil }

    /// Whether the kernel seals and opens this stream's records now.
    public var recordsInKernel: (sending: Bool, receiving: Bool) {
        let sending = self.sending.withLock { kernel?.sending ?? false }
        return (sending, kernel?.receiving ?? false)
    }

    public func read(into buffer: inout [UInt8], from offset: Int) throws -> Int {
        guard offset >= 0, offset < buffer.count else { return 0 }
        if connection.recordsAreOurs {
            // The reader's half of our record layer is its own: no lock, nothing to send.
            while true {
                if let kernel, kernel.receiving {
                    return try buffer.withUnsafeMutableBytes { raw in
                        try kernel.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]))
                    }
                }
                let n = try buffer.withUnsafeMutableBytes { raw in
                    try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]))
                }
                if let n { return n }
                if let kernel, connection.readerIsDrained, let protection = connection.readingProtection {
                    // A record boundary: the kernel opens from the next byte on.
                    try kernel.install(protection, receiving: true)
                    continue
                }
                if try connection.receive(from: socket) == 0 { return 0 }
            }
        }
        while true {
            let result: Int? = try state.withLock { () throws -> Int? in
                let n = try buffer.withUnsafeMutableBytes { raw in
                    try connection.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]))
                }
                unsent += connection.takeOutbound()  // alerts, key update replies
                return n
            }
            if let result { return result }
            // Only this thread feeds the connection's inbound buffer, and OpenSSL reads it
            // only inside `read` (under the lock, above): the blocking read needs no lock.
            if try connection.receive(from: socket) == 0 { return 0 }
        }
    }

    public func writeAll(_ bytes: some Collection<UInt8>) throws {
        try sending.withLock {
            if !held.isEmpty {
                try socket.writeAll(held)
                held.removeAll(keepingCapacity: true)
            }
            guard !bytes.isEmpty else { return }
            if let kernel, try kernelSeals() {
                try kernel.sent(bytes.count)
                return try socket.writeAll(bytes)
            }
            let end = try encrypt(bytes)
            try socket.writeAll(records[0..<end])
        }
    }

    public var writesWithoutBlocking: Bool { directSocket != nil }

    public func writeWithoutBlocking(_ bytes: ArraySlice<UInt8>) throws -> (taken: Int, holding: Bool) {
        guard let socket = directSocket else {
            try writeAll(bytes)
            return (bytes.count, false)
        }
        return try sending.withLock {
            if let kernel, try kernelSeals() {
                // Plaintext now: the kernel seals what the socket takes.
                try kernel.sent(bytes.count)
                let sent = held.isEmpty ? try socket.sendNow(bytes) : 0
                if sent < bytes.count { held.append(contentsOf: bytes[(bytes.startIndex + sent)...]) }
                return (bytes.count, !held.isEmpty)
            }
            let end = try encrypt(bytes)
            // Behind records already held, these wait too (order).
            let sent = held.isEmpty ? try socket.sendNow(records[0..<end]) : 0
            if sent < end { held.append(contentsOf: records[sent..<end]) }
            return (bytes.count, !held.isEmpty)
        }
    }

    /// Whether the kernel seals what this writer sends (`sending` held): once asked for and
    /// at a record boundary (nothing sealed by us waits), it takes over from our writer.
    private func kernelSeals() throws -> Bool {
        guard let kernel else { return false }
        if kernel.sending { return true }
        guard held.isEmpty, connection.writerIsDrained, let protection = connection.writingProtection else {
            return false
        }
        try kernel.install(protection, receiving: false)
        return true
    }

    /// Encrypts `bytes` into `records` (`sending` held), after what a read left to send;
    /// returns where the records end.
    private func encrypt(_ bytes: some Collection<UInt8>) throws -> Int {
        try state.withLock { () throws -> Int in
            // Contiguous bytes (the session's batch) are encrypted where they lie.
            let written: Void? = try bytes.withContiguousStorageIfAvailable { buffer throws in
                try connection.write(UnsafeRawBufferPointer(buffer))
            }
            if written == nil { try Array(bytes).withUnsafeBytes { raw in try connection.write(raw) } }
            // What a read left to send (made earlier) goes first.
            var end = 0
            if !unsent.isEmpty {
                if records.count < unsent.count {
                    records.append(contentsOf: repeatElement(0, count: unsent.count - records.count))
                }
                records.replaceSubrange(0..<unsent.count, with: unsent)
                end = unsent.count
                unsent = []
            }
            return connection.takeOutbound(into: &records, at: end)
        }
    }

    /// Closes the socket's both directions (no close_notify: a writer may be blocked in
    /// the socket, and the session above says goodbye itself).
    public func shutdown() { socket.shutdown() }

    public func close() { socket.close() }

    public func setReceiveTimeout(seconds: Int) { socket.setReceiveTimeout(seconds: seconds) }
}
