extension Templates {
    static func validation(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.module)/SummarizeRequest+Validation.swift", contents: #"""
            import MPIPlug

            extension \#(n.requestType): ValidatableRequest {
                /// The most values one request may carry.
                public static let maximumValueCount = 1_000_000
                /// The range every value must lie in: a million of them cannot overflow an `Int64` sum.
                public static let valueRange: ClosedRange<Int64> = -(1 << 40)...(1 << 40)

                /// Runs on rank 0 before the request is broadcast; a thrown error is answered with 400 at
                /// once and the request never reaches the other ranks.
                public func validate() throws(ConnectError) {
                    guard values.count <= Self.maximumValueCount else {
                        throw .invalidArgument("values: at most \(Self.maximumValueCount) of them")
                    }
                    if let value = values.first(where: { !Self.valueRange.contains($0) }) {
                        throw .invalidArgument("values: \(value) is outside ±2^40")
                    }
                }
            }

            """#)
    }
}
