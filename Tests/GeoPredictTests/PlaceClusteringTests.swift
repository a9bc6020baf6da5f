@testable import GeoPredict
import MPI
import Testing

struct PlaceClusteringTests {
    /// Stay points around a few centres (homes, offices, shops), from several users.
    func syntheticStays(seed: UInt64, count: Int) -> [UserStayPoint] {
        var generator = SeededGenerator(seed: seed)
        let builder = TrackBuilder()
        let centres = (0..<25).map { _ in (east: Double.random(in: -8_000...8_000, using: &generator), north: Double.random(in: -8_000...8_000, using: &generator)) }
        return (0..<count).map { index in
            let centre = centres[Int.random(in: 0..<centres.count, using: &generator)]
            let p = builder.point(
                east: centre.east + .random(in: -60...60, using: &generator),
                north: centre.north + .random(in: -60...60, using: &generator))
            let arrival = 1_200_000_000 + Int64(index) * Seconds.perHour
            return UserStayPoint(
                userID: "u\(Int.random(in: 0..<9, using: &generator))",
                stayPoint: StayPoint(latitude: p.latitude, longitude: p.longitude, arrivalUnixSeconds: arrival, departureUnixSeconds: arrival + 900, fixCount: 10))
        }
    }

    /// Slow reference: connected components of "within ε" by breadth-first search over all pairs,
    /// as sets of input indices.
    func referenceComponents(_ points: [GeoPoint], epsilon: Double) -> Set<Set<Int>> {
        var seen = Set<Int>()
        var components = Set<Set<Int>>()
        for start in points.indices where !seen.contains(start) {
            var component: Set<Int> = [start]
            var queue = [start]
            seen.insert(start)
            while let next = queue.popLast() {
                for other in points.indices where !seen.contains(other) && Geodesy.haversineMeters(points[next], points[other]) <= epsilon {
                    seen.insert(other)
                    component.insert(other)
                    queue.append(other)
                }
            }
            components.insert(component)
        }
        return components
    }

    func components(of clusters: PlaceClusters) -> Set<Set<Int>> {
        var members = [Int: Set<Int>]()
        for (point, place) in clusters.placeOfPoint.enumerated() {
            if let place { members[place, default: []].insert(point) }
        }
        return Set(members.values)
    }

    @Test(arguments: [1, 2, 3])
    func clustersAreTheConnectedComponentsOfTheEpsilonGraph(seed: Int) {
        let stays = syntheticStays(seed: UInt64(seed), count: 400)
        let points = stays.map(\.stayPoint.point)
        for epsilon in [30.0, 100, 250] {
            let clusters = PlaceClustering(epsilonMeters: epsilon).clusters(of: stays)
            #expect(components(of: clusters) == referenceComponents(points, epsilon: epsilon), "epsilon \(epsilon)")
            let clusteredCount: Int = clusters.places.reduce(0) { $0 + $1.stayPointCount }
            #expect(clusteredCount == stays.count)
            #expect(clusters.places.map(\.id) == clusters.places.map(\.id).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(Set(clusters.places.map(\.id)).count == clusters.places.count)
        }
    }

    @Test func placesDoNotDependOnInputOrder() {
        let stays = syntheticStays(seed: 4, count: 500)
        let clustering = PlaceClustering()
        let original = clustering.clusters(of: stays)
        var generator = SeededGenerator(seed: 5)
        for _ in 0..<5 {
            let permutation = Array(stays.indices).shuffled(using: &generator)
            let shuffled = clustering.clusters(of: permutation.map { stays[$0] })
            // The same places to the bit, and every stay in the same place as before.
            #expect(shuffled.places == original.places)
            for (position, input) in permutation.enumerated() {
                #expect(shuffled.placeOfPoint[position] == original.placeOfPoint[input])
            }
        }
    }

