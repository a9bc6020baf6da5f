#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a next-visit prediction is made from.
public struct NextVisitQuery: Sendable, Equatable {
    /// The user's visits strictly before ``time``, in time order (training visits, then recent ones).
    public var history: VisitSequence
    /// The user's visits that the ``VisitStatistics`` contain (normally all the user's training visits;
    /// empty for a user the model was not trained on). They are subtracted from everyone's counts.
    public var ownVisits: VisitSequence
    /// The index in ``history`` where the current session starts (`history.stores.endIndex` when the
    /// session has no visit yet).
    public var sessionStart: Int
    /// The time of the prediction (Unix seconds). In evaluation, the last known visit's time.
    public var time: Int64
    /// Where the user is; `nil` uses the last visited store's position.
    public var position: GeoPoint?

    public init(history: VisitSequence, ownVisits: VisitSequence, sessionStart: Int, time: Int64, position: GeoPoint? = nil) {
        self.history = history
        self.ownVisits = ownVisits
        self.sessionStart = min(max(sessionStart, history.stores.startIndex), history.stores.endIndex)
        self.time = time
        self.position = position
    }

    /// The last visited store, if any.
    public var lastStore: Int? { history.stores.last.map(Int.init) }

    /// Where distances are measured from: ``position``, else the last visited store's position.
    public func origin(in catalogue: StoreCatalogue) -> GeoPoint? {
        position ?? lastStore.map(catalogue.position(of:))
    }
}

/// Reusable buffers of ``NextVisitFeatureExtractor`` (one per thread): a store → candidate-slot map
/// and per-candidate accumulators, so that one query allocates almost nothing.
public struct NextVisitScratch: Sendable {
    var slots: [Int32]
    var categoryCounts: [Int32]
    /// Per category and hour, the querying user's own visits (subtracted from everyone's).
    var ownCategoryHours: [Int32]
    var ownCategoryTotals: [Int32]
    var accumulators: [Double]
    var collaborative: [Double]
    /// Per category, this query's category-share and hour-kernel terms once computed (`nan` until then),
    /// and the categories to reset afterwards.
    var categoryShareLogs: [Double]
    var categoryKernels: [Double]
    var cachedCategories: [Int32]
    /// Per store, whether it is already a candidate of the query being built (all `false` between queries).
    var candidateMarks: [Bool]
    /// Fold-ins of recent histories (empty unless the scratch was made with a capacity for them).
    public internal(set) var foldInMemo: FoldInMemo

    /// Buffers for a catalogue of `storeCount` stores in `categoryCount` categories, keeping up to
    /// `foldInMemoCapacity` users' folded-in factors (0: none, as for training, where every history is new).
    public init(storeCount: Int, categoryCount: Int, foldInMemoCapacity: Int = 0) {
        foldInMemo = FoldInMemo(capacity: foldInMemoCapacity)
        candidateMarks = [Bool](repeating: false, count: storeCount)
        slots = [Int32](repeating: -1, count: storeCount)
        categoryCounts = [Int32](repeating: 0, count: max(categoryCount, 1))
        ownCategoryHours = [Int32](repeating: 0, count: max(categoryCount, 1) * 24)
        ownCategoryTotals = [Int32](repeating: 0, count: max(categoryCount, 1))
        accumulators = []
        collaborative = []
        categoryShareLogs = [Double](repeating: .nan, count: max(categoryCount, 1))
        categoryKernels = [Double](repeating: .nan, count: max(categoryCount, 1))
        cachedCategories = []
    }
}

/// Computes the ``NextVisitFeature`` values of candidate stores for one query: a pure function of the
/// query, the replicated statistics and the catalogue (plus the collaborative scorer, if any).
public struct NextVisitFeatureExtractor: Sendable {
    public let catalogue: StoreCatalogue
    public let statistics: VisitStatistics
    public let parameters: NextVisitParameters
    /// The mean of the hour kernel over the 24 hour-bin centres (the `K̄` of ``NextVisitFeature/userHourShare``).
    let uniformKernelMean: Double
    /// `log(K̄)`: ``NextVisitFeature/userHourShare`` of a store the user has not visited.
    let logUniformKernelMean: Double
    /// Per store, `log(1 + popularity)`: ``NextVisitFeature/popularity`` when the user's own visits
    /// subtract nothing (most candidates), computed once instead of per query.
    let logPopularity: [Double]

