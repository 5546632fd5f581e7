import COpenSSL

/// The linked OpenSSL. Mutual TLS 1.3 on EndpointIds grows here.
public enum OpenSSLLibrary {
    /// e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public static var version: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }
}
