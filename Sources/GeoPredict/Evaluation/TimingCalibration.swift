#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MPI

/// How well the next-trip timing's probabilities and windows match what happened in a test file.
///
/// Every test check-in of a user known from training is an *anchor*: the model predicts, from the user's
/// training check-ins and the test check-ins before the anchor, P(a trip within 24 h) and a window for
/// the next trip; the outcome is read from the test file. Anchors whose 24 h (7 days for the window)
/// reach past the file's last check-in are left out.
public struct TimingCalibrationReport: Sendable, Equatable {
    /// One anchor's prediction and outcome.
    public struct Anchor: Sendable, Equatable {
        public var userID: String
        public var time: Int64
        public var probability: Double
        public var followedWithinHorizon: Bool
        /// Whether the next trip came within the window horizon and was observable; then `inWindow` says
        /// whether it fell inside the predicted window.
        public var windowObserved: Bool
        public var inWindow: Bool
    }

    /// Anchors ordered by (user id, time).
    public var anchors: [Anchor]

    /// The share of anchors followed by a trip within 24 h.
    public var observedRate: Double { mean(anchors.map { $0.followedWithinHorizon ? 1 : 0 }) }
    /// The mean predicted probability.
    public var meanProbability: Double { mean(anchors.map(\.probability)) }
    /// Mean squared error of the probabilities.
    public var brierScore: Double {
        mean(anchors.map { ($0.probability - ($0.followedWithinHorizon ? 1 : 0)) * ($0.probability - ($0.followedWithinHorizon ? 1 : 0)) })
    }
    /// Brier score of predicting the observed rate for everyone (the reference a model must beat).
    public var constantBrierScore: Double {
        let rate = observedRate
        return mean(anchors.map { (rate - ($0.followedWithinHorizon ? 1 : 0)) * (rate - ($0.followedWithinHorizon ? 1 : 0)) })
    }
    /// Mean negative log-likelihood (probabilities clipped to [10⁻⁴, 1 − 10⁻⁴]).
    public var logLoss: Double {
        mean(anchors.map {
            let p = min(max($0.probability, 1e-4), 1 - 1e-4)
            return $0.followedWithinHorizon ? -log(p) : -log(1 - p)
        })
    }
    /// The share of observed next trips (within 7 days) that fell inside the predicted window.
    public var windowCoverage: Double {
        let observed = anchors.filter(\.windowObserved)
        return mean(observed.map { $0.inWindow ? 1 : 0 })
    }
    public var windowObservedCount: Int { anchors.filter(\.windowObserved).count }

    /// Reliability: per probability bin, (count, mean predicted, observed rate).
    public func reliability(edges: [Double] = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.000_001]) -> [(range: (Double, Double), count: Int, predicted: Double, observed: Double)] {
        zip(edges, edges.dropFirst()).compactMap { low, high in
            let inside = anchors.filter { $0.probability >= low && $0.probability < high }
            guard !inside.isEmpty else { return nil }
            return ((low, min(high, 1)), inside.count, mean(inside.map(\.probability)),
                    mean(inside.map { $0.followedWithinHorizon ? 1 : 0 }))
        }
    }

    /// The lines `geopredict evaluate` prints.
    public func summary(title: String) -> String {
        var lines = ["\(title): \(anchors.count) anchors (test check-ins of known users), "
            + "\(fixed(observedRate, digits: 3)) followed by a shopping trip within 24 h"]
        lines.append("    P(within 24 h): mean \(fixed(meanProbability, digits: 3)), Brier \(fixed(brierScore)) "
            + "(constant rate: \(fixed(constantBrierScore))), log loss \(fixed(logLoss))")
        for bin in reliability() {
            lines.append("      P in [\(fixed(bin.range.0, digits: 2)), \(fixed(bin.range.1, digits: 2))): n = \(bin.count), "
                + "predicted \(fixed(bin.predicted, digits: 3)), observed \(fixed(bin.observed, digits: 3))")
        }
        lines.append("    window (middle half of the wait): holds \(fixed(windowCoverage, digits: 3)) of "
            + "\(windowObservedCount) observed next trips within 7 days (ideal 0.5)")
        return lines.joined(separator: "\n")
    }

    private func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Computes the report. Collective: each rank handles its users; the anchors are gathered so every
    /// rank returns the same report.
    ///
    /// - Parameters:
    ///   - training: this rank's training visits and which of the training catalogue's stores are trips.
    ///   - test: this rank's users' test check-ins with *their own* catalogue (so that check-ins at
    ///     venues unseen in training still count), and which of its stores are trips.
    public static func run(
        model: NextTripModel, training: VisitLog, trainingTrips: [Bool], test: VisitLog, testTrips: [Bool],
        on collectives: some Collectives
    ) throws(NextVisitModelError) -> TimingCalibrationReport {
        let parameters = model.parameters
        let end: Int64
        do {
            end = try collectives.allReduce([test.timestamps.max() ?? Int64.min], .maximum)[0]
        } catch {
            throw .communication("\(error)")
        }
        var writer = ByteWriter()
        for user in 0..<test.userCount {
            guard let known = training.userIndex(of: test.userIDs[user], partition: Int(test.userPartitions[user])) else { continue }
            let own = VisitSequence(user: known, in: training)
            let testVisits = VisitSequence(user: user, in: test)
            let times = Array(own.timestamps) + Array(testVisits.timestamps)
            let trips = own.stores.map { trainingTrips[Int($0)] } + testVisits.stores.map { testTrips[Int($0)] }
            let testTripTimes = testVisits.stores.indices.filter { testTrips[Int(testVisits.stores[$0])] }.map { testVisits.timestamps[$0] }
            for anchor in testVisits.timestamps where anchor + parameters.horizonSeconds <= end {
                let evidence = TripEvidence(timestamps: times, isTrip: trips, at: anchor, parameters: parameters)
                let estimate = model.estimate(evidence, at: anchor)
                let next = TripEvidence.firstAfter(anchor, in: testTripTimes)
                let followed = next.map { $0 - anchor <= parameters.horizonSeconds } ?? false
                let observed = anchor + parameters.windowHorizonSeconds <= end
                    && next.map { $0 - anchor <= parameters.windowHorizonSeconds } ?? false
                let inside = next.map { estimate.earliest <= $0 && $0 <= estimate.latest } ?? false
                writer.write(test.userIDs[user])
                writer.write(anchor)
                writer.write(estimate.probabilityWithinHorizon)
                writer.write(UInt8((followed ? 1 : 0) | (observed ? 2 : 0) | (inside ? 4 : 0)))
            }
        }
        do {
            let gathered = try collectives.allGatherVarying(writer.bytes)
            var reader = ByteReader(gathered.values)
            var anchors: [Anchor] = []
            while !reader.isAtEnd {
                let userID = try reader.readString()
                let time = try reader.read(Int64.self)
                let probability = try reader.readDouble()
                let flags = try reader.read(UInt8.self)
                anchors.append(Anchor(
                    userID: userID, time: time, probability: probability, followedWithinHorizon: flags & 1 != 0,
                    windowObserved: flags & 2 != 0, inWindow: flags & 4 != 0))
            }
            anchors.sort {
                $0.userID != $1.userID ? $0.userID.utf8.lexicographicallyPrecedes($1.userID.utf8) : $0.time < $1.time
            }
            return TimingCalibrationReport(anchors: anchors)
        } catch {
            throw .communication("\(error)")
        }
    }
}