    public init(catalogue: StoreCatalogue, statistics: VisitStatistics, parameters: NextVisitParameters) {
        precondition(catalogue.count == statistics.storeCount, "NextVisitFeatureExtractor: catalogue and statistics differ")
        self.catalogue = catalogue
        self.statistics = statistics
        self.parameters = parameters
        let kappa = parameters.hourKernelConcentration
        uniformKernelMean = (0..<24).reduce(0.0) { $0 + exp(kappa * (cos(2 * Double.pi * (Double($1) + 0.5) / 24) - 1)) } / 24
        logUniformKernelMean = log((0 + uniformKernelMean) / (0 + 1))
        logPopularity = statistics.popularity.map { log1p(Double($0)) }
    }

    /// `log(1 + x)`, with the common `x = 0` (a store the user never visited) answered without the call.
    @inline(__always) private static func log1pOrZero(_ x: Double) -> Double { x == 0 ? 0 : log1p(x) }

    /// Fresh buffers for this catalogue.
    public func makeScratch(foldInMemoCapacity: Int = 0) -> NextVisitScratch {
        NextVisitScratch(
            storeCount: catalogue.count, categoryCount: catalogue.categoryNames.count, foldInMemoCapacity: foldInMemoCapacity)
    }

    /// Accumulator columns per candidate.
    private enum Column: Int, CaseIterable {
        case count, recencyDay, recencyWeek, recencyMonth, lastTime, kernel, weekPart, next, next2, session, sessionEnd
        case ownCount, ownFromLast, ownKernel
        case othersFromLast
    }

    /// What every pass of ``features(for:candidates:collaborative:scratch:)`` reads of the query.
    private struct QueryFrame {
        let history: VisitSequence
        let last: Int?
        /// The store before the last one.
        let previous: Int?
        let sessionStart: Int
        let time: Int64
        /// The query's solar hour and weekday, at the user's position (else the last store's).
        let hour: Double
        let isWeekend: Bool
        /// The activity clock: pauses longer than the cap count as the cap. `excessTotal` is what the
        /// whole history (and the wait until the query) loses; a visit's age subtracts what the pauses
        /// after it lose.
        let gapCap: Int64
        let excessTotal: Int64
        /// Accumulator columns per candidate (``Column``).
        let columns: Int
    }

    /// The user's own training visits, counted to be subtracted from everyone's counts.
    private struct OwnVisitTotals {
        var visits: Int64 = 0
        /// Of them, those that followed the last store within a session gap.
        var fromLast: Int64 = 0
        /// The categories whose per-hour counts in the scratch were raised (to reset afterwards).
        var categories: [Int32] = []
    }

    /// The features of `candidates` (store indices, any order, no repeats) for `query`, row-major:
    /// `result[c * NextVisitFeature.count + f.rawValue]`.
    ///
    /// Passes: the user's history onto the candidates' accumulators; the user's own training visits
    /// (subtracted from everyone's counts); everyone's transitions from the last store; the
    /// collaborative scores; each category's hour terms; then each candidate's features from all of it.
    public func features(
        for query: NextVisitQuery, candidates: [Int32], collaborative: (any CollaborativeScoring)?,
        scratch: inout NextVisitScratch
    ) -> [Double] {
        var output = [Double](repeating: 0, count: candidates.count * NextVisitFeature.count)
        guard !candidates.isEmpty else { return output }
        let frame = makeFrame(for: query)
        // Reuse the buffer's capacity: one query should not allocate it afresh.
        scratch.accumulators.removeAll(keepingCapacity: true)
        scratch.accumulators.append(contentsOf: repeatElement(0, count: candidates.count * frame.columns))
        for (slot, store) in candidates.enumerated() { scratch.slots[Int(store)] = Int32(slot) }
        defer { for store in candidates { scratch.slots[Int(store)] = -1 } }

        let touchedCategories = accumulateHistory(frame, scratch: &scratch)
        let normalizedKernel = normalizedHourKernel(around: frame.hour)
        let own = accumulateOwnVisits(query.ownVisits, frame: frame, normalizedKernel: normalizedKernel, scratch: &scratch)
        if let last = frame.last { scatterTransitions(from: last, columns: frame.columns, scratch: &scratch) }
        let useCollaborative = collaborative != nil && parameters.features.contains(.collaborative)
        if let collaborative, useCollaborative {
            if scratch.collaborative.count != candidates.count {
                scratch.collaborative = [Double](repeating: 0, count: candidates.count)
            }
            collaborative.score(history: query.history, candidates: candidates, into: &scratch.collaborative, memo: &scratch.foldInMemo)
        }
        cacheCategoryTerms(of: candidates, historyCount: query.history.stores.count, normalizedKernel: normalizedKernel, scratch: &scratch)
        writeFeatures(
            of: candidates, frame: frame, own: own, normalizedKernel: normalizedKernel, origin: query.origin(in: catalogue),
            useCollaborative: useCollaborative, scratch: scratch, into: &output)
        reset(touchedCategories: touchedCategories, ownCategories: own.categories, scratch: &scratch)
        return output
    }

