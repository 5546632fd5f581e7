import TestSupport
import Testing

@testable import Config

/// Mutated configuration files through the whole parse and check: each gives a value or
/// a ConfigError, never a crash (a crash ends the test process, failing the run). This is
/// how the toml++ assertion on headers like "[" was found (TableHeaderGuard).
@Suite struct RandomizedConfigTests {

    static let seeds = [
        "log_level = \"info\"\nstate_directory = \"/var/lib/usbp2p\"\n",
        "# comment\n[usbip]\nport = 3240\nenabled = true\n",
        "usbip.port = 1\nlog_level = 'debug' # trailing\n",
        "a = [1, [2, 3], { b = \"c\" }]\n[[t]]\nx = 1979-05-27T07:32:00Z\n",
        "s = \"\"\"\nmulti\nline\n\"\"\"\n",
    ]
    static let alphabet = Array("[]{}=\"'#.,\n \t\\abc019-_:Z+".utf8)

    @Test func mutatedFilesGiveAValueOrAnError() {
        var rng = SplitMix64(seed: 0xC0FF1E)
        var outcomes = (parsed: 0, refused: 0)
        for _ in 0..<5000 {
            var bytes = Array(Self.seeds.randomElement(using: &rng)!.utf8)
            for _ in 0...Int.random(in: 0..<4, using: &rng) {
                let at = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes.insert(Self.alphabet.randomElement(using: &rng)!, at: at)
                case 1 where at < bytes.count: bytes.remove(at: at)
                default: bytes = Array(bytes[0..<at])
                }
            }
            do {
                _ = try ConfigFile(
                    parsing: String(decoding: bytes, as: UTF8.self), path: "m.toml",
                    schema: ConfigFileTests.schema)
                outcomes.parsed += 1
            } catch {
                outcomes.refused += 1
            }
        }
        #expect(outcomes.parsed > 100 && outcomes.refused > 100, "outcomes \(outcomes)")
    }
}
