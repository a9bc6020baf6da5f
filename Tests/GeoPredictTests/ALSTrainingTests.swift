@testable import GeoPredict
import MPI
import Testing

/// Synthetic data for the training tests: two user groups that visit two disjoint halves of the
/// stores.
enum ALSTestData {
    struct Planted {
        let catalogue: StoreCatalogue
        let log: VisitLog
        let counts: UserStoreCounts
        /// Per local user, 0 or 1.
        let userGroup: [Int]
        /// Per catalogue store, 0 or 1.
        let storeGroup: [Int]
    }

    static func catalogue(storeCount: Int) -> StoreCatalogue {
        StoreCatalogue(stores: (0..<storeCount).map { index in
            Store(id: "s" + String(1_000 + index), latitude: 40 + Double(index) * 1e-3, longitude: -74, category: "c\(index % 3)")
        })
    }

    static func planted(userCount: Int = 60, storeCount: Int = 24, storesPerUser: Int = 5, seed: UInt64 = 1) -> Planted {
        let catalogue = catalogue(storeCount: storeCount)
        let shards = ShardMap(rankCount: 1)
        var random = ALSTestRandom(seed: seed)
        var visits = [(userID: String, store: Int32, timestamp: Int64)]()
        let half = storeCount / 2
        for user in 0..<userCount {
            let group = user % 2
            var chosen = Set<Int>()
            while chosen.count < storesPerUser { chosen.insert(group * half + Int(random.next() % UInt64(half))) }
            for store in chosen.sorted() {
                for repeatIndex in 0..<Int(1 + random.next() % 3) {
                    visits.append(("u\(user)", Int32(store), Int64(1_000 * user + repeatIndex)))
                }
            }
        }
        let log = VisitLog(visits: visits, shards: shards)
        let userGroup = log.userIDs.map { Int($0.dropFirst())! % 2 }
        return Planted(
            catalogue: catalogue, log: log, counts: UserStoreCounts(visitLog: log), userGroup: userGroup,
            storeGroup: (0..<storeCount).map { $0 < half ? 0 : 1 }
        )
    }
}

struct ALSTrainingTests {
    static let shards = ShardMap(rankCount: 1)

    static func train(
        _ data: ALSTestData.Planted, _ configuration: ALSConfiguration, progress: (ALSProgress) -> Void = { _ in }
    ) throws -> (ALSModel, StoreFactorTable) {
        let model = try ImplicitALS.train(
            data.counts, catalogue: data.catalogue, shards: shards, configuration: configuration,
            on: SingleProcessCollectives(), progress: progress
        )
        return (model, try model.replicatedStoreFactors(on: SingleProcessCollectives()))
    }

    @Test(arguments: [ALSSolver.cholesky, .conjugateGradient(steps: 3)])
    func plantedGroupsAreRecovered(solver: ALSSolver) throws {
        let data = ALSTestData.planted(userCount: 200, storeCount: 20, storesPerUser: 4)
        let configuration = ALSConfiguration(factorCount: 4, iterations: 10, regularization: 0.1, solver: solver)
        let (model, table) = try Self.train(data, configuration)
        let half = data.catalogue.count / 2
        for user in 0..<model.userIDs.count {
            let group = data.userGroup[user]
            // The best half of the user's group ranks above every store of the other group.
            let top = table.topStores(for: model.userFactors.row(user), count: half / 2)
            #expect(top.allSatisfy { data.storeGroup[$0.store] == group }, "user \(model.userIDs[user]): \(top)")
            let scores = table.scores(for: model.userFactors.row(user))
            let inGroup = scores.indices.filter { data.storeGroup[$0] == group }.map { Double(scores[$0]) }
            let outGroup = scores.indices.filter { data.storeGroup[$0] != group }.map { Double(scores[$0]) }
            let gap = inGroup.reduce(0, +) / Double(half) - outGroup.reduce(0, +) / Double(half)
            #expect(gap > 0.5, "user \(model.userIDs[user]): mean in-group minus out-group score \(gap)")
        }
    }

