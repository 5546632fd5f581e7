/// The parts of a DNS message (RFC 1035) that multicast DNS service discovery uses
/// (RFC 6762, RFC 6763): questions, and PTR, SRV, TXT and A records. Other record types
/// are kept as opaque data. Decoding trusts nothing: counts, lengths and compression
/// pointers are checked against the bytes actually there, and a name may not point
/// forward or loop.
public struct DNSMessage: Equatable, Sendable {
    public var id: UInt16 = 0
    public var isResponse = false
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var additional: [DNSRecord] = []

    public init(
        id: UInt16 = 0, isResponse: Bool = false, questions: [DNSQuestion] = [], answers: [DNSRecord] = [],
        additional: [DNSRecord] = []
    ) {
        self.id = id
        self.isResponse = isResponse
        self.questions = questions
        self.answers = answers
        self.additional = additional
    }

    /// A UDP payload larger than this is not sent or read (RFC 6762 §17: 9000 at most).
    public static let maxLength = 9000
}

public struct DNSQuestion: Equatable, Sendable {
    public var name: String
    public var type: UInt16
    /// The top bit of the class: the querier asks for a unicast answer (RFC 6762 §5.4).
    public var unicastResponse: Bool

    public init(name: String, type: UInt16, unicastResponse: Bool = false) {
        self.name = name
        self.type = type
        self.unicastResponse = unicastResponse
    }
}

public struct DNSRecord: Equatable, Sendable {
    public enum Data: Equatable, Sendable {
        case ptr(String)
        case srv(priority: UInt16, weight: UInt16, port: UInt16, target: String)
        case txt([String])
        case a([UInt8])
        case other(type: UInt16, bytes: [UInt8])
    }

    public var name: String
    public var ttl: UInt32
    public var data: Data

    public init(name: String, ttl: UInt32, data: Data) {
        self.name = name
        self.ttl = ttl
        self.data = data
    }

    public var type: UInt16 {
        switch data {
        case .ptr: DNSType.ptr
        case .srv: DNSType.srv
        case .txt: DNSType.txt
        case .a: DNSType.a
        case .other(let type, _): type
        }
    }
}

public enum DNSType {
    public static let a: UInt16 = 1
    public static let ptr: UInt16 = 12
    public static let txt: UInt16 = 16
    public static let srv: UInt16 = 33
    public static let any: UInt16 = 255
}

public enum DNSError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let why): "malformed DNS message: \(why)"
        }
    }
}

extension DNSMessage {
    // MARK: Encoding (no compression: the messages are small)

    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.append16(id)
        out.append16(isResponse ? 0x8400 : 0)  // response + authoritative, as mDNS answers are
        out.append16(UInt16(questions.count))
        out.append16(UInt16(answers.count))
        out.append16(0)
        out.append16(UInt16(additional.count))
        for question in questions {
            out.appendName(question.name)
            out.append16(question.type)
            out.append16(1 | (question.unicastResponse ? 0x8000 : 0))
        }
        for record in answers + additional {
            out.appendName(record.name)
            out.append16(record.type)
            out.append16(0x8001)  // IN, cache-flush: these records are this host's alone
            out.append32(record.ttl)
            var data: [UInt8] = []
            switch record.data {
            case .ptr(let target): data.appendName(target)
            case .srv(let priority, let weight, let port, let target):
                data.append16(priority)
                data.append16(weight)
                data.append16(port)
                data.appendName(target)
            case .txt(let strings):
                for string in strings {
                    let bytes = Array(string.utf8.prefix(255))
                    data.append(UInt8(bytes.count))
                    data += bytes
                }
                if strings.isEmpty { data.append(0) }
            case .a(let address): data += address
            case .other(_, let bytes): data += bytes
            }
            out.append16(UInt16(data.count))
            out += data
        }
        return out
    }

    // MARK: Decoding

    public init(decoding bytes: [UInt8]) throws(DNSError) {
        guard bytes.count <= Self.maxLength else { throw .malformed("\(bytes.count) bytes") }
        var reader = DNSReader(bytes: bytes)
        id = try reader.u16()
        let flags = try reader.u16()
        isResponse = flags & 0x8000 != 0
        let counts = [try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16()]
        // Every question takes at least 5 bytes and every record 11: a count the message
        // cannot hold is refused before anything is read.
        guard
            Int(counts[0]) * 5 + Int(counts[1]) * 11 + Int(counts[2]) * 11 + Int(counts[3]) * 11
                <= bytes.count - 12
        else { throw .malformed("counts \(counts) in \(bytes.count) bytes") }
        for _ in 0..<counts[0] {
            let name = try reader.name()
            let type = try reader.u16()
            let klass = try reader.u16()
            questions.append(DNSQuestion(name: name, type: type, unicastResponse: klass & 0x8000 != 0))
        }
        for section in 1...3 {
            for _ in 0..<counts[section] {
                let record = try reader.record()
                if section == 1 { answers.append(record) } else if section == 3 { additional.append(record) }
            }
        }
    }
}

