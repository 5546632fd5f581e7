import COpenSSL

/// WPA-Personal's pre-shared key from a passphrase: PBKDF2-HMAC-SHA1 over the passphrase,
/// salted with the SSID, 4096 rounds, 32 bytes (IEEE 802.11i-2004, H.4.1; what
/// `wpa_passphrase` prints). Written as hex into the supplicant's configuration, it needs
/// no quoting, whatever the passphrase holds.
public enum WPAKey {
    public static func psk(passphrase: String, ssid: String) -> [UInt8]? {
        let password = Array(passphrase.utf8)
        let salt = Array(ssid.utf8)
        guard !password.isEmpty else { return nil }
        var key = [UInt8](repeating: 0, count: 32)
        let ok = password.withUnsafeBufferPointer { password in
            salt.withUnsafeBufferPointer { salt in
                key.withUnsafeMutableBufferPointer { key in
                    password.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(password.count, 1)) {
                        PKCS5_PBKDF2_HMAC_SHA1(
                            $0, Int32(password.count), salt.baseAddress, Int32(salt.count), 4096, Int32(key.count),
                            key.baseAddress)
                    }
                }
            }
        }
        return ok == 1 ? key : nil
    }
}
