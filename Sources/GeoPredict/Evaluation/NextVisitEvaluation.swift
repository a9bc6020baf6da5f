import MPI

/// The predictors in an evaluation table: the model and the three baselines.
public enum NextVisitPredictor: Int, CaseIterable, Sendable, CustomStringConvertible {
    case model
    case mostPopular
    case userMostFrequent
    case lastStoreTransitions

    public var description: String {
        switch self {
        case .model: return "GeoPredict model"
        case .mostPopular: return "most popular"
        case .userMostFrequent: return "user's most frequent"
        case .lastStoreTransitions: return "last-venue transitions"
        }
    }
}

/// One scored test trajectory.
public struct EvaluatedTrajectory: Sendable, Equatable {
    public var trajectoryID: String
    public var userID: String
    /// The visited store (the trajectory's last check-in).
    public var target: Int
    /// Whether the target is a shopping store (``ShoppingCategories``).
    public var targetIsShopping: Bool
    /// The model's ranked list (at least 10 long when there are enough candidates).
    public var predictions: [RankedStore]
    /// The 0-based position of the target in each baseline's top 10, `nil` when absent (most popular,
    /// user's most frequent, last-venue transitions).
    public var baselinePositions: [Int?]

    /// The 0-based position of the target in the model's list.
    public var modelPosition: Int? { predictions.firstIndex { $0.store == target } }

    /// The position of the target for `predictor`.
    public func position(for predictor: NextVisitPredictor) -> Int? {
        predictor == .model ? modelPosition : baselinePositions[predictor.rawValue - 1]
    }

    func write(to writer: inout ByteWriter) {
        writer.write(trajectoryID)
        writer.write(userID)
        writer.write(Int32(target))
        writer.write(UInt8(targetIsShopping ? 1 : 0))
        writer.writeVarint(UInt64(predictions.count))
        for prediction in predictions {
            writer.write(Int32(prediction.store))
            writer.write(prediction.score)
        }
        for position in baselinePositions { writer.write(Int16(position ?? -1)) }
    }

    init(from reader: inout ByteReader) throws(ByteReader.Error) {
        trajectoryID = try reader.readString()
        userID = try reader.readString()
        target = Int(try reader.read(Int32.self))
        targetIsShopping = try reader.read(UInt8.self) != 0
        let count = Int(try reader.readVarint())
        predictions = []
        for _ in 0..<count {
            let store = Int(try reader.read(Int32.self))
            predictions.append(RankedStore(store: store, score: try reader.readDouble()))
        }
        baselinePositions = []
        for _ in 0..<3 {
            let position = Int(try reader.read(Int16.self))
            baselinePositions.append(position >= 0 ? position : nil)
        }
    }

    init(trajectoryID: String, userID: String, target: Int, targetIsShopping: Bool, predictions: [RankedStore], baselinePositions: [Int?]) {
        self.trajectoryID = trajectoryID
        self.userID = userID
        self.target = target
        self.targetIsShopping = targetIsShopping
        self.predictions = predictions
        self.baselinePositions = baselinePositions
    }
}

/// The outcome of an evaluation: every scored trajectory (on every rank, ordered by trajectory id) and
/// the counts of skipped ones.
public struct NextVisitEvaluationReport: Sendable {
    public var trajectories: [EvaluatedTrajectory]
    public var counts: EvaluationCounts
    /// Per-query model cost in CPU microseconds of the scoring thread (candidates, features, score, sort;
    /// time spent preempted is left out), over every rank's queries: (median, 99th percentile, mean).
    public var modelMicroseconds: (median: Double, p99: Double, mean: Double) = (0, 0, 0)

    /// The metrics of `predictor` over all trajectories, or only those whose target is a shopping store.
    public func metrics(_ predictor: NextVisitPredictor, shoppingOnly: Bool = false) -> RankingMetrics {
        var metrics = RankingMetrics()
        for trajectory in trajectories where !shoppingOnly || trajectory.targetIsShopping {
            metrics.add(position: trajectory.position(for: predictor))
        }
        return metrics
    }

