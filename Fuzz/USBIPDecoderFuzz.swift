// libFuzzer entry point for the USB/IP decoder, compiled together with
// Sources/USBIP by scripts/fuzz (swiftc -sanitize=fuzzer,address).
//
// The first input byte chooses the receiving side and how the input is fed to a stream
// decoder (whole, or in pieces of a size from the second byte); the rest is the stream.
// Every decoded message must re-encode to exactly the bytes it was decoded from (up to
// the padding the encoder writes as zero), or the fuzzer stops with the input.

@_cdecl("LLVMFuzzerTestOneInput")
public func usbipDecoderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let receiver: USBIPSide = input[0] & 1 == 0 ? .server : .client
    let chunk = input[0] & 2 == 0 ? size : Int(input[1]) + 1
    let stream = input[2...]
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
