import COpenSSL

/// The records OpenSSL made and the network has not been given yet: the write side of a
/// `TLSConnection`, as a BIO over a buffer of this side. OpenSSL's writes land in it, and
/// a writer takes the whole buffer in exchange for its own (`swap`), so a record is
/// copied once on its way out (OpenSSL → here), where a memory BIO clears its storage,
/// copies the record in, and is copied out again.
///
/// Owned by one `TLSConnection`; used only under its owner's lock (OpenSSL writes here
/// only inside that connection's calls).
final class OutboundRecords {
    /// Bytes `0..<count` of `storage` wait to be sent; the rest is room kept from write to
    /// write (never cleared, only ever overwritten by OpenSSL's records).
    private var storage: [UInt8] = []
    private(set) var count = 0

    /// A new BIO writing into this buffer; nil when OpenSSL cannot make one. The buffer
    /// must outlive the BIO (the BIO points at it, unretained).
    func makeBIO() -> OpaquePointer? {
        guard let method = Self.method, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    /// The BIO's write: appends `source`, growing the room (doubling) when it is short.
    func add(_ source: UnsafeRawBufferPointer) {
        makeRoom(for: source.count)
        let at = count
        storage.withUnsafeMutableBytes { raw in
            UnsafeMutableRawBufferPointer(rebasing: raw[at..<(at + source.count)]).copyMemory(from: source)
        }
        count += source.count
    }

    /// Appends `count` bytes that `write` puts straight into the room after the waiting
    /// ones (our own record layer seals there: no copy).
    func append(
        count length: Int, _ write: (UnsafeMutableRawPointer) throws(TLSError) -> Void
    ) throws(TLSError) {
        makeRoom(for: length)
        let at = count
        try storage.withTLSMutableBytes { raw throws(TLSError) in try write(raw.baseAddress! + at) }
        count += length
    }

    /// Makes room for `more` bytes after the waiting ones, doubling the storage when short.
    private func makeRoom(for more: Int) {
        let needed = count + more
        if needed > storage.count {
            var grown = [UInt8](repeating: 0, count: max(needed, 2 * storage.count, 16 * 1024))
            let kept = count
            storage.withUnsafeBytes { old in
                grown.withUnsafeMutableBytes { new in
                    UnsafeMutableRawBufferPointer(rebasing: new[0..<kept])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: old[0..<kept]))
                }
            }
            storage = grown
        }
    }

    /// Hands the waiting records over: `buffer` becomes this buffer (its bytes `0..<`
    /// the returned count are the records), and this one takes `buffer`'s storage as its
    /// room. No copy either way.
    func swap(with buffer: inout [UInt8]) -> Int {
        let taken = count
        Swift.swap(&storage, &buffer)
        count = 0
        return taken
    }

    /// Copies the waiting records to `buffer[offset...]`, growing it if need be; where
    /// they end there. Nothing waits afterwards.
    func take(into buffer: inout [UInt8], at offset: Int) -> Int {
        guard count > 0 else { return offset }
        let end = offset + count
        if buffer.count < end { buffer += [UInt8](repeating: 0, count: end - buffer.count) }
        let n = count
        storage.withUnsafeBytes { source in
            buffer.withUnsafeMutableBytes { destination in
                UnsafeMutableRawBufferPointer(rebasing: destination[offset..<end])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<n]))
            }
        }
        count = 0
        return end
    }

    /// Made once per process, never freed: every such BIO uses it. Not changed after it
    /// is made, so threads share it safely.
    nonisolated(unsafe) private static let method: OpaquePointer? = {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "usbp2p outbound records") else {
            return nil
        }
        // Takes everything, always: the buffer grows (the session bounds what it writes).
        let write: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32 = {
            bio, source, count, written in
            guard let bio, let written, let data = BIO_get_data(bio) else { return 0 }
            BIO_clear_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY)
            if let source, count > 0 {
                Unmanaged<OutboundRecords>.fromOpaque(data).takeUnretainedValue()
                    .add(UnsafeRawBufferPointer(start: source, count: count))
            }
            written.pointee = max(count, 0)
            return 1
        }
        // OpenSSL flushes a write BIO after each flight of records (nothing to do here);
        // everything else is "not supported".
        let control: @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = {
            _, command, _, _ in command == BIO_CTRL_FLUSH ? 1 : 0
        }
        guard BIO_meth_set_write_ex(method, write) == 1, BIO_meth_set_ctrl(method, control) == 1 else {
            BIO_meth_free(method)
            return nil
        }
        return method
    }()
}
