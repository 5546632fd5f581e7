import CPlatform
import Foundation
import Testing

@testable import Secure

/// The cipher preference follows what the kernel says about the CPU.
@Suite struct CPUFeaturesTests {
    /// AT_HWCAP from /proc/self/auxv: pairs of 64-bit little-endian words (type, value);
    /// AT_HWCAP is 16. (Both targets, x86-64 and aarch64, are 64-bit little-endian.)
    func hardwareCapabilitiesFromProc() throws -> UInt {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/proc/self/auxv")))
        let words = stride(from: 0, to: bytes.count - 7, by: 8).map { start in
            bytes[start..<start + 8].reversed().reduce(UInt(0)) { $0 << 8 | UInt($1) }
        }
        for pair in stride(from: 0, to: words.count - 1, by: 2) where words[pair] == 16 {
            return words[pair + 1]
        }
        Issue.record("no AT_HWCAP in /proc/self/auxv")
        return 0
    }

    /// On aarch64 glibc's getauxval(AT_HWCAP) is the kernel's word (on x86-64 glibc puts
    /// its own bits there, so only the preference is checked).
    @Test func chaCha20IsPreferredOnlyOnArmWithoutTheAESExtension() throws {
        #if arch(arm64)
            let kernels = try hardwareCapabilitiesFromProc()
            #expect(usbp2p_hardware_capabilities() == kernels)
            #expect(CPUFeatures.prefersChaCha20 == (kernels & (1 << 3) == 0))
        #else
            #expect(!CPUFeatures.prefersChaCha20)
        #endif
    }
}