    @Test func lossDecreasesEveryIterationWithExactSolves() throws {
        let data = ALSTestData.planted(seed: 2)
        var losses = [Double]()
        var iterations = [Int]()
        let configuration = ALSConfiguration(factorCount: 6, iterations: 8, solver: .cholesky, computesLoss: true)
        _ = try Self.train(data, configuration) { progress in
            iterations.append(progress.iteration)
            if let loss = progress.loss { losses.append(loss) }
        }
        #expect(iterations == Array(1...8))
        #expect(losses.count == 8)
        for (previous, next) in zip(losses, losses.dropFirst()) { #expect(next <= previous * (1 + 1e-9), "\(losses)") }
        #expect(losses.last! < losses.first! * 0.9)
    }

    @Test func lossDecreasesWithConjugateGradient() throws {
        let data = ALSTestData.planted(seed: 3)
        var losses = [Double]()
        _ = try Self.train(data, ALSConfiguration(factorCount: 8, iterations: 6, computesLoss: true)) { losses.append($0.loss ?? .nan) }
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.last! < losses.first!, "\(losses)")
    }

    @Test func noLossUnlessAskedFor() throws {
        var reported = [Double?]()
        _ = try Self.train(ALSTestData.planted(), ALSConfiguration(factorCount: 4, iterations: 2)) { reported.append($0.loss) }
        #expect(reported == [nil, nil])
    }

    @Test func reportedLossMatchesBruteForce() throws {
        let data = ALSTestData.planted(userCount: 20, storeCount: 10, storesPerUser: 3, seed: 4)
        let configuration = ALSConfiguration(factorCount: 4, iterations: 3, regularization: 0.3, computesLoss: true)
        var last: Double?
        let (model, table) = try Self.train(data, configuration) { last = $0.loss }
        let users = (0..<model.userIDs.count).map { Array(model.userFactors.row($0)) }
        let stores = (0..<table.storeCount).map { Array(table.factors.row($0)) }
        let confidences = (0..<data.counts.userCount).map { user in
            Dictionary(uniqueKeysWithValues: data.counts.counts.entryRange(ofRow: user).map {
                (Int(data.counts.counts.columns[$0]), configuration.confidence.weight(forCount: data.counts.counts.values[$0]))
            })
        }
        let reference = ALSReference.loss(users: users, stores: stores, confidences: confidences, regularization: 0.3)
        let reported = try #require(last)
        #expect(abs(reported - reference) <= 1e-5 * reference, "reported \(reported), brute force \(reference)")
    }

    @Test func manyConjugateGradientStepsTrainTheExactModel() throws {
        let data = ALSTestData.planted(seed: 5)
        let exact = try Self.train(data, ALSConfiguration(factorCount: 6, iterations: 5, solver: .cholesky)).0
        let conjugate = try Self.train(data, ALSConfiguration(factorCount: 6, iterations: 5, solver: .conjugateGradient(steps: 20))).0
        let difference = zip(exact.userFactors.rowMajorValues, conjugate.userFactors.rowMajorValues).map { abs($0 - $1) }.max()!
        let scale = exact.userFactors.rowMajorValues.map(abs).max()!
        #expect(difference <= 1e-3 * scale, "max difference \(difference) at scale \(scale)")
    }

    @Test func threeConjugateGradientStepsRankLikeCholesky() throws {
        let data = ALSTestData.planted(userCount: 80, storeCount: 30, seed: 6)
        let (exact, exactTable) = try Self.train(data, ALSConfiguration(factorCount: 8, iterations: 15, solver: .cholesky))
        let (conjugate, conjugateTable) = try Self.train(data, ALSConfiguration(factorCount: 8, iterations: 15))
        var overlap = 0
        for user in 0..<exact.userIDs.count {
            let a = Set(exactTable.topStores(for: exact.userFactors.row(user), count: 5).map(\.store))
            let b = Set(conjugateTable.topStores(for: conjugate.userFactors.row(user), count: 5).map(\.store))
            overlap += a.intersection(b).count
        }
        let meanOverlap = Double(overlap) / Double(5 * exact.userIDs.count)
        #expect(meanOverlap >= 0.8, "top-5 overlap \(meanOverlap)")
    }

