import TestSupport
import Testing

@testable import USBIP

/// Mutations of valid messages and plain noise through the decoder: it may decode,
/// ask for more bytes or throw, but never trap, hang or consume more than it was given.
/// The coverage-guided run of a million inputs is Fuzz/ (scripts/fuzz); this seeded
/// run keeps a fast, repeatable slice of it in the unit tests.
@Suite struct RandomizedDecoderTests {

    static let iterations = 50_000

    @Test func mutatedMessagesNeverTrapOrOverrun() throws {
        var rng = SplitMix64(seed: 0x5eed)
        let seeds = Samples.all.map { ($0.0, $0.1.encoded) }
        var outcomes = (decoded: 0, needMore: 0, refused: 0)
        for _ in 0..<Self.iterations {
            var (receiver, bytes) = seeds.randomElement(using: &rng)!
            mutate(&bytes, using: &rng)
            do {
                if let result = try USBIPMessage.decode(
                    from: bytes[...], receiver: receiver, requestDirection: { $0 & 1 == 0 ? .in : .out })
                {
                    #expect(result.consumed > 0 && result.consumed <= bytes.count)
                    // Whatever decodes must encode back to the bytes it came from,
                    // except fields the encoder writes as zero (padding).
                    #expect(result.message.encoded.count == result.consumed)
                    outcomes.decoded += 1
                } else {
                    outcomes.needMore += 1
                }
            } catch {
                outcomes.refused += 1
            }
        }
        // The mutations must reach all three outcomes, or they test too little.
        #expect(
            outcomes.decoded > 1000 && outcomes.needMore > 1000 && outcomes.refused > 1000,
            "outcomes \(outcomes)")
    }

    func mutate(_ bytes: inout [UInt8], using rng: inout SplitMix64) {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0:  // flip a few bytes
            for _ in 0...Int.random(in: 0..<4, using: &rng) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case 1:  // truncate
            bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
        case 2:  // extend with noise
            bytes += (0..<Int.random(in: 1..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 3:  // write an extreme value into a 32-bit field
            if bytes.count >= 8 {
                let at = Int.random(in: 0..<(bytes.count / 4), using: &rng) * 4
                let value = [UInt32.max, 0x7fff_ffff, 0x8000_0000, 0, 1, 1024, 1025].randomElement(using: &rng)!
                for i in 0..<4 where at + i < bytes.count {
                    bytes[at + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i))
                }
            }
        default:  // pure noise, sometimes with a valid first word
            bytes = (0..<Int.random(in: 0..<128, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if bytes.count >= 4, Bool.random(using: &rng) {
                bytes[0] = 0
                bytes[1] = 0
                bytes[2] = 0
            }
        }
    }
}