    /// The table printed by `geopredict evaluate`.
    public func table(title: String) -> String {
        var lines = ["\(title): \(counts.scored) trajectories scored of \(counts.trajectories) with a known venue "
            + "(skipped: \(counts.unknownUser) unknown user, \(counts.tooShort) with < 2 known earlier check-ins)"]
        for shoppingOnly in [false, true] {
            let n = metrics(.model, shoppingOnly: shoppingOnly).count
            lines.append(shoppingOnly ? "  shopping slice (target in a shopping category), n = \(n)" : "  all trajectories, n = \(n)")
            lines.append("    " + pad("", 24) + pad("Acc@1", 8) + pad("Acc@5", 8) + pad("Acc@10", 8) + pad("MRR@10", 8))
            for predictor in NextVisitPredictor.allCases {
                let m = metrics(predictor, shoppingOnly: shoppingOnly)
                lines.append("    " + pad(predictor.description, 24) + pad(fixed(m.accuracyAt1), 8) + pad(fixed(m.accuracyAt5), 8)
                    + pad(fixed(m.accuracyAt10), 8) + pad(fixed(m.meanReciprocalRankAt10), 8))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `trajectory_id,rank,venue_id,score` lines (with the header) of the model's top `top` per trajectory.
    public func predictionsCSV(top: Int, catalogue: StoreCatalogue) -> String {
        var lines = ["trajectory_id,rank,venue_id,score"]
        for trajectory in trajectories {
            for (index, prediction) in trajectory.predictions.prefix(top).enumerated() {
                lines.append("\(csvField(trajectory.trajectoryID)),\(index + 1),\(csvField(catalogue.ids[prediction.store])),"
                    + fixed(prediction.score, digits: 6))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Scores test trajectories with a trained model and the baselines. Collective: each rank scores the
/// trajectories of its own users (their training history lives there) and the results are gathered,
/// so every rank returns the same report.
public enum NextVisitEvaluation {
    /// - Parameters:
    ///   - training: this rank's training visits (the model's).
    ///   - test: this rank's users' test check-ins, loaded against the training catalogue.
    ///   - listLength: how many stores the model lists per trajectory (at least 10 for the metrics).
    ///   - recent: check-ins after training and before each trajectory (the ones the running service
    ///     would already have ingested, or the evaluation files' earlier trajectories); when given, they
    ///     join each query's history (the model's and the baselines'). The trajectories scored are the
    ///     same either way.
    public static func run(
        model: NextVisitModel, training: VisitLog, test: VisitLog, attributes: VisitAttributes, listLength: Int,
        recent: RecentCheckIns? = nil, queryTime: EvaluationQueryTime = .last, on collectives: some Collectives
    ) throws(NextVisitModelError) -> NextVisitEvaluationReport {
        let (queries, localCounts) = EvaluationQueries.build(
            test: test, attributes: attributes, training: training, sessionGapSeconds: model.parameters.sessionGapSeconds)
        let length = max(listLength, 10)
        var scratch = model.makeScratch()
        var writer = ByteWriter()
        var latencies: [Double] = []
        for query in queries {
            var latency = 0.0
            evaluate(
                query, model: model, training: training, recent: recent, queryTime: queryTime, length: length,
                scratch: &scratch, latency: &latency)
                .write(to: &writer)
            latencies.append(latency * 1e6)
        }
        do {
            let counts = EvaluationCounts(values: try collectives.allReduce(localCounts.values, .sum))
            var allLatencies = try collectives.allGatherVarying(latencies).values
            allLatencies.sort()
            let gathered = try collectives.allGatherVarying(writer.bytes)
            var reader = ByteReader(gathered.values)
            var trajectories: [EvaluatedTrajectory] = []
            while !reader.isAtEnd { trajectories.append(try EvaluatedTrajectory(from: &reader)) }
            trajectories.sort { $0.trajectoryID.utf8.lexicographicallyPrecedes($1.trajectoryID.utf8) }
            var report = NextVisitEvaluationReport(trajectories: trajectories, counts: counts)
            if !allLatencies.isEmpty {
                report.modelMicroseconds = (
                    allLatencies[allLatencies.count / 2], allLatencies[min(allLatencies.count - 1, allLatencies.count * 99 / 100)],
                    allLatencies.reduce(0, +) / Double(allLatencies.count))
            }
            return report
        } catch {
            throw .communication("\(error)")
        }
    }

    /// Scores one query: history = the user's training visits (+ their ``RecentCheckIns`` before the
    /// trajectory) + the trajectory's earlier check-ins, asked at `queryTime`.
    public static func evaluate(
        _ query: EvaluationQuery, model: NextVisitModel, training: VisitLog, recent: RecentCheckIns? = nil,
        queryTime: EvaluationQueryTime = .last, length: Int, scratch: inout NextVisitScratch, latency: inout Double
    ) -> EvaluatedTrajectory {
        let nextQuery = scoringQuery(
            for: query, training: training, recent: recent, queryTime: queryTime,
            sessionGapSeconds: model.parameters.sessionGapSeconds)
        // The user's own visits before the trajectory, for the baselines: the query's history without
        // the trajectory's check-ins (built once, by scoringQuery).
        let own = nextQuery.history.prefix(nextQuery.history.count - query.prefix.count)
        var clock = Stopwatch(threadCPUTime: true)
        let predictions = model.rank(nextQuery, limit: length, scratch: &scratch)
        latency = clock.lap()
        let baselines = [
            NextVisitBaselines.mostPopular(model.statistics, limit: 10),
            NextVisitBaselines.userMostFrequent(own, limit: 10),
            NextVisitBaselines.lastStoreTransitions(
                last: query.prefix.stores.last.map(Int.init), userVisits: own, statistics: model.statistics, limit: 10),
        ]
        return EvaluatedTrajectory(
            trajectoryID: query.trajectoryID, userID: query.userID, target: query.target,
            targetIsShopping: model.shoppingStores[query.target], predictions: predictions,
            baselinePositions: baselines.map { RankingMetrics.position(of: query.target, in: $0) })
    }
}

extension NextVisitEvaluation {
    /// What the model is asked for one query. The only input taken from the target check-in is its
    /// time, and only under ``EvaluationQueryTime/target``: its store (and so its place) never reaches
    /// the scorer, and the position stays the last earlier check-in's.
    static func scoringQuery(
        for query: EvaluationQuery, training: VisitLog, recent: RecentCheckIns?, queryTime: EvaluationQueryTime,
        sessionGapSeconds: Int64
    ) -> NextVisitQuery {
        let trained = VisitSequence(user: query.trainingUser, in: training)
        let own = recent.map { trained.appending($0.visits(before: query)) } ?? trained
        let history = own.appending(query.prefix)
        let last = query.prefix.timestamps.last ?? 0
        let time = queryTime == .target ? max(query.targetTime, last) : last
        // The paper protocol: the trajectory is the session. As served, the service's rule decides (a
        // recent check-in an hour before the trajectory belongs to its session). Only the trained
        // visits are in the model's statistics, so only they are subtracted from everyone's counts.
        let sessionStart = recent == nil
            ? own.count : NextVisitModel.sessionStart(of: history, at: time, gapSeconds: sessionGapSeconds)
        return NextVisitQuery(history: history, ownVisits: trained, sessionStart: sessionStart, time: time)
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

/// `value` with exactly `digits` decimals (no Foundation).
func fixed(_ value: Double, digits: Int = 4) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int64(scaled / scale)
    var fraction = String(Int64(scaled - Double(whole) * scale))
    while fraction.count < digits { fraction = "0" + fraction }
    let sign = value < 0 && scaled != 0 ? "-" : ""
    return digits > 0 ? "\(sign)\(whole).\(fraction)" : "\(sign)\(whole)"
}

func csvField(_ text: String) -> String {
    guard text.contains(",") || text.contains("\"") || text.contains("\n") else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension Substring {
    fileprivate func range(of target: String) -> Range<Index>? {
        guard !target.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<(self.index(index, offsetBy: target.count)) }
            index = self.index(after: index)
        }
        return nil
    }
}