    private func makeFrame(for query: NextVisitQuery) -> QueryFrame {
        let stores = query.history.stores
        let times = query.history.timestamps
        let last = query.lastStore
        let anchorLongitude = query.position?.longitude ?? last.map { catalogue.longitudes[$0] } ?? 0
        let gapCap = parameters.recencyGapCapSeconds
        var excessTotal: Int64 = 0
        if gapCap > 0, let lastTime = times.last {
            var previousTime = times.first ?? lastTime
            for time in times {
                excessTotal += max(time - previousTime - gapCap, 0)
                previousTime = time
            }
            excessTotal += max(query.time - lastTime - gapCap, 0)
        }
        return QueryFrame(
            history: query.history, last: last, previous: stores.count >= 2 ? Int(stores[stores.endIndex - 2]) : nil,
            sessionStart: query.sessionStart, time: query.time,
            hour: SolarTime.hour(at: query.time, longitude: anchorLongitude),
            isWeekend: SolarTime.isWeekend(at: query.time, longitude: anchorLongitude),
            gapCap: gapCap, excessTotal: excessTotal, columns: Column.allCases.count)
    }

    /// One pass over the user's history: per candidate, counts, recency on the activity clock, hour
    /// and week-part matches, transitions from the last stores, session terms; per category, the
    /// history's visits. Returns the categories counted (to reset afterwards).
    private func accumulateHistory(_ frame: QueryFrame, scratch: inout NextVisitScratch) -> [Int32] {
        let stores = frame.history.stores
        let times = frame.history.timestamps
        let gap = parameters.sessionGapSeconds
        let kappa = parameters.hourKernelConcentration
        let columns = frame.columns
        let day = Double(Seconds.perDay)
        var excessSoFar: Int64 = 0
        var touchedCategories: [Int32] = []
        scratch.accumulators.withUnsafeMutableBufferPointer { acc in
            for index in stores.indices {
                if frame.gapCap > 0, index > stores.startIndex { excessSoFar += max(times[index] - times[index - 1] - frame.gapCap, 0) }
                let store = Int(stores[index])
                let category = Int(catalogue.categoryIDs[store])
                if scratch.categoryCounts[category] == 0 { touchedCategories.append(Int32(category)) }
                scratch.categoryCounts[category] += 1
                let slot = Int(scratch.slots[store])
                guard slot >= 0 else { continue }
                let base = slot * columns
                let time = times[index]
                // Ages are on the activity clock (the wall clock when there is no cap).
                let activityTime = time + (frame.excessTotal - excessSoFar)
                let age = Double(max(frame.time - activityTime, 0))
                acc[base + Column.count.rawValue] += 1
                // Terms below e⁻⁴⁰ (4·10⁻¹⁸) cannot move a log(1 + sum): skip their exp.
                if age < 40 * day { acc[base + Column.recencyDay.rawValue] += exp(-age / day) }
                if age < 280 * day { acc[base + Column.recencyWeek.rawValue] += exp(-age / (7 * day)) }
                acc[base + Column.recencyMonth.rawValue] += exp(-age / (30 * day))
                if acc[base + Column.count.rawValue] == 1 || Double(activityTime) > acc[base + Column.lastTime.rawValue] {
                    acc[base + Column.lastTime.rawValue] = Double(activityTime)
                }
                let longitude = catalogue.longitudes[store]
                let hour = SolarTime.hour(at: time, longitude: longitude)
                acc[base + Column.kernel.rawValue] += exp(kappa * (cos(2 * Double.pi * (hour - frame.hour) / 24) - 1))
                if SolarTime.isWeekend(at: time, longitude: longitude) == frame.isWeekend {
                    acc[base + Column.weekPart.rawValue] += 1
                }
                if index > stores.startIndex, let last = frame.last, Int(stores[index - 1]) == last, time - times[index - 1] <= gap {
                    acc[base + Column.next.rawValue] += 1
                }
                if index >= stores.startIndex + 2, let last = frame.last, let previous = frame.previous,
                   Int(stores[index - 1]) == last, Int(stores[index - 2]) == previous {
                    acc[base + Column.next2.rawValue] += 1
                }
                if index >= frame.sessionStart { acc[base + Column.session.rawValue] += 1 }
                if index + 1 < stores.endIndex, times[index + 1] - time > gap {
                    acc[base + Column.sessionEnd.rawValue] += 1
                }
            }
        }
        return touchedCategories
    }

