import CGPIOD

/// The linked libgpiod (v2 API). The LED and button driver grows here.
public enum LibGPIOD {
    /// e.g. "2.1.3".
    public static var version: String { String(cString: gpiod_api_version()) }
}
