@testable import GeoPredict

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A seeded generator (SplitMix64), so every random test is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return StableHash.mix(state &- 0x9e37_79b9_7f4a_7c15)
    }
}

/// Builds synthetic GPS tracks in metres around an origin.
struct TrackBuilder {
    var origin: GeoPoint
    var time: Int64
    private(set) var fixes: [GPSFix] = []

    init(origin: GeoPoint = GeoPoint(latitude: 39.98, longitude: 116.31), start: Int64 = 1_224_730_384) {
        self.origin = origin
        time = start
    }

    /// The point `east`, `north` metres from the origin (flat approximation, fine at this scale).
    func point(east: Double, north: Double) -> GeoPoint {
        let latitude = origin.latitude + north / Geodesy.metersPerDegree
        var longitude = origin.longitude + east / (Geodesy.metersPerDegree * cos(origin.latitude * Double.pi / 180))
        longitude = (longitude + 180).truncatingRemainder(dividingBy: 360)
        longitude = (longitude < 0 ? longitude + 360 : longitude) - 180
        return GeoPoint(latitude: latitude, longitude: longitude)
    }

    /// Appends a fix at (`east`, `north`) after `seconds`.
    mutating func fix(east: Double, north: Double, after seconds: Int64) {
        time += seconds
        let p = point(east: east, north: north)
        fixes.append(GPSFix(latitude: p.latitude, longitude: p.longitude, timestampUnixSeconds: time))
    }

    /// Stays near (`east`, `north`) for `duration` seconds with a fix every `every` seconds, each
    /// displaced by up to `jitter` metres.
    mutating func stay(
        east: Double, north: Double, duration: Int64, every: Int64, jitter: Double = 0,
        using generator: inout SeededGenerator
    ) {
        var elapsed: Int64 = 0
        while elapsed + every <= duration {
            elapsed += every
            let dx = jitter == 0 ? 0 : Double.random(in: -jitter...jitter, using: &generator)
            let dy = jitter == 0 ? 0 : Double.random(in: -jitter...jitter, using: &generator)
            fix(east: east + dx, north: north + dy, after: every)
        }
    }
}

/// The slow, obviously-correct stay-point detector: a line-by-line transliteration of trackintel's
/// `_generate_staypoints_sliding_user` and `__create_new_staypoints`, recomputing every centre
/// from scratch over the fixes `start..<end`.
func referenceStayPoints(in fixes: [GPSFix], parameters: StayPointParameters = .init()) -> [StayPoint] {
    // trackintel: sort_values(by="tracked_at", kind="stable") after sort_index
    let pfs = fixes.filter(\.hasValidPosition).enumerated()
        .sorted { ($0.element.timestampUnixSeconds, $0.offset) < ($1.element.timestampUnixSeconds, $1.offset) }
        .map(\.element)
    func create(_ start: Int, _ end: Int, last: Bool) -> StayPoint {
        let stop = last ? pfs.count : end
        var latitude = 0.0, sine = 0.0, cosine = 0.0
        for fix in pfs[start..<stop] {
            latitude += fix.latitude
            sine += sin(fix.longitude * Double.pi / 180)
            cosine += cos(fix.longitude * Double.pi / 180)
        }
        let n = Double(stop - start)
        return StayPoint(
            latitude: latitude / n, longitude: atan2(sine, cosine) * 180 / Double.pi,
            arrivalUnixSeconds: pfs[start].timestampUnixSeconds, departureUnixSeconds: pfs[end].timestampUnixSeconds,
            fixCount: stop - start)
    }
    var result = [StayPoint]()
    guard !pfs.isEmpty else { return result }
    var start = 0
    var curr = 0
    for index in pfs.indices.dropFirst() {
        curr = index
        if pfs[curr].timestampUnixSeconds - pfs[curr - 1].timestampUnixSeconds > parameters.gapThresholdSeconds {
            start = curr
            continue
        }
        let delta = Geodesy.haversineMeters(pfs[start].point, pfs[curr].point)
        if delta >= parameters.distanceThresholdMeters {
            if pfs[curr].timestampUnixSeconds - pfs[start].timestampUnixSeconds >= parameters.timeThresholdSeconds {
                result.append(create(start, curr, last: false))
            }
            start = curr
        }
    }
    if parameters.includeLast,
        pfs[curr].timestampUnixSeconds - pfs[start].timestampUnixSeconds >= parameters.timeThresholdSeconds
    {
        result.append(create(start, curr, last: true))
    }
    return result
}

/// Feeds `fixes` (already in time order) to an incremental detector, then finishes it.
func incrementalStayPoints(in fixes: [GPSFix], parameters: StayPointParameters = .init()) throws -> [StayPoint] {
    var detector = StayPointDetector(parameters: parameters)
    var result = [StayPoint]()
    for fix in fixes {
        if let stay = try detector.add(fix) { result.append(stay) }
    }
    if let last = detector.finish() { result.append(last) }
    return result
}

/// A random track mixing stays, walks, gaps, repeated timestamps and jitter.
func randomTrack(seed: UInt64, length: Int) -> [GPSFix] {
    var generator = SeededGenerator(seed: seed)
    var builder = TrackBuilder()
    var east = 0.0, north = 0.0
    for _ in 0..<length {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0...4:  // linger
            builder.fix(
                east: east + Double.random(in: -30...30, using: &generator),
                north: north + Double.random(in: -30...30, using: &generator),
                after: Int64.random(in: 0...90, using: &generator))
        case 5...7:  // walk or drive
            east += Double.random(in: -400...400, using: &generator)
            north += Double.random(in: -400...400, using: &generator)
            builder.fix(east: east, north: north, after: Int64.random(in: 5...120, using: &generator))
        case 8:  // a gap
            builder.fix(east: east, north: north, after: Int64.random(in: 600...Seconds.perHour, using: &generator))
        default:  // same time again
            builder.fix(east: east + 1, north: north, after: 0)
        }
    }
    return builder.fixes
}