    /// The hour kernel around the query's hour at the 24 bin centres, divided by its mean.
    private func normalizedHourKernel(around queryHour: Double) -> [Double] {
        let kappa = parameters.hourKernelConcentration
        let hourKernel = (0..<24).map { exp(kappa * cos(2 * Double.pi * (Double($0) + 0.5 - queryHour) / 24)) }
        let kernelMean = hourKernel.reduce(0, +) / 24
        return hourKernel.map { $0 / kernelMean }
    }

    /// The user's own training visits, to subtract from everyone's counts: totals, per category and
    /// hour in the scratch, and per candidate.
    private func accumulateOwnVisits(
        _ own: VisitSequence, frame: QueryFrame, normalizedKernel: [Double], scratch: inout NextVisitScratch
    ) -> OwnVisitTotals {
        let gap = parameters.sessionGapSeconds
        let columns = frame.columns
        var totals = OwnVisitTotals()
        scratch.accumulators.withUnsafeMutableBufferPointer { acc in
            for index in own.stores.indices {
                let store = Int(own.stores[index])
                totals.visits += 1
                let bin = SolarTime.hourBin(at: own.timestamps[index], longitude: catalogue.longitudes[store])
                let category = Int(catalogue.categoryIDs[store])
                if scratch.ownCategoryTotals[category] == 0 { totals.categories.append(Int32(category)) }
                scratch.ownCategoryTotals[category] += 1
                scratch.ownCategoryHours[category * 24 + bin] += 1
                let fromLast = index > own.stores.startIndex && frame.last == Int(own.stores[index - 1])
                    && own.timestamps[index] - own.timestamps[index - 1] <= gap
                if fromLast { totals.fromLast += 1 }
                let slot = Int(scratch.slots[store])
                guard slot >= 0 else { continue }
                let base = slot * columns
                acc[base + Column.ownCount.rawValue] += 1
                if fromLast { acc[base + Column.ownFromLast.rawValue] += 1 }
                acc[base + Column.ownKernel.rawValue] += normalizedKernel[bin]
            }
        }
        return totals
    }

    /// Everyone's transitions from the last store, scattered onto the candidates in one pass over the
    /// row (cheaper than a search per candidate).
    private func scatterTransitions(from last: Int, columns: Int, scratch: inout NextVisitScratch) {
        let row = statistics.transitions(from: last)
        scratch.accumulators.withUnsafeMutableBufferPointer { acc in
            for (target, count) in zip(row.targets, row.counts) {
                let slot = Int(scratch.slots[Int(target)])
                if slot >= 0 { acc[slot * columns + Column.othersFromLast.rawValue] = Double(count) }
            }
        }
    }

    /// Per category of the candidates, once: everyone else's add-one-smoothed share of the
    /// category's visits by hour under the kernel, and the log of the history's share of the category.
    private func cacheCategoryTerms(
        of candidates: [Int32], historyCount: Int, normalizedKernel: [Double], scratch: inout NextVisitScratch
    ) {
        let categoryCount = Double(catalogue.categoryNames.count)
        for storeIndex in candidates {
            let category = Int(catalogue.categoryIDs[Int(storeIndex)])
            guard scratch.categoryKernels[category].isNaN else { continue }
            scratch.cachedCategories.append(Int32(category))
            var categoryKernel = 0.0
            for hour in 0..<24 {
                let othersInCategory = max(statistics.categoryHourCounts[category * 24 + hour]
                    - Int64(scratch.ownCategoryHours[category * 24 + hour]), 0)
                categoryKernel += Double(othersInCategory + 1) * normalizedKernel[hour]
            }
            categoryKernel /= Double(max(statistics.categoryTotals[category] - Int64(scratch.ownCategoryTotals[category]), 0) + 24)
            scratch.categoryKernels[category] = categoryKernel
            scratch.categoryShareLogs[category] = log(
                (Double(scratch.categoryCounts[category]) + 1) / (Double(historyCount) + categoryCount))
        }
    }

