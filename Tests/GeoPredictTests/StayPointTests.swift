@testable import GeoPredict
import Testing

struct StayPointTests {
    @Test func userWhoStaysTenMinutesThenWalksAwayGivesOneStay() throws {
        var generator = SeededGenerator(seed: 1)
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        let arrival = track.time
        track.stay(east: 0, north: 0, duration: 600, every: 30, jitter: 10, using: &generator)
        // Walk east at 1.5 m/s with a fix every 10 s.
        for step in 1...30 { track.fix(east: Double(step) * 15, north: 0, after: 10) }
        let stays = StayPointDetection.stayPoints(in: track.fixes)
        #expect(stays.count == 1)
        let stay = try #require(stays.first)
        #expect(stay.arrivalUnixSeconds == arrival)
        // The first fix at least 100 m from the first fix of the stay (0, 0) is the 7th step (105 m),
        // unless jitter moved the anchor; either way it is within the first 8 steps.
        let departure = stay.departureUnixSeconds - (arrival + 600)
        #expect((60...80).contains(departure), "departed \(departure) s after the stay")
        #expect(Geodesy.haversineMeters(stay.point, track.point(east: 0, north: 0)) < 20)
        #expect(stays == referenceStayPoints(in: track.fixes))
    }

    @Test func aStayShorterThanTheTimeThresholdIsNoStay() {
        var generator = SeededGenerator(seed: 2)
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        track.stay(east: 0, north: 0, duration: 240, every: 30, using: &generator)
        track.fix(east: 500, north: 0, after: 30)  // leaves after 270 s < 300 s
        #expect(StayPointDetection.stayPoints(in: track.fixes).isEmpty)
    }

    @Test func timeThresholdIsInclusive() {
        for (duration, expected) in [(Int64(299), 0), (300, 1), (301, 1)] {
            var track = TrackBuilder()
            track.fix(east: 0, north: 0, after: 0)
            track.fix(east: 5, north: 0, after: duration / 2)
            track.fix(east: 500, north: 0, after: duration - duration / 2)
            #expect(StayPointDetection.stayPoints(in: track.fixes).count == expected, "duration \(duration)")
        }
    }

    @Test func distanceThresholdIsInclusive() throws {
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        track.fix(east: 10, north: 0, after: 200)
        track.fix(east: 100, north: 0, after: 200)
        let leaving = Geodesy.haversineMeters(track.fixes[0].point, track.fixes[2].point)
        let atThreshold = StayPointParameters(distanceThresholdMeters: leaving)
        let stays = StayPointDetection.stayPoints(in: track.fixes, parameters: atThreshold)
        #expect(stays.count == 1)
        #expect(try #require(stays.first).fixCount == 2)
        let justAbove = StayPointParameters(distanceThresholdMeters: leaving.nextUp)
        #expect(StayPointDetection.stayPoints(in: track.fixes, parameters: justAbove).isEmpty)
    }

    @Test func onlyTheDistanceToTheFirstFixCounts() {
        // Drifting 60 m per step: each fix is < 100 m from the previous one, but the third is 120 m
        // from the first, which ends the stay (trackintel compares with the stay's first fix).
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        track.fix(east: 60, north: 0, after: 200)
        track.fix(east: 120, north: 0, after: 200)
        let stays = StayPointDetection.stayPoints(in: track.fixes)
        #expect(stays.count == 1)
        #expect(stays.first?.fixCount == 2)
        #expect(stays.first?.departureUnixSeconds == track.fixes[2].timestampUnixSeconds)
    }

    @Test func aGapLongerThanTheThresholdDropsTheOpenStay() {
        var generator = SeededGenerator(seed: 3)
        for (gap, expected) in [(Int64(901), 0), (900, 1)] {
            var track = TrackBuilder()
            track.fix(east: 0, north: 0, after: 0)
            track.stay(east: 0, north: 0, duration: 600, every: 60, using: &generator)
            track.fix(east: 0, north: 0, after: gap)  // same place after a gap
            track.fix(east: 300, north: 0, after: 60)  // then leaves, 60 s later
            let stays = StayPointDetection.stayPoints(in: track.fixes)
            #expect(stays.count == expected, "gap \(gap)")
            #expect(stays == referenceStayPoints(in: track.fixes))
        }
    }

