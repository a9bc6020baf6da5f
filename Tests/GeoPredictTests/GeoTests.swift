@testable import GeoPredict
import Testing

struct GeodesyTests {
    @Test func haversineMatchesAKnownDistance() {
        // trackintel's docstring example: point_haversine_dist(8.5, 47.3, 8.7, 47.2) = 18749.056277719905
        let distance = Geodesy.haversineMeters(
            GeoPoint(latitude: 47.3, longitude: 8.5), GeoPoint(latitude: 47.2, longitude: 8.7))
        #expect(abs(distance - 18_749.056277719905) < 1e-6)
        // A quarter of a meridian.
        let quarter = Geodesy.haversineMeters(GeoPoint(latitude: 0, longitude: 0), GeoPoint(latitude: 90, longitude: 0))
        #expect(abs(quarter - Geodesy.earthRadiusMeters * Double.pi / 2) < 1e-6)
        #expect(Geodesy.haversineMeters(GeoPoint(latitude: 0, longitude: 0), GeoPoint(latitude: 0, longitude: 180)) > 2.0e7)
    }

    @Test func haversineIsSymmetricToTheBitAndZeroOnItself() {
        var generator = SeededGenerator(seed: 11)
        for _ in 0..<2_000 {
            let a = GeoPoint(latitude: .random(in: -90...90, using: &generator), longitude: .random(in: -180...180, using: &generator))
            let b = GeoPoint(latitude: .random(in: -90...90, using: &generator), longitude: .random(in: -180...180, using: &generator))
            #expect(Geodesy.haversineMeters(a, b) == Geodesy.haversineMeters(b, a))
            #expect(Geodesy.haversineMeters(a, a) == 0)
        }
    }

    @Test func theAntimeridianIsNotFarAway() {
        let east = GeoPoint(latitude: 10, longitude: 179.9995)
        let west = GeoPoint(latitude: 10, longitude: -179.9995)
        #expect(abs(east.distance(to: west) - 109.5) < 1)
    }
}

struct GeoGridIndexTests {
    /// The brute-force answers the grid must reproduce.
    func bruteIndices(_ points: [GeoPoint], within radius: Double, of center: GeoPoint) -> [Int] {
        points.indices.filter { Geodesy.haversineMeters(center, points[$0]) <= radius }
    }

    func bruteNearest(_ points: [GeoPoint], to center: GeoPoint, within radius: Double) -> (index: Int, distanceMeters: Double)? {
        var best: (index: Int, distanceMeters: Double)?
        for index in points.indices {
            let distance = Geodesy.haversineMeters(center, points[index])
            if distance <= radius, best.map({ distance < $0.distanceMeters }) ?? true { best = (index, distance) }
        }
        return best
    }

    /// Points clustered around `center` (within ~`spread` metres), plus exact duplicates.
    func cloud(around center: GeoPoint, spread: Double, count: Int, using generator: inout SeededGenerator) -> [GeoPoint] {
        let builder = TrackBuilder(origin: center)
        var points = (0..<count).map { _ in
            builder.point(east: .random(in: -spread...spread, using: &generator), north: .random(in: -spread...spread, using: &generator))
        }
        points += points.prefix(count / 10)
        return points.map { GeoPoint(latitude: min(90, max(-90, $0.latitude)), longitude: $0.longitude) }
    }

    @Test(arguments: [
        GeoPoint(latitude: 39.98, longitude: 116.31),  // Beijing
        GeoPoint(latitude: 0, longitude: 0),
        GeoPoint(latitude: -16.5, longitude: 179.999),  // antimeridian
        GeoPoint(latitude: 89.99, longitude: 10),  // pole
        GeoPoint(latitude: -89.999, longitude: -170),
    ])
    func radiusQueriesAndNearestMatchBruteForce(center: GeoPoint) {
        var generator = SeededGenerator(seed: UInt64(bitPattern: Int64(center.latitude * 1000)) &+ 17)
        let points = cloud(around: center, spread: 2_000, count: 400, using: &generator)
        for cellSize in [25.0, 100, 333, 5_000] {
            let grid = GeoGridIndex(points: points, cellSizeMeters: cellSize)
            #expect(grid.count == points.count)
            for query in cloud(around: center, spread: 2_500, count: 40, using: &generator) {
                for radius in [0.0, 50, 100, 250, 1_500] {
                    #expect(grid.indices(within: radius, of: query) == bruteIndices(points, within: radius, of: query))
                    let nearest = grid.nearest(to: query, within: radius)
                    let expected = bruteNearest(points, to: query, within: radius)
                    #expect(nearest?.index == expected?.index, "cell \(cellSize) radius \(radius)")
                    #expect(nearest?.distanceMeters == expected?.distanceMeters)
                }
            }
        }
    }

