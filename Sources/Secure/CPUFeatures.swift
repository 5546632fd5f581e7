import CPlatform

/// What the CPU can do fast, for choosing a cipher.
public enum CPUFeatures {
    /// True on 64-bit ARM without the AES extension (HWCAP_AES, bit 3 of AT_HWCAP on
    /// aarch64 Linux): there ChaCha20-Poly1305 beats AES-GCM. x86 and ARM with AES keep
    /// OpenSSL's default order.
    public static let prefersChaCha20: Bool = {
        #if arch(arm64)
            return usbp2p_hardware_capabilities() & (1 << 3) == 0
        #else
            return false
        #endif
    }()
}
