import CoreMetrics
import GeoPredict
import GeoPredictProtos
import MPI
import MPIPlug

/// `geopredict.v1.GeoPredictService` on MPIPlug: ingest, predictions and user look-ups run on the rank
/// that owns the user alone (keyed routes); training and its status run on every rank in a round.
final class GeoPredictHandler: Geopredict_V1_GeoPredictServiceHandler {
    private let node: GeoPredictNode
    /// Rank 0's `/healthz`: told when an owner could not write its log (ingest degraded) and when a
    /// round stored events again.
    private let health: ServiceHealth?
    /// Rank 0's count of refused events, by reason (nil in tests without a service).
    private let refusalMetrics: IngestRefusalMetrics?

    init(node: GeoPredictNode, health: ServiceHealth? = nil, metrics: (any MetricsFactory)? = nil) {
        self.node = node
        self.health = health
        refusalMetrics = metrics.map(IngestRefusalMetrics.init(factory:))
    }

    func ingestEvents(
        _ requests: [Geopredict_V1_IngestEventsRequest], context: KeyedContext
    ) throws -> [RouteResult<Geopredict_V1_IngestEventsResponse>] {
        // The front door sent this rank only its own users' events (each request is one owner's part
        // of a client's request); they are checked with the door's clock.
        var responses = [Geopredict_V1_IngestEventsResponse]()
        var mine = [GeoPredictNode.OwnedEvent]()
        for (position, request) in requests.enumerated() {
            var response = Geopredict_V1_IngestEventsResponse()
            for (index, event) in request.events.enumerated() {
                switch check(event, nowUnixSeconds: context.nowUnixSeconds) {
                case .rejected(var error):
                    error.index = UInt32(index)
                    response.errors.append(error)
                case .accepted(let kind):
                    response.accepted += 1
                    mine.append(.init(request: position, index: index, event: event, kind: kind))
                }
            }
            response.rejected = UInt32(response.errors.count)
            responses.append(response)
        }
        if let stranger = mine.first(where: { !node.owns($0.event.userID) }) {
            // The door and this rank disagree on who owns a user: storing it here would hide it from its owner.
            context.logger.error("received another rank's user", metadata: ["user": "\(stranger.event.userID.prefix(64))"])
            return requests.map { _ in .failure(.internalError) }
        }
        // Durable on this rank before the door acknowledges an event. Events this rank could not store
        // (a failed write, a limit) are reported as such, and no other rank's are touched.
        let refused = Dictionary(grouping: node.ingest(mine), by: \.request)
        return responses.enumerated().map { position, response in
            response.withRefusals((refused[position] ?? []).map { ($0.index, $0.reason) })
        }
    }

    func mergeIngestEvents(
        _ parts: [KeyedPart<Geopredict_V1_IngestEventsResponse>]
    ) -> RouteResult<Geopredict_V1_IngestEventsResponse> {
        let merged = IngestMerge(parts)
        refusalMetrics?.record(merged.refused)
        if let health { IngestHealth.update(health, refused: merged.refused, goodEvents: merged.goodEvents) }
        return merged.result
    }

    private enum EventOutcome {
        /// Good: a check-in at a known store or a raw GPS fix.
        case accepted(UserHistories.EventKind)
        case rejected(Geopredict_V1_EventError)
    }

    private func check(_ event: Geopredict_V1_LocationEvent, nowUnixSeconds: Int64) -> EventOutcome {
        if let problem = EventCheck.problem(event, nowUnixSeconds: nowUnixSeconds) { return .rejected(problem) }
        let kind = UserHistories.EventKind(of: event, in: node.catalogue)
        guard kind != .checkInAtUnknownStore else {
            return .rejected(.with {
                $0.field = "store_id"
                $0.code = ConnectCode.invalidArgument.rawValue
                $0.message = "store_id: unknown store \(event.storeID.prefix(64))"
            })
        }
        return .accepted(kind)
    }

    func predictNextVisits(
        _ requests: [Geopredict_V1_PredictNextVisitsRequest], context: KeyedContext
    ) throws -> [RouteResult<Geopredict_V1_PredictNextVisitsResponse>] {
        requests.map { request in
            guard node.owns(request.userID) else { return .failure(notOwned(request.userID, context: context)) }
            // The door validated the request with its own clock; check the time again with the one it sent.
            if let problem = request.problem(nowUnixSeconds: context.nowUnixSeconds) { return .failure(problem.error) }
            return .success(node.predict(request, nowUnixSeconds: context.nowUnixSeconds))
        }
    }

    func getUser(
        _ requests: [Geopredict_V1_GetUserRequest], context: KeyedContext
    ) throws -> [RouteResult<Geopredict_V1_GetUserResponse>] {
        requests.map { request in
            guard node.owns(request.userID) else { return .failure(notOwned(request.userID, context: context)) }
            guard let summary = node.histories.summary(of: request.userID) else {
                return .failure(ConnectError(.notFound, "user_id: no user \(request.userID.prefix(64))"))
            }
            return .success(.with {
                $0.userID = request.userID
                $0.eventCount = UInt64(summary.events)
                $0.visitCount = UInt64(summary.visits)
                $0.lastEventUnixSeconds = summary.lastEventUnixSeconds
            })
        }
    }

    /// A request the door sent to the wrong rank: a bug (the door and the ranks disagree on ownership).
    private func notOwned(_ userID: String, context: KeyedContext) -> ConnectError {
        context.logger.error("received another rank's user", metadata: ["user": "\(userID.prefix(64))"])
        return .internalError
    }

    func train(
        _ requests: [Geopredict_V1_TrainRequest], context: RoundContext
    ) throws -> [RouteResult<Geopredict_V1_TrainResponse>] {
        // One run per batch: the first request's settings; the others get the same run.
        guard let settings = requests.first else { return [] }
        let outcome = node.startTraining(settings: settings, nowUnixSeconds: context.nowUnixSeconds, context: context)
        guard context.rank == 0 else { return [] }
        let result = outcome.map { version in Geopredict_V1_TrainResponse.with { $0.modelVersion = version } }
        return requests.map { _ in result }
    }

    func getTrainingStatus(
        _ requests: [Geopredict_V1_GetTrainingStatusRequest], context: RoundContext
    ) throws -> [RouteResult<Geopredict_V1_GetTrainingStatusResponse>] {
        // Every rank has the same status: rank 0 answers alone, no collective needed.
        guard context.rank == 0 else { return [] }
        let status = node.status.response
        return requests.map { _ in .success(status) }
    }
}
