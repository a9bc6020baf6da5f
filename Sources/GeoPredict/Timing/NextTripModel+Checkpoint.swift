// NextTripModel in a model checkpoint: its settings and the fitted population part, exact bits.

extension NextTripModel {
    func write(to writer: inout ByteWriter) {
        writer.write(parameters.horizonSeconds)
        writer.write(parameters.windowHorizonSeconds)
        writer.write(Int64(parameters.binCount))
        writer.write([
            parameters.shortestWaitSeconds, parameters.windowQuantiles.lower, parameters.windowQuantiles.upper,
            parameters.windowPriorStrength,
        ])
        writer.write(parameters.priorStrength != nil)
        if let strength = parameters.priorStrength { writer.write(strength) }
        writer.write(meanProbability)
        writer.write(priorStrength)
        writer.write(populationWaits)
    }

    init(from reader: inout CheckpointReader) throws(ModelCheckpointError) {
        var parameters = NextTripParameters()
        parameters.horizonSeconds = try reader.int64()
        parameters.windowHorizonSeconds = try reader.int64()
        parameters.binCount = try reader.int(in: 1...1_000_000, "timing bins")
        parameters.shortestWaitSeconds = try reader.double()
        parameters.windowQuantiles = (try reader.double(), try reader.double())
        parameters.windowPriorStrength = try reader.double()
        parameters.priorStrength = try reader.bool() ? try reader.double() : nil
        // The bin edges take logarithms of these two.
        guard parameters.shortestWaitSeconds > 0, parameters.windowHorizonSeconds > 0 else {
            throw .malformed("timing: the shortest wait and the window horizon must be positive")
        }
        let meanProbability = try reader.double()
        let priorStrength = try reader.double()
        let waits = try reader.array(parameters.binCount, elementBytes: 8) { reader throws(ModelCheckpointError) in try reader.double() }
        self.init(parameters: parameters, meanProbability: meanProbability, priorStrength: priorStrength, populationWaits: waits)
    }
}
