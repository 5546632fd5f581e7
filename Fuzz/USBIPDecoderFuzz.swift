// libFuzzer entry point for the USB/IP decoder, compiled together with
// Sources/USBIP by scripts/fuzz (swiftc -sanitize=fuzzer,address).
//
// The first input byte chooses the receiving side and how the input is fed to a stream
// decoder (whole, or in pieces of a size from the second byte); the rest is the stream.
// Every decoded message must re-encode to exactly the bytes it was decoded from (up to
// the padding the encoder writes as zero), or the fuzzer stops with the input. With bit
// 2 set, a server's stream goes through USBIPServerReader as usbp2pd's TCP driver reads
// it (bulk OUT data into buffers of its own, headers alone after them).

import ByteBuffers

@_cdecl("LLVMFuzzerTestOneInput")
public func usbipDecoderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let receiver: USBIPSide = input[0] & 1 == 0 ? .server : .client
    let chunk = input[0] & 2 == 0 ? size : Int(input[1]) + 1
    let stream = input[2...]
    if receiver == .server, input[0] & 4 != 0 {
        serverReaderFuzz(stream, chunk: chunk)
        return 0
    }
    var decoder = USBIPStreamDecoder(receiver: receiver, limits: USBIPLimits(maxTransferBufferLength: 1 << 16))
    var index = stream.startIndex
    while index < stream.endIndex {
        let end = min(index + chunk, stream.endIndex)
        decoder.append(stream[index..<end])
        index = end
        do {
            while let message = try decoder.next(requestDirection: { $0 & 1 == 0 ? .in : .out }) {
                let encoded = message.encoded
                guard
                    let again = try? USBIPMessage.decode(
                        from: encoded[...], receiver: receiver, limits: decoder.limits,
                        requestDirection: { $0 & 1 == 0 ? .in : .out }),
                    again.message == message, again.consumed == encoded.count
                else { fatalError("\(message.kind) does not survive a round trip") }
            }
        } catch {
            return 0
        }
    }
    return 0
}

/// Decodes `message` again from its encoding: it must come back the same.
private func roundTrip(_ message: USBIPMessage, receiver: USBIPSide, limits: USBIPLimits) {
    let encoded = message.encoded
    guard
        let again = try? USBIPMessage.decode(from: encoded[...], receiver: receiver, limits: limits),
        again.message == message, again.consumed == encoded.count
    else { fatalError("\(message.kind) does not survive a round trip") }
}

/// The stream through USBIPServerReader in reads of at most `chunk` bytes; a URB whose
/// data went to a buffer must be the message it was on the wire.
private func serverReaderFuzz(_ stream: ArraySlice<UInt8>, chunk: Int) {
    let limits = USBIPLimits(maxTransferBufferLength: 1 << 16)
    var reader = USBIPServerReader(limits: limits)
    var position = stream.startIndex
    func take(_ most: Int) -> ArraySlice<UInt8> {
        let end = min(position + min(chunk, most), stream.endIndex)
        defer { position = end }
        return stream[position..<end]
    }
    while true {
        let progress = reader.read(
            room: 4096,
            { storage, offset, atMost in
                let bytes = take(min(atMost, storage.count - offset))
                storage.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
                return bytes.count
            },
            into: { storage in
                let bytes = take(storage.count)
                bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
                return bytes.count
            })
        switch progress {
        case .ended:
            return
        case .outData(var command, let data):
            command.transferBuffer = data.slice(0..<Int(command.transferBufferLength)).copied()[...]
            roundTrip(.submit(command), receiver: .server, limits: limits)
        case .more:
            do {
                while let message = try reader.next() { roundTrip(message, receiver: .server, limits: limits) }
            } catch {
                return
            }
            reader.takeOUTSubmitHeader(minimum: 64) { FixedBytes(uninitializedCount: Int($0.transferBufferLength)) }
        }
    }
}