    @Test func hugeRadiiAndOddInputsStayCorrect() {
        var generator = SeededGenerator(seed: 21)
        let points = (0..<300).map { _ in
            GeoPoint(latitude: .random(in: -90...90, using: &generator), longitude: .random(in: -180...180, using: &generator))
        }
        let grid = GeoGridIndex(points: points, cellSizeMeters: 50_000)
        let query = GeoPoint(latitude: 45, longitude: -179)
        for radius in [1e5, 2e6, 1e7, 3e7] {
            #expect(grid.indices(within: radius, of: query) == bruteIndices(points, within: radius, of: query))
        }
        #expect(grid.indices(within: .nan, of: query).isEmpty)
        #expect(grid.indices(within: -1, of: query).isEmpty)
        #expect(grid.nearest(to: GeoPoint(latitude: .nan, longitude: 0), within: 1e7) == nil)
        #expect(GeoGridIndex(points: []).nearest(to: query, within: 1e7) == nil)
    }

    @Test func longitudesOnBothSidesOfTheSeamAreFound() {
        let points = [GeoPoint(latitude: 0, longitude: 180), GeoPoint(latitude: 0, longitude: -180), GeoPoint(latitude: 0, longitude: -179.9995)]
        let grid = GeoGridIndex(points: points, cellSizeMeters: 70)
        #expect(grid.indices(within: 100, of: GeoPoint(latitude: 0, longitude: 179.9995)) == [0, 1])
        #expect(grid.indices(within: 200, of: GeoPoint(latitude: 0, longitude: 179.9995)) == [0, 1, 2])
    }

    @Test func tiesGoToTheSmallestIndex() {
        let p = GeoPoint(latitude: 40, longitude: 116)
        let grid = GeoGridIndex(points: [GeoPoint(latitude: 41, longitude: 116), p, p, p])
        #expect(grid.nearest(to: p, within: 10)?.index == 1)
    }
}

struct StoreMatcherTests {
    @Test func staysMatchTheNearestStoreWithinTheRadius() {
        var generator = SeededGenerator(seed: 31)
        let builder = TrackBuilder()
        let stores = (0..<300).map { index in
            let p = builder.point(east: .random(in: -3_000...3_000, using: &generator), north: .random(in: -3_000...3_000, using: &generator))
            return Store(id: "s\(index)", latitude: p.latitude, longitude: p.longitude, category: "Shop")
        }
        let catalogue = StoreCatalogue(stores: stores)
        let matcher = StoreMatcher(catalogue: catalogue, radiusMeters: 120)
        var stays = [UserStayPoint]()
        for index in 0..<500 {
            let p = builder.point(east: .random(in: -3_200...3_200, using: &generator), north: .random(in: -3_200...3_200, using: &generator))
            let stay = StayPoint(latitude: p.latitude, longitude: p.longitude, arrivalUnixSeconds: Int64(index), departureUnixSeconds: Int64(index) + 600, fixCount: 3)
            stays.append(UserStayPoint(userID: "u\(index % 7)", stayPoint: stay))
        }
        var expected = [Visit]()
        for stay in stays {
            var best: (index: Int, distance: Double)?
            for index in 0..<catalogue.count {
                let store = GeoPoint(latitude: catalogue.latitudes[index], longitude: catalogue.longitudes[index])
                let distance = Geodesy.haversineMeters(stay.stayPoint.point, store)
                if distance <= 120, best.map({ distance < $0.distance }) ?? true { best = (index, distance) }
            }
            if let best {
                expected.append(Visit(userID: stay.userID, store: Int32(best.index), arrivalUnixSeconds: stay.stayPoint.arrivalUnixSeconds, departureUnixSeconds: stay.stayPoint.departureUnixSeconds))
            }
        }
        let visits = matcher.visits(of: stays)
        #expect(visits == expected)
        #expect(!visits.isEmpty && visits.count < stays.count)
        #expect(visits.first?.logEntry.timestamp == visits.first?.arrivalUnixSeconds)
    }
}