    @Test func theLastStayCountsOnlyWithIncludeLast() throws {
        var generator = SeededGenerator(seed: 4)
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        track.stay(east: 0, north: 0, duration: 900, every: 60, jitter: 5, using: &generator)
        #expect(StayPointDetection.stayPoints(in: track.fixes).isEmpty)
        let last = StayPointDetection.stayPoints(in: track.fixes, parameters: StayPointParameters(includeLast: true))
        #expect(last.count == 1)
        let stay = try #require(last.first)
        #expect(stay.fixCount == track.fixes.count)
        #expect(stay.departureUnixSeconds == track.fixes.last?.timestampUnixSeconds)
    }

    @Test func emptyAndSingleFixTracks() {
        #expect(StayPointDetection.stayPoints(in: []).isEmpty)
        let one = [GPSFix(latitude: 1, longitude: 2, timestampUnixSeconds: 3)]
        #expect(StayPointDetection.stayPoints(in: one).isEmpty)
        #expect(StayPointDetection.stayPoints(in: one, parameters: StayPointParameters(includeLast: true)).isEmpty)
        // With a zero time threshold, a single fix is a (zero-length) final stay, as in trackintel.
        let zero = StayPointParameters(timeThresholdSeconds: 0, includeLast: true)
        #expect(StayPointDetection.stayPoints(in: one, parameters: zero).count == 1)
        #expect(referenceStayPoints(in: one, parameters: zero).count == 1)
    }

    @Test func jitterInsideTheRadiusIsOneStay() {
        var generator = SeededGenerator(seed: 5)
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        // One hour of fixes every 10 s, each up to 35 m off in each axis (< 50 m from the first).
        track.stay(east: 0, north: 0, duration: Seconds.perHour, every: 10, jitter: 35, using: &generator)
        track.fix(east: 1_000, north: 0, after: 60)
        let stays = StayPointDetection.stayPoints(in: track.fixes)
        #expect(stays.count == 1)
        #expect(stays.first?.fixCount == track.fixes.count - 1)
        #expect(stays.first.map { Geodesy.haversineMeters($0.point, track.point(east: 0, north: 0)) < 5 } == true)
    }

    @Test func unsortedInputIsUsedInStableTimeOrder() {
        let track = randomTrack(seed: 6, length: 400)
        var generator = SeededGenerator(seed: 7)
        let shuffled = track.shuffled(using: &generator)
        // Equal timestamps may now be in another order, so compare with the reference on the same input.
        #expect(StayPointDetection.stayPoints(in: shuffled) == referenceStayPoints(in: shuffled))
        #expect(StayPointDetection.stayPoints(in: track) == referenceStayPoints(in: track))
    }

    @Test func invalidFixesAreSkipped() {
        var track = randomTrack(seed: 8, length: 300)
        let clean = StayPointDetection.stayPoints(in: track)
        track.insert(GPSFix(latitude: .nan, longitude: 0, timestampUnixSeconds: track[10].timestampUnixSeconds), at: 10)
        track.insert(GPSFix(latitude: 91, longitude: 0, timestampUnixSeconds: track[20].timestampUnixSeconds), at: 20)
        #expect(StayPointDetection.stayPoints(in: track) == clean)
    }

    @Test(arguments: 0..<40)
    func batchMatchesTheReferenceAndTheIncrementalDetector(seed: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seed) &+ 1_000)
        let track = randomTrack(seed: UInt64(seed), length: Int.random(in: 0...600, using: &generator))
        let parameters = StayPointParameters(
            distanceThresholdMeters: Double.random(in: 20...250, using: &generator),
            timeThresholdSeconds: Int64.random(in: 0...900, using: &generator),
            gapThresholdSeconds: Int64.random(in: 60...1_800, using: &generator),
            includeLast: Bool.random(using: &generator))
        let batch = StayPointDetection.stayPoints(in: track, parameters: parameters)
        #expect(batch == referenceStayPoints(in: track, parameters: parameters))
        #expect(batch == (try incrementalStayPoints(in: track, parameters: parameters)))
    }

    @Test func staysOnTheAntimeridianKeepTheirLongitude() throws {
        var track = TrackBuilder(origin: GeoPoint(latitude: -16.5, longitude: 179.9999))
        for step in 0..<20 { track.fix(east: step.isMultiple(of: 2) ? 0 : 30, north: 0, after: step == 0 ? 0 : 60) }
        track.fix(east: 5_000, north: 0, after: 60)
        let stay = try #require(StayPointDetection.stayPoints(in: track.fixes).first)
        #expect(abs(abs(stay.longitude) - 180) < 0.001)
        #expect(Geodesy.haversineMeters(stay.point, track.point(east: 15, north: 0)) < 1)
    }
}

