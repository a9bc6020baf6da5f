import CoreMetrics
import GeoPredict
import GeoPredictProtos
import MPI
import MPIPlug

/// `geopredict.v1.GeoPredictService` on MPIPlug: every method runs on all ranks; the rank that owns a
/// user answers for that user, and rank 0 collects the answers.
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
        _ requests: [Geopredict_V1_IngestEventsRequest], context: RoundContext
    ) throws -> [RouteResult<Geopredict_V1_IngestEventsResponse>] {
        // Every rank checks every event with the round's clock, so all ranks agree on which are good;
        // each stores its own users' good events.
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
                    if node.owns(event.userID) {
                        mine.append(.init(request: position, index: index, event: event, kind: kind))
                    }
                }
            }
            response.rejected = UInt32(response.errors.count)
            responses.append(response)
        }
        // Durable on its owner before rank 0 acknowledges an event. Only the owner knows which of its
        // events it could not store (a failed write, a limit), so each rank tells rank 0 its own:
        // those events alone are reported, and other requests of the round are not touched.
        let refused = try refusedOnEveryRank(node.ingest(mine), context: context)
        guard context.rank == 0 else { return [] }
        refusalMetrics?.record(refused)
        if let health { IngestHealth.update(health, refused: refused, goodEvents: responses.reduce(0) { $0 + Int($1.accepted) }) }
        guard !refused.isEmpty else { return responses.map { .success($0) } }
        let byRequest = Dictionary(grouping: refused, by: \.request)
        return responses.enumerated().map { position, response in
            response.withRefusals((byRequest[position] ?? []).map { ($0.index, $0.reason) })
        }
    }

    /// On rank 0, every rank's refused events; elsewhere, none. Collective: one gather.
    private func refusedOnEveryRank(_ refused: [RefusedEvent], context: RoundContext) throws -> [RefusedEvent] {
        let encoded = context.rank == 0 ? [] : RefusedEvent.encode(refused)
        guard let gathered = try context.communicator.gatherVarying(encoded, root: 0) else { return [] }
        return refused + (1..<context.size).flatMap { RefusedEvent.decode(gathered[$0]) }
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
        _ requests: [Geopredict_V1_PredictNextVisitsRequest], context: RoundContext
    ) throws -> [RouteResult<Geopredict_V1_PredictNextVisitsResponse>] {
        var answers = [(index: Int, result: RouteResult<Geopredict_V1_PredictNextVisitsResponse>)]()
        for (index, request) in requests.enumerated() where node.owns(request.userID) {
            // Rank 0 validated the request with its own clock; check the time again with the round's.
            if let problem = request.problem(nowUnixSeconds: context.nowUnixSeconds) {
                answers.append((index, .failure(problem.error)))
                continue
            }
            answers.append((index, .success(node.predict(request, nowUnixSeconds: context.nowUnixSeconds))))
        }
        return try context.collectResults(answers, requestCount: requests.count)
    }

    func getUser(
        _ requests: [Geopredict_V1_GetUserRequest], context: RoundContext
    ) throws -> [RouteResult<Geopredict_V1_GetUserResponse>] {
        var answers = [(index: Int, result: RouteResult<Geopredict_V1_GetUserResponse>)]()
        for (index, request) in requests.enumerated() where node.owns(request.userID) {
            guard let summary = node.histories.summary(of: request.userID) else {
                answers.append((index, .failure(ConnectError(.notFound, "user_id: no user \(request.userID.prefix(64))"))))
                continue
            }
            answers.append((index, .success(.with {
                $0.userID = request.userID
                $0.eventCount = UInt64(summary.events)
                $0.visitCount = UInt64(summary.visits)
                $0.lastEventUnixSeconds = summary.lastEventUnixSeconds
            })))
        }
        return try context.collectResults(answers, requestCount: requests.count)
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
