import GeoPredictService
import MPIPlug
import Testing

/// The methods marked `idempotency_level = NO_SIDE_EFFECTS` in geopredict.proto (callable with GET) and
/// no others: a method that changes state must never be reachable by a GET a crawler or prefetch may send.
struct GetMethodsTests {
    @Test func onlyReadsAreMarkedWithoutSideEffects() {
        let service = Geopredict_V1_GeoPredictService.self
        #expect(service.predictNextVisits.hasNoSideEffects)
        #expect(service.getUser.hasNoSideEffects)
        #expect(service.getTrainingStatus.hasNoSideEffects)
        #expect(!service.ingestEvents.hasNoSideEffects)
        #expect(!service.train.hasNoSideEffects)
    }
}