struct IncrementalStayPointTests {
    @Test func aStayIsEmittedByTheFixThatLeavesIt() throws {
        var detector = StayPointDetector()
        var generator = SeededGenerator(seed: 9)
        var track = TrackBuilder()
        track.fix(east: 0, north: 0, after: 0)
        track.stay(east: 0, north: 0, duration: 600, every: 30, jitter: 5, using: &generator)
        for fix in track.fixes { #expect(try detector.add(fix) == nil) }
        #expect(detector.openStay?.durationSeconds == 600)
        track.fix(east: 400, north: 0, after: 30)
        let stay = try #require(try detector.add(track.fixes[track.fixes.count - 1]))
        #expect(stay.durationSeconds == 630)
        #expect(detector.openStay == nil)
    }

    @Test func outOfOrderAndInvalidFixesAreRejectedWithoutChangingState() throws {
        var detector = StayPointDetector()
        _ = try detector.add(GPSFix(latitude: 10, longitude: 10, timestampUnixSeconds: 1_000))
        _ = try detector.add(GPSFix(latitude: 10, longitude: 10, timestampUnixSeconds: 1_400))
        let before = detector
        #expect(throws: StayPointError.outOfOrder(previousUnixSeconds: 1_400, fixUnixSeconds: 1_399)) {
            try detector.add(GPSFix(latitude: 10, longitude: 10, timestampUnixSeconds: 1_399))
        }
        #expect(throws: StayPointError.self) {
            try detector.add(GPSFix(latitude: .infinity, longitude: 10, timestampUnixSeconds: 2_000))
        }
        #expect(detector == before)
        // Equal times are fine.
        #expect(try detector.add(GPSFix(latitude: 10, longitude: 10, timestampUnixSeconds: 1_400)) == nil)
    }

    @Test func trackerOverInterleavedUsersMatchesBatchPerUser() throws {
        let users = (0..<5).map { "user-\($0)" }
        let tracks = users.enumerated().map { randomTrack(seed: UInt64(100 + $0.offset), length: 300) }
        // Interleave by time (ties by user), as a live feed would deliver them.
        var feed = [(user: String, fix: GPSFix)]()
        for (user, track) in zip(users, tracks) { feed += track.map { (user, $0) } }
        feed = feed.enumerated().sorted {
            ($0.element.fix.timestampUnixSeconds, $0.offset) < ($1.element.fix.timestampUnixSeconds, $1.offset)
        }.map(\.element)
        let parameters = StayPointParameters(includeLast: true)
        var tracker = StayPointTracker(parameters: parameters)
        var found = [String: [StayPoint]]()
        for entry in feed {
            if let stay = try tracker.add(entry.fix.checkIn(userID: entry.user)) { found[entry.user, default: []].append(stay) }
        }
        #expect(tracker.userCount == users.count)
        for final in tracker.finishAll() { found[final.userID, default: []].append(final.stayPoint) }
        #expect(tracker.userCount == 0)
        for (user, track) in zip(users, tracks) {
            let expected = StayPointDetection.stayPoints(in: track, parameters: parameters)
            #expect(found[user, default: []] == expected, "\(user)")
            #expect(!expected.isEmpty)
        }
    }

    @Test func idleUsersAreFinishedAndForgotten() throws {
        var tracker = StayPointTracker(parameters: StayPointParameters(includeLast: true))
        _ = try tracker.add(GPSFix(latitude: 1, longitude: 1, timestampUnixSeconds: 0), userID: "a")
        _ = try tracker.add(GPSFix(latitude: 1, longitude: 1, timestampUnixSeconds: 600), userID: "a")
        _ = try tracker.add(GPSFix(latitude: 2, longitude: 2, timestampUnixSeconds: 1_000), userID: "b")
        #expect(tracker.openStay(of: "a")?.durationSeconds == 600)
        let finished = tracker.finishIdleUsers(now: 600 + 901)
        #expect(finished.map(\.userID) == ["a"])
        #expect(finished.first?.stayPoint.durationSeconds == 600)
        #expect(tracker.userCount == 1)
        #expect(tracker.finishIdleUsers(now: 1_900).isEmpty)
    }
}