    @Test func placesAreTheSameAtAnyRankCount() {
        // What clustersAcrossRanks does: each rank contributes its users' stays (in its own order),
        // the blocks are concatenated in rank order, and everyone clusters the whole.
        let stays = syntheticStays(seed: 6, count: 300)
        let clustering = PlaceClustering()
        let single = clustering.clusters(of: stays)
        for ranks in 2...4 {
            let shards = ShardMap(rankCount: ranks)
            let gathered = (0..<ranks).flatMap { rank in stays.filter { shards.owner(of: $0.userID) == rank }.reversed() }
            #expect(clustering.clusters(of: gathered).places == single.places, "\(ranks) ranks")
        }
    }

    @Test func clustersAcrossRanksRunInOneProcess() throws {
        let stays = syntheticStays(seed: 7, count: 300)
        let clustering = PlaceClustering()
        let across = try clustering.clustersAcrossRanks(of: stays.map(\.stayPoint.point), on: SingleProcessCollectives())
        let local = clustering.clusters(of: stays)
        #expect(!across.places.isEmpty)
        #expect(across.places == local.places)
        #expect(across.placeOfPoint == local.placeOfPoint)
    }

    @Test func chainsJoinAndGapsSplit() {
        let builder = TrackBuilder()
        let chain = (0..<10).map { builder.point(east: Double($0) * 90, north: 0) }
        #expect(PlaceClustering().clusters(of: chain).places.count == 1)
        let spread = (0..<10).map { builder.point(east: Double($0) * 110, north: 0) }
        #expect(PlaceClustering().clusters(of: spread).places.count == 10)
        // The inclusive bound: two points exactly ε apart are one place.
        let pair = [builder.point(east: 0, north: 0), builder.point(east: 150, north: 0)]
        let exact = Geodesy.haversineMeters(pair[0], pair[1])
        #expect(PlaceClustering(epsilonMeters: exact).clusters(of: pair).places.count == 1)
        #expect(PlaceClustering(epsilonMeters: exact.nextDown).clusters(of: pair).places.count == 2)
    }

    @Test func centresIdsAndInvalidPoints() throws {
        let a = GeoPoint(latitude: 39.9, longitude: 116.3)
        let b = GeoPoint(latitude: 39.9002, longitude: 116.3)  // 22 m north
        let clusters = PlaceClustering().clusters(of: [a, GeoPoint(latitude: .nan, longitude: 0), b])
        #expect(clusters.placeOfPoint == [0, nil, 0])
        let place = try #require(clusters.places.first)
        #expect(place.stayPointCount == 2)
        #expect(abs(place.latitude - 39.9001) < 1e-9)
        #expect(abs(place.longitude - 116.3) < 1e-9)
        #expect(place.id == "place:39.900100,116.300000")
        #expect(PlaceClustering.fixedDecimal(-0.0000004) == "0.000000")
        #expect(PlaceClustering.fixedDecimal(-12.3456789) == "-12.345679")
        #expect(PlaceClustering.fixedDecimal(0.05) == "0.050000")
        #expect(PlaceClustering().clusters(of: [GeoPoint]()).places.isEmpty)
    }

    @Test func placesBecomeACatalogueAndVisits() throws {
        let stays = syntheticStays(seed: 7, count: 200)
        let clusters = PlaceClustering().clusters(of: stays)
        let catalogue = clusters.storeCatalogue(category: "place")
        #expect(catalogue.ids == clusters.places.map(\.id))
        let visits = clusters.visits(of: stays, in: catalogue)
        #expect(visits.count == stays.count)
        for (visit, (stay, place)) in zip(visits, zip(stays, clusters.placeOfPoint)) {
            #expect(visit.userID == stay.userID)
            #expect(Int(visit.store) == place)
            #expect(visit.arrivalUnixSeconds == stay.stayPoint.arrivalUnixSeconds)
        }
        // A new stay near a place matches that place through the catalogue's grid.
        let matcher = StoreMatcher(catalogue: catalogue, radiusMeters: 100)
        let first = try #require(clusters.places.first)
        #expect(matcher.store(nearestTo: GeoPoint(latitude: first.latitude, longitude: first.longitude)) == 0)
    }
}
