extension Duration {
    /// The duration in seconds, as a `Double` (what timings, metrics and status messages report):
    /// the one place the seconds-and-attoseconds arithmetic is written, with ``nanoseconds``.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }

    /// The duration in whole nanoseconds (saturating at `Int64`'s bounds).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