    @Test func foldInReproducesATrainedUser() throws {
        let data = ALSTestData.planted(seed: 7)
        let configuration = ALSConfiguration(factorCount: 8, iterations: 25, solver: .cholesky)
        let (model, table) = try Self.train(data, configuration)
        for user in [0, 1, 17, 42] {
            let visits = data.counts.counts.entryRange(ofRow: user).map {
                (store: data.counts.counts.columns[$0], count: data.counts.counts.values[$0])
            }
            let folded = try table.foldIn(visits: visits.reversed(), configuration: configuration)
            let trained = Array(model.userFactors.row(user))
            let error = zip(folded, trained).map { abs($0 - $1) }.max()!
            let scale = trained.map(abs).max()!
            // Trained factors were solved against the previous sweep's stores; close, not equal.
            #expect(error <= 2e-2 * scale, "user \(user): error \(error), scale \(scale)")
            // Scores rank the same stores first.
            let fromFolded = table.topStores(for: folded, count: 5).map(\.store)
            let fromTrained = table.topStores(for: trained, count: 5).map(\.store)
            #expect(Set(fromFolded).intersection(fromTrained).count >= 4)
        }
    }

    @Test func foldInRejectsUnknownStoresAndHandlesNoVisits() throws {
        let data = ALSTestData.planted()
        let configuration = ALSConfiguration(factorCount: 4, iterations: 2)
        let (_, table) = try Self.train(data, configuration)
        #expect(throws: ALSError.unknownStore(index: 99)) {
            _ = try table.foldIn(visits: [(store: 99, count: 1)], configuration: configuration)
        }
        #expect(try table.foldIn(visits: [], configuration: configuration) == [0, 0, 0, 0])
    }

    @Test func trainingIsDeterministicAndStartsFromHashedFactors() throws {
        let data = ALSTestData.planted(seed: 8)
        let configuration = ALSConfiguration(factorCount: 5, iterations: 3)
        let first = try Self.train(data, configuration)
        let second = try Self.train(data, configuration)
        #expect(first.0 == second.0)
        #expect(first.1 == second.1)
        let untrained = try Self.train(data, ALSConfiguration(factorCount: 5, iterations: 0)).0
        #expect(Array(untrained.userFactors.row(0)) == InitialFactors.userRow(id: untrained.userIDs[0], seed: 0, factorCount: 5))
        #expect(untrained.userFactors.rowMajorValues.allSatisfy { (0..<0.01).contains($0) })
        let reseeded = try Self.train(data, ALSConfiguration(factorCount: 5, iterations: 0, seed: 9)).0
        #expect(reseeded.userFactors != untrained.userFactors)
    }

    @Test func modelAndTableRoundTripThroughCheckpoints() throws {
        let data = ALSTestData.planted(seed: 9)
        let configuration = ALSConfiguration(
            factorCount: 5, iterations: 2, regularization: 0.25, confidence: .logarithmic(alpha: 3, epsilon: 0.5),
            solver: .cholesky, seed: 11, computesLoss: true
        )
        let (model, table) = try Self.train(data, configuration)
        var writer = ByteWriter()
        model.write(to: &writer)
        table.write(to: &writer)
        var reader = ByteReader(writer.bytes)
        #expect(try ALSModel(from: &reader) == model)
        #expect(try StoreFactorTable(from: &reader) == table)
        #expect(reader.isAtEnd)

        var truncated = ByteReader(Array(writer.bytes.prefix(100)))
        #expect(throws: ALSError.self) { _ = try ALSModel(from: &truncated) }
        var wrongKind = ByteReader(writer.bytes)
        #expect(throws: ALSError.self) { _ = try StoreFactorTable(from: &wrongKind) }
    }

    @Test func invalidInputsAreTypedErrors() throws {
        let data = ALSTestData.planted()
        #expect(throws: ALSError.shardMismatch(shardRanks: 2, communicatorRanks: 1)) {
            _ = try ImplicitALS.train(data.counts, catalogue: data.catalogue, shards: ShardMap(rankCount: 2), on: SingleProcessCollectives())
        }
        let smallCatalogue = ALSTestData.catalogue(storeCount: 3)
        #expect(throws: ALSError.self) {
            _ = try ImplicitALS.train(data.counts, catalogue: smallCatalogue, shards: Self.shards, on: SingleProcessCollectives())
        }
        #expect(throws: ALSError.self) {
            _ = try ImplicitALS.train(
                data.counts, catalogue: data.catalogue, shards: Self.shards,
                configuration: ALSConfiguration(solver: .conjugateGradient(steps: 0)), on: SingleProcessCollectives()
            )
        }
        #expect(throws: ALSError.self) {
            _ = try SparseMatrix<UserAxis, StoreAxis>(offsets: [0, 2], columns: [1], values: [1])
        }
    }

    @Test func countsAggregateVisitsPerStore() throws {
        let shards = Self.shards
        let log = VisitLog(
            visits: [("a", 3, 10), ("a", 1, 11), ("a", 3, 12), ("b", 2, 5)], shards: shards
        )
        let counts = UserStoreCounts(visitLog: log)
        let a = try #require(log.userIDs.firstIndex(of: "a"))
        let range = counts.counts.entryRange(ofRow: a)
        #expect(Array(counts.counts.columns[range]) == [1, 3])
        #expect(Array(counts.counts.values[range]) == [1, 2])
        #expect(counts.entryCount == 3)

        let direct = try UserStoreCounts(userIDs: log.userIDs, shards: shards, visits: log.userIDs.map { id in
            id == "a" ? [(store: 3, count: 1), (store: 1, count: 1), (store: 3, count: 1)] : [(store: 2, count: 1)]
        })
        #expect(direct == counts)
        #expect(throws: ALSError.self) {
            _ = try UserStoreCounts(userIDs: log.userIDs.reversed(), shards: shards, visits: [[], []])
        }
    }

    /// Counting before a time reads the log in place; the result must be what counting a log cut at that
    /// time gives (users with no earlier visit left out, ties at the cut excluded).
    @Test func countsBeforeATimeMatchACutLog() {
        let shards = Self.shards
        var random = SplitMix64(seed: 11)
        var visits = [(userID: String, store: Int32, timestamp: Int64)]()
        for user in 0..<40 {
            for _ in 0..<Int(random.next() % 12) {
                visits.append(("u\(user)", Int32(random.next() % 9), Int64(random.next() % 100)))
            }
        }
        let log = VisitLog(visits: visits, shards: shards)
        for cut: Int64 in [0, 1, 37, 50, 99, 100, 1_000] {
            let cutLog = VisitLog(visits: visits.filter { $0.timestamp < cut }, shards: shards)
            let counted = UserStoreCounts(visitLog: log, before: cut)
            #expect(counted == UserStoreCounts(visitLog: cutLog), "cut at \(cut)")
            #expect(counted.userCount == cutLog.userCount, "cut at \(cut)")
        }
        #expect(UserStoreCounts(visitLog: log, before: 0).userCount == 0)
        #expect(UserStoreCounts(visitLog: log, before: 1_000) == UserStoreCounts(visitLog: log))
    }

    @Test func transposeSwapsTheOrientation() throws {
        let userByStore = try SparseMatrix<UserAxis, StoreAxis>(offsets: [0, 2, 3], columns: [0, 2, 2], values: [1, 2, 3])
        let storeByUser: SparseMatrix<StoreAxis, UserAxis> = userByStore.transposed(columnCount: 3)
        #expect(storeByUser.offsets == [0, 1, 1, 3])
        #expect(storeByUser.columns == [0, 0, 1])
        #expect(storeByUser.values == [1, 2, 3])
        #expect(storeByUser.transposed(columnCount: 2) == userByStore)
    }
}