    /// Each candidate's features from the accumulators and the cached category terms.
    private func writeFeatures(
        of candidates: [Int32], frame: QueryFrame, own: OwnVisitTotals, normalizedKernel: [Double], origin: GeoPoint?,
        useCollaborative: Bool, scratch: NextVisitScratch, into output: inout [Double]
    ) {
        let featureCount = NextVisitFeature.count
        let columns = frame.columns
        let storeCount = Double(statistics.storeCount)
        // "Everyone else" counts are everyone's minus the user's own; they are never negative when the
        // own visits are the ones the statistics counted, in the same order. The floors at 0 keep a
        // prediction finite if a caller breaks that (a log of a negative count would be NaN).
        let othersTotal = Double(max(statistics.totalVisits - own.visits, 0))
        let othersRowTotal = frame.last.map { max(Double(statistics.transitionTotals[$0] - own.fromLast), 0) } ?? 0
        let beta = parameters.transitionPrior
        let prior = parameters.storeHourPrior
        let stores = frame.history.stores
        let sessionStartStore = frame.sessionStart < stores.endIndex ? Int(stores[frame.sessionStart]) : nil
        let queryTime = Double(frame.time)
        scratch.accumulators.withUnsafeBufferPointer { acc in
            output.withUnsafeMutableBufferPointer { out in
                for (slot, storeIndex) in candidates.enumerated() {
                    let store = Int(storeIndex)
                    let base = slot * columns
                    let row = slot * featureCount
                    @inline(__always) func value(_ column: Column) -> Double { acc[base + column.rawValue] }
                    @inline(__always) func set(_ feature: NextVisitFeature, _ x: Double) { out[row + feature.rawValue] = x }

                    let count = value(.count)
                    if count > 0 {
                        // Everything the user's own visits to the store feed; all zero (and log 0 = 0)
                        // for the many candidates the user never visited.
                        set(.frequency, log1p(count))
                        set(.recencyDay, Self.log1pOrZero(value(.recencyDay)))
                        set(.recencyWeek, Self.log1pOrZero(value(.recencyWeek)))
                        set(.recencyMonth, Self.log1pOrZero(value(.recencyMonth)))
                        set(.visited, 1)
                        set(.hoursSinceVisit, log1p(max(queryTime - value(.lastTime), 0) / Double(Seconds.perHour)))
                        set(.userHour, Self.log1pOrZero(value(.kernel)))
                        set(.userHourShare, log((value(.kernel) + uniformKernelMean) / (count + 1)))
                        set(.userWeekPart, Self.log1pOrZero(value(.weekPart)))
                        set(.userNext, Self.log1pOrZero(value(.next)))
                        set(.userNextSecondOrder, Self.log1pOrZero(value(.next2)))
                    } else {
                        set(.userHourShare, logUniformKernelMean)
                    }

                    let ownCount = value(.ownCount)
                    let othersVisits = max(Double(statistics.popularity[store]) - ownCount, 0)
                    let popularityPrior = (othersVisits + 1) / (othersTotal + storeCount)
                    let othersTransitions = max(value(.othersFromLast) - value(.ownFromLast), 0)
                    set(.othersNext, log((othersTransitions + beta * popularityPrior) / (othersRowTotal + beta)))
                    if let origin {
                        let kilometers = Geodesy.haversineMeters(
                            latitude1: origin.latitude, longitude1: origin.longitude,
                            latitude2: catalogue.latitudes[store], longitude2: catalogue.longitudes[store]) / 1_000
                        set(.distance, log(kilometers + parameters.distanceOffsetKilometers))
                    }
                    set(.popularity, ownCount == 0 ? logPopularity[store] : log1p(othersVisits))

                    var storeKernel = 0.0
                    for hour in 0..<24 {
                        storeKernel += Double(statistics.hourCounts[store * 24 + hour]) * normalizedKernel[hour]
                    }
                    let category = Int(catalogue.categoryIDs[store])
                    let othersKernel = max(storeKernel - value(.ownKernel), 0)
                    set(.storeHour, log((othersKernel + prior * scratch.categoryKernels[category]) / (othersVisits + prior) / 24))

                    set(.session, Self.log1pOrZero(value(.session)))
                    if store == frame.last { set(.isLast, 1) }
                    if store == sessionStartStore { set(.isSessionStart, 1) }
                    set(.sessionEnd, Self.log1pOrZero(value(.sessionEnd)))
                    set(.categoryShare, scratch.categoryShareLogs[category])
                    if useCollaborative { set(.collaborative, scratch.collaborative[slot]) }
                }
            }
        }
    }

    /// Puts the scratch's per-category state back to its between-queries value.
    private func reset(touchedCategories: [Int32], ownCategories: [Int32], scratch: inout NextVisitScratch) {
        for category in touchedCategories { scratch.categoryCounts[Int(category)] = 0 }
        for category in scratch.cachedCategories.map(Int.init) {
            scratch.categoryKernels[category] = .nan
            scratch.categoryShareLogs[category] = .nan
        }
        scratch.cachedCategories.removeAll(keepingCapacity: true)
        for category in ownCategories.map(Int.init) {
            scratch.ownCategoryTotals[category] = 0
            for hour in 0..<24 { scratch.ownCategoryHours[category * 24 + hour] = 0 }
        }
    }
}
