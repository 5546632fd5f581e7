import Synchronization

/// After the handshake, a connection's records are sealed and opened here rather than by
/// OpenSSL's record layer (OpenSSL 3.0 has no way to hand TLS 1.3 records to the caller):
/// records are encrypted straight from the bytes a writer gives into the buffer that goes
/// to the socket, and decrypted straight from the bytes read from the socket into the
/// reader's buffer. The wire is TLS 1.3's (RFC 8446, section 5), so a peer on OpenSSL's
/// record layer reads these records and writes records these read.
///
/// The two directions share nothing but one flag (the peer asked for a KeyUpdate), so a
/// stream's reader and writer need no common lock once the handshake is done.
enum ApplicationRecords {
    /// Both halves for a connection whose handshake just finished, from its application
    /// traffic secrets (RFC 8446, section 7.1).
    static func make(
        suite: RecordProtection.Suite, writeSecret: [UInt8], readSecret: [UInt8], recordsPerKey: UInt64
    ) throws(TLSError) -> (RecordWriter, RecordReader) {
        let request = KeyUpdateRequest()
        let writer = RecordWriter(
            protection: try RecordProtection(suite: suite, secret: writeSecret, sealing: true), request: request,
            recordsPerKey: recordsPerKey)
        let reader = RecordReader(
            protection: try RecordProtection(suite: suite, secret: readSecret, sealing: false), request: request)
        return (writer, reader)
    }

    /// TLS 1.3's handshake message types that may follow the handshake (section 4).
    static let newSessionTicket: UInt8 = 4
    static let keyUpdate: UInt8 = 24
}

/// The peer asked, in its KeyUpdate, that we update our sending key too (RFC 8446, section
/// 4.6.3): set by the reader, taken by the writer before its next record.
final class KeyUpdateRequest: Sendable {
    private let pending = Atomic<Bool>(false)
    func request() { pending.store(true, ordering: .releasing) }
    func take() -> Bool { pending.exchange(false, ordering: .acquiringAndReleasing) }
}

/// The sending half: one writer at a time (a stream's writer, under its lock).
final class RecordWriter {
    let protection: RecordProtection
    private let request: KeyUpdateRequest
    private let recordsPerKey: UInt64

    init(protection: RecordProtection, request: KeyUpdateRequest, recordsPerKey: UInt64) {
        self.protection = protection
        self.request = request
        self.recordsPerKey = recordsPerKey
    }

    /// Seals `plaintext` as application data into records of at most 2^14 bytes, appended
    /// to `outbound`; a KeyUpdate goes first when the key is due or the peer asked for one.
    func write(_ plaintext: UnsafeRawBufferPointer, into outbound: OutboundRecords) throws(TLSError) {
        var offset = 0
        while offset < plaintext.count {
            if request.take() || protection.sequence >= recordsPerKey { try updateKey(into: outbound) }
            let count = min(RecordProtection.maxPlaintext, plaintext.count - offset)
            try seal(UnsafeRawBufferPointer(rebasing: plaintext[offset..<(offset + count)]), .applicationData, outbound)
            offset += count
        }
    }

    /// A close_notify alert (RFC 8446, section 6.1): the last record this side sends.
    func closeNotify(into outbound: OutboundRecords) throws(TLSError) {
        try [UInt8]([1, 0]).withTLSBytes { alert throws(TLSError) in try seal(alert, .alert, outbound) }
    }

    /// Sends a KeyUpdate that asks nothing back, then seals with the next key (section 4.6.3).
    private func updateKey(into outbound: OutboundRecords) throws(TLSError) {
        let message: [UInt8] = [ApplicationRecords.keyUpdate, 0, 0, 1, 0]  // update_not_requested
        try message.withTLSBytes { message throws(TLSError) in try seal(message, .handshake, outbound) }
        try protection.updateKey()
    }

    private func seal(
        _ plaintext: UnsafeRawBufferPointer, _ type: RecordProtection.ContentType, _ outbound: OutboundRecords
    ) throws(TLSError) {
        try outbound.append(count: RecordProtection.sealedLength(plaintext.count)) { destination throws(TLSError) in
            _ = try protection.seal(plaintext, type: type, into: destination)
        }
    }
}

/// The receiving half: one reader at a time (a stream's reader). Records are opened into
/// the reader's buffer when it has room for a whole record's plaintext, and into a buffer
/// of this half otherwise (a small read), from which the next reads are served.
final class RecordReader {
    let protection: RecordProtection
    private let request: KeyUpdateRequest
    /// Plaintext opened for a read that had less room: bytes `pendingStart..<pendingEnd`.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var pendingEnd = 0
    /// The peer sent close_notify: every read from now on returns 0.
    private var peerClosed = false

    init(protection: RecordProtection, request: KeyUpdateRequest) {
        self.protection = protection
        self.request = request
    }