/// Reads a DNS message with bounds checks on every step.
struct DNSReader {
    let bytes: [UInt8]
    var offset = 0

    mutating func u8() throws(DNSError) -> UInt8 {
        guard offset < bytes.count else { throw .malformed("cut short at \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DNSError) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }
    mutating func u32() throws(DNSError) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }

    mutating func take(_ count: Int) throws(DNSError) -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else { throw .malformed("cut short at \(offset)") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// A name at the reader's position, following compression pointers (each must point
    /// backwards, so a name cannot loop); at most 255 bytes in all (RFC 1035 §3.1).
    mutating func name() throws(DNSError) -> String {
        var labels: [String] = []
        var length = 0
        var position = offset
        var jumped = false
        while true {
            guard position < bytes.count else { throw .malformed("name cut short") }
            let byte = bytes[position]
            if byte == 0 {
                if !jumped { offset = position + 1 }
                break
            }
            if byte & 0xC0 == 0xC0 {
                guard position + 1 < bytes.count else { throw .malformed("pointer cut short") }
                let target = Int(byte & 0x3F) << 8 | Int(bytes[position + 1])
                guard target < position else { throw .malformed("a name pointer that does not point back") }
                if !jumped { offset = position + 2 }
                jumped = true
                position = target
                continue
            }
            guard byte & 0xC0 == 0 else { throw .malformed("label type \(byte >> 6)") }
            let count = Int(byte)
            guard position + 1 + count <= bytes.count else { throw .malformed("label cut short") }
            length += count + 1
            guard length <= 255 else { throw .malformed("a name over 255 bytes") }
            // mDNS names are UTF-8 (RFC 6762, section 16); a label that is not, or that holds
            // a dot, could not be told apart from other names once decoded.
            guard let label = String(validating: bytes[(position + 1)..<(position + 1 + count)], as: UTF8.self),
                !label.contains(".")
            else { throw .malformed("a label that is not a UTF-8 name part") }
            labels.append(label)
            position += 1 + count
        }
        return labels.joined(separator: ".")
    }

    mutating func record() throws(DNSError) -> DNSRecord {
        let owner = try name()
        let type = try u16()
        _ = try u16()  // class (and cache-flush bit)
        let ttl = try u32()
        let length = Int(try u16())
        guard bytes.count - offset >= length else { throw .malformed("record data cut short") }
        let end = offset + length
        let data: DNSRecord.Data
        switch type {
        case DNSType.ptr: data = .ptr(try name())
        case DNSType.srv:
            data = .srv(priority: try u16(), weight: try u16(), port: try u16(), target: try name())
        case DNSType.txt:
            var strings: [String] = []
            while offset < end {
                let count = Int(try u8())
                guard offset + count <= end else { throw .malformed("TXT string past its record") }
                guard let string = String(validating: try take(count), as: UTF8.self) else {
                    throw .malformed("a TXT string that is not UTF-8")
                }
                strings.append(string)
            }
            data = .txt(strings)
        case DNSType.a:
            guard length == 4 else { throw .malformed("A record of \(length) bytes") }
            data = .a(try take(4))
        default: data = .other(type: type, bytes: try take(length))
        }
        guard offset == end else { throw .malformed("record data of \(length) bytes, \(offset - (end - length)) read") }
        return DNSRecord(name: owner, ttl: ttl, data: data)
    }
}

extension [UInt8] {
    mutating func append16(_ value: UInt16) { append(contentsOf: [UInt8(value >> 8), UInt8(value & 0xff)]) }
    mutating func append32(_ value: UInt32) {
        append16(UInt16(value >> 16))
        append16(UInt16(value & 0xffff))
    }
    mutating func appendName(_ name: String) {
        for label in name.split(separator: ".") {
            let bytes = Array(label.utf8.prefix(63))
            append(UInt8(bytes.count))
            append(contentsOf: bytes)
        }
        append(0)
    }
}