    /// Nothing opened and not yet read, and the peer has not closed.
    var isDrained: Bool { pendingStart == pendingEnd && !peerClosed }

    /// Opens the whole records waiting in `inbound` into `destination` while it has room:
    /// the number of application bytes, 0 once the peer closed cleanly, nil when a whole
    /// record has yet to arrive. Throws for a record that fails authentication or breaks
    /// the protocol, and for any alert but close_notify.
    func read(from inbound: InboundRecords, into destination: UnsafeMutableRawBufferPointer) throws(TLSError) -> Int? {
        guard destination.count > 0 else { return 0 }
        if pendingStart < pendingEnd { return takePending(into: destination) }
        var produced = 0
        while !peerClosed {
            let opened = try inbound.withWaitingBytes { waiting throws(TLSError) -> (consumed: Int, result: Bool) in
                guard let length = try RecordProtection.recordLength(at: waiting), waiting.count >= length else {
                    return (0, false)
                }
                let record = UnsafeRawBufferPointer(rebasing: waiting[0..<length])
                let room = length - RecordProtection.headerLength - RecordProtection.tagLength
                if destination.count - produced >= room {
                    let target = destination.baseAddress! + produced
                    let (type, count) = try protection.open(record, into: target)
                    produced += try handle(type, UnsafeRawBufferPointer(start: target, count: count))
                } else {
                    guard produced == 0 else { return (0, false) }  // the next read takes it
                    if pending.count < room { pending = [UInt8](repeating: 0, count: RecordProtection.maxCiphertext) }
                    let (type, count) = try pending.withTLSMutableBytes { buffer throws(TLSError) in
                        try protection.open(record, into: buffer.baseAddress!)
                    }
                    let kept = try pending.withTLSBytes { buffer throws(TLSError) in
                        try handle(type, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    }
                    (pendingStart, pendingEnd) = (0, kept)
                    produced = takePending(into: destination)
                }
                return (length, true)
            }
            if !opened { break }
        }
        if produced > 0 { return produced }
        return peerClosed ? 0 : nil
    }

    /// What one opened record means to the reader: how many application bytes it adds.
    private func handle(_ type: UInt8, _ content: UnsafeRawBufferPointer) throws(TLSError) -> Int {
        switch RecordProtection.ContentType(rawValue: type) {
        case .applicationData:
            return content.count
        case .alert:
            guard content.count == 2 else { throw .recordFailed("a malformed alert (decode_error)") }
            guard content[1] == 0 else { throw .recordFailed("the peer sent alert \(content[1]) and closed") }
            peerClosed = true
            return 0
        case .handshake:
            try handlePostHandshake(content)
            return 0
        case nil:
            throw .recordFailed("a record of content type \(type) (unexpected_message)")
        }
    }

    /// Post-handshake messages (RFC 8446, section 4.6): session tickets are dropped (this
    /// product resumes above TLS), a KeyUpdate moves the reading key on after this record
    /// and, when asked, the writer's too. Anything else ends the connection.
    private func handlePostHandshake(_ content: UnsafeRawBufferPointer) throws(TLSError) {
        var offset = 0
        while offset < content.count {
            guard content.count - offset >= 4 else { throw .recordFailed("a handshake message split across records") }
            let type = content[offset]
            let length = Int(content[offset + 1]) << 16 | Int(content[offset + 2]) << 8 | Int(content[offset + 3])
            let end = offset + 4 + length
            guard end <= content.count else { throw .recordFailed("a handshake message split across records") }
            switch type {
            case ApplicationRecords.newSessionTicket:
                break
            case ApplicationRecords.keyUpdate:
                // It must end its record: what follows is under the next key (section 5.1).
                guard length == 1, end == content.count, content[offset + 4] <= 1 else {
                    throw .recordFailed("a malformed KeyUpdate (decode_error)")
                }
                if content[offset + 4] == 1 { request.request() }
                try protection.updateKey()
            default:
                throw .recordFailed("handshake message \(type) after the handshake (unexpected_message)")
            }
            offset = end
        }
    }

    private func takePending(into destination: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(destination.count, pendingEnd - pendingStart)
        let start = pendingStart
        pending.withUnsafeBytes { source in
            destination.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: count)
        }
        pendingStart += count
        return count
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` whose body throws only `TLSError` (the standard library's rethrows
    /// `any Error` in Swift 6.0).
    func withTLSBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws(TLSError) -> Result
    ) throws(TLSError) -> Result {
        try withUnsafeBytes { raw in Swift.Result { () throws(TLSError) in try body(raw) } }.get()
    }

    mutating func withTLSMutableBytes<Result>(
        _ body: (UnsafeMutableRawBufferPointer) throws(TLSError) -> Result
    ) throws(TLSError) -> Result {
        try withUnsafeMutableBytes { raw in Swift.Result { () throws(TLSError) in try body(raw) } }.get()
    }
}
